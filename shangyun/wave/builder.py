"""The one step builder: every step a wave run does, per system, in order.

The real run (``flows/wave.py``), its rehearsal through Prefect, the dry run, the CLI's
progress bar and the runbook all take their list from :func:`wave_steps`, so what a
person reads before the window is, by construction, what the run does. Per system:
part 1's steps (:func:`shangyun.wave.steps.system_steps`, with the cutover file's
``guests:`` settings for the ``adapt`` step), then, when the estate's
``plan/cutover.yaml`` lists the system, its cutover steps
(:func:`shangyun.wave.cutover.cutover_steps`). The cutover file is read once per call.
Pure: no connector, no Prefect.
"""

from __future__ import annotations

from dataclasses import replace

from shangyun.wave.cutover import CutoverPlan, cutover_steps, load_cutover
from shangyun.wave.model import WaveWork
from shangyun.wave.stepargs import FreezeArgs, PrecheckArgs
from shangyun.wave.steps import RunOptions, Step, system_steps


def build_steps(wave: WaveWork, opts: RunOptions,
                cutover: CutoverPlan | None) -> dict[str, list[Step]]:
    """System id -> its ordered steps, for every system of ``wave`` (plan order), given
    the estate's cutover file (``None``: there is none, part 1 only)."""
    out: dict[str, list[Step]] = {}
    for system in wave.systems:
        guest = cutover.guests.get(system.id) if cutover is not None else None
        steps = system_steps(wave, system, opts, guest)
        if cutover is not None and system.id in cutover.systems:
            steps += cutover_steps(wave, system, cutover.systems[system.id])
        out[system.id] = with_step_list(steps)
    return out


def with_step_list(steps: list[Step]) -> list[Step]:
    """``steps`` with the pre-check's ``steps`` set to every key of them, in order: what
    the system's run must do before the system is done (journaled by the pre-check), and
    its ``frozen_databases`` to the freeze step's databases (the pre-check asks whether
    each can be frozen on its own)."""
    keys = [s.key for s in steps]
    frozen = [db for s in steps if isinstance(s.args, FreezeArgs) for db in s.args.databases]
    return [replace(s, args=replace(s.args, steps=keys, frozen_databases=frozen))
            if isinstance(s.args, PrecheckArgs) else s for s in steps]


def wave_steps(wave: WaveWork, opts: RunOptions) -> dict[str, list[Step]]:
    """System id -> its ordered steps: :func:`build_steps` with the estate's cutover file
    (``<wave.estate_dir>/plan/cutover.yaml``, read once; a wave with no ``estate_dir``, made
    from an estate in memory, has none)."""
    return build_steps(wave, opts, load_cutover(wave.estate_dir) if wave.estate_dir else None)


def step_count(steps: dict[str, list[Step]]) -> int:
    """How many steps the run does in all (the progress bar's total)."""
    return sum(len(v) for v in steps.values())
