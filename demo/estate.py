"""The lab stages that build the estate: lab up, import, discover, assess, plan. Each calls
the library functions the matching ``shangyun`` command calls."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from rich.markup import escape
from rich.table import Table

import lab
from connectors.grid import read_grids
from connectors.hypervisor import list_domains
from connectors.ssh import discovery_pool
from demo.state import DemoState, console
from lab import LabState
from lab.guests import cached_image, ensure_guest_image
from shangyun.assess import assess, load_catalog, write_assessment
from shangyun.cli.bars import phase_bar
from shangyun.discovery.engine import run_discovery
from shangyun.discovery.hypervisors import inventory_rows
from shangyun.discovery.model import Defaults, SSHOptions
from shangyun.errors import ShangyunError
from shangyun.estate import Estate, datastores
from shangyun.estate.lock import estate_lock
from shangyun.estate.names import label, names_of, readable
from shangyun.ledgers.importer import import_ledgers
from shangyun.planner import PlanOptions, make_plan, next_monday, write_plan

#: The VMs of each bureau hypervisor that the demo's VM ledger gives to a system (--quick).
QUICK_VMS = 2
VM_SYSTEM = "{bureau}虚拟化业务系统"
VM_LEDGER_HEADER = ("单位", "系统名称", "主机名", "CPU(核)", "内存(GB)", "网络区域", "负责人")
#: The size the VM ledger declares for each VM. The lab cloud is libvirt's test driver, whose
#: node has only a few GiB of memory for the test launches; the hypervisors report more, and
#: that difference is listed as a conflict (the ledger's value is kept).
VM_SIZE = (1, 0.25)
#: ``<estate>/.shangyun``: where commands given ``--estate`` find the dashboard's state.
KEEP = ".shangyun"


def stage_lab(st: DemoState) -> str:
    """Bring the lab up (a running lab is reused)."""
    if st.guest and cached_image() is None:  # its first use: a bar while it is built
        with phase_bar(console, "legacy guest image (first use, ~6 min)") as told:
            ensure_guest_image(progress=told)
    console.print("starting what is not running: sshd hosts, their databases, the bureau "
                  "hypervisors, the cloud, the object store"
                  + ("; then the real legacy guest boots under QEMU/TCG (about a minute, up "
                     "to 5 on a busy machine)" if st.guest else ""))
    with console.status("lab up …"):
        st.lab = lab.up(st.lab_dir, bureaus=st.bureaus, guests=1 if st.guest else 0)
    health = lab.status(st.lab_dir)
    st.results["lab"] = {"up": health["up"], "total": health["total"]}
    if health["up"] != health["total"]:
        raise ShangyunError(f"lab: only {health['up']} of {health['total']} hosts are up")
    guest = "".join(f"; real guest {g.hostname} ({g.ip}, e1000/SATA, QEMU) running"
                    for g in st.lab.guests)
    return (f"{len(st.lab.hosts)} hosts in {len(st.lab.bureaus)} bureaus ({st.lab.mode}), "
            f"{len(st.lab.hypervisors)} hypervisors, {len(st.lab.images)} disk images, "
            f"cloud {st.lab.cloud_uri} → {st.lab.lab_dir}{guest}")


def write_vm_ledger(state: LabState, path: Path, per_bureau: int | None) -> list[str]:
    """Write the demo's VM ledger: per bureau, one system owning (some of) the bureau
    hypervisor's VMs, by hostname (= domain name, which the hypervisor inventory merges on).
    Returns the system names. The lab's own ledgers list only its sshd hosts."""
    names = {b["id"]: b["name"] for b in state.bureaus}
    guests = {g.domain for g in state.guests}  # in the lab's own ledger, with their system
    systems: list[str] = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(VM_LEDGER_HEADER)
        for hv in sorted(state.hypervisors, key=lambda h: h.bureau):
            bureau = names[hv.bureau]
            system = VM_SYSTEM.format(bureau=bureau)
            domains = sorted(d.name for d in hv.domains if d.name not in guests)
            if not domains:
                continue
            if per_bureau is not None:  # rotate so the bureaus together show more formats
                k = len(systems) * per_bureau % max(1, len(domains))
                domains = (domains[k:] + domains[:k])[:per_bureau]
            for dom in domains:
                w.writerow((bureau, system, dom, *VM_SIZE, "政务外网", "演示"))
            systems.append(system)
    return systems


