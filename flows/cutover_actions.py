"""The cutover step actions (part 2 of a wave run): data copy and delta, freeze, verify,
start the target, DNS switch, health checks, mark cut over — each with its undo.

Like :mod:`flows.wave_actions`, no Prefect here: every action implements
:class:`shangyun.wave.engine.StepAction`, and every undo works from the journaled payload
(plus what the step journaled *while* it ran, e.g. the DNS records it was about to replace),
so rollback works after ``kill -9`` and twice in a row. The source is never modified beyond
being stopped (and restarted by the undo); its data is only read.

The lab's hypervisors are libvirt ``test://`` drivers, whose state lives in the connection:
:class:`CutoverContext` keeps one read-write connection per source URI for the whole run,
so a freeze and its undo in one process act on the same domains. (After a crash, a new
process gets a fresh test driver — real hypervisors keep their state.)
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import libvirt

from connectors import files, health
from connectors.database import DbEndpoint
from connectors.dns import DnsRecord, Route53Dns
from flows.wave_actions import RunContext, _labels, actions_for
from shangyun.errors import ConnectorError, StepError, VerificationError
from shangyun.wave.engine import StepAction
from shangyun.wave.steps import Step

FREEZE_POLLS, FREEZE_POLL_SECONDS = 150, 0.2
START_POLLS, START_POLL_SECONDS = 60, 1.0

libvirt.registerErrorHandler(lambda *_: None, None)


@dataclass
class CutoverContext:
    """What the cutover actions of one run share: part 1's context and the source
    hypervisor connections (one read-write connection per URI)."""

    run: RunContext
    _hv: dict[str, libvirt.virConnect] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hypervisor(self, uri: str) -> libvirt.virConnect:
        """The run's read-write connection to the source hypervisor ``uri``."""
        with self._lock:
            if uri not in self._hv:
                try:
                    self._hv[uri] = libvirt.open(uri)
                except libvirt.libvirtError as exc:
                    raise ConnectorError(f"hypervisor {uri}: {exc.get_error_message()}") \
                        from None
            return self._hv[uri]

    def close(self) -> None:
        """Close the hypervisor connections (safe twice)."""
        with self._lock:
            for conn in self._hv.values():
                with contextlib.suppress(libvirt.libvirtError):
                    conn.close()
            self._hv.clear()


# ------------------------------------------------------------------------- data items

def db_endpoint(side: Mapping[str, Any], where: str) -> DbEndpoint:
    """A :class:`DbEndpoint` from a cutover file entry; the password only from the
    environment variable it names."""
    password = None
    if side.get("password_env"):
        name = str(side["password_env"])
        if name not in os.environ:
            raise StepError(f"{where}: environment variable {name} (the password) is not set")
        password = os.environ[name]
    default_port = 5432 if "postgres" in where else 3306
    return DbEndpoint(str(side["host"]), int(side.get("port") or default_port),
                      str(side["user"]), str(side["dbname"]), password)


def _db(item: Mapping[str, Any]) -> tuple[Any, DbEndpoint, DbEndpoint]:
    from connectors.database import mariadb, postgres

    module = postgres if item["engine"] == "postgresql" else mariadb
    where = f"{item['engine']} {item['id']}"
    return module, db_endpoint(item["source"], where), db_endpoint(item["target"], where)


def _ssh(item: Mapping[str, Any]) -> files.SshSource:
    s = item["source"]
    return files.SshSource(str(s["host"]), int(s.get("port") or 22), str(s["user"]),
                           str(s["key_file"]), str(s["known_hosts"]), str(s["path"]))


@dataclass
class CopyAction:
    """Initial copy of a database or a file set while the source runs."""

    cctx: CutoverContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Copy; returns what was copied."""
        a = step.args
        if a["kind"] == "db":
            mod, src, dst = _db(a)
            return {"result": mod.initial_copy(src, dst).to_dict()}
        return {"result": files.sync(_ssh(a), a["target"]).to_dict()}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The copy is still there (the delta brings it up to date)."""
        a = step.args
        if a["kind"] == "db":
            mod, _, dst = _db(a)
            return bool(mod.database_exists(dst))
        return Path(a["target"], files.MARKER).exists()

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Drop the target database / remove the copied folder; never the source."""
        item = payload.get("item")
        if not item:
            return
        if item["kind"] == "db":
            mod, src, dst = _db(item)
            mod.drop_database(dst, source=src)
        else:
            files.remove_copy(item["target"])


@dataclass
class DeltaAction:
    """Final delta of one item once the source is frozen."""

    cctx: CutoverContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Re-copy what changed since the initial copy."""
        a = step.args
        if a["kind"] == "db":
            mod, src, dst = _db(a)
            return {"result": mod.final_delta(src, dst).to_dict()}
        return {"result": files.sync(_ssh(a), a["target"]).to_dict()}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Never trusted on resume: the delta is cheap when nothing changed."""
        return False

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing: the copy's undo removes the target data."""


