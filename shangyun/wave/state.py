"""One system state and one wave state, computed in one place from the journal: ``wave
status``, the runbook, ``status``, the report and the wave's Prefect flow run all call
:func:`system_state` and :func:`wave_state`.

System states: ``pending`` (nothing recorded), ``done`` (every step done; for a system
with a ``cutover`` step, once the wave is finalized), ``cut_over`` (every step done, its
``cutover`` among them, the wave not finalized: in production on the target, the source
kept for fail-back — awaiting ``wave finalize``), ``refused`` (the
pre-check refused the system and nothing else ran or stayed done: untouched, not "rolled
back"), ``rolled_back`` (every step undone after a failure: a step of it failed, or a
member of its move group did, or an undo was done by a failing run),
``rolled_back_by_operator`` (every step undone by the operator's ``wave rollback``
command — the journal's undo marks name the ``rollback`` run that made them; the
``cutover`` step may have been undone by his fail-back before — with no step of it failed:
a choice, not a failure, needing no decision), ``rollback_failed``
(an undo failed),
``failed`` (a step failed), ``partial`` (steps started or done, the run not finished),
``failed_back`` (``wave rollback --fail-back`` carried it home: its ``failback`` mark is
done and its ``cutover`` is not). A fail-back's other steps (``failback-…``) do not
change the state: a refused fail-back leaves a cut-over system ``done``.

Wave states: ``never run`` (no run in the journal), ``running``, ``crashed`` (the newest
run's orchestrator died), ``done`` (every system of the wave is done — finalized, when any
was cut over), ``cut_over`` (every system done or cut over, one at least cut over, the
wave not finalized yet: awaiting ``wave finalize``), ``failed`` (a system
of the wave is not done after its runs: failed, rolled back after a failure, refused …),
``failed_back`` (no system failed, and every system not done was failed back: a fail-back
is a deliberate operator action, not a failure), ``partly_failed_back`` (the same, with
some systems done or cut over beside the failed-back ones), ``rolled_back`` and
``partly_rolled_back`` (the same for systems the operator's ``wave rollback`` command
rolled back — any of them beside failed-back ones), ``partial`` (no system failed but
some were not run: an ``--only`` run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from shangyun.journal.records import StepEntry
from shangyun.journal.status import (
    DONE,
    FAILBACK_KIND,
    FAILED,
    FINALIZE_KIND,
    ROLLBACK_KIND,
    RUN_CRASHED,
    RUN_DONE,
    RUN_RUNNING,
    UNDO_BY,
    UNDO_FAILED,
    UNDO_TIMING,
    UNDONE,
)
from shangyun.words import counted

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
"""A system whose ``cutover`` step is done in a wave not finalized yet (its source kept for
fail-back); also a run's label for such a system, left alone."""
ROLLED_BACK_BY_OPERATOR: Final = "rolled_back_by_operator"
"""A system the operator's ``wave rollback`` undid, no step of it failed: not a failure."""
BUSY: Final = "busy"
"""A run's label for a system another worker holds: left alone, nothing undone."""
SKIPPED: Final = "skipped"
"""A run's label for a system not started because a member of its move group failed."""
SYSTEM_STATES: Final = (PENDING, SYSTEM_DONE, CUT_OVER, REFUSED, ROLLED_BACK,
                        ROLLED_BACK_BY_OPERATOR, ROLLBACK_FAILED, SYSTEM_FAILED, PARTIAL,
                        FAILED_BACK)
"""Every state :func:`system_state` gives."""
FINISHED: Final = (SYSTEM_DONE, CUT_OVER)
"""The states of a system that count as done (moved) for the wave."""
DELIBERATE: Final = (FAILED_BACK, ROLLED_BACK_BY_OPERATOR)
"""The states of a system the operator chose (fail-back, rollback command): not failures,
and nothing to decide; the system is home, to be moved again."""

