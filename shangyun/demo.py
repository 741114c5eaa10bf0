"""The demo's main job, run by ``scripts/demo`` as ``python -m shangyun.demo``.

The full pipeline on the lab (default), as named, timed stages printed with rich:

1. ``lab up``    — bring the lab up (``lab.up``; a running lab is reused);
2. ``import``    — one ``shangyun inventory import`` of every lab ledger plus the demo's
   VM ledger (which system owns which hypervisor VM) into a fresh ``<out>/estate``;
3. ``discover``  — over SSH (the lab's key + known_hosts) and every bureau hypervisor;
4. ``assess``; 5. ``plan`` (the VM systems pinned to the pilot wave 1);
6. ``dashboard`` — ``shangyun server start`` (the persistent Prefect server);
7. ``wave 1``    — ``shangyun wave run 1`` onto the lab's libvirt cloud through S3 staging
   (the lab's object store: moto's server on 127.0.0.1), then the cutover of
   ``plan/cutover.yaml`` (DNS switch, health checks) where the wave run carries it out;
   ``--fail-health`` makes one system's check fail to show its clean rollback;
8. ``runbooks``  — the wave-1 runbook (zh/en, html/md) and the estate report;
9. ``where to look``.

``--sample`` runs the earlier, lab-free path instead: generate the sample estate, import its
ledgers, validate, summarise, compare. See ``docs/demo.md``.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from shangyun.errors import ShangyunError, ValidationFailed
from shangyun.estate import Estate

console = Console(highlight=False)
COMPARED = ("bureaus", "systems", "hosts", "disks", "databases", "dependencies")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: demo-out/ at the project root (gitignored); in the current folder for an installed copy.
DEFAULT_OUT = (PROJECT_ROOT / "demo-out" if (PROJECT_ROOT / "pyproject.toml").is_file()
               else Path("demo-out"))


@dataclass
class DemoState:
    """What the stages pass on to each other."""

    out: Path
    bureaus: int
    systems: int
    seed: int
    generated: Estate | None = None
    imported: Estate | None = None
    notes: list[str] = field(default_factory=list)
    failed: bool = False
    lab_dir: Path | None = None
    quick: bool = False
    fail_health: str | None = None
    lab: Any = None
    results: dict[str, Any] = field(default_factory=dict)
    api_url: str | None = None
    s3: Any = None

    @property
    def estate_dir(self) -> Path:
        """The estate the lab pipeline builds (fresh on every run)."""
        return self.out / "estate"

    @property
    def sample_dir(self) -> Path:
        """Where the generated sample (estate + ledgers) goes."""
        return self.out / "sample"

    @property
    def imported_dir(self) -> Path:
        """Where the estate built from the ledgers goes."""
        return self.out / "imported"


class StageSkipped(Exception):
    """A stage cannot run yet (a part it needs has not landed); the demo says so and goes on."""


# ---------------------------------------------------------------------------- stages
def stage_generate(st: DemoState) -> str:
    """Generate the sample estate and write its ledgers."""
    from shangyun.sample import write_sample
    from shangyun.sample.ledgers import CROSS_FOLDER

    result = write_sample(st.sample_dir, bureaus=st.bureaus, systems=st.systems, seed=st.seed)
    st.generated = result.estate
    counts = result.estate.summary()["counts"]
    styles = Counter(f.style for f in result.ledgers if f.path.parent.name != CROSS_FOLDER)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(styles.items()))
    return (f"{counts['bureaus']} bureaus, {counts['systems']} systems, {counts['hosts']} hosts,"
            f" {counts['dependencies']} dependencies; {len(result.ledgers)} ledger files "
            f"({kinds}) → {result.path}")


def stage_import(st: DemoState) -> str:
    """Import every bureau's ledgers into a fresh estate, in the manifest's order."""
    from shangyun.cli import main
    from shangyun.sample.ledgers import read_manifest
    from shangyun.sample.writer import LEDGER_DIR

    if "import" not in _inventory_commands():
        raise StageSkipped("'shangyun inventory import' is not available yet")
    if st.imported_dir.exists():
        shutil.rmtree(st.imported_dir)
    ledger_dir = st.sample_dir / LEDGER_DIR
    order = read_manifest(ledger_dir)
    n_files, conflicts = 0, 0
    from shangyun.cli.output import progress

    with progress("importing ledgers", len(order)) as advance:
        for entry in order:
            files = [str(ledger_dir / entry["folder"] / f) for f in entry["files"]]
            args = ["inventory", "import", *files, "--estate", str(st.imported_dir),
                    "--bureau", entry["bureau"], "--no-progress", "--json"]
            code, out, err = _run_cli(main, args)
            if code != 0:
                console.print(err.strip(), markup=False)
                raise ShangyunError(f"import of {entry['folder']} failed (exit {code})")
            conflicts += len(json.loads(out).get("conflicts") or [])
            n_files += len(files)
            advance()
    return (f"{n_files} files in {len(order)} imports → {st.imported_dir} "
            f"({conflicts} conflicts between ledgers)")


def stage_validate(st: DemoState) -> str:
    """Load the imported estate and check it: every problem is listed."""
    if not (st.imported_dir / "estate.yaml").exists():
        raise StageSkipped("nothing imported")
    try:
        st.imported = Estate.load(st.imported_dir, check=True)
    except ValidationFailed as exc:
        st.imported = Estate.load(st.imported_dir, check=False)
        for p in exc.problems[:20]:
            console.print(f"  [red]•[/] {p}")
        raise ShangyunError(f"{len(exc.problems)} problem(s) in the imported estate") from exc
    return "no problems"


def stage_summary(st: DemoState) -> str:
    """Show the estate: counts per table and per bureau."""
    est = st.imported or st.generated
    if est is None:
        raise StageSkipped("no estate")
    summary = est.summary()
    t = Table("bureau", "systems", "hosts", "VMs", "physical", "databases", "disk TB",
              title="imported estate" if st.imported is not None else "generated estate")
    for e in summary["per_bureau"].values():
        t.add_row(e["name"], str(e["systems"]), str(e["hosts"]), str(e["vms"]),
                  str(e["physical"]), str(e["databases"]), f"{e['disk_gb'] / 1024:,.1f}")
    console.print(t)
    c = summary["counts"]
    return (f"{c['systems']} systems ({summary['classified_systems']} classified), "
            f"{c['hosts']} hosts, {summary['disk_gb'] / 1024:,.0f} TB of disks, "
            f"{c['conflicts']} conflicts")


def stage_compare(st: DemoState) -> str:
    """Compare imported against generated counts, table by table."""
    if st.generated is None or st.imported is None:
        raise StageSkipped("needs both the generated and the imported estate")
    rows = compare_counts(st.generated, st.imported)
    vdisk = rvtools_disk_rows(st.sample_dir / "ledgers")
    t = Table("table", "generated", "imported", "", title="imported vs generated")
    bad, notes = [], []
    for name, gen, imp in rows:
        mark = "[green]✓[/]"
        if gen != imp and name == "disks" and imp == vdisk:
            mark = "[yellow]RVTools only[/]"
            notes.append(f"disks: the importer read the {vdisk} disks of the RVTools exports; "
                         f"the other {gen - vdisk} are in 磁盘 sheets, which it does not read")
        elif gen != imp:
            mark = "[red]✗[/]"
            bad.append(name)
        t.add_row(name, str(gen), str(imp), mark)
    console.print(t)
    for note in notes:
        console.print(f"[yellow]note[/]: {note}")
    st.notes += notes
    if bad:
        raise ShangyunError(f"counts differ for: {', '.join(bad)}")
    return "every table matches" + (" (but see the note on disks)" if notes else "")


def compare_counts(generated: Estate, imported: Estate) -> list[tuple[str, int, int]]:
    """``(what, generated, imported)``: rows of each compared table, then a few totals
    (classified systems, shared databases, disk GB) that the ledgers must carry too."""
    rows = [(n, len(generated.tables[n]), len(imported.tables[n])) for n in COMPARED]
    for label, fn in (
        ("classified systems", lambda e: int(e.tables["systems"]["classified"].sum())),
        ("shared databases", lambda e: int(e.tables["databases"]["shared"].sum())),
        ("disk GB", lambda e: round(float(e.tables["disks"]["size_gb"].sum()))),
    ):
        rows.append((label, fn(generated), fn(imported)))
    return rows


def rvtools_disk_rows(ledger_dir: Path) -> int:
    """How many disks the RVTools exports among the ledgers list (rows of their vDisk)."""
    from openpyxl import load_workbook

    n = 0
    for path in sorted(ledger_dir.rglob("RVTools*.xlsx")):
        wb = load_workbook(path, read_only=True)
        n += max(0, wb["vDisk"].max_row - 1) if "vDisk" in wb.sheetnames else 0
        wb.close()
    return n


SAMPLE_STAGES: tuple[tuple[str, Callable[[DemoState], str]], ...] = (
    ("generate", stage_generate),
    ("import", stage_import),
    ("validate", stage_validate),
    ("summary", stage_summary),
    ("compare", stage_compare),
)
STAGES = SAMPLE_STAGES  # the name earlier callers used


# ---------------------------------------------------------------------------- the lab path
#: The VMs of each bureau hypervisor that the demo's VM ledger gives to a system.
QUICK_VMS = 2
VM_SYSTEM = "{bureau}虚拟化业务系统"
VM_LEDGER_HEADER = ("单位", "系统名称", "主机名", "CPU(核)", "内存(GB)", "网络区域", "负责人")
#: The size the VM ledger declares for each VM. The lab cloud is libvirt's test driver, whose
#: node has only a few GiB of memory for the test launches; the hypervisors report more, and
#: that difference is listed as a conflict (the ledger's value is kept).
VM_SIZE = (1, 0.25)


def stage_lab(st: DemoState) -> str:
    """Bring the lab up (a running lab is reused)."""
    import lab

    st.lab = lab.up(st.lab_dir, bureaus=st.bureaus)
    health = lab.status(st.lab_dir)
    st.results["lab"] = {"up": health["up"], "total": health["total"]}
    if health["up"] != health["total"]:
        raise ShangyunError(f"lab: only {health['up']} of {health['total']} hosts are up")
    return (f"{len(st.lab.hosts)} hosts in {len(st.lab.bureaus)} bureaus ({st.lab.mode}), "
            f"{len(st.lab.hypervisors)} hypervisors, {len(st.lab.images)} disk images, "
            f"cloud {st.lab.cloud_uri} → {st.lab.lab_dir}")


def write_vm_ledger(lab: Any, path: Path, per_bureau: int | None) -> list[str]:
    """Write the demo's VM ledger: per bureau, one system owning (some of) the bureau
    hypervisor's VMs, by hostname (= domain name, which the hypervisor inventory merges on).
    Returns the system names. The lab's own ledgers list only its sshd hosts."""
    import csv

    names = {b["id"]: b["name"] for b in lab.bureaus}
    systems = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(VM_LEDGER_HEADER)
        for hv in sorted(lab.hypervisors, key=lambda h: h.bureau):
            bureau = names[hv.bureau]
            system = VM_SYSTEM.format(bureau=bureau)
            domains = sorted(d.name for d in hv.domains)
            if per_bureau is not None:  # rotate so the bureaus together show more formats
                k = len(systems) * per_bureau % max(1, len(domains))
                domains = (domains[k:] + domains[:k])[:per_bureau]
            for dom in domains:
                w.writerow((bureau, system, dom, *VM_SIZE, "政务外网", "演示"))
            systems.append(system)
    return systems


