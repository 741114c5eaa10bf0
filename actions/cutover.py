"""The cutover step actions (part 2 of a wave run): freeze the source, start the target,
DNS switch, health checks, mark cut over — each with its undo (the data actions are in
:mod:`actions.data`).

No Prefect here: every action implements :class:`shangyun.wave.engine.StepAction`, and
every undo works from the journaled payload (plus what the step journaled *while* it ran,
e.g. the DNS records it was about to replace), so rollback works after ``kill -9`` and
twice in a row. The source is never modified beyond being stopped (and restarted by the
undo); its data is only read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from actions.context import RunContext, labels
from actions.data import database_sides, read_only_before
from connectors import health
from connectors.dns import DnsRecord, Route53Dns
from connectors.targets.base import ImportedDisk, Instance, InstanceSpec, InstanceState
from shangyun.errors import StepError
from shangyun.wave.stepargs import (
    DataItem,
    DnsArgs,
    DomainRef,
    FreezeArgs,
    HealthArgs,
    ImportDone,
    StartArgs,
    from_record,
)
from shangyun.wave.steps import Step

FREEZE_POLL_SECONDS = 0.2
START_POLLS, START_POLL_SECONDS = 60, 1.0

# ------------------------------------------------------------------------ the source

@dataclass
class FreezeAction:
    """Stop the source: shut its domains down (a bounded wait, then the step fails unless
    ``force_off``) and make its databases read-only (each on its own: MariaDB by revoking
    the other accounts' write privileges on it, PostgreSQL by the database's setting)."""

    ctx: RunContext

    def _is_active(self, d: DomainRef) -> bool:
        return self.ctx.hypervisor(d.hypervisor).is_active(d.name)

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Journal which domains run and what each database's freeze changes (a database
        only a server-wide read-only could freeze is refused here, before anything is
        stopped), then shut the domains down and freeze the databases."""
        a = step.args_as(FreezeArgs)
        saved = self.ctx.saved_state(step, "frozen")
        running = [from_record(DomainRef, d) for d in saved["was_running"]] if saved else [
            d for d in a.domains if self._is_active(d)]
        frozen = {"was_running": [asdict(d) for d in running]}
        before = read_only_before(self.ctx, step, a.databases, of_target=False)
        self.ctx.save_state(step, "frozen", frozen)
        for d in running:
            self.ctx.hypervisor(d.hypervisor).shut_down(
                d.name, polls=max(1, math.ceil(a.shutdown_seconds / FREEZE_POLL_SECONDS)),
                poll_seconds=FREEZE_POLL_SECONDS, force=a.force_off)
        for item in a.databases:
            engine, src, _ = database_sides(item)
            engine.freeze(src, before.get(item.id))
        return {"frozen": frozen, "before": before}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Every domain is still off."""
        return not any(self._is_active(d) for d in step.args_as(FreezeArgs).domains)

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Put the frozen databases' read-only settings back as they were before the freeze
        (journaled ``before``: a source that was read-only stays so) and restart the domains
        that ran before the freeze (no-op for those that run)."""
        before = payload.get("before") or {}
        for item in payload.get("databases") or []:
            data = from_record(DataItem, item)
            engine, src, _ = database_sides(data)
            engine.unfreeze(src, before.get(data.id))
        for d in (payload.get("frozen") or {}).get("was_running", []):
            ref = from_record(DomainRef, d)
            self.ctx.hypervisor(ref.hypervisor).start(ref.name)


# ------------------------------------------------------------------------ the target

