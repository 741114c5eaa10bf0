"""What the wave run needs from the journal (the port), and the pure rules over runs.

The journal records steps per run; a wave may take several runs (a run, a crash, a resume,
a re-run), so :class:`WaveJournal` answers per *wave*: the latest record of each step key
over every run. ``connectors.journal.wave.SqlWaveJournal`` implements it over the SQL store
(``connectors.journal.wave.open_journal(estate_dir)`` opens the estate's).

**Kinds.** A run is of one of :data:`shangyun.journal.status.RUN_KINDS`: ``run`` (moves
systems; the only kind ``wave resume`` takes up), ``rollback`` or ``finalize``.

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

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol

from shangyun.estate.names import command_arg
from shangyun.journal.status import DONE, NEEDS_UNDO
from shangyun.wave.classified import classified_refusal
from shangyun.wave.engine import StepJournal, StepRecord
from shangyun.wave.state import (
    CUTOVER,
    PENDING,
    ROLLED_BACK_BY_OPERATOR,
    is_finalized,
    last_rollback,
    latest_runs,
    run_outcome,
    stays_in_wave,
    system_state,
    undone_by,
    unfinished,
    wave_state,
)
from shangyun.wave.steps import Step


class AnyScope:
    """The type of :data:`ANY_SCOPE`."""

    def __repr__(self) -> str:
        return "ANY_SCOPE"


ANY_SCOPE: Final = AnyScope()
"""``last_run(wave, bureau=ANY_SCOPE)`` (the default): runs of every scope count."""


def run_scope(params: Mapping[str, Any]) -> str | None:
    """The bureau a run was scoped to by its params, or None for a whole-wave run."""
    bureau = params.get("bureau")
    return str(bureau) if bureau not in (None, "") else None


def overlaps(a: str | None, b: str | None) -> bool:
    """Whether runs of scopes ``a`` and ``b`` may touch the same systems: a whole-wave run
    (None) overlaps every run; two bureau runs overlap only when the bureau is the same."""
    return a is None or b is None or a == b


def run_kind(params: Mapping[str, Any]) -> str:
    """The kind of a run from the params it began with (runs journaled before kinds
    existed: by their ``rollback``/``finalize`` flags)."""
    if params.get("kind"):
        return str(params["kind"])
    if params.get("finalize"):
        return "finalize"
    return "rollback" if params.get("rollback") else "run"


class WaveJournal(StepJournal, Protocol):
    """What a wave run (flows, step actions, ``wave status``) needs from the journal, on top
    of the step engine's :class:`shangyun.wave.engine.StepJournal`."""

    def reconcile(self) -> list[str]:
        """Mark runs whose orchestrator died as crashed; return their ids."""
        ...

    def begin_run(self, wave: int, params: Mapping[str, Any], *, kind: str = "run",
                  exclusive: bool = False) -> str:
        """A new run of ``wave`` recording ``params`` and its ``kind``; returns its id.
        ``exclusive``: refused, atomically, while a live run of an overlapping scope exists."""
        ...

    def resume_run(self, run_id: str, flow_run_id: str | None = None) -> str:
        """Take over a crashed or failed run (same id); ``flow_run_id``: the flow run that
        resumes it, from now on the run's (the one ``wave finalize`` renames)."""
        ...

    def heartbeat(self, run_id: str) -> None:
        """The run's orchestrator is alive."""
        ...

    def keepalive(self, run_id: str, interval: float) -> AbstractContextManager[None]:
        """A context manager beating the run's heartbeat every ``interval`` seconds."""
        ...

    def finish_run(self, run_id: str, state: str) -> None:
        """End the run: ``done`` or ``failed`` (anything else is recorded as failed)."""
        ...

    def last_run(self, wave: int, bureau: str | AnyScope | None = ANY_SCOPE, *,
                 any_scope: bool = False) -> dict[str, Any] | None:
        """The latest ``run``-kind run of ``wave`` (of scope ``bureau``) with its params."""
        ...

    def last_runs_by_bureau(self, wave: int) -> dict[str | None, dict[str, Any]]:
        """The latest ``run``-kind run of ``wave`` per scope, each with its params."""
        ...

    def run_params(self, run_id: str) -> dict[str, Any]:
        """The params a run began with."""
        ...

    def ensure_idle(self, wave: int, bureau: str | None = None) -> None:
        """Refuse while a live process runs ``wave`` in a scope that overlaps ``bureau``."""
        ...

    def runs(self, wave: int) -> list[dict[str, Any]]:
        """Every run of ``wave``, oldest first, as plain data (with its ``kind``)."""
        ...

    def live_runs(self) -> list[str]:
        """The ids of every ``run``-kind run, of any wave, a live process holds."""
        ...

    def audit(self, action: str, system: str | None, result: str,
              details: Mapping[str, Any]) -> None:
        """Append an audit record."""
        ...

    def progress(self, run_id: str, step: Step, undo: Mapping[str, Any]) -> None:
        """Merge ``undo`` data into the running ``step`` (e.g. a multipart upload's state)."""
        ...

    def progress_value(self, wave: int, system_id: str, key: str,
                       name: str) -> dict[str, Any] | None:
        """The newest value of ``name`` journaled for step ``key`` in any run of the wave."""
        ...

    def systems(self, wave: int) -> list[str]:
        """Every system that has a step record in ``wave``, in first-start order."""
        ...

    def system_waves(self, system_id: str) -> list[int]:
        """Every wave in which ``system_id`` has a step record, lowest first."""
        ...

    def waves(self) -> list[int]:
        """Every wave that has a step record, lowest first."""
        ...

    def production_copies(self) -> list[tuple[int, StepRecord]]:
        """``(wave, record)`` of every ``copy`` step not undone of every system in
        production in its wave — cut over, or its DNS switched — in one read of the
        journal: by wave, then the system's first start in the wave. In production as
        :meth:`last` reads the system's ``cutover`` and ``dns`` steps (:func:`cut_over`,
        ``traffic_switched``); each copy as :meth:`records` gives it (the newest run's
        record of its key). The check of N19 (``actions.data.production_elsewhere``)."""
        ...


