"""Wave 1's cutover in the demo: the ``plan/cutover.yaml`` it writes (a database copy to this
machine's servers, a DNS switch, a health check — made to fail for one system), the DNS names'
"before" state, and the checks that the failed system was rolled back cleanly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from connectors.database import mariadb, postgres
from connectors.database.common import DbEndpoint
from connectors.dns import DnsRecord, Route53Dns
from connectors.journal import dryrun
from connectors.journal.wave import open_journal
from demo.state import DemoState, console
from lab import LabState
from shangyun.errors import ShangyunError
from shangyun.estate import Estate
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions

DNS_ZONE = "demo.gov.cn"
AUTO = "auto"  # --fail-health default: the last system of wave 1
CLOUD_NET = "172.30"  # the lab cloud's network (cloud-vpc)
#: The cloud's database servers in the demo: this machine's PostgreSQL and MariaDB.
LOCAL_DB = {"postgresql": {"port": 5432, "user": "postgres"},
            "mariadb": {"port": 3306, "user": "root"}}
DB_PREFIX = "shangyun_demo_"
#: Credentials of the lab's object store and DNS endpoint (moto accepts any; not a secret).
S3_ENV = {"AWS_ACCESS_KEY_ID": "shangyun-demo", "AWS_SECRET_ACCESS_KEY": "shangyun-demo",
          "AWS_DEFAULT_REGION": "us-east-1"}


def use_lab_credentials() -> None:
    """Give this process the lab endpoint's credentials, unless it has some already."""
    for key, value in S3_ENV.items():
        os.environ.setdefault(key, value)


def wave_dry_run(estate_dir: Path, opts: RunOptions | None = None) -> dict[str, Any]:
    """What ``shangyun wave run 1 --dry-run --json`` prints: wave 1's systems and steps."""
    opts = opts or RunOptions(staging_dir=str((estate_dir / "staging").resolve()))
    return dryrun.wave_dry_run(str(estate_dir), load_wave(str(estate_dir), 1), opts)


def cutover_spec(st: DemoState, systems: list[dict[str, Any]], dns_endpoint: str,
                 fail: str | None) -> dict[str, Any]:
    """The cutover file for wave 1's systems: per system a DNS name (switched from the
    bureau's app server to the cloud) and an HTTP health check of the bureau's lab app
    service; the system ``fail`` (id) gets a check of a port where nothing listens."""
    state = st.the_lab
    est = Estate.load(st.estate_dir, check=False)
    bureau_names = {r["id"]: r["name"] for r in est.rows("bureaus")}
    lab_bureaus = {b["name"]: b["id"] for b in state.bureaus}
    out: dict[str, Any] = {}
    guest_sid = st.guest_system_id()
    for n, sysw in enumerate(systems, start=1):
        if sysw["id"] == guest_sid:
            out[sysw["id"]] = guest_cutover(st, dns_endpoint, fail=sysw["id"] == fail)
            continue
        lab_bureau = lab_bureaus[bureau_names[sysw["bureau"]]]
        app = next(h for h in state.hosts if h.bureau == lab_bureau and h.role == "app")
        port = 1 if sysw["id"] == fail else 8080  # port 1: refused
        dbh = next((h for h in state.hosts if h.bureau == lab_bureau and h.database), None)
        db = dbh.database if dbh else None
        out[sysw["id"]] = {
            "freeze": True,
            "databases": [] if db is None else [{
                "id": db.name, "engine": db.engine,
                "source": {"host": dbh.ip if dbh else "", "port": db.port, "user": db.user,
                           "dbname": db.name},
                "target": {"host": "127.0.0.1", **LOCAL_DB[db.engine],
                           "dbname": target_dbname(state, lab_bureau, db.name)}}],
            "dns": {"endpoint": dns_endpoint, "zone": DNS_ZONE,
                    "records": [{"name": _dns_name(lab_bureau), "type": "A",
                                 "values": [f"{CLOUD_NET}.{n}.10"], "ttl": 60}]},
            "health": [{"kind": "http", "url": f"http://{app.ip}:{port}/health",
                        "expect_body": "shangyun lab service", "attempts": 2,
                        "backoff": 0.2, "timeout": 3}],
        }
    return {"schema_version": 1, "soak_hours": 72, "systems": out}


def guest_cutover(st: DemoState, dns_endpoint: str, *, fail: bool) -> dict[str, Any]:
    """The real guest's cutover: freeze (its domain is shut down), its DNS name kept on its
    old address (the moved guest keeps it on the cloud's production network), and the
    health check hits its real app there."""
    g = st.the_lab.guests[0]
    return {
        "freeze": True, "databases": [],
        "dns": {"endpoint": dns_endpoint, "zone": DNS_ZONE,
                "records": [{"name": f"{g.hostname}.{DNS_ZONE}", "type": "A",
                             "values": [g.ip], "ttl": 60}]},
        "health": [{"kind": "http", "url": f"http://{g.ip}:{1 if fail else g.app_port}/",
                    "expect_body": '"legacy-app"', "attempts": 30, "backoff": 2.0,
                    "timeout": 5}],
    }


def target_dbname(state: LabState, lab_bureau: str, name: str) -> str:
    """The cloud-side copy of a lab database: unique per lab (its tag) and bureau."""
    return f"{DB_PREFIX}{state.tag}_{lab_bureau.lower()}_{name}"[:63]


