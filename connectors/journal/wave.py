"""The wave's journal over the SQL store: the adapter the step engine and the flows use.

It implements :class:`shangyun.wave.journal_port.WaveJournal` (see there for runs, kinds
and scopes) over :class:`connectors.journal.Journal`, which records steps per run
(``step_started`` / ``step_done`` / ``step_failed`` / ``mark_undoing`` / ``mark_undone`` /
``mark_undo_failed``). A wave may take several runs (a run, a crash, a resume, a re-run),
so this adapter answers per *wave*: the latest record of each step key over every run, and
it marks an undo on the run that made the record.

A run's kind, bureau, options, ``only``, flow run id and other params are columns of its
row (schema version 2; older journals are migrated on open).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from connectors.journal.journal import Journal
from connectors.journal.journal import open_journal as _open
from shangyun.errors import StepError
from shangyun.journal.records import StepEntry
from shangyun.journal.status import (
    DONE,
    FAILED,
    RUN_KINDS,
    STARTED,
    UNDO_FAILED,
    UNDOING,
    UNDONE,
)
from shangyun.wave.engine import StepRecord
from shangyun.wave.journal_port import ANY_SCOPE, AnyScope, overlaps, run_scope
from shangyun.wave.state import step_kind
from shangyun.wave.steps import Step

_LISTED = ("id", "wave", "status", "operator", "host", "pid", "started_at", "heartbeat_at",
           "ended_at", "resumes", "note", "reason")
"""The fields of a run that :meth:`SqlWaveJournal.runs` lists (its params are asked
for with :meth:`SqlWaveJournal.run_params`)."""


def _kind(key: str, payload: Mapping[str, Any]) -> str:
    return step_kind(key, payload)


class SqlWaveJournal:
    """The wave's journal (:class:`shangyun.wave.journal_port.WaveJournal`) over the SQL
    :class:`connectors.journal.Journal`."""

    def __init__(self, journal: Journal) -> None:
        self.j = journal

    # -- runs ---------------------------------------------------------------------------
    def reconcile(self) -> list[str]:
        """Mark runs whose orchestrator died as crashed; return their ids."""
        return [r.id for r in self.j.reconcile()]

    def begin_run(self, wave: int, params: Mapping[str, Any], *, kind: str = "run",
                  exclusive: bool = False) -> str:
        """A new run of ``wave`` recording ``params`` (options, only, bureau, flow run id,
        anything else) and its ``kind`` (one of :data:`RUN_KINDS`: only ``run`` runs are
        resumed); returns its id. ``exclusive``: refuse (``RunBusyError``) in the same
        transaction while a live process runs an overlapping scope of the wave."""
        if kind not in RUN_KINDS:
            raise ValueError(f"run kind {kind!r}: choose one of {', '.join(RUN_KINDS)}")
        p = dict(params)
        named = {k: p.pop(k, None) for k in ("options", "only", "bureau", "flow_run_id")}
        p.pop("kind", None)
        return self.j.begin_run(
            wave, kind=kind, bureau=run_scope(named), options=named["options"],
            only=named["only"], flow_run_id=named["flow_run_id"], params=p,
            exclusive=exclusive).id

    def resume_run(self, run_id: str, flow_run_id: str | None = None) -> str:
        """Take over a crashed or failed run (same id); ``flow_run_id``: the flow run that
        resumes it, from now on the run's."""
        return self.j.resume_run(run_id, flow_run_id=flow_run_id).id

    def heartbeat(self, run_id: str) -> None:
        """The run's orchestrator is alive."""
        self.j.heartbeat(run_id)

    def keepalive(self, run_id: str, interval: float) -> AbstractContextManager[None]:
        """A context manager beating the run's heartbeat every ``interval`` seconds."""
        return self.j.keepalive(run_id, interval)

    def finish_run(self, run_id: str, state: str) -> None:
        """End the run: ``done`` or ``failed`` (anything else is recorded as failed)."""
        self.j.finish_run(run_id, "done" if state == "done" else "failed", note=state)

    def last_run(self, wave: int, bureau: str | AnyScope | None = ANY_SCOPE, *,
                 any_scope: bool = False) -> dict[str, Any] | None:
        """The latest ``run``-kind run of ``wave`` (not a rollback, not a finalize) with its
        recorded params, or None. Runs journaled before kinds existed count by their
        ``rollback``/``finalize`` params.

        Called with the wave alone (or ``any_scope=True``), runs of every scope count — the
        answer it always gave. ``bureau="b1"``: only that bureau's runs; ``bureau=None``
        passed explicitly: only whole-wave runs (so a plain ``wave resume`` never takes
        up one bureau's run as if it were the whole wave's).
        """
        for run in reversed(self.j.runs(wave)):
            if run.kind != "run":
                continue
            if not (any_scope or isinstance(bureau, AnyScope)) and run.bureau != bureau:
                continue
            return {"id": run.id, "status": run.status, **run.begun_with()}
        return None

    def last_runs_by_bureau(self, wave: int) -> dict[str | None, dict[str, Any]]:
        """The latest ``run``-kind run of ``wave`` per scope (bureau id, or None for
        whole-wave runs), each with its recorded params, in the order of those runs."""
        latest: dict[str | None, dict[str, Any]] = {}
        for run in self.j.runs(wave):
            if run.kind == "run":
                latest.pop(run.bureau, None)
                latest[run.bureau] = {"id": run.id, "status": run.status, **run.begun_with()}
        return latest

    def run_params(self, run_id: str) -> dict[str, Any]:
        """The params a run began with (its columns, never rewritten)."""
        return self.j.get_run(run_id).begun_with()

    def ensure_idle(self, wave: int, bureau: str | None = None) -> None:
        """Refuse (:class:`StepError`) while a live process runs ``wave`` in a scope that
        overlaps ``bureau`` (None: the whole wave): a whole-wave run overlaps every run, a
        bureau run overlaps a whole-wave request and a run of the same bureau. Dead
        processes' runs are reconciled (marked crashed) first."""
        self.reconcile()
        for r in self.j.runs(wave, status="running"):
            scope = r.bureau
            if not overlaps(scope, bureau):
                continue
            held = f"bureau {scope}" if scope else "the whole wave"
            asked = f"bureau {bureau}" if bureau else "the whole wave"
            raise StepError(f"wave {wave} is being run right now for {held} (run {r.id}, "
                            f"pid {r.pid} on host {r.host}), which overlaps {asked}; wait "
                            "for it, or stop it and 'wave resume'")

    def live_runs(self) -> list[str]:
        """The ids of every ``run``-kind run, of any wave, that a live process holds
        (dead processes' runs are reconciled first)."""
        self.reconcile()
        return [r.id for r in self.j.runs(status="running") if r.kind == "run"]

    def runs(self, wave: int) -> list[dict[str, Any]]:
        """Every run of ``wave``, oldest first, as plain data (with its ``kind``, and its
        ``bureau``/``flow_run_id`` when it was a bureau's run)."""
        out = []
        for r in self.j.runs(wave):
            d = {k: v for k, v in r.to_dict().items() if k in _LISTED}
            d["kind"] = r.kind
            if r.bureau is not None:
                d["bureau"], d["flow_run_id"] = r.bureau, r.flow_run_id
            out.append(d)
        return out

    def audit(self, action: str, system: str | None, result: str,
              details: Mapping[str, Any]) -> None:
        """Append an audit record."""
        self.j.audit(action, result, system=system, details=details)

    # -- steps (StepJournal) ------------------------------------------------------------
    def last(self, wave: int, system_id: str, key: str) -> StepRecord | None:
        """The latest record of step ``key`` over every run of the wave."""
        e = self.j.latest_step(wave, system_id, key)
        return None if e is None else _record(e)

    def record(self, run_id: str, wave: int, step: Step, status: str,
               payload: Mapping[str, Any], error: str | None = None) -> None:
        """Durably record ``status`` of ``step`` (committed before returning)."""
        sys_, key = step.system_id, step.key
        if status == STARTED:
            undo = {**payload, "_kind": step.kind}
            if self.j.step_started(run_id, sys_, key, undo=undo).skip:
                # done earlier in this run but no longer valid (its output is gone): the
                # engine does it again, so the old record is superseded, then restarted
                self.j.mark_undoing(run_id, sys_, key)
                self.j.mark_undone(run_id, sys_, key, result={"superseded": True})
                self.j.step_started(run_id, sys_, key, undo=undo)
        elif status == DONE:
            self.j.step_done(run_id, sys_, key, result=dict(payload), undo=dict(payload))
        elif status == FAILED:
            self.j.step_failed(run_id, sys_, key, error or "failed")
        else:
            owner = payload.get("_run_id") or run_id
            if status == UNDOING:
                self.j.mark_undoing(owner, sys_, key, by=run_id)
            elif status == UNDONE:
                self.j.mark_undone(owner, sys_, key, by=run_id)
            elif status == UNDO_FAILED:
                self.j.mark_undo_failed(owner, sys_, key, error or "undo failed", by=run_id)
            else:
                raise ValueError(f"unknown step status {status!r}")

    def audit_problem(self, run_id: str, system_id: str, key: str,
                      status: str) -> str | None:
        """Why the audit record of step ``key`` is missing or not intact (None: intact)."""
        return self.j.step_audit_problem(run_id, system_id, key, status)

    def progress(self, run_id: str, step: Step, undo: Mapping[str, Any]) -> None:
        """Merge ``undo`` data into the running ``step`` (e.g. a multipart upload's state)."""
        self.j.step_progress(run_id, step.system_id, step.key, undo=dict(undo))

    def progress_value(self, wave: int, system_id: str, key: str,
                       name: str) -> dict[str, Any] | None:
        """The newest value of ``name`` journaled for step ``key`` in any run of the wave."""
        for e in reversed(self.j.wave_steps(wave, system_id)):
            if e.step == key and isinstance((e.undo or {}).get(name), dict):
                return dict(e.undo[name])
        return None

    def records(self, wave: int, system_id: str | None = None) -> list[StepRecord]:
        """The latest record of every step key, in the order the keys first started."""
        latest: dict[tuple[str, str], StepRecord] = {}
        for e in self.j.wave_steps(wave, system_id):
            latest[(e.system, e.step)] = _record(e)  # dict keeps first-start order
        return list(latest.values())

    def systems(self, wave: int) -> list[str]:
        """Every system that has a step record in ``wave``, in first-start order."""
        return list(dict.fromkeys(e.system for e in self.j.wave_steps(wave)))

    def waves(self) -> list[int]:
        """Every wave that has a step record, lowest first."""
        return self.j.step_waves()

    def production_copies(self) -> list[tuple[int, StepRecord]]:
        """``(wave, record)`` of every ``copy`` step not undone of every system in
        production in its wave (:meth:`connectors.journal.Journal.production_copies`:
        one query)."""
        return [(e.wave, _record(e)) for e in self.j.production_copies()]

    def system_waves(self, system_id: str) -> list[int]:
        """Every wave in which ``system_id`` has a step record, lowest first."""
        return self.j.system_waves(system_id)


def _record(e: StepEntry) -> StepRecord:
    payload = {**(e.undo or {}), **(e.result or {}), "_run_id": e.run_id}
    payload.pop("undo", None)
    return StepRecord(key=e.step, kind=_kind(e.step, payload), system_id=e.system,
                      status=e.status, payload=payload, error=e.error)


@contextmanager
def open_journal(estate_dir: str | Path, *, create: bool = True) -> Iterator[SqlWaveJournal]:
    """The estate's journal (``<estate>/journal.db``, or $SHANGYUN_JOURNAL as a URL);
    ``create=False`` raises :class:`shangyun.journal.JournalError` if there is none."""
    target = os.environ.get("SHANGYUN_JOURNAL") or str(estate_dir)
    j = _open(target, create=create)
    try:
        yield SqlWaveJournal(j)
    finally:
        j.close()


__all__ = ["SqlWaveJournal", "open_journal"]