def held_elsewhere(journal: WaveJournal, wave: int, system_id: str,
                   names: Mapping[str, str] | None = None, where: str = "") -> str | None:
    """Why ``system_id`` may not run in ``wave``: another wave of the journal still holds
    it — cut over there (its target is production), failed back there (its target copies
    are that wave's), or with steps there that are not undone (a failed or crashed run) —
    with the command that frees it; None when no other wave does. A re-plan can put a
    system that already ran into another wave; running it there would copy over its
    production target, and a later rollback of the first wave would drop what the second
    made. ``names`` (id → name of the estate's systems) lets the commands name the system
    by its name, as a person types it (:func:`shangyun.estate.names.command_arg`);
    ``where`` (`` --estate DIR``, when the command was given one) ends each command."""
    who = command_arg("system", system_id, names or {})
    for other in journal.system_waves(system_id):
        if other == wave:
            continue
        recs = journal.records(other, system_id)
        if not any(r.status in NEEDS_UNDO for r in recs):
            continue  # rolled back (or refused) there: free
        state = system_state(((r.kind, r.status, r.error, undone_by(r.payload)) for r in recs),
                             stopped=unfinished((r.key, r.status, r.payload) for r in recs))
        if any(r.kind == CUTOVER and r.status == DONE for r in recs):
            return (f"cut over in wave {other} (its target is in production); it cannot "
                    f"move again in wave {wave}: take it out of wave {wave} "
                    f"(shangyun plan --pin "
                    f"{command_arg('system', system_id, names or {}, f'={other}')}{where}, "
                    f"or --exclude), or fail it back first (shangyun wave rollback {other} "
                    f"--system {who} --fail-back{where}), then roll it back there")
        return (f"{state.replace('_', ' ')} in wave {other}, whose steps are not undone; "
                f"roll it back there first (shangyun wave rollback {other} --system "
                f"{who}{where}), or take it out of wave {wave}")
    return None


def run_refusal(journal: WaveJournal, wave: int, system_id: str, names: Mapping[str, str],
                classified: Iterable[str] = (), where: str = "") -> str | None:
    """Why a run of ``wave`` refuses ``system_id`` before anything runs (the words after
    ``NAME is``), None when it does not: the estate marks it classified (涉密) —
    ``classified``, the ids :func:`shangyun.wave.classified.classified_ids` gives; a re-plan
    keeps a system that ran in its wave whatever the ledger says now — or another wave
    still holds it (:func:`held_elsewhere`). ``where``: `` --estate DIR`` for the commands,
    when the command was given one."""
    if system_id in set(classified):
        return classified_refusal(system_id, wave, holding_wave(journal, system_id), names,
                                  where)
    return held_elsewhere(journal, wave, system_id, names, where)