def stage_lab_import(st: DemoState) -> str:
    """Import the lab's ledgers and the demo's VM ledger into a fresh estate (one import)."""
    from shangyun.cli import main

    if st.estate_dir.is_symlink() or st.estate_dir.is_file():
        raise ShangyunError(f"{st.estate_dir}: expected a folder (or nothing) for the estate")
    if st.estate_dir.exists():
        shutil.rmtree(st.estate_dir)  # does not follow the .shangyun link
    vm_ledger = st.out / "ledgers" / "虚拟机台账.csv"
    st.results["vm_systems"] = write_vm_ledger(st.lab, vm_ledger,
                                               QUICK_VMS if st.quick else None)
    files = [str(f) for f in st.lab.ledgers] + [str(vm_ledger)]
    data = _cli_json(main, ["inventory", "import", *files, "--estate", str(st.estate_dir),
                            "--no-progress", "--json"], "inventory import")
    counts = Estate.load(st.estate_dir, check=True).summary()["counts"]
    st.results["import"] = counts
    _link_dashboard_state(st)
    return (f"{len(files)} ledgers → {st.estate_dir}: {counts['bureaus']} bureaus, "
            f"{counts['systems']} systems, {counts['hosts']} hosts "
            f"({len(data.get('conflicts') or [])} conflicts)")