NEVER_RUN: Final = "never run"
WAVE_RUNNING: Final = RUN_RUNNING
WAVE_CRASHED: Final = RUN_CRASHED
WAVE_DONE: Final = DONE
WAVE_FAILED: Final = FAILED
WAVE_PARTIAL: Final = PARTIAL
WAVE_FAILED_BACK: Final = FAILED_BACK
WAVE_PARTLY_FAILED_BACK: Final = "partly_failed_back"
WAVE_ROLLED_BACK: Final = "rolled_back"
WAVE_PARTLY_ROLLED_BACK: Final = "partly_rolled_back"
WAVE_CUT_OVER: Final = CUT_OVER
WAVE_STATES: Final = (NEVER_RUN, WAVE_RUNNING, WAVE_CRASHED, WAVE_DONE, WAVE_CUT_OVER,
                      WAVE_FAILED, WAVE_FAILED_BACK, WAVE_PARTLY_FAILED_BACK,
                      WAVE_ROLLED_BACK, WAVE_PARTLY_ROLLED_BACK, WAVE_PARTIAL)
"""Every state :func:`wave_state` gives."""


StepRow = (tuple[str, str] | tuple[str, str, str | None]
           | tuple[str, str, str | None, str | None])
"""``(kind, status[, error[, undone_by]])`` of a step's latest record (:func:`undone_by`)."""


def undone_by(result: Mapping[str, Any] | None) -> str | None:
    """The kind of the run that undid a step (``rollback``: the operator's ``wave rollback``
    command; ``run``: the automatic rollback of a failing run; ``failback``), from the step
    record's result (or a wave journal record's payload, which holds it); None when the
    journal does not say (not undone, or undone before it recorded who)."""
    by = ((result or {}).get(UNDO_TIMING) or {}).get(UNDO_BY) if result else None
    return str(by["kind"]) if isinstance(by, Mapping) and by.get("kind") else None


