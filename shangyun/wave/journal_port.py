"""The wave's view of :mod:`shangyun.journal`: the small adapter the step engine needs.

The journal records steps per run (``step_started`` / ``step_done`` / ``step_failed`` /
``mark_undoing`` / ``mark_undone`` / ``mark_undo_failed``). A wave may take several runs
(a run, a crash, a resume, a re-run), so this adapter answers per *wave*: the latest record
of each step key over every run, and it marks an undo on the run that made the record.

A run's options are kept in its ``begin_run`` note (JSON) — and, because a crash
reconciliation rewrites the note, read back from the append-only audit record of the
run's start.

**Scopes (distributed runs).** A wave run distributed (issue #8) is split by bureau: each
bureau's worker journals its own run whose params carry ``"bureau": "<id>"`` (and
``"flow_run_id"``). A run's *scope* is that bureau, or None for a whole-wave run (params
without ``bureau``, or ``bureau`` None). Two runs overlap unless both are bureau runs of
different bureaus: :meth:`WaveJournal.ensure_idle` refuses an overlapping live run.
:meth:`WaveJournal.last_run` keeps its old answer when called with the wave alone (the
latest ``run``-kind run of *any* scope); ``bureau=`` asks for one scope (``bureau=None``:
whole-wave runs only); :meth:`WaveJournal.last_runs_by_bureau` gives the latest per scope.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from shangyun.errors import StepError
from shangyun.journal import Journal
from shangyun.journal import open_journal as _open
from shangyun.wave.engine import DONE, FAILED, STARTED, UNDO_FAILED, UNDONE, StepRecord
from shangyun.wave.state import system_state
from shangyun.wave.steps import Step

UNDOING = "undoing"
RUN_KINDS = ("run", "rollback", "finalize")
"""What a journaled run did: moved systems (``run``, the only kind ``wave resume`` takes up),
undid them (``rollback``), or closed the wave (``finalize``)."""


class _AnyScope:
    """The type of :data:`ANY_SCOPE`."""

    def __repr__(self) -> str:
        return "ANY_SCOPE"


ANY_SCOPE: Final = _AnyScope()
"""``last_run(wave, bureau=ANY_SCOPE)`` (the default): runs of every scope count."""


def run_scope(params: Mapping[str, Any]) -> str | None:
    """The bureau a run was scoped to by its params, or None for a whole-wave run."""
    bureau = params.get("bureau")
    return str(bureau) if bureau not in (None, "") else None


def overlaps(a: str | None, b: str | None) -> bool:
    """Whether runs of scopes ``a`` and ``b`` may touch the same systems: a whole-wave run
    (None) overlaps every run; two bureau runs overlap only when the bureau is the same."""
    return a is None or b is None or a == b


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

    def last_run(self, wave: int, bureau: str | _AnyScope | None = ANY_SCOPE, *,
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
            params = self.run_params(run.id)
            if run_kind(params) != "run":
                continue
            if not (any_scope or isinstance(bureau, _AnyScope)) \
                    and run_scope(params) != bureau:
                continue
            return {"id": run.id, "status": run.status, **params}
        return None

    def last_runs_by_bureau(self, wave: int) -> dict[str | None, dict[str, Any]]:
        """The latest ``run``-kind run of ``wave`` per scope (bureau id, or None for
        whole-wave runs), each with its recorded params, in the order of those runs."""
        latest: dict[str | None, dict[str, Any]] = {}
        for run in self.j.runs(wave):
            params = self.run_params(run.id)
            if run_kind(params) == "run":
                scope = run_scope(params)
                latest.pop(scope, None)
                latest[scope] = {"id": run.id, "status": run.status, **params}
        return latest

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

    def ensure_idle(self, wave: int, bureau: str | None = None) -> None:
        """Refuse (:class:`StepError`) while a live process runs ``wave`` in a scope that
        overlaps ``bureau`` (None: the whole wave): a whole-wave run overlaps every run, a
        bureau run overlaps a whole-wave request and a run of the same bureau. Dead
        processes' runs are reconciled (marked crashed) first."""
        self.reconcile()
        for r in self.j.runs(wave, status="running"):
            scope = run_scope(self.run_params(r.id))
            if not overlaps(scope, bureau):
                continue
            held = f"bureau {scope}" if scope else "the whole wave"
            asked = f"bureau {bureau}" if bureau else "the whole wave"
            raise StepError(f"wave {wave} is being run right now for {held} (run {r.id}, "
                            f"pid {r.pid} on host {r.host}), which overlaps {asked}; wait "
                            "for it, or stop it and 'wave resume'")

    def runs(self, wave: int) -> list[dict[str, Any]]:
        """Every run of ``wave``, oldest first, as plain data (with its ``kind``, and its
        ``bureau``/``flow_run_id`` when it was a bureau's run)."""
        out = []
        for r in self.j.runs(wave):
            params = self.run_params(r.id)
            d = {**r.to_dict(), "kind": run_kind(params)}
            if run_scope(params) is not None:
                d["bureau"] = run_scope(params)
                d["flow_run_id"] = params.get("flow_run_id")
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
        state = system_state((s["kind"], s["status"]) for s in steps)
        out.append({"id": sid, "state": state, "steps": steps})
    state, bureaus = _scoped_state(runs)
    return {"wave": wave, "state": state, "runs": runs, "systems": out, "bureaus": bureaus}


def _scoped_state(runs: list[dict[str, Any]]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The wave's state over the latest run of each scope since (and including) the last
    whole-wave run, and each bureau's latest run of that span (the whole-wave scope is not
    listed: it is the last whole-wave run in ``runs``)."""
    if not runs:
        return "never run", {}
    start = max((i for i, r in enumerate(runs) if not r.get("bureau")), default=0)
    latest: dict[str | None, dict[str, Any]] = {}
    for r in runs[start:]:
        latest[r.get("bureau") or None] = r
    statuses = {r["status"] for r in latest.values()}
    state = next((s for s in ("running", "crashed", "failed", "aborted") if s in statuses),
                 "done" if statuses == {"done"} else runs[-1]["status"])
    bureaus = {str(b): {"run": r["id"], "status": r["status"], "kind": r["kind"],
                        "flow_run_id": r.get("flow_run_id")}
               for b, r in latest.items() if b is not None}
    return state, dict(sorted(bureaus.items()))