def _link_dashboard_state(st: DemoState) -> None:
    """``<estate>/.shangyun`` → ``<out>/.shangyun``: the dashboard server's state lives
    outside the estate (which every run imports afresh), but commands given ``--estate``
    (``status``, ``runbook --publish``, ``server stop``) find it there."""
    link, target = st.estate_dir / KEEP, st.out / KEEP
    target.mkdir(exist_ok=True)
    if not link.exists() and not link.is_symlink():
        link.symlink_to(target, target_is_directory=True)


KEEP = ".shangyun"


def stage_discover(st: DemoState) -> str:
    """Discover every host over SSH and every bureau hypervisor over libvirt, and merge."""
    from shangyun.cli import main

    est = Estate.load(st.estate_dir, check=False)
    ids = {r["name"]: r["id"] for r in est.rows("bureaus")}
    names = {b["id"]: b["name"] for b in st.lab.bureaus}
    args = ["discover", "--estate", str(st.estate_dir), "--key", str(st.lab.client_key),
            "--known-hosts", str(st.lab.known_hosts), "--user", st.lab.user, "--json"]
    for hv in st.lab.hypervisors:
        args += ["--hypervisor", f"{ids[names[hv.bureau]]}={hv.uri}"]
    data = _cli_json(main, args, "discover")
    st.results["discover"] = data
    est = Estate.load(st.estate_dir, check=False)
    vms = sum(1 for h in est.rows("hosts") if h.get("hypervisor"))
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(data["counts"].items()))
    a = data["applied"]
    t = Table("host", "address", "status", "s", title="discovery")
    for h in data["hosts"]:
        colour = "green" if h["status"] == "ok" else "red"
        t.add_row(h["host_id"], h["address"], f"[{colour}]{h['status']}[/]", f"{h['seconds']}")
    console.print(t)
    if data["counts"].get("ok", 0) != data["total"]:
        raise ShangyunError(f"discovery: not every host answered ({statuses})")
    return (f"{data['total']} hosts over SSH ({statuses}) in {data['seconds']} s; "
            f"{vms} VMs from {len(st.lab.hypervisors)} hypervisors "
            f"({a['hosts_added']} not in any ledger), "
            f"{a['disks']} disks, {a['databases']} databases, "
            f"{a['observed_dependencies']} observed dependencies; {a['conflicts']} conflicts "
            "(ledger vs discovered: `shangyun inventory conflicts`)")