def holding_wave(journal: WaveJournal, system_id: str) -> tuple[int, str] | None:
    """The wave that holds ``system_id`` — it ran there and its steps are not undone (cut
    over, moved, failed back, failed or crashed) — and its state there; None when no wave
    does (never run, or rolled back or refused everywhere). A system of a finalized wave
    reads ``done`` (the cloud is its home), as ``wave status`` reads it, not ``cut_over``."""
    for wave in journal.system_waves(system_id):
        recs = journal.records(wave, system_id)
        if any(r.status in NEEDS_UNDO for r in recs):
            return wave, system_state(((r.kind, r.status, r.error, undone_by(r.payload))
                                       for r in recs),
                                      finalized=is_finalized(journal.runs(wave)),
                                      stopped=unfinished((r.key, r.status, r.payload)
                                                         for r in recs))
    return None


def wave_status(journal: WaveJournal, wave: int,
                planned: Iterable[str] | None = None) -> dict[str, Any]:
    """The wave as the journal records it: runs (each run's ``status`` as it reads,
    :func:`shangyun.wave.state.run_outcome`), per system its steps' latest state, and
    the wave's one state (:func:`shangyun.wave.state.wave_state`; ``planned``: the ids of
    the systems the plan puts in the wave, so one that never ran counts as pending, and
    one a re-plan put elsewhere counts only while the wave holds some of it —
    :func:`shangyun.wave.state.stays_in_wave`, as the runbook judges it; None: the plan is
    not known, every system the journal has in the wave counts)."""
    journal.reconcile()
    # each run's status as it reads (:func:`run_outcome`: the operator's rollback
    # "rolled_back", a fail-back "failed_back"); the journal's own in ``journal_status``
    runs = [{**r, "journal_status": r["status"],
             "status": run_outcome(str(r.get("kind") or "run"), str(r["status"]),
                                   r.get("reason"))}
            for r in journal.runs(wave)]
    systems: dict[str, list[dict[str, Any]]] = {}
    stopped: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for r in journal.records(wave):
        systems.setdefault(r.system_id, []).append(
            {"key": r.key, "kind": r.kind, "status": r.status, "error": r.error,
             "undone_by": undone_by(r.payload)})
        stopped.setdefault(r.system_id, []).append((r.key, r.status, r.payload))
    finalized = is_finalized(runs)
    out = []
    for sid, steps in systems.items():
        state = system_state(((s["kind"], s["status"], s["error"], s.pop("undone_by"))
                              for s in steps), finalized=finalized,
                             stopped=unfinished(stopped[sid]))
        out.append({"id": sid, "state": state, "steps": steps})
    states = {sid: PENDING for sid in planned or ()}
    # a system a re-plan put elsewhere counts here only while the wave holds some of it
    # (the runbook's rule: :func:`stays_in_wave`); without the plan (None) every one counts
    here = None if planned is None else set(states)
    states.update((s["id"], s["state"]) for s in out
                  if here is None or stays_in_wave(s["state"], s["id"] in here))
    latest = latest_runs(runs)
    state = wave_state((r["status"] for r in latest.values()), states)
    bureaus = {str(b): {"run": r["id"], "status": r["status"], "kind": r["kind"],
                        "flow_run_id": r.get("flow_run_id")}
               for b, r in latest.items() if b is not None}
    rollback = last_rollback(runs) if ROLLED_BACK_BY_OPERATOR in states.values() else None
    return {"wave": wave, "state": state, "runs": runs, "systems": out,
            "finalized": is_finalized(runs),
            "rolled_back_by": None if rollback is None else {
                "run": rollback["id"], "operator": rollback.get("operator"),
                "at": rollback.get("ended_at") or rollback.get("started_at"),
                "system": journal.run_params(rollback["id"]).get("system")},
            "pending": sorted(sid for sid, st in states.items() if st == PENDING),
            "bureaus": dict(sorted(bureaus.items()))}


__all__ = ["ANY_SCOPE", "AnyScope", "WaveJournal", "held_elsewhere", "holding_wave",
           "overlaps", "run_kind", "run_refusal", "run_scope", "wave_status"]
