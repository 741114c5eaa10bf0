"""One system state and one wave state, computed in one place from the journal: ``wave
status``, the runbook, ``status``, the report and the wave's Prefect flow run all call
:func:`system_state` and :func:`wave_state`.

System states: ``pending`` (nothing recorded), ``done`` (every step done), ``refused`` (the
pre-check refused the system and nothing else ran or stayed done: untouched, not "rolled
back"), ``rolled_back`` (every step undone), ``rollback_failed`` (an undo failed),
``failed`` (a step failed), ``partial`` (steps started or done, the run not finished),
``failed_back`` (``wave rollback --fail-back`` carried it home: its ``failback`` mark is
done and its ``cutover`` is not). A fail-back's other steps (``failback-…``) do not
change the state: a refused fail-back leaves a cut-over system ``done``.

Wave states: ``never run`` (no run in the journal), ``running``, ``crashed`` (the newest
run's orchestrator died), ``done`` (every system of the wave is done), ``failed`` (a system
of the wave is not done after its runs: failed, rolled back, refused …), ``failed_back``
(no system failed, and every system not done was failed back: a fail-back is a deliberate
operator action, not a failure), ``partly_failed_back`` (the same, with some systems done
or cut over beside the failed-back ones), ``partial`` (no system failed but some were not
run: an ``--only`` run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from shangyun.journal.records import StepEntry
from shangyun.journal.status import (
    DONE,
    FAILED,
    RUN_CRASHED,
    RUN_DONE,
    RUN_RUNNING,
    UNDO_FAILED,
    UNDONE,
)

PRECHECK: Final = "precheck"
FAILBACK: Final = "failback"
CUTOVER: Final = "cutover"

PENDING: Final = "pending"
SYSTEM_DONE: Final = DONE
REFUSED: Final = "refused"
ROLLED_BACK: Final = "rolled_back"
ROLLBACK_FAILED: Final = "rollback_failed"
SYSTEM_FAILED: Final = FAILED
PARTIAL: Final = "partial"
FAILED_BACK: Final = "failed_back"
CUT_OVER: Final = "cut_over"
"""A run's label for a system whose cutover the journal records done: left alone."""
BUSY: Final = "busy"
"""A run's label for a system another worker holds: left alone, nothing undone."""
SKIPPED: Final = "skipped"
"""A run's label for a system not started because a member of its move group failed."""
SYSTEM_STATES: Final = (PENDING, SYSTEM_DONE, REFUSED, ROLLED_BACK, ROLLBACK_FAILED,
                        SYSTEM_FAILED, PARTIAL, FAILED_BACK)
"""Every state :func:`system_state` gives."""
FINISHED: Final = (SYSTEM_DONE, CUT_OVER)
"""The states of a system that count as done for the wave."""

NEVER_RUN: Final = "never run"
WAVE_RUNNING: Final = RUN_RUNNING
WAVE_CRASHED: Final = RUN_CRASHED
WAVE_DONE: Final = DONE
WAVE_FAILED: Final = FAILED
WAVE_PARTIAL: Final = PARTIAL
WAVE_FAILED_BACK: Final = FAILED_BACK
WAVE_PARTLY_FAILED_BACK: Final = "partly_failed_back"
WAVE_STATES: Final = (NEVER_RUN, WAVE_RUNNING, WAVE_CRASHED, WAVE_DONE, WAVE_FAILED,
                      WAVE_FAILED_BACK, WAVE_PARTLY_FAILED_BACK, WAVE_PARTIAL)
"""Every state :func:`wave_state` gives."""


def system_state(steps: Iterable[tuple[str, str] | tuple[str, str, str | None]]) -> str:
    """A system's state from ``(kind, status)`` — or ``(kind, status, error)`` — of each of
    its steps' latest record. With the error, a pre-check that failed and was then undone
    (the rollback marks every step it visits ``undone``) still reads as a refusal."""
    rows = [(s[0], s[1], bool(s[2]) if len(s) > 2 else False) for s in steps]
    pairs = {(kind, status) for kind, status, _ in rows}
    if (FAILBACK, DONE) in pairs and (CUTOVER, DONE) not in pairs:
        return FAILED_BACK
    rows = [r for r in rows if not r[0].startswith(FAILBACK)]
    statuses = {status for _, status, _ in rows}
    if not statuses:
        return PENDING
    if UNDO_FAILED in statuses:
        return ROLLBACK_FAILED
    if statuses == {DONE}:
        return SYSTEM_DONE
    refused = any(kind == PRECHECK and (status == FAILED or (error and status == UNDONE))
                  for kind, status, error in rows)
    others = {status for kind, status, _ in rows if kind != PRECHECK}
    if refused and others <= {UNDONE}:
        return REFUSED
    if statuses == {UNDONE}:
        return ROLLED_BACK
    if FAILED in statuses:
        return SYSTEM_FAILED
    return PARTIAL