def stage_assess(st: DemoState) -> str:
    """Assess readiness, right-size and cost."""
    from shangyun.cli import main

    code, out, err = _run_cli(main, ["assess", "--estate", str(st.estate_dir)])
    console.print(out.rstrip(), markup=False, highlight=False)
    if code != 0:
        raise ShangyunError(f"assess failed (exit {code}): {err.strip()}")
    return f"written to {st.estate_dir / 'assessment'}"


def stage_plan(st: DemoState) -> str:
    """Plan move groups and waves: the systems on the bureau hypervisors are the pilot."""
    from shangyun.cli import main

    est = Estate.load(st.estate_dir, check=False)
    vm_names = set(st.results["vm_systems"])
    args = ["plan", "--estate", str(st.estate_dir)]
    for r in est.rows("systems"):
        # Lab sshd hosts are namespaces of this machine: their discovered disk is the
        # machine's own /dev/vda, which no wave should copy; they wait in wave 2.
        args += ["--pin", f"{r['id']}={1 if r['name'] in vm_names else 2}"]
    code, out, err = _run_cli(main, args)
    console.print(out.rstrip(), markup=False, highlight=False)
    if code != 0:
        raise ShangyunError(f"plan failed (exit {code}): {err.strip()}")
    import pandas as pd

    groups = pd.read_csv(st.estate_dir / "plan" / "move_groups.csv", dtype=str,
                         encoding="utf-8-sig")
    waves = sorted({int(w) for w in groups["wave"]})
    st.results["plan"] = {"waves": waves, "move_groups": len(groups)}
    return (f"{len(waves)} waves, {len(groups)} move groups; wave 1 (pilot) = the "
            f"{len(vm_names)} VM systems; the sshd-host systems wait in wave 2")


def stage_dashboard(st: DemoState) -> str:
    """Start the persistent Prefect server (the dashboard) and point the wave run at it."""
    if "server" not in _top_commands():
        raise StageSkipped("'shangyun server' is not part of this build: the wave runs on "
                           "an ephemeral Prefect server (no dashboard)")
    from connectors.prefect_server import default_state_dir, free_port, start, status

    state_dir = default_state_dir(st.out)
    current = status(state_dir)
    port = current.port if current is not None else free_port()
    info = start(state_dir, port=port)
    st.api_url = info.api_url
    st.results["dashboard"] = info.ui_url
    return f"dashboard {info.ui_url} (pid {info.pid}, {info.database}, log {info.log})"