def check_local_databases(servers: dict[str, dict[str, Any]] | None = None) -> None:
    """Before anything starts: this machine's PostgreSQL and MariaDB (the cloud's database
    servers in the demo, :data:`LOCAL_DB`) answer and let the demo in — else a ShangyunError
    naming the server and ``./scripts/setup``, instead of a cutover failing minutes later."""
    problems = []
    for engine, where in (servers or LOCAL_DB).items():
        ep = DbEndpoint(host="127.0.0.1", port=where["port"], user=where["user"],
                        dbname="postgres" if engine == "postgresql" else "")
        mod = postgres if engine == "postgresql" else mariadb
        try:
            mod.connect(ep).close()
        except ShangyunError as exc:
            problems.append(str(exc))
    if problems:
        raise ShangyunError(
            "the demo copies wave 1's databases to this machine's PostgreSQL and MariaDB "
            f"(127.0.0.1), and cannot use them: {'; '.join(problems)}. ./scripts/setup "
            "starts them and sets their logins (or run ./scripts/demo, which runs it)")


def drop_demo_databases(state: LabState) -> list[str]:
    """Drop the cloud-side copies the demo made for the lab ``state`` (what a cut-over system
    keeps until the wave is finalized); returns the names dropped."""
    dropped = []
    for h in state.hosts:
        if not h.database:
            continue
        engine = h.database.engine
        ep = DbEndpoint(host="127.0.0.1", **LOCAL_DB[engine],
                        dbname=target_dbname(state, h.bureau, h.database.name))
        mod = postgres if engine == "postgresql" else mariadb
        if mod.drop_database(ep):
            dropped.append(ep.dbname)
    return dropped


def _dns_name(lab_bureau: str) -> str:
    return f"{lab_bureau.lower()}-vm.{DNS_ZONE}"


def _failing_system(st: DemoState, systems: list[dict[str, Any]]) -> str | None:
    """The id of the system whose health check ``--fail-health`` makes fail, if any."""
    choice = (st.fail_health or "none").strip()
    if choice == AUTO:  # the last VM system (the real guest's move is shown succeeding)
        guest = st.guest_system_id()
        others = [s for s in systems if s["id"] != guest] or systems
        return str(others[-1]["id"])
    if choice == "none":
        return None
    match = [s for s in systems if choice in (s["id"], s["name"])]
    if not match:
        raise ShangyunError(f"--fail-health {st.fail_health!r}: not a system of wave 1 "
                            f"(one of: {', '.join(s['name'] for s in systems)})")
    return str(match[0]["id"])


def prepare_cutover(st: DemoState, endpoint: str) -> bool:
    """Write ``plan/cutover.yaml`` for wave 1 if the wave run carries out cutover steps in
    this build (its dry run lists ``health`` steps); otherwise say so loudly and run part 1
    only. Points each system's DNS name at its bureau's app server first ("before")."""
    path = st.estate_dir / "plan" / "cutover.yaml"
    systems = wave_dry_run(st.estate_dir)["systems"]
    fail = _failing_system(st, systems)
    spec = cutover_spec(st, systems, endpoint, fail)
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    if not cutover_in_wave_run(st.estate_dir):
        path.unlink()
        console.print("[bold yellow]NOTE[/]: cutover (final data copy, DNS switch, health "
                      "checks, rollback of traffic) is not carried out by this build's "
                      "'shangyun wave run': wave 1 runs part 1 only (pre-check → convert → "
                      "upload → import → test launch)")
        if fail and (st.fail_health or "").strip() != AUTO:
            raise ShangyunError("--fail-health: this build's wave run has no health checks "
                                "yet, so there is nothing to fail")
        return False
    use_lab_credentials()
    before = {}
    with Route53Dns(endpoint) as dns:  # what the names say before the wave: the source
        zid = dns.zone_id(DNS_ZONE, create=True)
        for sid, sc in spec["systems"].items():
            rec = sc["dns"]["records"][0]
            app = sc["health"][0]["url"].split("//", 1)[1].split(":", 1)[0]
            old = DnsRecord.make(rec["name"], "A", [app], 60)
            dns.switch(zid, old)
            before[sid] = old
    st.results["dns_before"] = before
    st.results["fail_health_system"] = fail
    st.results["fail_health_name"] = next((x["name"] for x in systems if x["id"] == fail), None)
    console.print(f"cutover file {path}: {len(systems)} systems, DNS zone {DNS_ZONE}"
                  + (f", health check of {st.results['fail_health_name']} made to fail"
                     if fail else ""))
    return True


def cutover_in_wave_run(estate_dir: Path) -> bool:
    """Whether wave 1's run carries out the health-checked cutover of the estate's
    ``plan/cutover.yaml``: its dry run lists ``health`` steps."""
    return any(step["kind"] == "health" for s in wave_dry_run(estate_dir)["systems"]
               for step in s["steps"])


def check_all_undone(st: DemoState, system_id: str) -> int:
    """Every journaled step of ``system_id`` in wave 1 is ``undone``; returns how many."""
    with open_journal(st.estate_dir) as j:
        recs = j.records(1, system_id)
    left = [f"{r.key} ({r.status})" for r in recs if r.status != "undone"]
    if not recs or left:
        raise ShangyunError(f"rollback of {system_id} is not clean: "
                            f"{', '.join(left) or 'no journal records'}")
    return len(recs)


def check_dns_restored(st: DemoState) -> None:
    """The failed system's DNS record is back to what it said before the wave."""
    fail = st.results["fail_health_system"]
    old = st.results["dns_before"][fail]
    with Route53Dns(st.results["s3"]["endpoint"]) as dns:
        now = dns.get(dns.zone_id(DNS_ZONE), old.name, "A")
    if now != old:
        raise ShangyunError(f"rollback of {fail}: DNS {old.name} is {now}, expected {old}")