def is_finalized(runs: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a ``finalize`` run of the wave ended done (``runs``: as ``wave status`` and
    the runbook list them, each with ``kind`` and ``status``)."""
    return any(r.get("kind") == FINALIZE_KIND and r.get("status") == RUN_DONE for r in runs)


def last_rollback(runs: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest run of the operator's ``wave rollback`` command in ``runs`` (oldest
    first, each with ``kind``): who rolled the wave back and when, for the systems
    :func:`system_state` reads ``rolled_back_by_operator``; None when there is none."""
    return next((r for r in reversed(list(runs)) if r.get("kind") == ROLLBACK_KIND), None)


def step_kind(key: str, payload: Mapping[str, Any] | None = None) -> str:
    """A step's kind from its journal key (``S/KIND[/OBJECT]``) — or the ``_kind`` its
    journaled payload carries: a fail-back's steps are keyed ``S/failback/freeze``,
    ``S/failback/delta/ITEM``, ``S/failback/verify`` (kinds ``failback-freeze`` …) beside
    its final mark ``S/failback`` (kind ``failback``), so the key's second part alone
    took a fail-back's first step for its end."""
    if payload and payload.get("_kind"):
        return str(payload["_kind"])
    parts = key.split("/")
    if len(parts) < 2:
        return key
    if parts[1] == FAILBACK and len(parts) > 2:
        return f"{FAILBACK}-{parts[2]}"
    return parts[1]


def unfinished(records: Iterable[tuple[str, str, Mapping[str, Any] | None]]) -> bool:
    """Whether a system's run stopped between two of its steps: ``(key, status, payload)``
    of each step's latest record; its pre-check journals every key the run must do (the
    builder's list) and one of them has no record. A run killed there left every recorded
    step done: without this the system read ``done`` with its source frozen and its DNS
    not switched. (Journals written before the pre-check listed its steps: False.)"""
    keys: set[str] = set()
    listed: list[str] = []
    for key, status, payload in records:
        keys.add(key)
        if key.rsplit("/", 1)[-1] == PRECHECK and status == DONE and payload:
            listed = list(payload.get("steps") or [])
    return any(k not in keys for k in listed)


def system_state(steps: Iterable[StepRow], *, finalized: bool = False,
                 stopped: bool = False) -> str:
    """A system's state from ``(kind, status)`` — or ``(kind, status, error)``, or
    ``(kind, status, error, undone_by)`` — of each of its steps' latest record. With the
    error, a pre-check that failed and was then undone (the rollback marks every step it
    visits ``undone``) still reads as a refusal; with who undid each step
    (:func:`undone_by`), a rollback the operator's command made, no step having failed,
    reads ``rolled_back_by_operator``. ``finalized``: the wave is finalized, so a cut-over
    system is ``done``, not ``cut_over`` awaiting finalize. ``stopped``: the journal lacks
    steps the system's pre-check listed (:func:`unfinished`): every step recorded done
    then reads ``partial``, not ``done``."""
    rows = [(s[0], s[1], bool(s[2]) if len(s) > 2 else False,
             s[3] if len(s) > 3 else None) for s in steps]  # type: ignore[misc]
    pairs = {(kind, status) for kind, status, _, _ in rows}
    if (FAILBACK, DONE) in pairs and (CUTOVER, DONE) not in pairs:
        return FAILED_BACK
    rows = [r for r in rows if not r[0].startswith(FAILBACK)]
    statuses = {status for _, status, _, _ in rows}
    if not statuses:
        return PENDING
    if UNDO_FAILED in statuses:
        return ROLLBACK_FAILED
    if statuses == {DONE} and stopped:
        return PARTIAL
    if statuses == {DONE}:
        cut = any(kind == CUTOVER for kind, _, _, _ in rows)
        return CUT_OVER if cut and not finalized else SYSTEM_DONE
    refused = any(kind == PRECHECK and (status == FAILED or (error and status == UNDONE))
                  for kind, status, error, _ in rows)
    others = {status for kind, status, _, _ in rows if kind != PRECHECK}
    if refused and others <= {UNDONE}:
        return REFUSED
    if statuses == {UNDONE}:
        undoers = {by for _, _, _, by in rows}
        if (not any(error for _, _, error, _ in rows) and ROLLBACK_KIND in undoers
                and undoers <= {ROLLBACK_KIND, FAILBACK}):  # his rollback (after his fail-back)
            return ROLLED_BACK_BY_OPERATOR
        return ROLLED_BACK
    if FAILED in statuses:
        return SYSTEM_FAILED
    return PARTIAL


def recorded_states(entries: Iterable[StepEntry], *, finalized: bool = False) -> dict[str, str]:
    """System id → :func:`system_state` of a wave's step records (``entries``, oldest
    first, as ``JournalReader.wave_steps`` returns them): the latest record of each step
    counts, as in the runbook's history and ``status``."""
    latest: dict[tuple[str, str], StepEntry] = {}
    for e in entries:
        latest[(e.system, e.step)] = e
    steps: dict[str, list[StepRow]] = {}
    keyed: dict[str, list[tuple[str, str, Mapping[str, Any] | None]]] = {}
    for (sid, key), e in latest.items():
        kind = step_kind(key, e.result)
        steps.setdefault(sid, []).append((kind, e.status, e.error or "", undone_by(e.result)))
        keyed.setdefault(sid, []).append((key, e.status, e.result))
    return {sid: system_state(rows, finalized=finalized, stopped=unfinished(keyed[sid]))
            for sid, rows in steps.items()}


def wave_state(run_statuses: Iterable[str], systems: Mapping[str, str]) -> str:
    """The wave's one state from the statuses of its latest runs (one per scope: the whole
    wave, or each bureau of a distributed run) and the state of every system planned in it
    (``systems``: id → :func:`system_state` or a run's label; a planned system that never
    ran is ``pending``). Whether the wave is finalized comes through the systems' states
    (``cut_over`` before, ``done`` after: :func:`system_state`'s ``finalized``)."""
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
        return WAVE_CUT_OVER if CUT_OVER in states else WAVE_DONE
    bad = states - set(FINISHED) - {PENDING}
    if bad - set(DELIBERATE):
        return WAVE_FAILED
    if bad:  # only the operator's fail-backs or rollbacks: deliberate, not a failure
        partly = bool(states & set(FINISHED))
        if ROLLED_BACK_BY_OPERATOR in bad:
            return WAVE_PARTLY_ROLLED_BACK if partly else WAVE_ROLLED_BACK
        return WAVE_PARTLY_FAILED_BACK if partly else WAVE_FAILED_BACK
    return WAVE_PARTIAL


def not_finalizable(systems: Mapping[str, str]) -> list[str]:
    """The systems (ids, sorted) ``wave finalize`` would refuse in a wave that reads cut
    over (``systems``: id -> :func:`system_state`): beside its cut-over ones, those that
    read ``done`` though not finalized were moved disks-only — ``plan/cutover.yaml`` does
    not list them, nothing of them was switched, their source is still production — so
    the wave's next step is to list them there and run again, or to take them out of the
    wave, not to finalize. Empty when no system is cut over (a finalized wave, or one
    moved disks-only alone: nothing awaits finalize)."""
    if CUT_OVER not in systems.values():
        return []
    return sorted(sid for sid, st in systems.items() if st == SYSTEM_DONE)


def run_outcome(kind: str, status: str, reason: str | None) -> str:
    """A run's status as every reader shows it (``wave status``, its ``--json``, the
    runbook's runs table): the journal ends a run ``done`` or ``failed`` (``reason``: the
    state it ended in), which says too little for two kinds — the operator's ``wave
    rollback`` that undid everything is journaled ``failed`` with the reason
    ``rolled_back`` and reads ``rolled_back`` (not a failure), and a fail-back run that
    carried every system home is journaled ``done`` and reads ``failed_back`` (not a wave
    done). Every other run reads its journaled status."""
    if kind == ROLLBACK_KIND and status == FAILED and reason == ROLLED_BACK:
        return ROLLED_BACK
    if kind == FAILBACK_KIND and status == RUN_DONE:
        return FAILED_BACK
    return status


def run_state(systems: Mapping[str, str]) -> str:
    """The state a finished run ends in over the systems it ran (id → state or a run's
    label): ``done`` when every one is (:func:`wave_state` of that one run), else
    ``failed``."""
    state = wave_state((RUN_DONE,), systems)
    return WAVE_DONE if state in (WAVE_DONE, WAVE_CUT_OVER) else WAVE_FAILED


def latest_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str | None, Mapping[str, Any]]:
    """The latest run of each scope (``bureau``; None: the whole wave) since, and
    including, the last whole-wave run of ``runs`` (oldest first): the runs whose statuses
    :func:`wave_state` takes. A ``finalize`` run that ended neither done nor is running
    (killed after it began: it changes nothing but the journal) is left out: the wave is
    as it was before it — cut over, awaiting finalize — not ``crashed`` (whose next step,
    ``wave resume``, would find nothing to resume)."""
    runs = [r for r in runs if r.get("kind") != FINALIZE_KIND
            or r.get("status") in (RUN_DONE, RUN_RUNNING)]
    if not runs:
        return {}
    start = max((i for i, r in enumerate(runs) if not r.get("bureau")), default=0)
    latest: dict[str | None, Mapping[str, Any]] = {}
    for r in runs[start:]:
        latest[r.get("bureau") or None] = r
    return latest


