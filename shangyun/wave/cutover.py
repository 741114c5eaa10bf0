"""Cutover and rollback of a wave, as pure logic: the cutover file, the step sequence, the
rollback order and the finalize rule. No I/O except reading the cutover file.

Per system, after part 1's steps (precheck → convert → upload → import → launch)::

    copy/<item>…      initial copy of each database and file set while the source runs
    freeze            stop the source (shut its libvirt domains down, fail if one still
                      runs after shutdown_seconds unless force_off; its PostgreSQL and
                      MariaDB sources made read-only unless freeze_databases: false)
                                                                            undo: restart
    delta/<item>…     final delta of each item (the source is frozen)
    verify            every item compared (row counts + checksums, SHA-256)  refuses cutover
    start             the production instance(s) on the target              undo: stop+remove
    dns               UPSERT the records; previous records journaled first  undo: put back
    health            TCP/HTTP checks with timeouts and bounded retries      fails → rollback
    cutover           mark the system cut over

Rollback is the engine's: every step that left something is undone newest first, from the
journal alone — so DNS is reverted first, then the target stopped and removed, then the
source restarted, then the data copies dropped, then part 1's undo.

The cutover file is ``<estate>/plan/cutover.yaml``, read by :func:`load_cutover` and
written by :func:`write_cutover`; its ``schema_version`` is required (a file without one,
or with another, is a :class:`SchemaVersionError` naming the file)::

    schema_version: 1
    systems:
      sys-001:
        freeze: true                      # shut the system's hosts' domains down (default)
        freeze_databases: true            # also make its database sources read-only (default)
        shutdown_seconds: 30              # a domain still running after this fails the freeze
        force_off: false                  # true: force it off instead (may lose its writes)
        databases:
          - id: main
            engine: postgresql            # or mariadb
            source: {host: 127.0.0.1, port: 5432, user: postgres, dbname: app}
            target: {host: 127.0.0.1, port: 5432, user: postgres, dbname: app_new,
                     password_env: APP_DB_PW}   # passwords only by environment variable
        files:
          - id: uploads
            source: {host: 10.1.2.3, port: 22, user: root, key_file: …, known_hosts: …,
                     path: /srv/uploads}
            target: /cloud/landing/sys-001/uploads
        dns:
          endpoint: http://127.0.0.1:5000   # Route53-compatible API; empty = AWS
          zone: bureau.gov.cn
          records: [{name: app.bureau.gov.cn, type: A, values: [10.9.0.5], ttl: 60}]
        health:
          - {kind: http, url: "http://10.9.0.5/health", expect_body: UP, attempts: 5}
          - {kind: tcp, host: 10.9.0.5, port: 5432}
    soak_hours: 72
    guests:                               # guest adaptation (docs/guests.md); any system of
      sys-001:                            # the plan, listed in systems or not (or as
                                          # systems.<id>.guest for a system cut over)
        adapt: auto                       # auto | required | off
        nics: {ens192: "00:50:56:aa:bb:01"}
        readdress: {ens192: {address: 10.9.0.5/24, gateway: 10.9.0.1, dns: [10.9.0.2]}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from shangyun.errors import EstateError, SchemaVersionError, StepError
from shangyun.estate.names import command_arg, readable
from shangyun.guests.plan import GuestPlan, parse_guest_plan
from shangyun.wave.model import SystemWork, WaveWork
from shangyun.wave.stepargs import (
    CopyPlanned,
    CutoverArgs,
    DataItem,
    DnsArgs,
    DnsPlanned,
    DnsRecordArg,
    DomainRef,
    FailbackFreezeArgs,
    FailbackItem,
    FreezeArgs,
    HealthArgs,
    InstanceRef,
    StartArgs,
    StartHost,
    VerifyArgs,
    from_record,
)
from shangyun.wave.steps import Step

CUTOVER_FILE = Path("plan") / "cutover.yaml"
SCHEMA_VERSION = 1
CUTOVER_KINDS = ("copy", "freeze", "delta", "verify", "start", "dns", "health", "cutover")
FAILBACK_KINDS = ("failback-freeze", "failback-delta", "failback-verify", "failback")
"""The fail-back's own steps (``wave rollback --fail-back``), in order."""
HOMEWARD_KINDS = ("cutover", "health", "dns", "start", "verify", "delta", "freeze")
"""The cutover steps a fail-back undoes (newest first, through their own undo) once the
target's writes are on the source and verified: DNS back, the production instance
removed, the source databases writable and its domains restarted. The copies and part 1
stay (the target keeps its data; a plain rollback removes it)."""
ENGINES = ("postgresql", "mariadb")
DEFAULT_SOAK_HOURS = 72.0
_DB_KEYS = {"host", "port", "user", "dbname", "password_env"}
_SSH_KEYS = {"host", "port", "user", "key_file", "known_hosts", "path"}