def stage_wave(st: DemoState) -> str:
    """Run wave 1 onto the lab's libvirt cloud through the lab's S3 object store."""
    import os
    import subprocess
    import sys
    import tempfile
    import xml.etree.ElementTree as ET

    endpoint, bucket = _object_store(st)
    st.results["s3"] = {"endpoint": endpoint, "bucket": bucket}
    cutover = _prepare_cutover(st, endpoint)
    pool_el = ET.parse(st.lab.cloud_node_xml).getroot().find("pool/name")
    pool = pool_el.text if pool_el is not None and pool_el.text else "cloud-pool"
    env = {**os.environ, **S3_ENV, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if st.api_url:
        env["PREFECT_API_URL"] = st.api_url
    else:
        env.pop("PREFECT_API_URL", None)
        env.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="shangyun-demo-prefect-"))
    cmd = [sys.executable, "-c", "from shangyun.cli import main; main()", "wave", "run", "1",
           "--estate", str(st.estate_dir), "--target", "libvirt",
           "--target-uri", st.lab.cloud_uri, "--pool", pool, "--s3-endpoint", endpoint,
           "--bucket", bucket, "--json"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        console.print(proc.stderr[-3000:], markup=False)
        raise ShangyunError(f"wave run 1 printed no result (exit {proc.returncode})") from None
    st.results["wave"] = data
    _wave_table(data)
    states = _system_states(data)
    failing = st.results.get("fail_health_system")
    if failing:  # the rollback is the point: that system rolled back, the others done
        others = {k: v for k, v in states.items() if k != failing}
        if states.get(failing) != "rolled_back" or set(others.values()) - {"done"}:
            console.print(proc.stderr[-2000:], markup=False)
            raise ShangyunError(f"wave 1 with a failing health check on {failing}: expected it "
                                f"rolled back and the others done, got {states}")
        _check_dns_restored(st)
        undone = _check_all_undone(st, failing)
        name = st.results.get("fail_health_name") or failing
        return (f"wave 1 {data.get('state')}: {_wave_counts(data)} — {name}'s health check "
                f"failed and it was rolled back cleanly (DNS restored; all {undone} of its "
                "journaled steps undone, newest first)")
    if proc.returncode != 0 or data.get("state") != "done":
        console.print(proc.stderr[-2000:], markup=False)
        raise ShangyunError(f"wave 1 ended {data.get('state')!r} (exit {proc.returncode})")
    what = "with cutover (DNS switched, health checked)" if cutover else "part 1 only"
    return f"wave 1 {data.get('state')} ({what}): {_wave_counts(data)}"


DNS_ZONE = "demo.gov.cn"
AUTO = "auto"  # --fail-health default: the last system of wave 1
CLOUD_NET = "172.30"  # the lab cloud's network (cloud-vpc)


def _system_states(data: dict[str, Any]) -> dict[str, str]:
    systems = data.get("systems") or []
    if isinstance(systems, dict):
        return {str(k): str(v.get("state") if isinstance(v, dict) else v)
                for k, v in systems.items()}
    return {str(s.get("id")): str(s.get("state")) for s in systems if isinstance(s, dict)}


def cutover_spec(st: DemoState, systems: list[dict[str, Any]], dns_endpoint: str,
                 fail: str | None) -> dict[str, Any]:
    """The cutover file for wave 1's systems: per system a DNS name (switched from the
    bureau's app server to the cloud) and an HTTP health check of the bureau's lab app
    service; the system ``fail`` (id) gets a check of a port where nothing listens."""
    est = Estate.load(st.estate_dir, check=False)
    bureau_names = {r["id"]: r["name"] for r in est.rows("bureaus")}
    lab_bureaus = {b["name"]: b["id"] for b in st.lab.bureaus}
    out: dict[str, Any] = {}
    for n, sysw in enumerate(systems, start=1):
        lab_bureau = lab_bureaus[bureau_names[sysw["bureau"]]]
        app = next(h for h in st.lab.hosts if h.bureau == lab_bureau and h.role == "app")
        port = 1 if sysw["id"] == fail else 8080  # port 1: refused
        db = next((h for h in st.lab.hosts if h.bureau == lab_bureau and h.database), None)
        out[sysw["id"]] = {
            "freeze": True,
            "databases": [] if db is None else [{
                "id": db.database.name, "engine": db.database.engine,
                "source": {"host": db.ip, "port": db.database.port, "user": db.database.user,
                           "dbname": db.database.name},
                "target": {"host": "127.0.0.1", **LOCAL_DB[db.database.engine],
                           "dbname": target_dbname(st.lab, lab_bureau, db.database.name)}}],
            "dns": {"endpoint": dns_endpoint, "zone": DNS_ZONE,
                    "records": [{"name": _dns_name(lab_bureau), "type": "A",
                                 "values": [f"{CLOUD_NET}.{n}.10"], "ttl": 60}]},
            "health": [{"kind": "http", "url": f"http://{app.ip}:{port}/health",
                        "expect_body": "shangyun lab service", "attempts": 2,
                        "backoff": 0.2, "timeout": 3}],
        }
    return {"schema_version": 1, "soak_hours": 72, "systems": out}


#: The cloud's database servers in the demo: this machine's PostgreSQL and MariaDB.
LOCAL_DB = {"postgresql": {"port": 5432, "user": "postgres"},
            "mariadb": {"port": 3306, "user": "root"}}
DB_PREFIX = "shangyun_demo_"


def target_dbname(lab: Any, lab_bureau: str, name: str) -> str:
    """The cloud-side copy of a lab database: unique per lab (its tag) and bureau."""
    return f"{DB_PREFIX}{lab.tag}_{lab_bureau.lower()}_{name}"[:63]


def drop_demo_databases(lab: Any) -> list[str]:
    """Drop the cloud-side copies the demo made for ``lab`` (what a cut-over system keeps
    until the wave is finalized); returns the names dropped."""
    from connectors.database import mariadb, postgres
    from connectors.database.common import DbEndpoint

    dropped = []
    for h in lab.hosts:
        if not h.database:
            continue
        engine = h.database.engine
        ep = DbEndpoint(host="127.0.0.1", **LOCAL_DB[engine],
                        dbname=target_dbname(lab, h.bureau, h.database.name))
        mod = postgres if engine == "postgresql" else mariadb
        if mod.drop_database(ep):
            dropped.append(ep.dbname)
    return dropped


def _dns_name(lab_bureau: str) -> str:
    return f"{lab_bureau.lower()}-vm.{DNS_ZONE}"


def _prepare_cutover(st: DemoState, endpoint: str) -> bool:
    """Write ``plan/cutover.yaml`` for wave 1 if the wave run carries out cutover steps in
    this build (asked by a dry run); otherwise say so loudly and run part 1 only."""
    import os

    import yaml

    from shangyun.cli import main

    path = st.estate_dir / "plan" / "cutover.yaml"
    dry = _cli_json(main, ["wave", "run", "1", "--estate", str(st.estate_dir), "--dry-run",
                           "--json"], "wave run --dry-run")
    systems = dry["systems"]
    fail = None
    choice = (st.fail_health or "none").strip()
    if choice == AUTO:
        fail = systems[-1]["id"]
    elif choice != "none":
        match = [s for s in systems if choice in (s["id"], s["name"])]
        if not match:
            raise ShangyunError(f"--fail-health {st.fail_health!r}: not a system of wave 1 "
                                f"(one of: {', '.join(s['name'] for s in systems)})")
        fail = match[0]["id"]
    spec = cutover_spec(st, systems, endpoint, fail)
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    if not cutover_in_wave_run(st.estate_dir):
        path.unlink()
        console.print("[bold yellow]NOTE[/]: cutover (final data copy, DNS switch, health "
                      "checks, rollback of traffic) is not carried out by this build's "
                      "'shangyun wave run': wave 1 runs part 1 only (pre-check → convert → "
                      "upload → import → test launch)")
        if fail and choice != AUTO:
            raise ShangyunError("--fail-health: this build's wave run has no health checks "
                                "yet, so there is nothing to fail")
        return False
    from connectors.dns import DnsRecord, Route53Dns

    os.environ.update({k: v for k, v in S3_ENV.items() if k not in os.environ})
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
    """Whether ``shangyun wave run 1`` carries out the health-checked cutover of the estate's
    ``plan/cutover.yaml``: its dry run lists ``health`` steps, or the wave flow adds the
    cutover's extra steps (``flows.wave.extra_steps``) and they include ``health``."""
    from shangyun.cli import main

    dry = _cli_json(main, ["wave", "run", "1", "--estate", str(estate_dir), "--dry-run",
                           "--json"], "wave run --dry-run")
    if any(step["kind"] == "health" for s in dry["systems"] for step in s["steps"]):
        return True
    try:
        import flows.wave as wave_flow
    except ImportError:
        return False
    extra = getattr(wave_flow, "extra_steps", None)
    if extra is None:
        return False
    from shangyun.wave.plan import load_wave

    work = load_wave(estate_dir, 1)
    return any(step.kind == "health" for s in work.systems for step in extra(work, s))


def _check_all_undone(st: DemoState, system_id: str) -> int:
    """Every journaled step of ``system_id`` in wave 1 is ``undone``; returns how many."""
    from shangyun.wave.journal_port import open_journal

    with open_journal(st.estate_dir) as j:
        recs = j.records(1, system_id)
    left = [f"{r.key} ({r.status})" for r in recs if r.status != "undone"]
    if not recs or left:
        raise ShangyunError(f"rollback of {system_id} is not clean: "
                            f"{', '.join(left) or 'no journal records'}")
    return len(recs)


def _check_dns_restored(st: DemoState) -> None:
    from connectors.dns import Route53Dns

    fail = st.results["fail_health_system"]
    old = st.results["dns_before"][fail]
    with Route53Dns(st.results["s3"]["endpoint"]) as dns:
        now = dns.get(dns.zone_id(DNS_ZONE), old.name, "A")
    if now != old:
        raise ShangyunError(f"rollback of {fail}: DNS {old.name} is {now}, expected {old}")


S3_ENV = {"AWS_ACCESS_KEY_ID": "shangyun-demo", "AWS_SECRET_ACCESS_KEY": "shangyun-demo",
          "AWS_DEFAULT_REGION": "us-east-1"}  # moto accepts any; not a secret


def _object_store(st: DemoState) -> tuple[str, str]:
    """The lab's S3 endpoint (``LabState.s3_endpoint``, moto on 127.0.0.1) and a staging
    bucket; a lab without one gets moto started here, for this run only."""
    import logging

    import boto3
    from botocore.config import Config

    endpoint = getattr(st.lab, "s3_endpoint", "") or ""
    if not endpoint:
        from moto.server import ThreadedMotoServer

        from connectors.prefect_server import free_port

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on the console
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        st.s3 = server
        endpoint = f"http://127.0.0.1:{port}"
        console.print("[yellow]note[/]: this lab has no object store; moto started for this run")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=S3_ENV["AWS_DEFAULT_REGION"],
                      aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
                      config=Config(request_checksum_calculation="when_required",
                                    response_checksum_validation="when_required"))
    bucket = "shangyun-demo-staging"
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    console.print(f"object store: S3 at {endpoint}, bucket {bucket}")
    return endpoint, bucket