@dataclass
class VerifyAction:
    """Every item compared end to end; any difference refuses the cutover."""

    cctx: CutoverContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Verify all items; one VerificationError naming every item and table that differs."""
        out: dict[str, Any] = {}
        problems: list[str] = []
        for item in step.args["items"]:
            try:
                if item["kind"] == "db":
                    mod, src, dst = _db(item)
                    found = mod.verify(src, dst)
                    out[item["id"]] = {t: d.to_dict() for t, d in sorted(found.items())}
                else:
                    manifest = files.verify(_ssh(item), item["target"])
                    out[item["id"]] = {"files": len(manifest)}
            except VerificationError as exc:
                problems.append(str(exc))
        if problems:
            raise VerificationError(f"system {step.system_id}: cutover refused: "
                                    + " | ".join(problems))
        return {"verified": out}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Never trusted on resume: verify again."""
        return False

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing to undo."""


# ------------------------------------------------------------------------ the source

_RUNNING = (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED, libvirt.VIR_DOMAIN_PAUSED)


@dataclass
class FreezeAction:
    """Stop the source: shut its domains down (forced off after a bounded wait)."""

    cctx: CutoverContext

    def _dom(self, d: Mapping[str, str]) -> Any:
        try:
            return self.cctx.hypervisor(d["hypervisor"]).lookupByName(d["name"])
        except libvirt.libvirtError as exc:
            raise ConnectorError(f"hypervisor {d['hypervisor']}: domain {d['name']}: "
                                 f"{exc.get_error_message()}") from None

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Journal which domains run, then shut them down."""
        saved = self.cctx.run.saved_state(step, "frozen")
        running = list(saved["was_running"]) if saved else [
            d for d in step.args["domains"] if self._dom(d).isActive()]
        self.cctx.run.save_state(step, "frozen", {"was_running": running})
        for d in running:
            dom = self._dom(d)
            if dom.isActive():
                with contextlib.suppress(libvirt.libvirtError):
                    dom.shutdown()
                for _ in range(FREEZE_POLLS):
                    if not dom.isActive():
                        break
                    time.sleep(FREEZE_POLL_SECONDS)
                if dom.isActive():
                    dom.destroy()
        from connectors.database import postgres

        for item in step.args.get("databases") or []:
            _, src, _ = _db(item)
            postgres.freeze(src)
        return {"frozen": {"was_running": running}}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Every domain is still off."""
        return not any(self._dom(d).isActive() for d in step.args["domains"])

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Make the frozen databases writable again and restart the domains that ran
        before the freeze (no-op for those that run)."""
        from connectors.database import postgres

        for item in payload.get("databases") or []:
            _, src, _ = _db(item)
            postgres.unfreeze(src)
        for d in (payload.get("frozen") or {}).get("was_running", []):
            dom = self._dom(d)
            if not dom.isActive():
                try:
                    dom.create()
                except libvirt.libvirtError as exc:
                    raise ConnectorError(f"hypervisor {d['hypervisor']}: cannot restart "
                                         f"{d['name']}: {exc.get_error_message()}") from None


# ------------------------------------------------------------------------ the target