def stage_lab_import(st: DemoState) -> str:
    """Import the lab's ledgers and the demo's VM ledger into a fresh estate (one import)."""
    state = st.the_lab
    if st.estate_dir.is_symlink() or st.estate_dir.is_file():
        raise ShangyunError(f"{st.estate_dir}: expected a folder (or nothing) for the estate")
    if st.estate_dir.exists():
        shutil.rmtree(st.estate_dir)  # does not follow the .shangyun link
    vm_ledger = st.out / "ledgers" / "虚拟机台账.csv"
    st.results["vm_systems"] = write_vm_ledger(state, vm_ledger,
                                               QUICK_VMS if st.quick else None)
    files = [*state.ledgers, vm_ledger]
    report = import_ledgers(files, st.estate_dir, reader=read_grids)
    counts = Estate.load(st.estate_dir, check=True).summary()["counts"]
    st.results["import"] = counts
    _link_dashboard_state(st)
    return (f"{len(files)} ledgers → {st.estate_dir}: {counts['bureaus']} bureaus, "
            f"{counts['systems']} systems, {counts['hosts']} hosts "
            f"({len(report.conflicts or [])} conflicts)")


def _link_dashboard_state(st: DemoState) -> None:
    """``<estate>/.shangyun`` → ``<out>/.shangyun``: the dashboard server's state lives
    outside the estate (which every run imports afresh), but commands given ``--estate``
    (``status``, ``runbook --publish``, ``server stop``) find it there."""
    link, target = st.estate_dir / KEEP, st.out / KEEP
    target.mkdir(exist_ok=True)
    if not link.exists() and not link.is_symlink():
        link.symlink_to(target, target_is_directory=True)


def stage_discover(st: DemoState) -> str:
    """Discover every host over SSH and every bureau hypervisor over libvirt, and merge."""
    state = st.the_lab
    with estate_lock(st.estate_dir, "demo: datastore roots"):
        est = Estate.load(st.estate_dir, check=False)
        ids = {r["name"]: r["id"] for r in est.rows("bureaus")}
        names = {b["id"]: b["name"] for b in state.bureaus}
        # each bureau's images may be read from its own datastore folder only
        est.meta[datastores.KEY] = {ids[names[b]]: folders
                                    for b, folders in state.datastore_roots().items()}
        est.save(st.estate_dir)
    roots = Estate.load(st.estate_dir, check=False).datastore_roots(st.estate_dir)
    uris = [f"{ids[names[hv.bureau]]}={hv.uri}" for hv in state.hypervisors]
    options = SSHOptions(str(state.client_key), str(state.known_hosts),
                         Defaults(user=state.user))
    data = run_discovery(str(st.estate_dir), options, discovery_pool,
                         hypervisor_rows=inventory_rows(uris, list_domains, roots)).to_dict()
    st.results["discover"] = data
    if state.guests:
        _guest_disks_from_hypervisor(st)
    est = Estate.load(st.estate_dir, check=False)
    vms = sum(1 for h in est.rows("hosts") if h.get("hypervisor"))
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(data["counts"].items()))
    a = data["applied"]
    hostnames = names_of(est, "host")
    t = Table("host", "address", "status", "seconds", title="discovery")
    for h in data["hosts"]:
        colour = "green" if h["status"] == "ok" else "red"
        t.add_row(escape(label(h["host_id"], hostnames)), h["address"],
                  f"[{colour}]{escape(h['status'])}[/]", f"{h['seconds']}")
    console.print(t)
    if data["counts"].get("ok", 0) != data["total"]:
        raise ShangyunError(f"discovery: not every host answered ({statuses})")
    return (f"{data['total']} hosts over SSH ({statuses}) in {data['seconds']} s; "
            f"{vms} VMs from {len(state.hypervisors)} hypervisors "
            f"({a['hosts_added']} not in any ledger), "
            f"{a['disks']} disks, {a['databases']} databases, "
            f"{a['observed_dependencies']} observed dependencies; {a['conflicts']} conflicts "
            "(ledger vs discovered: `shangyun inventory conflicts`)")