@dataclass
class StartAction:
    """Start the target in production: stop the test instance, create the production
    instance on the same imported disks, start it and wait until it runs."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Create and start one production instance per host."""
        made: list[dict[str, Any]] = []
        hosts = step.args_as(StartArgs).hosts
        # the target the test launches used (a system may be placed on its own node)
        topts = next((done.get(h.launch_key, {}).get("target_options") for h in hosts
                      if done.get(h.launch_key, {}).get("target_options")), None)
        t = self.ctx.target(topts)
        for h in hosts:
            test = done.get(h.launch_key, {}).get("instance")
            if test:
                t.stop(Instance.from_record(dict(test)))
            disks = [ImportedDisk.from_record(from_record(ImportDone, done[k]).disk)
                     for k in h.import_keys]
            spec = InstanceSpec(name=h.name, vcpus=h.cpus, memory_mb=h.memory_mb,
                                labels=labels(h.wave, h.bureau, step.system_id),
                                macs=(h.mac,) if h.mac else ())
            inst = t.create_instance(spec, disks, test_mode=False)
            made.append(inst.to_record())
            self.ctx.save_state(step, "started", {"instances": made,
                                                  "target_options": dict(topts or {})})
            t.start(inst)
            state = t.status(inst)
            for _ in range(START_POLLS):
                if state != InstanceState.PENDING:
                    break
                time.sleep(START_POLL_SECONDS)
                state = t.status(inst)
            if state != InstanceState.RUNNING:
                raise StepError(f"system {self.ctx.who(step)}: {inst.name} is {state}, not running")
        return {"started": {"instances": made, "target_options": dict(topts or {})}}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Every production instance still runs."""
        started = payload.get("started") or {}
        recs = started.get("instances") or []
        t = self.ctx.target(started.get("target_options") or None)
        return bool(recs) and all(t.status(Instance.from_record(dict(r)))
                                  == InstanceState.RUNNING for r in recs)

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Stop and remove the production instances (the imported disks stay for part 1's
        undo)."""
        started = payload.get("started") or {}
        recs = started.get("instances") or []
        if not recs:
            return
        # the run's options are the journaled run's options; the node the system was on
        t = self.ctx.target(started.get("target_options") or None)
        for r in recs:
            inst = Instance.from_record(dict(r))
            t.stop(inst)
            t.delete_instance(inst)


# ------------------------------------------------------------------------- traffic

@dataclass
class DnsAction:
    """Switch the system's DNS records; the records replaced are journaled first."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Journal the current records (once, even across a crash), then UPSERT the new."""
        a = step.args_as(DnsArgs)
        with Route53Dns(a.endpoint or None) as dns:
            zid = dns.zone_id(a.zone)
            wanted = [DnsRecord.make(r.name, r.type, r.values, r.ttl) for r in a.records]
            saved = self.ctx.saved_state(step, "previous")
            if saved is None:
                prev = [dns.get(zid, w.name, w.type) for w in wanted]
                saved = {"zone_id": zid, "records": [
                    {"name": w.name, "type": w.type,
                     "previous": p.to_dict() if p else None} for w, p in zip(wanted, prev,
                                                                             strict=True)]}
                self.ctx.save_state(step, "previous", saved)
            for w in wanted:
                dns.switch(zid, w)
        return {"previous": saved, "records": [w.to_dict() for w in wanted]}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """The records still hold the new values."""
        a = step.args_as(DnsArgs)
        with Route53Dns(a.endpoint or None) as dns:
            zid = dns.zone_id(a.zone)
            return all(dns.get(zid, r.name, r.type) == DnsRecord.make(
                r.name, r.type, r.values, r.ttl) for r in a.records)

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

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Run every check; HealthCheckFailed naming the first that fails."""
        results = []
        for c in step.args_as(HealthArgs).checks:
            res = health.run_check(health.HealthCheck.from_dict(dict(c)))
            results.append(res.to_dict())
            health.require(res, self.ctx.who(step))
        return {"health": results}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """Never trusted on resume: check again."""
        return False

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing to undo."""


@dataclass
class MarkAction:
    """Mark the system cut over (the time starts the soak period)."""

    ctx: RunContext

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """Record the time of cutover."""
        return {"cut_over_at": datetime.now(UTC).isoformat(timespec="seconds")}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        """A cutover mark stays."""
        return "cut_over_at" in payload

    def undo(self, payload: Mapping[str, Any]) -> None:
        """Nothing: undoing the steps before it rolls the system back."""
