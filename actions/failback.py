"""Fail-back: put a cut-over system back on its source *with* the writes made on its
target since the cutover (``wave rollback N [--system S] --fail-back``, issue #13 item 2).

Per system, each step journaled with its undo, resumable after ``kill -9`` (running the
command again continues from the journal)::

    failback-freeze      stop the production instances, target databases read-only
                                              undo: databases writable, instances started
    failback-delta/…     reverse delta per item, target → source: the forward delta's
                         machinery with the roles swapped (PostgreSQL, MariaDB), rsync
                         back over SSH with the same options; only into the database the
                         copy step journaled by identity, only while the system is cut over
    failback-verify      the same row counts/checksums and SHA-256 manifests; a difference
                         refuses the fail-back: the steps above are undone, target live
    ── point of no return ──
    the cutover's own undo, newest first (HOMEWARD_KINDS): cutover mark, DNS back to the
    journaled previous records, the production instance removed, the source databases
    writable and its domains restarted
    failback             mark the system failed back

Until the point of no return the target stays production (a refusal or a crash leaves
it so); after it, a crash or a failed undo leaves the rest to the next run of the
command, which never redoes the reverse delta (the source may be taking writes by then).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from actions.context import RunContext
from actions.data import (
    database_sides,
    read_only_before,
    ssh_source,
    traffic_switched,
    verify_items,
)
from connectors import files
from connectors.targets.base import Instance, InstanceState
from shangyun.errors import StepError
from shangyun.estate.names import command_arg
from shangyun.journal.status import DONE, NEEDS_UNDO, UNDOING, UNDONE
from shangyun.wave.cutover import FAILBACK_KINDS, HOMEWARD_KINDS, failback_steps
from shangyun.wave.engine import (
    StepAction,
    cut_over,
    execute,
    failed_back,
    record_step,
    undo_record,
)
from shangyun.wave.journal_port import WaveJournal
from shangyun.wave.stepargs import (
    CopyDone,
    DataItem,
    FailbackFreezeArgs,
    FailbackItem,
    VerifyArgs,
    as_record,
    from_record,
)
from shangyun.wave.steps import Step

FAILED_BACK = "failed_back"


@dataclass
class FailbackFreezeAction:
    """Freeze the target: stop its production instances (which ones ran is journaled
    before any is stopped) and make its databases read-only."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Journal the running instances, stop them, freeze the target databases."""
        a = step.args_as(FailbackFreezeArgs)
        saved = self.ctx.saved_state(step, "stopped")
        if saved is None:
            t = self.ctx.target() if a.instances else None
            running = [i.record for i in a.instances if t is not None and t.status(
                Instance.from_record(dict(i.record))) == InstanceState.RUNNING]
            saved = {"was_running": running}
            self.ctx.save_state(step, "stopped", saved)
        before = read_only_before(self.ctx, step, a.databases, of_target=True)
        for rec in saved["was_running"]:
            self.ctx.target().stop(Instance.from_record(dict(rec)))
        for item in a.databases:
            engine, _, dst = database_sides(item)
            engine.freeze(dst, before.get(item.id))
        return {"stopped": saved, "before": before}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Never trusted on resume: freezing again is cheap and idempotent."""
        return False

    def undo(self, payload: Mapping[str, Any]) -> None:
        """The target back in production: its databases' read-only settings as they were
        before the freeze (journaled ``before``), the instances that ran started again."""
        before = payload.get("before") or {}
        for item in payload.get("databases") or []:
            data = from_record(DataItem, item)
            engine, _, dst = database_sides(data)
            engine.unfreeze(dst, before.get(data.id))
        for rec in (payload.get("stopped") or {}).get("was_running", []):
            self.ctx.target().start(Instance.from_record(dict(rec)))

    def lift(self, payload: Mapping[str, Any]) -> None:
        """Only the databases of the undo: their read-only settings put back as they were
        before the freeze (a ``wave run`` after a finished fail-back: the instances the
        freeze stopped were removed by it, the run's ``start`` makes new ones)."""
        before = payload.get("before") or {}
        for item in payload.get("databases") or []:
            data = from_record(DataItem, item)
            engine, _, dst = database_sides(data)
            engine.unfreeze(dst, before.get(data.id))


@dataclass
class FailbackDeltaAction:
    """The reverse delta of one item, target → source."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Bring the source level with the (frozen) target. Refused unless the journal
        shows the system in production on the target (cut over, or its DNS switched
        there); a database is written only when it has the identity its copy journaled."""
        if self.ctx.journal is not None and not in_production(self.ctx.journal, self.ctx.wave,
                                                              step.system_id):
            raise StepError(f"system {self.ctx.who(step)} is not cut over: reverse delta "
                            f"{step.key} refused (only a target in production — cut over, "
                            "or DNS switched to it — holds writes the source lacks)")
        a = step.args_as(FailbackItem)
        if a.item.kind == "db":
            mod, src, dst = database_sides(a.item)
            result = mod.final_delta(dst, src, into_source=a.source_identity)
            return as_record(CopyDone(result.to_dict()))
        return as_record(CopyDone(files.push_back(a.item.target, ssh_source(a.item)).to_dict()))

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Never trusted on resume: cheap when nothing differs."""
        return False

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing: the source stays frozen and out of service; what the target had is a
        superset of it (the source was frozen and verified equal at the cutover), and the
        next fail-back brings it level again."""


@dataclass
class FailbackVerifyAction:
    """Every item compared, target against source; any difference refuses the fail-back."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Verify all items (one VerificationError naming every difference)."""
        items = step.args_as(VerifyArgs).items
        return {"verified": verify_items(items, f"system {self.ctx.who(step)}: fail-back refused",
                                         reverse=True)}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Never trusted on resume: verify again."""
        return False

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing to undo."""


@dataclass
class FailbackMarkAction:
    """Mark the system failed back."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Record the time."""
        return {"failed_back_at": datetime.now(UTC).isoformat(timespec="microseconds")}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Marked again by every fail-back."""
        return False

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing to undo."""


def in_production(journal: WaveJournal, wave: int, system_id: str) -> bool:
    """Whether users may be writing on ``system_id``'s target: it is cut over, or its DNS
    was switched there and not switched back (a run killed or failed between the DNS
    switch and the ``cutover`` mark, :func:`actions.data.traffic_switched`). Either is
    carried home by a fail-back."""
    return cut_over(journal, wave, system_id) or traffic_switched(journal, wave, system_id)


def failing_back(journal: WaveJournal, wave: int, system_id: str) -> bool:
    """Whether a fail-back of ``system_id`` was begun and not finished, the system no
    longer cut over (a crash, a failed undo): its freeze is done, its mark is not, its
    cutover is not done (any more). A cut-over system is then past its point of no return;
    a system only switched may not be yet (:func:`past_point_of_no_return`) — either way
    its target is frozen and a run must not start from it: the fail-back finishes it."""
    def status(key: str) -> str | None:
        rec = journal.last(wave, system_id, f"{system_id}/{key}")
        return rec.status if rec else None

    return (status("failback/freeze") == DONE and status("failback") != DONE
            and not cut_over(journal, wave, system_id))


def past_point_of_no_return(journal: WaveJournal, wave: int, system_id: str) -> bool:
    """Whether the fail-back of ``system_id`` passed its point of no return (the cutover's
    undo may have begun: the reverse delta must never run again): :func:`failing_back`,
    and its verify is done (when it had items to carry). A system only switched, never
    cut over, is :func:`failing_back` from its freeze on, but past the point only from
    its verify on."""
    if not failing_back(journal, wave, system_id):
        return False
    verify = journal.last(wave, system_id, f"{system_id}/failback/verify")
    carried = any(r.kind == "failback-delta" for r in journal.records(wave, system_id))
    return not carried or (verify is not None and verify.status == DONE)


def fail_back_system(journal: WaveJournal, run_id: str, wave: int, system_id: str,
                     actions: Mapping[str, StepAction]) -> dict[str, Any]:
    """Fail back one system (see the module docstring); audited ``wave.failback``."""
    sid = system_id
    steps = failback_steps(wave, sid, journal.records(wave, sid))
    before, mark = steps[:-1], steps[-1]
    done: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {"system": sid, "state": FAILED_BACK, "error": None,
                           "undone": [], "undo_failed": {}, "verified": None}
    if in_production(journal, wave, sid) and not past_point_of_no_return(journal, wave, sid):
        try:
            for step in before:
                done[step.key] = execute(journal, run_id, wave, step, actions[step.kind],
                                         done).payload
        except Exception as exc:
            for rec in reversed(journal.records(wave, sid)):
                if rec.kind in FAILBACK_KINDS and rec.status in NEEDS_UNDO:
                    err = undo_record(journal, run_id, wave, rec, actions)
                    if err is None:
                        out["undone"].append(rec.key)
                    else:
                        out["undo_failed"][rec.key] = err
            out.update(state="refused", error=str(exc))
            journal.audit("wave.failback", sid, "refused",
                          {"wave": wave, "run": run_id, "error": str(exc)[:2000]})
            return out
        out["verified"] = done.get(f"{sid}/failback/verify", {}).get("verified")
    # the point of no return: the cutover's own undo carries the system home
    for rec in reversed(journal.records(wave, sid)):
        if rec.kind in HOMEWARD_KINDS and rec.status in NEEDS_UNDO:
            err = undo_record(journal, run_id, wave, rec, actions)
            if err is not None:
                out.update(state="failed", error=f"{rec.key}: {err} (run the fail-back "
                                                 "again to continue)")
                out["undo_failed"][rec.key] = err
                journal.audit("wave.failback", sid, "failed",
                              {"wave": wave, "run": run_id, "error": err[:2000]})
                return out
            out["undone"].append(rec.key)
    execute(journal, run_id, wave, mark, actions[mark.kind], done)
    journal.audit("wave.failback", sid, "ok", {"wave": wave, "run": run_id})
    return out


def refuse_mid_failback(journal: WaveJournal, wave: int, systems: Mapping[str, str],
                        where: str = "") -> None:
    """Refuse (:class:`StepError`, nothing run) a ``wave run`` or ``wave resume`` of
    ``systems`` (id → name) while one of them is in the middle of a fail-back
    (:func:`failing_back`: its target frozen or past its point of no return, not
    finished): the run would
    start from a half-undone cutover. The message names each such system and the command
    that finishes its fail-back (ending with ``where``, `` --estate DIR``, when the
    command was given one)."""
    stuck = [sid for sid in systems if failing_back(journal, wave, sid)]
    if stuck:
        who = ", ".join(f"{systems[s]} ({s})" if systems[s] and systems[s] != s else s
                        for s in stuck)
        cmds = "; ".join(f"shangyun wave rollback {wave} --system "
                         f"{command_arg('system', s, systems)} --fail-back{where}" for s in stuck)
        raise StepError(f"wave {wave}: {who} in the middle of a fail-back (its target "
                        f"frozen, or on its way home): finish it first with {cmds}, then run the "
                        "wave again; nothing was run")


def reopen_failed_back(journal: WaveJournal, run_id: str, wave: int, system_id: str,
                       actions: Mapping[str, StepAction]) -> list[str]:
    """Before a run cuts a failed-back system over again: lift the fail-back's freeze of
    the target databases (their read-only settings as journaled before it: the target is
    to be production again, and a fresh copy is writable too) and close the fail-back's
    steps (journaled ``undone``; the freeze's lift journaled ``undoing`` first). The
    mark is closed last, so a crash in between leaves the system failed back and the next
    run lifts again. Returns the keys closed (none unless :func:`failed_back`)."""
    if not failed_back(journal, wave, system_id):
        return []
    recs = [r for r in journal.records(wave, system_id)
            if r.kind in FAILBACK_KINDS and r.status in NEEDS_UNDO]
    recs.sort(key=lambda r: r.kind == FAILBACK_KINDS[-1])  # the mark last
    closed: list[str] = []
    for rec in recs:
        step = record_step(rec, f"close {rec.key} (cut over again)")
        if rec.kind == FAILBACK_KINDS[0]:
            journal.record(run_id, wave, step, UNDOING, rec.payload)
            lift = getattr(actions[rec.kind], "lift", None)
            if lift is not None:
                lift(rec.payload)
        journal.record(run_id, wave, step, UNDONE, rec.payload)
        closed.append(rec.key)
    if closed:
        journal.audit("wave.failback.reopened", system_id, "ok",
                      {"wave": wave, "run": run_id, "closed": closed})
    return closed
