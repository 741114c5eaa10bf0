"""The journal-driven undo: a whole wave (``wave rollback``) or one system's steps run
without Prefect, undone newest first from the journal alone on the first failure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from actions.context import RunContext, TargetFactories
from actions.registry import actions_for
from connectors.journal.wave import open_journal
from shangyun.wave.engine import StepAction, UndoReport, execute, undo_system
from shangyun.wave.journal_port import WaveJournal
from shangyun.wave.steps import RunOptions, Step


def rollback(estate_dir: str, number: int, system: str | None = None, *,
             systems: list[str] | None = None, bureau: str | None = None,
             lock: Callable[[str], AbstractContextManager[Any]] | None = None,
             targets: TargetFactories | None = None) -> list[UndoReport]:
    """Undo wave ``number`` (or one system) from the journal alone, newest step first.

    ``systems`` limits the undo to those systems (a bureau's share, journaled as that
    bureau's run); ``lock(system_id)`` is held around each system's undo (the distributed
    system lock); ``targets``: target factories by kind (the built-in ones otherwise)."""
    with open_journal(estate_dir) as journal:
        journal.ensure_idle(number, bureau=bureau)
        last = journal.last_run(number, bureau=bureau) or journal.last_run(number)
        opts = RunOptions(**(last.get("options") or {})) if last else RunOptions()
        run_id = journal.begin_run(number, {"system": system, "options": opts.to_dict(),
                                            "bureau": bureau}, kind="rollback")
        ctx = RunContext(opts, targets=targets or {}).bind(journal, run_id, number)
        actions = actions_for(ctx)
        reports = []
        try:
            todo = [system] if system else journal.systems(number)
            if systems is not None:
                todo = [s for s in todo if s in set(systems)]
            for sid in todo:
                with lock(sid) if lock else nullcontext():
                    reports.append(undo_system(journal, run_id, number, sid, actions))
        finally:
            ctx.close()
            journal.finish_run(run_id, "rolled_back" if all(r.ok for r in reports)
                               else "failed")
    return reports


def run_system_steps(journal: WaveJournal, run_id: str, wave: int, steps: list[Step],
                     actions: Mapping[str, StepAction],
                     done: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run ``steps`` of one system in order through the journal; on the first failure undo
    the whole system from the journal (newest first). Returns ``state`` (``done``,
    ``rolled_back`` or ``rollback_failed``), ``error`` and ``undo_failed`` (step key →
    error: reported as failed, never as rolled back)."""
    done = {} if done is None else done
    try:
        for step in steps:
            done[step.key] = execute(journal, run_id, wave, step, actions[step.kind],
                                     done).payload
    except Exception as exc:
        system = steps[0].system_id
        report = undo_system(journal, run_id, wave, system, actions)
        return {"state": "rolled_back" if report.ok else "rollback_failed",
                "error": str(exc), "undone": report.undone, "undo_failed": report.failed}
    return {"state": "done", "error": None, "undone": [], "undo_failed": {}}