STATE_WORDS: Final = {CUT_OVER: "cut over — awaiting finalize",
                      ROLLED_BACK_BY_OPERATOR: "rolled back by the operator"}
"""A system's (or the wave's) state in words where the bare word would not say enough; the
others read as the state with spaces (``rolled back``, ``never run``)."""


def state_words(state: str) -> str:
    """A system's or the wave's state in English words, as ``wave status`` and ``wave run``
    print it (``cut_over``: cut over — awaiting finalize)."""
    return STATE_WORDS.get(state, state.replace("_", " "))


def state_counts(states: Mapping[str, str]) -> dict[str, int]:
    """State → how many systems of ``states`` (id → state) are in it, sorted by state."""
    counts: dict[str, int] = {}
    for st in states.values():
        counts[st] = counts.get(st, 0) + 1
    return dict(sorted(counts.items()))


def counts_words(counts: Mapping[str, int]) -> str:
    """``{"cut_over": 2, "pending": 1}`` in words: ``2 systems cut over — awaiting
    finalize, 1 system pending`` (``no systems`` when empty)."""
    return ", ".join(f"{counted(n, 'system')} {state_words(st)}"
                     for st, n in sorted(counts.items()) if n) or "no systems"


def progress_bucket(state: str) -> str:
    """Where a system in ``state`` counts in a progress table or chart: ``moved`` (done or
    cut over), ``failed`` (failed, rolled back after a failure, refused, rollback failed)
    or ``pending`` (not run, partial, failed back or rolled back by the operator: home on
    its source, to be moved again — counted apart as well, never as a failure)."""
    if state in FINISHED:
        return "moved"
    if state in (SYSTEM_FAILED, ROLLED_BACK, ROLLBACK_FAILED, REFUSED):
        return "failed"
    return PENDING