@dataclass
class StartAction:
    """Start the target in production: stop the test instance, create the production
    instance on the same imported disks, start it and wait until it runs."""

    cctx: CutoverContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Create and start one production instance per host."""
        from connectors.targets.base import ImportedDisk, Instance, InstanceSpec, InstanceState

        t = self.cctx.run.target()
        made: list[dict[str, Any]] = []
        for h in step.args["hosts"]:
            test = done.get(h["launch_key"], {}).get("instance")
            if test:
                t.stop(Instance.from_record(dict(test)))
            disks = [ImportedDisk.from_record(dict(done[k]["disk"])) for k in h["import_keys"]]
            spec = InstanceSpec(name=h["name"], vcpus=int(h["cpus"]),
                                memory_mb=int(h["memory_mb"]),
                                labels=_labels(h["wave"], h["bureau"], step.system_id))
            inst = t.create_instance(spec, disks, test_mode=False)
            made.append(inst.to_record())
            self.cctx.run.save_state(step, "started", {"instances": made})
            t.start(inst)
            state = t.status(inst)
            for _ in range(START_POLLS):
                if state != InstanceState.PENDING:
                    break
                time.sleep(START_POLL_SECONDS)
                state = t.status(inst)
            if state != InstanceState.RUNNING:
                raise StepError(f"system {step.system_id}: {inst.name} is {state}, not running")
        return {"started": {"instances": made}}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Every production instance still runs."""
        from connectors.targets.base import Instance, InstanceState

        recs = (payload.get("started") or {}).get("instances") or []
        t = self.cctx.run.target()
        return bool(recs) and all(t.status(Instance.from_record(dict(r)))
                                  == InstanceState.RUNNING for r in recs)

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Stop and remove the production instances (the imported disks stay for part 1's
        undo)."""
        from connectors.targets.base import Instance

        recs = (payload.get("started") or {}).get("instances") or []
        if not recs:
            return
        t = self.cctx.run.target()  # the run's options are the journaled run's options
        for r in recs:
            inst = Instance.from_record(dict(r))
            t.stop(inst)
            t.delete_instance(inst)


# ------------------------------------------------------------------------- traffic

@dataclass
class DnsAction:
    """Switch the system's DNS records; the records replaced are journaled first."""

    cctx: CutoverContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Journal the current records (once, even across a crash), then UPSERT the new."""
        a = step.args
        with Route53Dns(a["endpoint"] or None) as dns:
            zid = dns.zone_id(a["zone"])
            wanted = [DnsRecord.make(r["name"], r["type"], r["values"], r.get("ttl", 60))
                      for r in a["records"]]
            saved = self.cctx.run.saved_state(step, "previous")
            if saved is None:
                prev = [dns.get(zid, w.name, w.type) for w in wanted]
                saved = {"zone_id": zid, "records": [
                    {"name": w.name, "type": w.type,
                     "previous": p.to_dict() if p else None} for w, p in zip(wanted, prev,
                                                                             strict=True)]}
                self.cctx.run.save_state(step, "previous", saved)
            for w in wanted:
                dns.switch(zid, w)
        return {"previous": saved, "records": [w.to_dict() for w in wanted]}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The records still hold the new values."""
        a = step.args
        with Route53Dns(a["endpoint"] or None) as dns:
            zid = dns.zone_id(a["zone"])
            return all(dns.get(zid, r["name"], r["type"]) == DnsRecord.make(
                r["name"], r["type"], r["values"], r.get("ttl", 60)) for r in a["records"])

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Put every journaled previous record back (delete the ones that did not exist)."""
        prev = payload.get("previous")
        if not prev:
            return  # crashed before anything was read or changed
        with Route53Dns(payload.get("endpoint") or None) as dns:
            for r in prev["records"]:
                old = DnsRecord.from_dict(r["previous"]) if r["previous"] else None
                dns.revert(prev["zone_id"], r["name"], r["type"], old)


@dataclass
class HealthAction:
    """The new system's health checks; a failure rolls the system back."""

    cctx: CutoverContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Run every check; HealthCheckFailed naming the first that fails."""
        results = []
        for c in step.args["checks"]:
            res = health.run_check(health.HealthCheck.from_dict(dict(c)))
            results.append(res.to_dict())
            health.require(res, step.system_id)
        return {"health": results}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Never trusted on resume: check again."""
        return False

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing to undo."""


@dataclass
class MarkAction:
    """Mark the system cut over (the time starts the soak period)."""

    cctx: CutoverContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Record the time of cutover."""
        return {"cut_over_at": datetime.now(UTC).isoformat(timespec="seconds")}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """A cutover mark stays."""
        return "cut_over_at" in payload

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing: undoing the steps before it rolls the system back."""


def cutover_actions(cctx: CutoverContext) -> dict[str, StepAction]:
    """Step kind -> action for the cutover kinds."""
    return {"copy": CopyAction(cctx), "freeze": FreezeAction(cctx), "delta": DeltaAction(cctx),
            "verify": VerifyAction(cctx), "start": StartAction(cctx), "dns": DnsAction(cctx),
            "health": HealthAction(cctx), "cutover": MarkAction(cctx)}


def all_actions(cctx: CutoverContext) -> dict[str, StepAction]:
    """Part 1's actions and the cutover actions, for undoing a whole system."""
    return {**actions_for(cctx.run), **cutover_actions(cctx)}