@dataclass(frozen=True)
class SystemCutover:
    """What cutting one system over involves."""

    system_id: str
    freeze: bool = True
    data: tuple[DataItem, ...] = ()
    dns_endpoint: str = ""
    dns_zone: str = ""
    dns_records: tuple[DnsRecordArg, ...] = ()
    health: tuple[dict[str, Any], ...] = ()
    freeze_databases: bool = True
    shutdown_seconds: float = 30.0
    force_off: bool = False


@dataclass(frozen=True)
class CutoverPlan:
    """The cutover file: per-system cutovers and the soak period before finalize."""

    systems: dict[str, SystemCutover] = field(default_factory=dict)
    soak_hours: float = DEFAULT_SOAK_HOURS
    guests: dict[str, GuestPlan] = field(default_factory=dict)
    """System id -> how its guests are adapted (``guests:``; absent: the defaults)."""


def _need(where: str, data: Any, keys: Iterable[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise EstateError(f"{where}: expected a mapping")
    missing = [k for k in keys if data.get(k) in (None, "")]
    if missing:
        raise EstateError(f"{where}: missing {', '.join(missing)}")
    return data


def _endpoint(where: str, data: Any, allowed: set[str], required: Iterable[str]) -> dict[str, Any]:
    d = _need(where, data, required)
    unknown = sorted(set(d) - allowed)
    if unknown:
        hint = " (passwords go in the environment: password_env)" if "password" in unknown else ""
        raise EstateError(f"{where}: unknown key(s) {', '.join(unknown)}{hint}")
    if "port" in d:
        try:
            d = {**d, "port": int(d["port"])}
        except (TypeError, ValueError):
            raise EstateError(f"{where}.port: not a number: {d['port']!r}") from None
    return d


def parse_cutover(data: Any, file: str = str(CUTOVER_FILE)) -> CutoverPlan:
    """Check and read the cutover file's content; :class:`EstateError` naming file and key."""
    if not isinstance(data, dict):
        raise EstateError(f"{file}: expected a mapping")
    if "schema_version" not in data:
        raise SchemaVersionError(f"{file}: no schema_version; this shangyun reads "
                                 f"schema_version {SCHEMA_VERSION} (add "
                                 f"'schema_version: {SCHEMA_VERSION}' at the top)")
    version = data["schema_version"]
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(f"{file}: schema_version {version}, this shangyun reads "
                                 f"{SCHEMA_VERSION}")
    systems: dict[str, SystemCutover] = {}
    raw = data.get("systems") or {}
    if not isinstance(raw, dict):
        raise EstateError(f"{file}: 'systems' must map system ids to their cutover")
    for sid, spec in raw.items():
        at = f"{file}: systems.{sid}"
        spec = _need(at, spec or {}, ())
        items: list[DataItem] = []
        for i, db in enumerate(spec.get("databases") or []):
            w = f"{at}.databases[{i}]"
            db = _need(w, db, ("id", "engine", "source", "target"))
            if db["engine"] not in ENGINES:
                raise EstateError(f"{w}.engine: {db['engine']!r} is not one of "
                                  f"{', '.join(ENGINES)}")
            src = _endpoint(f"{w}.source", db["source"], _DB_KEYS, ("host", "user", "dbname"))
            dst = _endpoint(f"{w}.target", db["target"], _DB_KEYS, ("host", "user", "dbname"))
            if (src["host"], src.get("port"), src["dbname"]) == \
                    (dst["host"], dst.get("port"), dst["dbname"]):
                raise EstateError(f"{w}: the target is the source database")
            items.append(DataItem(str(db["id"]), "db", db["engine"], src, dst))
        for i, fs in enumerate(spec.get("files") or []):
            w = f"{at}.files[{i}]"
            fs = _need(w, fs, ("id", "source", "target"))
            src = _endpoint(f"{w}.source", fs["source"], _SSH_KEYS,
                            ("host", "user", "key_file", "known_hosts", "path"))
            items.append(DataItem(str(fs["id"]), "files", "rsync", src, str(fs["target"])))
        ids = [it.id for it in items]
        dup = sorted({x for x in ids if ids.count(x) > 1})
        if dup:
            raise EstateError(f"{at}: data item id(s) used twice: {', '.join(dup)}")
        dns = spec.get("dns") or {}
        records: tuple[DnsRecordArg, ...] = ()
        if dns:
            dns = _need(f"{at}.dns", dns, ("zone", "records"))
            recs = []
            for j, r in enumerate(dns["records"]):
                r = _need(f"{at}.dns.records[{j}]", r, ("name", "type", "values"))
                if str(r["type"]).upper() not in ("A", "AAAA", "CNAME"):
                    raise EstateError(f"{at}.dns.records[{j}].type: {r['type']!r} is not "
                                      "A, AAAA or CNAME")
                recs.append(DnsRecordArg(str(r["name"]), str(r["type"]).upper(),
                                         [str(v) for v in r["values"]], int(r.get("ttl", 60))))
            records = tuple(recs)
        checks = []
        for j, h in enumerate(spec.get("health") or []):
            h = _need(f"{at}.health[{j}]", h, ("kind",))
            need = ("url",) if h["kind"] == "http" else ("host", "port")
            if h["kind"] not in ("http", "tcp"):
                raise EstateError(f"{at}.health[{j}].kind: {h['kind']!r} is not http or tcp")
            _need(f"{at}.health[{j}]", h, need)
            checks.append(dict(h))
        systems[str(sid)] = SystemCutover(str(sid), bool(spec.get("freeze", True)),
                                          tuple(items), str(dns.get("endpoint", "") or ""),
                                          str(dns.get("zone", "") or ""), records,
                                          tuple(checks),
                                          freeze_databases=bool(spec.get("freeze_databases",
                                                                         True)),
                                          shutdown_seconds=float(spec.get("shutdown_seconds",
                                                                          30.0)),
                                          force_off=bool(spec.get("force_off", False)))
    raw_guests = data.get("guests") or {}
    if not isinstance(raw_guests, dict):
        raise EstateError(f"{file}: 'guests' must map system ids to their guest settings")
    guests = {str(sid): parse_guest_plan(g, f"{file}: guests.{sid}")
              for sid, g in raw_guests.items()}
    for sid, spec in raw.items():  # systems.<id>.guest: the same, for a system cut over
        if isinstance(spec, dict) and spec.get("guest") is not None:
            if str(sid) in guests:
                raise EstateError(f"{file}: system {sid}'s guest settings are given twice "
                                  "(systems.<id>.guest and guests.<id>): keep one")
            guests[str(sid)] = parse_guest_plan(spec["guest"], f"{file}: systems.{sid}.guest")
    return CutoverPlan(systems, float(data.get("soak_hours", DEFAULT_SOAK_HOURS)), guests)


def load_cutover(estate_dir: str | Path) -> CutoverPlan | None:
    """The estate's cutover file, or ``None`` when there is none (part 1 only)."""
    path = Path(estate_dir) / CUTOVER_FILE
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EstateError(f"{path}: not valid YAML: {exc}") from exc
    return parse_cutover(data, str(path))


def write_cutover(estate_dir: str | Path, spec: Mapping[str, Any]) -> Path:
    """Write ``spec`` (the file's content, as :func:`parse_cutover` reads it) as the estate's
    cutover file, stamped with this shangyun's ``schema_version``. The content is checked
    first (:class:`EstateError` naming the key), so a bad file is never written."""
    path = Path(estate_dir) / CUTOVER_FILE
    data = {"schema_version": SCHEMA_VERSION,
            **{k: v for k, v in spec.items() if k != "schema_version"}}
    parse_cutover(data, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    tmp.replace(path)
    return path


def cutover_steps(wave: WaveWork, system: SystemWork, spec: SystemCutover, *,
                  start_target: bool = True) -> list[Step]:
    """The ordered cutover steps of ``system``, to run after part 1's steps (whose step
    keys and instance names :mod:`shangyun.wave.steps` defines; ``start`` reads them).
    A run's whole list comes from :func:`shangyun.wave.builder.wave_steps`."""
    sid, n = system.id, wave.number
    hosts = [StartHost(launch_key=f"{sid}/launch/{h.id}", name=f"w{n}-{sid}-{h.id}",
                       import_keys=[f"{sid}/import/{d.id}" for d in h.disks],
                       cpus=h.cpu_cores, memory_mb=int(h.memory_gb * 1024), wave=n,
                       bureau=system.bureau_id, mac=h.mac) for h in system.hosts if h.disks]
    steps = [Step("copy", sid, f"{sid}/copy/{it.id}", f"initial copy of {it.kind} {it.id}",
                  args=it, planned=CopyPlanned(it)) for it in spec.data]
    domains = [DomainRef(h.hypervisor, h.hostname) for h in system.hosts if h.hypervisor]
    dbs = [it for it in spec.data
           if spec.freeze_databases and it.kind == "db"]
    if spec.freeze and (domains or dbs):
        what = [d.name for d in domains] + [f"database {d.id} read-only" for d in dbs]
        frozen = FreezeArgs(domains=domains, databases=dbs,
                            shutdown_seconds=spec.shutdown_seconds, force_off=spec.force_off)
        steps.append(Step("freeze", sid, f"{sid}/freeze", f"freeze {system.name}: "
                          + ", ".join(what), args=frozen, planned=frozen))
    steps += [Step("delta", sid, f"{sid}/delta/{it.id}", f"final delta of {it.kind} {it.id}",
                   args=it) for it in spec.data]
    if spec.data:
        steps.append(Step("verify", sid, f"{sid}/verify", f"verify {len(spec.data)} item(s)",
                          args=VerifyArgs(list(spec.data))))
    if start_target and hosts:
        steps.append(Step("start", sid, f"{sid}/start", "start the target in production: "
                          + ", ".join(h.name for h in hosts), args=StartArgs(hosts)))
    if spec.dns_records:
        steps.append(Step("dns", sid, f"{sid}/dns", f"switch DNS in {spec.dns_zone}",
                          args=DnsArgs(spec.dns_endpoint, spec.dns_zone,
                                       list(spec.dns_records)),
                          planned=DnsPlanned(spec.dns_endpoint, spec.dns_zone)))
    if spec.health:
        steps.append(Step("health", sid, f"{sid}/health", f"{len(spec.health)} health check(s)",
                          args=HealthArgs([dict(c) for c in spec.health])))
    steps.append(Step("cutover", sid, f"{sid}/cutover", f"mark {system.name} cut over",
                      args=CutoverArgs(wave=n)))
    return steps


def rollback_order(records: Iterable[Any], needs_undo: Iterable[str]) -> list[str]:
    """The step keys to undo, newest first (the order the engine undoes them)."""
    want = set(needs_undo)
    return [r.key for r in reversed(list(records)) if r.status in want]


@dataclass(frozen=True)
class FinalizeVerdict:
    """Whether a wave may be finalized, and every reason why not."""

    ok: bool
    reasons: tuple[str, ...]
    cut_over_at: datetime | None


UNLISTED = "unlisted"
"""A system's cutover status for :func:`finalize_verdict` when ``plan/cutover.yaml`` does
not list it: its run moves the disks only and never cuts it over."""


def finalize_verdict(systems: dict[str, dict[str, Any]], now: datetime,
                     soak_hours: float, names: Mapping[str, str] | None = None,
                     wave: int | None = None, again: str = "",
                     where: str = "") -> FinalizeVerdict:
    """A wave may be finalized when every system has its ``cutover`` step done (``at`` =
    when) and the last one was cut over at least ``soak_hours`` ago. ``systems`` maps each
    system of the wave to ``{"cutover": status, "never run" or UNLISTED, "at": datetime or
    None}``; ``names`` (id -> name): the reasons name the systems (:func:`readable`);
    ``wave``: its number — each system not cut over is then told the commands that
    finish it (:func:`_finish_words`; ``again``: the options that repeat the wave's last
    run, :func:`shangyun.wave.runwords.run_words`; ``where``: `` --estate DIR`` when the
    command was given one)."""
    reasons, times = [], []
    for sid, info in sorted(systems.items()):
        who = readable(sid, names or {})
        if info.get("cutover") == UNLISTED:
            reasons.append(f"{who}: not cut over ({CUTOVER_FILE} does not list it: its "
                           "runs move its disks, never cut it over)")
        elif info.get("cutover") != "done" or info.get("at") is None:
            reasons.append(f"{who}: not cut over (cutover step: {info.get('cutover')})"
                           + (_finish_words(wave, sid, str(info.get("cutover")), names or {},
                                            again, where)
                              if wave is not None else ""))
        else:
            times.append(info["at"])
    last = max(times) if times else None
    if not systems:
        reasons.append("no system of the wave has run")
    if last is not None and now - last < timedelta(hours=soak_hours):
        left = timedelta(hours=soak_hours) - (now - last)
        reasons.append(f"soak period of {soak_hours:g} h not over: {_hours(left)} left "
                       f"(last cutover {_utc(last)})")
    return FinalizeVerdict(not reasons, tuple(reasons), last)


def _finish_words(wave: int, system_id: str, status: str, names: Mapping[str, str],
                  again: str = "", where: str = "") -> str:
    """What finishes a system finalize refuses as not cut over (``status``: its cutover
    step's): run it — or, never run, re-plan it out of the wave; otherwise roll it back
    there and re-plan. ``again``: the run's options; ``where``: `` --estate DIR``."""
    arg = command_arg("system", system_id, names)
    run = f"shangyun wave run {wave} --only {arg}{again}{where}"
    if status == "never run":
        return (f" — cut it over ({run}), or re-plan (shangyun plan{where} places a system "
                "that never ran in a later wave)")
    return (f" — cut it over ({run}), or roll it back (shangyun wave rollback {wave} "
            f"--system {arg}{where}) and re-plan (shangyun plan{where})")


def _utc(at: datetime) -> str:
    """``at`` as the runbook prints times, in UTC (``2026-12-07 13:41:07 UTC``)."""
    return (at.astimezone(UTC) if at.tzinfo else at).strftime("%Y-%m-%d %H:%M:%S UTC")


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def require_spec(plan: CutoverPlan | None, system_id: str) -> SystemCutover:
    """The cutover of ``system_id``; :class:`StepError` when the file does not list it."""
    if plan is None or system_id not in plan.systems:
        raise StepError(f"system {system_id}: no entry in {CUTOVER_FILE}")
    return plan.systems[system_id]


def failback_steps(wave: int, system_id: str, records: Iterable[Any]) -> list[Step]:
    """The fail-back's own steps for ``system_id``, from its journal ``records`` alone
    (:class:`shangyun.wave.engine.StepRecord`: the latest record of each step key):

    ``failback-freeze`` (stop the production instances the ``start`` step journaled, make
    the target databases read-only), one ``failback-delta`` per item the ``copy`` steps
    journaled done (target → source, into the database whose identity the copy
    journaled), ``failback-verify`` (every item compared), then — after the caller has
    undone :data:`HOMEWARD_KINDS` — the ``failback`` mark.
    """
    sid = system_id
    recs = list(records)
    items = [from_record(DataItem, r.payload["item"]) for r in recs
             if r.kind == "copy" and r.status == "done" and r.payload.get("item")]
    identity = {str(r.payload["item"]["id"]): r.payload.get("source_identity")
                for r in recs if r.kind == "copy" and r.payload.get("item")}
    start = next((r for r in recs if r.kind == "start" and r.status == "done"), None)
    instances = [InstanceRef(dict(i)) for i in
                 ((start.payload.get("started") or {}).get("instances") or [])] if start else []
    dbs = [it for it in items if it.kind == "db"]
    freeze = FailbackFreezeArgs(instances, dbs)
    what = [f"stop {len(instances)} production instance(s)"] if instances else []
    what += [f"database {d.id} read-only" for d in dbs]
    steps = [Step("failback-freeze", sid, f"{sid}/failback/freeze",
                  "freeze the target: " + (", ".join(what) or "nothing running"),
                  args=freeze, planned=freeze)]
    steps += [Step("failback-delta", sid, f"{sid}/failback/delta/{it.id}",
                   f"reverse delta of {it.kind} {it.id}, target → source",
                   args=FailbackItem(it, identity.get(it.id))) for it in items]
    if items:
        steps.append(Step("failback-verify", sid, f"{sid}/failback/verify",
                          f"verify {len(items)} item(s), target against source",
                          args=VerifyArgs(items)))
    steps.append(Step("failback", sid, f"{sid}/failback", f"mark {sid} failed back",
                      args=CutoverArgs(wave=wave)))
    return steps