def stays_in_wave(state: str, planned_here: bool) -> bool:
    """Whether a system the journal has in a wave counts in that wave's state (and is
    shown in its runbook): always when the plan puts it there; when a re-plan put it in
    another wave (or none), only while the wave still holds something of it (moved, cut
    over, failed, partly run …) — one that came home there (rolled back by its run,
    refused) or never ran belongs to the wave the plan gives it now. The one rule of
    ``wave status`` and the runbook (they disagreed: ``failed`` against ``partial``)."""
    return planned_here or state not in (PENDING, ROLLED_BACK, REFUSED)


def is_settled(state: str) -> bool:
    """Whether a system in ``state`` needs nobody's decision: done (or cut over and left
    alone), not run yet, or failed back / rolled back by the operator's own command."""
    return state in (*FINISHED, PENDING, *DELIBERATE)


__all__ = [
    "BUSY",
    "CUTOVER",
    "CUT_OVER",
    "DELIBERATE",
    "FAILBACK",
    "FAILED_BACK",
    "FINISHED",
    "NEVER_RUN",
    "PARTIAL",
    "PENDING",
    "PRECHECK",
    "REFUSED",
    "ROLLBACK_FAILED",
    "ROLLED_BACK",
    "ROLLED_BACK_BY_OPERATOR",
    "SKIPPED",
    "STATE_WORDS",
    "SYSTEM_DONE",
    "SYSTEM_FAILED",
    "SYSTEM_STATES",
    "WAVE_CRASHED",
    "WAVE_CUT_OVER",
    "WAVE_DONE",
    "WAVE_FAILED",
    "WAVE_FAILED_BACK",
    "WAVE_PARTIAL",
    "WAVE_PARTLY_FAILED_BACK",
    "WAVE_PARTLY_ROLLED_BACK",
    "WAVE_ROLLED_BACK",
    "WAVE_RUNNING",
    "WAVE_STATES",
    "StepRow",
    "counted",
    "counts_words",
    "is_finalized",
    "is_settled",
    "last_rollback",
    "latest_runs",
    "not_finalizable",
    "progress_bucket",
    "recorded_states",
    "run_outcome",
    "run_state",
    "state_counts",
    "state_words",
    "stays_in_wave",
    "step_kind",
    "system_state",
    "undone_by",
    "unfinished",
    "wave_state",
]
