"""The wave's view of :mod:`shangyun.journal`: the small adapter the step engine needs.

The journal records steps per run (``step_started`` / ``step_done`` / ``step_failed`` /
``mark_undoing`` / ``mark_undone`` / ``mark_undo_failed``). A wave may take several runs
(a run, a crash, a resume, a re-run), so this adapter answers per *wave*: the latest record
of each step key over every run, and it marks an undo on the run that made the record.

A run's options are kept in its ``begin_run`` note (JSON) — and, because a crash
reconciliation rewrites the note, read back from the append-only audit record of the
run's start.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shangyun.errors import StepError
from shangyun.journal import Journal
from shangyun.journal import open_journal as _open
from shangyun.wave.engine import DONE, FAILED, STARTED, UNDO_FAILED, UNDONE, StepRecord
from shangyun.wave.steps import Step

UNDOING = "undoing"
RUN_KINDS = ("run", "rollback", "finalize")
"""What a journaled run did: moved systems (``run``, the only kind ``wave resume`` takes up),
undid them (``rollback``), or closed the wave (``finalize``)."""


def _kind(key: str, payload: Mapping[str, Any]) -> str:
    return str(payload.get("_kind") or (key.split("/")[1] if "/" in key else key))


def run_kind(params: Mapping[str, Any]) -> str:
    """The kind of a run from the params it began with (runs journaled before kinds
    existed: by their ``rollback``/``finalize`` flags)."""
    if params.get("kind"):
        return str(params["kind"])
    if params.get("finalize"):
        return "finalize"
    return "rollback" if params.get("rollback") else "run"


class WaveJournal:
    """A :class:`shangyun.wave.engine.StepJournal` over a :class:`shangyun.journal.Journal`."""

    def __init__(self, journal: Journal) -> None:
        self.j = journal

    # -- runs ---------------------------------------------------------------------------
    def reconcile(self) -> list[str]:
        """Mark runs whose orchestrator died as crashed; return their ids."""
        return [r.id for r in self.j.reconcile()]

    def begin_run(self, wave: int, params: Mapping[str, Any], *, kind: str = "run") -> str:
        """A new run of ``wave`` recording ``params`` (options, only) and its ``kind`` (one
        of :data:`RUN_KINDS`: only ``run`` runs are resumed); returns its id."""
        if kind not in RUN_KINDS:
            raise ValueError(f"run kind {kind!r}: choose one of {', '.join(RUN_KINDS)}")
        note = json.dumps({**dict(params), "kind": kind}, ensure_ascii=False)
        return self.j.begin_run(wave, note=note).id

    def resume_run(self, run_id: str) -> str:
        """Take over a crashed or failed run (same id)."""
        return self.j.resume_run(run_id).id

    def heartbeat(self, run_id: str) -> None:
        """The run's orchestrator is alive."""
        self.j.heartbeat(run_id)

    def keepalive(self, run_id: str, interval: float) -> Any:
        """A context manager beating the run's heartbeat every ``interval`` seconds."""
        return self.j.keepalive(run_id, interval)

    def finish_run(self, run_id: str, state: str) -> None:
        """End the run: ``done`` or ``failed`` (anything else is recorded as failed)."""
        self.j.finish_run(run_id, "done" if state == "done" else "failed", note=state)

    def last_run(self, wave: int) -> dict[str, Any] | None:
        """The latest ``run``-kind run of ``wave`` (not a rollback, not a finalize) with its
        recorded params, or None. Runs journaled before kinds existed count by their
        ``rollback``/``finalize`` params."""
        for run in reversed(self.j.runs(wave)):
            params = self.run_params(run.id)
            if run_kind(params) != "run":
                continue
            return {"id": run.id, "status": run.status, **params}
        return None

    def run_params(self, run_id: str) -> dict[str, Any]:
        """The params a run began with (from the audit log, which is never rewritten)."""
        for e in self.j.audit_entries(run=run_id):
            if e.action == "run begin":
                note = e.details.get("note")
                try:
                    return dict(json.loads(note)) if note else {}
                except (TypeError, ValueError):
                    return {}
        return {}

    def ensure_idle(self, wave: int) -> None:
        """Refuse (:class:`StepError`) while a live process is running ``wave``."""
        self.reconcile()
        for r in self.j.runs(wave, status="running"):
            raise StepError(f"wave {wave} is being run right now (run {r.id}, pid {r.pid} "
                            f"on host {r.host}); wait for it, or stop it and 'wave resume'")

    def runs(self, wave: int) -> list[dict[str, Any]]:
        """Every run of ``wave``, oldest first, as plain data (with its ``kind``)."""
        return [{**r.to_dict(), "kind": run_kind(self.run_params(r.id))}
                for r in self.j.runs(wave)]

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
                self.j.mark_undoing(owner, sys_, key)
            elif status == UNDONE:
                self.j.mark_undone(owner, sys_, key)
            elif status == UNDO_FAILED:
                self.j.mark_undo_failed(owner, sys_, key, error or "undo failed")
            else:
                raise ValueError(f"unknown step status {status!r}")

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


def _record(e: Any) -> StepRecord:
    payload = {**(e.undo or {}), **(e.result or {}), "_run_id": e.run_id}
    payload.pop("undo", None)
    return StepRecord(key=e.step, kind=_kind(e.step, payload), system_id=e.system,
                      status=e.status, payload=payload, error=e.error)


@contextmanager
def open_journal(estate_dir: str | Path, *, create: bool = True) -> Iterator[WaveJournal]:
    """The estate's journal (``<estate>/journal.db``, or $SHANGYUN_JOURNAL as a URL);
    ``create=False`` raises :class:`shangyun.journal.store.JournalError` if there is none."""
    import os

    target = os.environ.get("SHANGYUN_JOURNAL") or str(estate_dir)
    j = _open(target, create=create)
    try:
        yield WaveJournal(j)
    finally:
        j.close()


def wave_status(journal: WaveJournal, wave: int) -> dict[str, Any]:
    """The wave as the journal records it: runs, and per system its steps' latest state."""
    journal.reconcile()
    runs = journal.runs(wave)
    systems: dict[str, list[dict[str, Any]]] = {}
    for r in journal.records(wave):
        systems.setdefault(r.system_id, []).append(
            {"key": r.key, "kind": r.kind, "status": r.status, "error": r.error})
    out = []
    for sid, steps in systems.items():
        statuses = {s["status"] for s in steps}
        state = ("rollback_failed" if UNDO_FAILED in statuses else
                 "rolled_back" if statuses == {UNDONE} else
                 "failed" if FAILED in statuses else
                 "done" if statuses == {DONE} else "partial")
        out.append({"id": sid, "state": state, "steps": steps})
    state = runs[-1]["status"] if runs else "never run"
    return {"wave": wave, "state": state, "runs": runs, "systems": out}
