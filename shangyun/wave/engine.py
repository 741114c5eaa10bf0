"""Run and undo steps through the journal: the part of a wave run that survives ``kill -9``.

:func:`execute` makes a step idempotent: a step already ``done`` in the journal (and still
valid, e.g. its file still there) is skipped; otherwise it is journaled ``started`` with
what it *plans* to create, run, and journaled ``done`` with what it *did* create (ids,
paths, digests) before :func:`execute` returns. :func:`undo_system` reads only the journal
(never process memory) and undoes a system's steps in reverse order, so it works after a
crash, on command, and twice in a row.

The journal itself belongs to :mod:`shangyun.journal` (statuses, records) and its SQL store
to ``connectors/journal``; this module needs only the small :class:`StepJournal` surface
below (the whole wave run's is :class:`shangyun.wave.journal_port.WaveJournal`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shangyun.errors import (
    AuditRecordError,
    InProductionError,
    LockLostError,
    ShangyunError,
    StepError,
    TransientError,
)
from shangyun.estate.names import readable
from shangyun.journal.status import DONE, FAILED, NEEDS_UNDO, STARTED, UNDO_FAILED, UNDOING, UNDONE
from shangyun.wave.steps import Step


@dataclass(frozen=True)
class StepRecord:
    """The latest journal state of one step of one system in one wave."""

    key: str
    kind: str
    system_id: str
    status: str
    payload: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class StepJournal(Protocol):
    """What the step engine needs from the journal."""

    def last(self, wave: int, system_id: str, key: str) -> StepRecord | None:
        """The latest record of step ``key`` (any run of this wave), or None."""
        ...

    def record(self, run_id: str, wave: int, step: Step, status: str,
               payload: Mapping[str, Any], error: str | None = None) -> None:
        """Durably record ``status`` of ``step`` (committed before returning)."""
        ...

    def records(self, wave: int, system_id: str | None = None) -> list[StepRecord]:
        """The latest record of every step of the wave (or one system), oldest first."""
        ...

    def audit_problem(self, run_id: str, system_id: str, key: str,
                      status: str) -> str | None:
        """Why the audit record of step ``key`` (journaled ``status`` in ``run_id``) is
        missing or not intact, or None when it is present and intact."""
        ...


class StepAction(Protocol):
    """How one kind of step is done, checked and undone (see ``actions/``)."""

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Do the step; ``done`` maps earlier step keys of the system to their payloads.

        Returns the payload to journal: everything needed to verify and undo it.
        """
        ...

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Whether a step journaled ``done`` still holds (e.g. its output exists)."""
        ...

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Undo from the journaled payload alone; safe to call twice.

        An action whose undo drops or deletes data sets ``destructive_undo = True``: its
        undo runs only after :func:`require_audit_record` passed."""
        ...


def require_audit_record(journal: StepJournal, run_id: str, rec: StepRecord) -> None:
    """Refuse (:class:`AuditRecordError`) a destructive undo of ``rec`` whose audit record
    is missing or not intact: a cut or rewritten audit log must not be followed by
    dropping what it recorded. ``run_id``: the run that journaled ``rec``."""
    problem = journal.audit_problem(run_id, rec.system_id, rec.key, rec.status)
    if problem is not None:
        raise AuditRecordError(
            f"undo of {rec.key} refused: {problem}; run 'shangyun audit verify' and restore "
            f"the journal before undoing (nothing was dropped)")


def cut_over(journal: StepJournal, wave: int, system_id: str) -> bool:
    """Whether ``system_id``'s ``cutover`` step is done in the journal: its target is in
    production and takes writes that exist nowhere else."""
    rec = journal.last(wave, system_id, f"{system_id}/cutover")
    return rec is not None and rec.status == DONE


FAILBACK_MARK = "failback"
"""The kind of the step that marks a system failed back (``S/failback``)."""


def failed_back(journal: StepJournal, wave: int, system_id: str) -> bool:
    """Whether ``system_id`` was failed back (``wave rollback --fail-back``): its fail-back
    mark is done and its ``cutover`` step is not (a later run that cuts it over again
    makes it cut over, not failed back)."""
    mark = journal.last(wave, system_id, f"{system_id}/{FAILBACK_MARK}")
    return mark is not None and mark.status == DONE and not cut_over(journal, wave, system_id)


def refuse_in_production(journal: StepJournal, wave: int, system_id: str, what: str,
                         names: Mapping[str, str] | None = None) -> None:
    """Raise :class:`InProductionError` when ``system_id`` is cut over (``what``: the
    refused action, e.g. ``delta sys-1/delta/pg``; ``names``: system id -> name, so the
    refusal a person reads names the system: :func:`readable`)."""
    if cut_over(journal, wave, system_id):
        raise InProductionError(
            f"system {readable(system_id, names or {})} is cut over (its target is in "
            f"production): {what} refused; "
            "a run leaves it alone")


@dataclass
class Outcome:
    """What :func:`execute` did: ran the step, or skipped it as already done."""

    step: Step
    payload: dict[str, Any]
    skipped: bool
    seconds: float