def _wave_counts(data: dict[str, Any]) -> str:
    systems = data.get("systems") or {}
    states = Counter(str(v.get("state") if isinstance(v, dict) else v)
                     for v in (systems.values() if isinstance(systems, dict) else systems))
    return ", ".join(f"{n} system(s) {s}" for s, n in sorted(states.items())) or "no systems"


def _wave_table(data: dict[str, Any]) -> None:
    systems = data.get("systems") or {}
    t = Table("system", "state", title="wave 1")
    items = systems.items() if isinstance(systems, dict) else enumerate(systems)
    for key, v in items:
        state = v.get("state") if isinstance(v, dict) else v
        name = v.get("name", key) if isinstance(v, dict) else key
        t.add_row(str(name), str(state))
    console.print(t)


def stage_documents(st: DemoState) -> str:
    """Write the wave-1 runbook (zh and en, html and md) and the estate report."""
    from shangyun.cli import main

    top = _top_commands()
    if "runbook" not in top:
        raise StageSkipped("'shangyun runbook' is not part of this build")
    written = []
    for lang in ("zh", "en"):
        for fmt in ("html", "md"):
            publish = ["--publish"] if st.api_url and fmt == "md" else []
            data = _cli_json(main, ["runbook", "1", "--estate", str(st.estate_dir),
                                    "--format", fmt, "--lang", lang, *publish, "--json"],
                             "runbook")
            written.append(_written_path(data))
    if "report" in top:
        for lang in ("zh", "en"):
            out = st.estate_dir / "runbooks" / f"report.{lang}.html"
            publish = ["--publish"] if st.api_url else []
            code, _, err = _run_cli(main, ["report", "--estate", str(st.estate_dir),
                                           "--lang", lang, "--out", str(out), *publish])
            if code != 0:
                raise ShangyunError(f"report failed (exit {code}): {err.strip()}")
            written.append(str(out))
    else:
        console.print("[bold yellow]SKIPPED[/]: the estate report ('shangyun report' is not "
                      "part of this build)")
        st.notes.append("runbooks: the estate report skipped ('shangyun report' missing)")
    st.results["documents"] = written
    missing = [w for w in written if not Path(w).is_file()]
    if missing:
        raise ShangyunError(f"documents not written: {', '.join(missing)}")
    return f"{len(written)} files in {st.estate_dir / 'runbooks'}"