def recorded_states(entries: Iterable[StepEntry]) -> dict[str, str]:
    """System id → :func:`system_state` of a wave's step records (``entries``, oldest
    first, as ``JournalReader.wave_steps`` returns them): the latest record of each step
    counts, as in the runbook's history and ``status``."""
    latest: dict[tuple[str, str], StepEntry] = {}
    for e in entries:
        latest[(e.system, e.step)] = e
    steps: dict[str, list[tuple[str, str, str | None]]] = {}
    for (sid, key), e in latest.items():
        kind = key.split("/")[1] if "/" in key else key
        steps.setdefault(sid, []).append((kind, e.status, e.error or ""))
    return {sid: system_state(rows) for sid, rows in steps.items()}


def wave_state(run_statuses: Iterable[str], systems: Mapping[str, str]) -> str:
    """The wave's one state from the statuses of its latest runs (one per scope: the whole
    wave, or each bureau of a distributed run) and the state of every system planned in it
    (``systems``: id → :func:`system_state` or a run's label; a planned system that never
    ran is ``pending``)."""
    statuses = set(run_statuses)
    if not statuses:
        return NEVER_RUN
    if RUN_RUNNING in statuses:
        return WAVE_RUNNING
    if RUN_CRASHED in statuses:
        return WAVE_CRASHED
    states = set(systems.values())
    if not states:  # a wave of no system (or none recorded): its runs say
        return WAVE_DONE if statuses == {RUN_DONE} else WAVE_FAILED
    if states <= set(FINISHED):
        return WAVE_DONE
    bad = states - set(FINISHED) - {PENDING}
    if bad - {FAILED_BACK}:
        return WAVE_FAILED
    if bad:  # only fail-backs: deliberate, not a failure
        return WAVE_PARTLY_FAILED_BACK if states & set(FINISHED) else WAVE_FAILED_BACK
    return WAVE_PARTIAL


def run_state(systems: Mapping[str, str]) -> str:
    """The state a finished run ends in over the systems it ran (id → state or a run's
    label): ``done`` when every one is (:func:`wave_state` of that one run), else
    ``failed``."""
    state = wave_state((RUN_DONE,), systems)
    return WAVE_DONE if state == WAVE_DONE else WAVE_FAILED


def latest_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str | None, Mapping[str, Any]]:
    """The latest run of each scope (``bureau``; None: the whole wave) since, and
    including, the last whole-wave run of ``runs`` (oldest first): the runs whose statuses
    :func:`wave_state` takes."""
    if not runs:
        return {}
    start = max((i for i, r in enumerate(runs) if not r.get("bureau")), default=0)
    latest: dict[str | None, Mapping[str, Any]] = {}
    for r in runs[start:]:
        latest[r.get("bureau") or None] = r
    return latest


def progress_bucket(state: str) -> str:
    """Where a system in ``state`` counts in a progress table or chart: ``moved`` (done or
    cut over), ``failed`` (failed, rolled back, refused, rollback failed) or ``pending``
    (not run, partial, or failed back: home on its source, to be moved again — counted
    apart as well, never as a failure)."""
    if state in FINISHED:
        return "moved"
    if state in (SYSTEM_FAILED, ROLLED_BACK, ROLLBACK_FAILED, REFUSED):
        return "failed"
    return PENDING


def is_settled(state: str) -> bool:
    """Whether a system in ``state`` needs nobody's decision: done (or cut over and left
    alone), or not run yet."""
    return state in (*FINISHED, PENDING)


__all__ = ["BUSY", "CUTOVER", "CUT_OVER", "FAILBACK", "FAILED_BACK", "FINISHED", "NEVER_RUN",
           "PARTIAL", "PENDING", "PRECHECK", "REFUSED", "ROLLBACK_FAILED", "ROLLED_BACK",
           "SKIPPED", "SYSTEM_DONE", "SYSTEM_FAILED", "SYSTEM_STATES", "WAVE_CRASHED",
           "WAVE_DONE", "WAVE_FAILED", "WAVE_FAILED_BACK", "WAVE_PARTIAL",
           "WAVE_PARTLY_FAILED_BACK", "WAVE_RUNNING", "WAVE_STATES",
           "is_settled", "latest_runs", "progress_bucket", "recorded_states", "run_state",
           "system_state",
           "wave_state"]
