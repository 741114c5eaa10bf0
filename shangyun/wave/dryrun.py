"""The dry run: exactly the steps a wave run would do, as text or JSON. Touches nothing."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from shangyun.wave.builder import step_count, wave_steps
from shangyun.wave.model import WaveWork
from shangyun.wave.state import counted
from shangyun.wave.steps import RunOptions, Step


def dry_run(wave: WaveWork, opts: RunOptions,
            held: Mapping[str, str] | None = None,
            left_alone: Collection[str] = ()) -> dict[str, Any]:
    """The whole wave as plain data: options, systems (with group and bureau) and steps
    (the run's own list: :func:`shangyun.wave.builder.wave_steps`); ``held``: system id →
    why the run would refuse the whole wave for it
    (:func:`shangyun.wave.journal_port.run_refusal`); ``left_alone``: the systems the
    journal has cut over in this wave — the run skips them before their first step (their
    target is production), so each is marked ``left_alone`` and ``steps_to_run`` counts
    only the others' steps."""
    steps = wave_steps(wave, opts)
    held = held or {}
    alone = [s.id for s in wave.systems if s.id in set(left_alone)]
    return {
        "held": [{"id": s.id, "name": s.name, "why": held[s.id]}
                 for s in wave.systems if s.id in held],
        "left_alone": alone,
        "wave": wave.number,
        "dry_run": True,
        "options": opts.to_dict(),
        "estate_fingerprint": wave.estate_fingerprint,
        "plan_fingerprint": wave.plan_fingerprint,
        "fingerprint_matches": wave.plan_fingerprint == wave.estate_fingerprint,
        "move_groups": wave.move_groups,
        "systems": [{
            "id": s.id, "name": s.name, "bureau": s.bureau_id,
            "bureau_name": s.bureau_name or s.bureau_id, "move_group": s.move_group,
            "run_name": run_name(wave.number, s.bureau_name or s.bureau_id, s.name),
            "steps": [st.to_dict() for st in steps[s.id]],
            "left_alone": s.id in alone,
        } for s in wave.systems],
        "step_count": step_count(steps),
        "steps_to_run": step_count({k: v for k, v in steps.items() if k not in alone}),
    }


LEFT_ALONE_WORDS = "cut over in this wave (left alone): its target is in production"
"""Why the run skips a cut-over system, as the dry run says it."""


def run_name(wave: int, bureau: str, system_name: str) -> str:
    """The readable run name of one system's work (``bureau``: the bureau's name):
    ``wave-1 · 北京局 · 审批系统``."""
    return f"wave-{wave} · {bureau} · {system_name}"


def render_text(plan: dict[str, Any]) -> str:
    """The dry run as numbered lines a person reads before the window."""
    lines = [f"wave {plan['wave']} — dry run, nothing will be touched",
             f"target: {plan['options']['target']} "
             f"(staging {plan['options']['staging_dir'] or '-'}, "
             f"s3://{plan['options']['bucket']})"]
    if not plan["fingerprint_matches"]:
        lines.append("WARNING: the estate changed since the plan was made; the pre-check "
                     "will stop every system")
    for h in plan.get("held", []):
        lines.append(f"REFUSED: the run would refuse the whole wave, nothing run: "
                     f"{h['name']} ({h['id']}) is {h['why']}")
    n = 0
    for s in plan["systems"]:
        lines.append(f"\n{s['run_name']}  [system {s['id']}, bureau {s['bureau']}, "
                     f"move group {s['move_group']}]")
        if s.get("left_alone"):
            lines.append(f"  LEFT ALONE: {s['name']} is {LEFT_ALONE_WORDS}; the run does "
                         "none of these steps")
        for st in s["steps"]:
            n += 1
            lines.append(f"  {n:4d}. {_line(st)}")
    total = f"\n{counted(len(plan['systems']), 'system')}, {counted(plan['step_count'], 'step')}"
    alone = [s["name"] for s in plan["systems"] if s.get("left_alone")]
    if alone:
        total += (f" — {plan['steps_to_run']} of them would run: "
                  + ", ".join(f"{a} is cut over (left alone)" for a in alone))
    lines.append(total)
    return "\n".join(lines)


def _line(st: dict[str, Any]) -> str:
    return f"[{st['kind']}] {st['title']}"


__all__ = ["Step", "dry_run", "render_text", "run_name"]