def execute(journal: StepJournal, run_id: str, wave: int, step: Step, action: StepAction,
            done: Mapping[str, dict[str, Any]]) -> Outcome:
    """Run ``step`` once, idempotently, journaling it before returning.

    A :class:`TransientError` is journaled ``failed`` and re-raised unchanged (the flow may
    retry it); any other error becomes a :class:`StepError` naming the system and step.
    """
    t0 = time.monotonic()
    prev = journal.last(wave, step.system_id, step.key)
    if prev is not None and prev.status == DONE and action.still_valid(step, prev.payload):
        return Outcome(step, dict(prev.payload), True, time.monotonic() - t0)
    journal.record(run_id, wave, step, STARTED, step.planned_record())
    try:
        payload = action.do(step, done)
    except TransientError as exc:
        journal.record(run_id, wave, step, FAILED, step.planned_record(), error=str(exc))
        raise
    except Exception as exc:
        journal.record(run_id, wave, step, FAILED, step.planned_record(), error=str(exc))
        if isinstance(exc, StepError):
            raise
        msg = str(exc) if isinstance(exc, ShangyunError) else f"{type(exc).__name__}: {exc}"
        raise StepError(f"system {step.system_id}, step {step.key}: {msg}") from exc
    full = {**step.planned_record(), **payload}
    journal.record(run_id, wave, step, DONE, full)
    return Outcome(step, full, False, time.monotonic() - t0)


@dataclass
class UndoReport:
    """The result of undoing one system: steps undone, and steps whose undo failed."""

    system_id: str
    undone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    lock_lost: str = ""
    """Why the undo stopped early: the system's lock was lost (another worker may hold it;
    the steps not undone are left to it). Empty: it went through every step."""

    @property
    def ok(self) -> bool:
        """True when every step was undone."""
        return not self.failed


def undo_system(journal: StepJournal, run_id: str, wave: int, system_id: str,
                actions: Mapping[str, StepAction],
                on_step: Callable[[StepRecord], None] | None = None, *,
                discard_production: bool = False,
                names: Mapping[str, str] | None = None) -> UndoReport:
    """Undo every step of ``system_id`` that left something behind, newest first.

    A cut-over system (:func:`cut_over`) is refused with :class:`InProductionError`
    before anything is undone: undoing it would drop the production writes made on its
    target. ``discard_production=True`` (``wave rollback --discard-production-writes``,
    audited by the caller) undoes it all the same. ``names`` (system id -> name): the
    refusal names the system.

    A failed-back system's fail-back steps (kinds ``failback…``) are journaled ``undone``
    without running their undo: the fail-back is over, the source is live.

    Reads only the journal. Steps ``started``, ``done``, ``failed``, ``undoing`` or
    ``undo_failed`` (a crash or failure may leave partial output) are marked ``undoing``,
    undone with their journaled payload and journaled
    ``undone``; an undo that raises is journaled ``undo_failed`` and reported, never as
    undone. Steps already ``undone`` are left alone, so running it twice is safe.

    A :class:`LockLostError` (the system's distributed lock lost mid-undo) stops the undo
    at that step: it is reported (``failed`` and ``lock_lost``), nothing more is undone.
    """
    if not discard_production:
        refuse_in_production(journal, wave, system_id, "undo (it would drop production writes)",
                             names)
    home = failed_back(journal, wave, system_id)
    report = UndoReport(system_id)
    for rec in reversed(journal.records(wave, system_id)):
        if rec.status not in NEEDS_UNDO:
            continue
        if home and rec.kind.startswith(FAILBACK_MARK):
            # a finished fail-back's own steps brought the system home: their effects are
            # the source's live state and the target's freeze, which the target's removal
            # ends; nothing of them is undone, they are only closed
            step = record_step(rec, f"close {rec.key}")
            journal.record(run_id, wave, step, UNDONE, rec.payload)
            report.undone.append(rec.key)
            continue
        try:
            err = undo_record(journal, run_id, wave, rec, actions)
        except LockLostError as exc:  # not ours any more: the rest is the new holder's
            report.failed[rec.key] = report.lock_lost = str(exc)
            break
        if err is not None:
            report.failed[rec.key] = err
            continue
        report.undone.append(rec.key)
        if on_step is not None:
            on_step(rec)
    return report


def record_step(rec: StepRecord, title: str) -> Step:
    """The step a journal record stands for, titled ``title`` (to journal its undo or its
    closing: the engine's one place where a record is turned back into a step)."""
    return Step(rec.kind, rec.system_id, rec.key, title)


def undo_record(journal: StepJournal, run_id: str, wave: int, rec: StepRecord,
                actions: Mapping[str, StepAction]) -> str | None:
    """Undo one journaled step (``undoing`` → ``undone``); the error text if it failed.

    A step whose undo fails is journaled ``undo_failed``, never ``undone``.
    """
    step = record_step(rec, f"undo {rec.key}")
    action = actions[rec.kind]
    try:
        if getattr(action, "destructive_undo", False):
            require_audit_record(journal, str(rec.payload.get("_run_id") or run_id), rec)
        journal.record(run_id, wave, step, UNDOING, rec.payload)
        action.undo(rec.payload)
    except LockLostError as exc:  # the undo stops here: journaled (if we still may) and said
        with contextlib.suppress(Exception):
            journal.record(run_id, wave, step, UNDO_FAILED, rec.payload, error=str(exc))
        raise
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            journal.record(run_id, wave, step, UNDO_FAILED, rec.payload, error=text)
        return text
    journal.record(run_id, wave, step, UNDONE, rec.payload)
    return None