def _written_path(data: dict[str, Any]) -> str:
    for key in ("path", "out", "file", "written"):
        if isinstance(data.get(key), str):
            return str(data[key])
    raise ShangyunError(f"runbook --json named no file: {sorted(data)}")


def stage_where(st: DemoState) -> str:
    """Say where to look."""
    from shangyun.cli import main

    if "status" in _top_commands():
        _, out, _ = _run_cli(main, ["status", "--estate", str(st.estate_dir)])
        console.print(out.rstrip(), markup=False, highlight=False)
    lines = [f"estate:     {st.estate_dir}  (CSV tables, open them in Excel)",
             f"plan:       {st.estate_dir / 'plan'}",
             f"runbooks:   {st.estate_dir / 'runbooks'}",
             f"status:     .venv/bin/shangyun status --estate {st.estate_dir}",
             f"lab:        {st.lab.lab_dir if st.lab else st.lab_dir}  "
             "(stop it with: .venv/bin/shangyun lab down"
             + (f" --dir {st.lab_dir})" if st.lab_dir else ")")]
    if st.results.get("dashboard"):
        lines.insert(3, f"dashboard:  {st.results['dashboard']}  (stop: .venv/bin/shangyun "
                        f"server stop --estate {st.estate_dir})")
    for line in lines:
        console.print(f"  {line}")
    return "see above"


LAB_STAGES: tuple[tuple[str, Callable[[DemoState], str]], ...] = (
    ("lab up", stage_lab),
    ("import", stage_lab_import),
    ("discover", stage_discover),
    ("assess", stage_assess),
    ("plan", stage_plan),
    ("dashboard", stage_dashboard),
    ("wave 1", stage_wave),
    ("runbooks", stage_documents),
    ("where to look", stage_where),
)


# ---------------------------------------------------------------------------- running
def run_stages(st: DemoState, stages: tuple[tuple[str, Callable[[DemoState], str]], ...]
               ) -> DemoState:
    """Run ``stages`` in order, timing each; a failed stage stops the ones after it."""
    st.out.mkdir(parents=True, exist_ok=True)
    try:
        for number, (name, fn) in enumerate(stages, start=1):
            console.rule(f"[bold]{number}. {name}[/] — {(fn.__doc__ or '').strip()}")
            started = time.perf_counter()
            try:
                result = fn(st)
            except StageSkipped as exc:
                console.print(f"[bold yellow]SKIPPED[/]: {exc}")
                st.notes.append(f"{name}: skipped ({exc})")
                continue
            except ShangyunError as exc:
                console.print(f"[bold red]failed[/]: {exc}")
                st.notes.append(f"{name}: failed ({exc})")
                st.failed = True
                break
            except Exception as exc:  # a bug in a piece the stage calls: show it, stop
                console.print_exception(max_frames=4)
                console.print(f"[bold red]failed[/] with an unexpected {type(exc).__name__}")
                st.notes.append(f"{name}: failed (unexpected {type(exc).__name__}: {exc})")
                st.failed = True
                break
            seconds = time.perf_counter() - started
            st.results.setdefault("seconds", {})[name] = round(seconds, 1)
            console.print(f"[green]done[/] in {seconds:.1f} s: {result}")
    finally:
        if st.s3 is not None:
            st.s3.stop()
            st.s3 = None
    return st