def _guest_disks_from_hypervisor(st: DemoState) -> None:
    """The real guest is seen twice: over SSH (its block device ``/dev/sda``, a path inside
    the guest) and by its hypervisor (the disk image file). What moves is the image: drop
    the in-guest device rows of hosts whose hypervisor gave their disks."""
    est = Estate.load(st.estate_dir, check=False)
    disks = est.rows("disks")
    imaged = {d["host_id"] for d in disks if d.get("path") and
              not str(d["path"]).startswith("/dev/")}
    guests = {h["id"] for h in est.rows("hosts")
              if h.get("hostname") in {g.hostname for g in st.the_lab.guests}}
    keep = [d for d in disks if not (d["host_id"] in guests & imaged
                                     and str(d.get("path") or "").startswith("/dev/"))]
    if len(keep) != len(disks):
        est.set_rows("disks", keep)
        est.save(st.estate_dir)


def stage_assess(st: DemoState) -> str:
    """Assess readiness, right-size and cost."""
    result = assess(Estate.load(st.estate_dir, check=True), load_catalog())
    path = write_assessment(result, st.estate_dir)
    s = result.summary
    c = s["systems"]
    before, after = s["before"], s["after"]
    saving = "" if s["saving_pct"] is None else f"; monthly cost {-s['saving_pct']:+.1f} %"
    return (f"systems: {c['ready']} ready, {c['conditional']} conditional, "
            f"{c['not ready']} not ready, {c['excluded']} excluded; servers "
            f"{before['physical_servers']} → {after['physical_servers']}{saving} "
            f"— written to {path}")


def stage_plan(st: DemoState) -> str:
    """Plan move groups and waves: the systems on the bureau hypervisors are the pilot."""
    est = Estate.load(st.estate_dir, check=True)
    vm_names = set(st.results["vm_systems"])
    vm_names |= {s["name"] for g in st.the_lab.guests for s in st.the_lab.systems
                 if s["id"] == g.system}  # the real guest moves in wave 1 too
    # Lab sshd hosts are namespaces of this machine: their discovered disk is the machine's
    # own /dev/vda, which no wave should copy; they wait in wave 2.
    pins = {r["id"]: 1 if r["name"] in vm_names else 2 for r in est.rows("systems")}
    plan = make_plan(est, PlanOptions(start=next_monday(), pins=pins))
    path = write_plan(plan, st.estate_dir)
    bureau_names = names_of(est, "bureau")
    t = Table("wave", "start", "systems", "hosts", "bureaus", title="waves")
    for w in plan.waves:
        t.add_row(str(w["number"]) + (" (pilot)" if w["pilot"] else ""), w["start"],
                  str(len(w["systems"])), str(w["hosts"]),
                  escape(", ".join(readable(b, bureau_names) for b in w["bureaus"])))
    console.print(t)
    waves = sorted({int(g["wave"]) for g in plan.move_groups})
    st.results["plan"] = {"waves": waves, "move_groups": len(plan.move_groups)}
    return (f"{len(waves)} waves, {len(plan.move_groups)} move groups; wave 1 (pilot) = the "
            f"{len(vm_names)} VM systems; the sshd-host systems wait in wave 2 → {path}")
