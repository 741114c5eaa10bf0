"""The journal-driven undo: a whole wave (``wave rollback``), a fail-back of its cut-over
systems (``wave rollback --fail-back``, :mod:`actions.failback`), or one system's steps
run without Prefect, undone newest first from the journal alone on the first failure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from actions.context import RunContext, TargetFactories
from actions.data import target_writes_since_verify, traffic_switched
from actions.failback import (
    FAILED_BACK,
    fail_back_system,
    failing_back,
    in_production,
    refuse_mid_failback,
    reopen_failed_back,
)
from actions.registry import actions_for
from connectors.journal.wave import open_journal
from shangyun.errors import InProductionError, LockLostError, ShangyunError, StepError
from shangyun.estate import Estate
from shangyun.estate.names import command_arg, names_of, readable
from shangyun.wave.engine import StepAction, UndoReport, cut_over, execute, undo_system
from shangyun.wave.journal_port import WaveJournal
from shangyun.wave.steps import RunOptions, Step

HEARTBEAT_SECONDS = 5.0


def rollback(estate_dir: str, number: int, system: str | None = None, *,
             systems: list[str] | None = None, bureau: str | None = None,
             lock: Callable[[str], AbstractContextManager[Any]] | None = None,
             targets: TargetFactories | None = None,
             discard_production_writes: bool = False,
             group: list[str] | None = None, where: str = "") -> list[UndoReport]:
    """Undo wave ``number`` (or one system) from the journal alone, newest step first.

    ``systems`` limits the undo to those systems (a bureau's share, journaled as that
    bureau's run); ``lock(system_id)`` is held around each system's undo (the distributed
    system lock); ``targets``: target factories by kind (the built-in ones otherwise);
    ``group``: the other members of ``system``'s move group, undone with it (a move group
    moves and comes back together), journaled in the run's ``group``; ``where``: `` --estate
    DIR`` ending the commands a refusal suggests, when the command was given one.

    Refused (:class:`StepError`, nothing undone, no run journaled) once the wave is
    finalized, and (:class:`InProductionError`) when a system to undo is cut over — its
    target holds production writes the source never saw — unless
    ``discard_production_writes``: then each such system's discard is audited
    (``wave.rollback.discard_production_writes``) before it is undone."""
    with open_journal(estate_dir) as journal:
        journal.ensure_idle(number, bureau=bureau)
        todo = [system, *(group or [])] if system else journal.systems(number)
        if systems is not None:
            todo = [s for s in todo if s in set(systems)]
        names = system_names(estate_dir)
        live = refuse_rollback(journal, number, todo, discard_production_writes, names,
                               system=system, where=where)
        last = journal.last_run(number, bureau=bureau) or journal.last_run(number)
        opts = RunOptions(**(last.get("options") or {})) if last else RunOptions()
        run_id = journal.begin_run(number, {"system": system, "group": group or [],
                                            "options": opts.to_dict(),
                                            "bureau": bureau}, kind="rollback",
                                   exclusive=True)  # a run started meanwhile: refused
        ctx = RunContext(opts, targets=targets or {}, names=names).bind(journal, run_id,
                                                                        number)
        actions = actions_for(ctx)
        reports = []
        try:
            for sid in todo:
                if sid in live:
                    journal.audit("wave.rollback.discard_production_writes", sid, "ok",
                                  {"wave": number, "run": run_id})
                try:
                    with lock(sid) if lock else nullcontext():
                        reports.append(undo_system(journal, run_id, number, sid, actions,
                                                   discard_production=sid in live,
                                                   names=names))
                except LockLostError as exc:  # lost between two undos: the rest is not ours
                    reports.append(UndoReport(sid, failed={sid: str(exc)},
                                              lock_lost=str(exc)))
        finally:
            ctx.close()
            journal.finish_run(run_id, "rolled_back" if all(r.ok for r in reports)
                               else "failed")
    return reports


def fail_back(estate_dir: str, number: int, system: str | None = None, *,
              targets: TargetFactories | None = None,
              group: list[str] | None = None) -> list[dict[str, Any]]:
    """Fail back ``system`` (or every cut-over system of wave ``number``) from the journal.

    ``group``: the other members of ``system``'s move group; each of them in production on
    its target (or in the middle of a fail-back) is failed back with it — a move group
    moves and comes back together — and journaled in the run's ``group``.

    Refused (:class:`StepError`, nothing journaled) once the wave is finalized, and for a
    system that is neither in production on its target (cut over, or its DNS switched
    there: :func:`actions.failback.in_production`) nor in the middle of a fail-back.
    Returns one result per system: ``state`` ``failed_back``, ``refused`` (the target
    stays live; ``undone`` lists the fail-back steps undone) or ``failed`` (past the
    point of no return: run the command again), with ``error``."""
    with open_journal(estate_dir) as journal:
        journal.ensure_idle(number)
        if finalized(journal, number):
            raise StepError(f"wave {number} is finalized: fail-back refused (its systems run "
                            "in production on the target; the source is no longer the "
                            "fallback)")
        todo = [system, *[s for s in group or [] if in_production(journal, number, s)
                          or failing_back(journal, number, s)]] if system else [
            s for s in journal.systems(number)
            if in_production(journal, number, s) or failing_back(journal, number, s)]
        if not todo:
            raise StepError(f"wave {number}: no system is cut over: nothing to fail back "
                            "(a system that is not cut over is rolled back without "
                            "--fail-back)")
        names = system_names(estate_dir)
        for sid in todo:
            if not (in_production(journal, number, sid) or failing_back(journal, number, sid)):
                raise StepError(f"system {readable(sid, names)} is not cut over in wave "
                                f"{number}: nothing to fail back (roll it back without "
                                "--fail-back)")
        last = journal.last_run(number)
        opts = RunOptions(**(last.get("options") or {})) if last else RunOptions()
        run_id = journal.begin_run(number, {"system": system, "systems": todo,
                                            "group": todo[1:] if system else [],
                                            "options": opts.to_dict()}, kind="failback",
                                    exclusive=True)
        ctx = RunContext(opts, targets=targets or {}, names=names).bind(journal, run_id,
                                                                        number)
        actions = actions_for(ctx)
        results: list[dict[str, Any]] = []
        try:
            with journal.keepalive(run_id, HEARTBEAT_SECONDS):
                for sid in todo:
                    results.append(fail_back_system(journal, run_id, number, sid, actions))
        finally:
            ctx.close()
            journal.finish_run(run_id, "done" if results and all(
                r["state"] == FAILED_BACK for r in results) else "failed")
    return results


def finalized(journal: WaveJournal, number: int) -> bool:
    """Whether wave ``number`` has a ``finalize`` run that ended ``done``."""
    return any(r["kind"] == "finalize" and r["status"] == "done" for r in journal.runs(number))


def system_names(estate_dir: str) -> dict[str, str]:
    """System id -> name of the estate in ``estate_dir``, for messages (empty when the
    estate cannot be read: the messages then name the ids)."""
    try:
        return names_of(Estate.load(estate_dir, check=False), "system")
    except ShangyunError:
        return {}


def refuse_rollback(journal: WaveJournal, number: int, todo: list[str],
                    discard_production_writes: bool,
                    names: Mapping[str, str] | None = None, *,
                    system: str | None = None, where: str = "") -> set[str]:
    """Check a rollback of ``todo`` before anything is undone: refused after finalize,
    and for cut-over systems unless ``discard_production_writes``. Returns the cut-over
    systems of ``todo`` (those whose production writes the rollback will discard);
    ``names`` (id -> name) name the systems in the refusal. The commands it suggests work
    as printed: ``system`` is the rollback's ``--system`` (None: the whole wave), ``where``
    `` --estate DIR`` when the command was given one."""
    arg = f" --system {command_arg('system', system, names or {})}" if system else ""
    fail_back = f"'shangyun wave rollback {number}{arg} --fail-back{where}'"
    if finalized(journal, number):
        raise StepError(f"wave {number} is finalized: rollback refused (its systems run in "
                        "production on the target; the source is no longer the fallback)")
    live = {sid for sid in todo if cut_over(journal, number, sid)}
    switched = {sid: target_writes_since_verify(journal, number, sid)
                for sid in todo if sid not in live and not discard_production_writes
                and traffic_switched(journal, number, sid)}
    if any(switched.values()):
        raise InProductionError(
            f"wave {number}: " + "; ".join(
                f"{readable(sid, names or {})}: DNS was switched to its target before it was "
                f"cut over, and the target took writes since the verify — "
                + ", ".join(found) for sid, found in switched.items() if found)
            + ": rollback would drop them; nothing was undone. Finish the cutover with "
            f"'shangyun wave resume {number}{where}' (the writes kept), carry them home "
            f"with {fail_back}, or discard them on purpose with "
            "--discard-production-writes (audited)")
    if discard_production_writes:  # the discard is audited for these too
        live |= {sid for sid in todo if traffic_switched(journal, number, sid)}
    if live and not discard_production_writes:
        raise InProductionError(
            f"wave {number}: {', '.join(sorted(readable(s, names or {}) for s in live))} "
            f"{'is' if len(live) == 1 else 'are'} cut over (in production): rollback "
            "would drop the writes made on the target since; nothing was undone. Carry them "
            f"back with {fail_back}, or discard them on purpose with "
            "--discard-production-writes (audited)")
    return live


def writes_on_switched_target(journal: WaveJournal, wave: int, system_id: str,
                               names: Mapping[str, str] | None = None,
                               where: str = "") -> str | None:
    """Why a run must not undo ``system_id`` after its failure, or None: DNS was switched
    to its target (not undone) and the target took writes since the ``verify`` — the
    users' production writes, which the undo would drop with the target database (the
    command ``wave rollback`` refuses the same, :func:`refuse_rollback`). A target that
    cannot be read is left alone too. The sentence names the system, the tables and the
    commands that go on (each ending with ``where``, `` --estate DIR``, when the command
    was given one)."""
    if cut_over(journal, wave, system_id) or not traffic_switched(journal, wave, system_id):
        return None
    try:
        found = target_writes_since_verify(journal, wave, system_id)
    except (ShangyunError, OSError) as exc:
        found = [f"the target could not be compared with the verify ({exc})"]
    if not found:
        return None
    who = readable(system_id, names or {})
    return (f"{who}: DNS was switched to its target before it was cut over, and the target "
            f"took writes since the verify — {', '.join(found)}: nothing was undone (DNS "
            f"stays on the target with the writes). Fix what failed and run 'shangyun wave "
            f"resume {wave}{where}' (the writes kept), carry them home with 'shangyun wave "
            f"rollback {wave} --system {command_arg('system', system_id, names or {})} "
            f"--fail-back{where}', or discard them on purpose with 'shangyun wave rollback "
            f"{wave} --system {command_arg('system', system_id, names or {})} "
            f"--discard-production-writes{where}' (audited)")


def run_system_steps(journal: WaveJournal, run_id: str, wave: int, steps: list[Step],
                     actions: Mapping[str, StepAction],
                     done: dict[str, dict[str, Any]] | None = None, *,
                     names: Mapping[str, str] | None = None,
                     where: str = "") -> dict[str, Any]:
    """Run ``steps`` of one system in order through the journal; on the first failure undo
    the whole system from the journal (newest first) — unless it is cut over (state
    ``cut_over``, nothing undone), or its DNS was switched and its target took writes
    since the verify (state ``failed``, nothing undone:
    :func:`writes_on_switched_target`; ``names``, id -> name, name it). Returns
    ``state`` (``done``, ``cut_over``, ``failed``, ``rolled_back`` or ``rollback_failed``),
    ``error`` and ``undo_failed`` (step key → error: reported as failed, never as rolled
    back). As a run does, refuses a system in
    the middle of a fail-back and lifts a failed-back system's target freeze first."""
    done = {} if done is None else done
    system = steps[0].system_id
    refuse_mid_failback(journal, wave, {system: system})
    try:
        reopen_failed_back(journal, run_id, wave, system, actions)
        for step in steps:
            done[step.key] = execute(journal, run_id, wave, step, actions[step.kind],
                                     done).payload
    except Exception as exc:
        if cut_over(journal, wave, system):  # its target is production: never undone here
            return {"state": "cut_over", "error": str(exc), "undone": [], "undo_failed": {}}
        kept = writes_on_switched_target(journal, wave, system, names, where)
        if kept is not None:  # the users' writes on the target: never dropped here
            journal.audit("wave.system.failed", system, "failed",
                          {"error": str(exc)[:2000], "kept": kept[:2000]})
            return {"state": "failed", "error": f"{exc}; {kept}", "undone": [],
                    "undo_failed": {}}
        report = undo_system(journal, run_id, wave, system, actions)
        return {"state": "rolled_back" if report.ok else "rollback_failed",
                "error": str(exc), "undone": report.undone, "undo_failed": report.failed}
    return {"state": "done", "error": None, "undone": [], "undo_failed": {}}