def run(out: Path, bureaus: int = 35, systems: int = 120, seed: int = 0) -> DemoState:
    """The sample path: generate, import, validate, summarise, compare."""
    st = DemoState(out=out.resolve(), bureaus=bureaus, systems=systems, seed=seed)
    return run_stages(st, SAMPLE_STAGES)


def run_lab(out: Path, bureaus: int = 2, *, lab_dir: Path | None = None, quick: bool = False,
            fail_health: str | None = None) -> DemoState:
    """The full pipeline on the lab (see the module's docstring)."""
    st = DemoState(out=out.resolve(), bureaus=bureaus, systems=0, seed=0,
                   lab_dir=lab_dir.resolve() if lab_dir else None, quick=quick,
                   fail_health=fail_health)
    return run_stages(st, LAB_STAGES)


def _top_commands() -> list[str]:
    from shangyun.cli import COMMANDS

    return list(COMMANDS)


def _cli_json(main: click.Command, args: list[str], what: str) -> dict[str, Any]:
    code, out, err = _run_cli(main, args)
    if code != 0:
        console.print(err.strip()[-3000:], markup=False)
        raise ShangyunError(f"{what} failed (exit {code})")
    start = out.find("\n{") + 1 if not out.startswith("{") else 0
    for line in out[:start].splitlines():  # e.g. runbook --publish says where it went
        console.print(f"  {line}", markup=False)
    try:
        data = json.loads(out[start:])
    except ValueError as exc:
        raise ShangyunError(f"{what}: --json printed no JSON") from exc
    return data if isinstance(data, dict) else {"items": data}


def _inventory_commands() -> list[str]:
    from shangyun.cli.inventory import inventory

    return inventory.list_commands(click.Context(inventory))


def _run_cli(main: click.Command, args: list[str]) -> tuple[int, str, str]:
    """Run a ``shangyun`` command in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main.main(args=args, prog_name="shangyun", standalone_mode=False)
        except SystemExit as exc:
            code = int(exc.code or 0)
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
    return code, out.getvalue(), err.getvalue()


@click.command()
@click.option("--out", default=str(DEFAULT_OUT), show_default=True,
              type=click.Path(file_okay=False), help="Work folder of the demo.")
@click.option("--bureaus", default=None, type=click.IntRange(1, 254),
              help="Bureaus of the lab (default 2) or, with --sample, of the sample (35).")
@click.option("--lab-dir", default=None, type=click.Path(file_okay=False),
              envvar="SHANGYUN_LAB", help="The lab's folder (default: .lab/).")
@click.option("--quick", is_flag=True,
              help="The shortened form for CI: fewest hosts and VMs, still every stage.")
@click.option("--keep-lab/--lab-down", default=True, show_default=True,
              help="Leave the lab up afterwards so people can look ('shangyun lab down').")
@click.option("--fail-health", default=AUTO, show_default=True, metavar="SYSTEM|auto|none",
              help="Make this wave-1 system's health check fail after cutover, to show a clean "
              "rollback ('auto': the last system of wave 1; 'none': every check passes).")
@click.option("--sample", is_flag=True,
              help="Run the lab-free path: generate the sample, import, validate, compare.")
@click.option("--systems", default=120, show_default=True, type=click.IntRange(10),
              help="Systems of the sample (--sample).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0),
              help="Seed of the sample (--sample).")
def cli(out: str, bureaus: int | None, lab_dir: str | None, quick: bool, keep_lab: bool,
        fail_health: str | None, sample: bool, systems: int, seed: int) -> None:
    """Run the main job: the full pipeline on the lab (or, with --sample, the sample path)."""
    if sample:
        st = run(Path(out), bureaus=bureaus or 35, systems=systems, seed=seed)
    else:
        st = run_lab(Path(out), bureaus=bureaus or 2, lab_dir=Path(lab_dir) if lab_dir else None,
                     quick=quick, fail_health=fail_health)
        if not keep_lab:
            import lab

            if st.lab is not None:
                dropped = drop_demo_databases(st.lab)
                console.print(f"dropped the demo's database copies: {', '.join(dropped) or '-'}")
            lab.down(st.lab_dir)
            console.print("lab down")
    console.rule("[bold]result")
    for name, seconds in (st.results.get("seconds") or {}).items():
        console.print(f"  {name:<14} {seconds:>6.1f} s")
    for note in st.notes:
        console.print(f"• {note}")
    console.print("[bold red]demo failed[/]" if st.failed else "[bold green]demo finished[/]")
    raise SystemExit(1 if st.failed else 0)


def main(argv: list[str] | None = None) -> Any:
    """Entry point of ``python -m shangyun.demo``."""
    return cli.main(args=argv, prog_name="shangyun.demo")


if __name__ == "__main__":
    main()