def run_system_steps(journal: Any, run_id: str, wave: int, steps: list[Step],
                     actions: Mapping[str, StepAction],
                     done: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run ``steps`` of one system in order through the journal; on the first failure undo
    the whole system from the journal (newest first). Returns ``state`` (``done``,
    ``rolled_back`` or ``rollback_failed``), ``error`` and ``undo_failed`` (step key →
    error: reported as failed, never as rolled back)."""
    from shangyun.wave.engine import execute, undo_system

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


def finalize_wave(estate_dir: str, number: int, *, now: datetime | None = None,
                  soak_hours: float | None = None) -> dict[str, Any]:
    """Close wave ``number`` once every system is cut over and the soak period is over.

    Reads the journal (each system's ``cutover`` step and its time) and the soak period of
    ``plan/cutover.yaml``; refuses with a :class:`StepError` listing every reason. Closing
    writes a ``finalize`` run and an audit record. The source systems are never deleted or
    changed: decommissioning them is a separate, human decision."""
    from shangyun.wave.cutover import DEFAULT_SOAK_HOURS, finalize_verdict, load_cutover
    from shangyun.wave.journal_port import open_journal

    plan = load_cutover(estate_dir)
    soak = soak_hours if soak_hours is not None else (
        plan.soak_hours if plan else DEFAULT_SOAK_HOURS)
    now = now or datetime.now(UTC)
    with open_journal(estate_dir, create=False) as journal:
        journal.ensure_idle(number)
        systems: dict[str, dict[str, Any]] = {}
        for sid in journal.systems(number):
            rec = journal.last(number, sid, f"{sid}/cutover")
            at = None
            if rec is not None and rec.payload.get("cut_over_at"):
                at = datetime.fromisoformat(str(rec.payload["cut_over_at"]))
            systems[sid] = {"cutover": rec.status if rec else None, "at": at}
        verdict = finalize_verdict(systems, now, soak)
        if not verdict.ok:
            raise StepError(f"wave {number} cannot be finalized: " + "; ".join(verdict.reasons))
        run_id = journal.begin_run(number, {"soak_hours": soak}, kind="finalize")
        journal.audit("wave.finalized", None, "ok",
                      {"wave": number, "systems": sorted(systems), "soak_hours": soak,
                       "last_cutover": verdict.cut_over_at.isoformat()
                       if verdict.cut_over_at else None})
        journal.finish_run(run_id, "done")
    return {"wave": number, "finalized": True, "systems": sorted(systems), "soak_hours": soak,
            "last_cutover": verdict.cut_over_at.isoformat() if verdict.cut_over_at else None,
            "source_deleted": False}


_CONTEXTS: dict[int, CutoverContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def cutover_actions_for(run: RunContext) -> dict[str, StepAction]:
    """The cutover actions sharing one :class:`CutoverContext` per run context (so a freeze
    and its undo in one process use the same hypervisor connection)."""
    with _CONTEXTS_LOCK:
        cctx = _CONTEXTS.get(id(run))
        if cctx is None or cctx.run is not run:
            cctx = _CONTEXTS[id(run)] = CutoverContext(run)
    return cutover_actions(cctx)


def close_cutover_context(run: RunContext) -> None:
    """Close and forget the :class:`CutoverContext` of ``run`` (its source-hypervisor
    connections); nothing when the run never used one. :meth:`RunContext.close` calls it."""
    with _CONTEXTS_LOCK:
        cctx = _CONTEXTS.get(id(run))
        if cctx is None or cctx.run is not run:
            return
        del _CONTEXTS[id(run)]
    cctx.close()


def extra_steps(wave: Any, system: Any) -> list[Step]:
    """The cutover steps of ``system`` when the estate has ``plan/cutover.yaml`` listing it
    (none otherwise: a part-1-only wave is unchanged)."""
    from shangyun.wave.cutover import cutover_steps, load_cutover

    plan = load_cutover(wave.estate_dir)
    if plan is None or system.id not in plan.systems:
        return []
    return cutover_steps(wave, system, plan.systems[system.id])
