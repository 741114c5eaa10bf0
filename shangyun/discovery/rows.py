"""Facts → estate rows: one ``hosts`` row and its ``disks`` rows per discovered host
(:func:`discovered_rows` for a whole run's results).

Sizes are GiB (2**30 bytes), rounded to 2 decimals, like the hypervisor connector's.
"""

from __future__ import annotations

from typing import Any

from shangyun.discovery.model import HostResult
from shangyun.facts.network import primary_ip_mac

GIB = 2**30
_NOT_DISKS = ("zram", "loop", "ram", "sr", "fd")


def _gib(n_bytes: float) -> float:
    return round(n_bytes / GIB, 2)


def _multipath(facts: dict[str, Any]) -> dict[str, str]:
    """Each path of a multipath device (a SAN LUN seen through two HBAs: ``sdb`` and
    ``sdc`` under ``mpatha``) → that device's name."""
    return {d["disk"]: d["name"] for d in facts.get("block", []) if d["type"] == "mpath"}


def real_disks(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The host's physical/virtual disks from the ``block`` fact (no loop, zram, cd-rom),
    each with its ``path``: a LUN seen through several paths is one disk, its multipath
    device (``mpatha``, ``/dev/mapper/mpatha``), not one per path."""
    paths = _multipath(facts)
    out: list[dict[str, Any]] = []
    mpaths: set[str] = set()
    for d in facts.get("block", []):
        if d["size_bytes"] <= 0:
            continue
        if d["type"] == "disk" and d["name"] not in paths and \
                not d["name"].startswith(_NOT_DISKS):
            out.append({**d, "path": f"/dev/{d['name']}"})
        elif d["type"] == "mpath" and d["name"] not in mpaths:
            mpaths.add(d["name"])
            out.append({**d, "path": f"/dev/mapper/{d['name']}"})
    return out


def host_row(facts: dict[str, Any], *, host_id: str, bureau_id: str, ip: str = "",
             system_id: str = "", ssh_port: int | None = None) -> dict[str, Any]:
    """The estate ``hosts`` row these facts describe (only what discovery knows is filled)."""
    os_fact = facts.get("os", {})
    kernel = facts.get("kernel", {})
    cpu = facts.get("cpu", {})
    mem = facts.get("memory", {})
    util = facts.get("utilisation", {})
    virt = facts.get("virt", {})
    main_ip, mac = primary_ip_mac(facts.get("interfaces", []), prefer_ip=ip)
    kind = {"vm": "vm", "physical": "physical", "container": "container"}.get(
        virt.get("kind", ""), "")
    return {
        "id": host_id, "hostname": facts.get("hostname", "") or host_id,
        "ip": ip or main_ip, "mac": mac, "system_id": system_id, "bureau_id": bureau_id,
        "kind": kind, "power_state": "on", "os": os_fact.get("name", ""),
        "os_version": os_fact.get("version", ""), "arch": kernel.get("arch", ""),
        "firmware": facts.get("firmware", ""), "cpu_cores": cpu.get("cores") or None,
        "memory_gb": round(mem["total_kib"] / 2**20, 2) if mem.get("total_kib") else None,
        "disk_gb": round(sum(_gib(d["size_bytes"]) for d in real_disks(facts)), 2) or None,
        "cpu_util_pct": util.get("cpu_pct"), "mem_util_pct": util.get("mem_pct"),
        "ssh_port": ssh_port if ssh_port not in (None, 22) else None,
        "source": "discovery",
    }


def disk_rows(facts: dict[str, Any], host_id: str,
              shared: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The estate ``disks`` rows: size from the block devices, used from ``df`` of the
    filesystems living on each disk (its partitions and LVM volumes; a multipath LUN's
    through its device). A filesystem mounted twice (a bind mount: old ``df`` lists
    both) is counted once. A multipath device, or a disk whose WWID is in ``shared``
    (seen by another host), says which LUN it is: ``datastore`` ``lun:<wwid>``."""
    paths = _multipath(facts)
    by_name: dict[str, str] = {}
    for dev in facts.get("block", []):
        by_name.setdefault(dev["name"], paths.get(dev["disk"], dev["disk"]))
    used: dict[str, int] = {}
    counted: set[str] = set()
    for fs in facts.get("filesystems", []):
        if fs["pseudo"] or fs["device"] in counted:
            continue
        counted.add(fs["device"])
        base = fs["device"].rsplit("/", 1)[-1]
        disk = by_name.get(base)
        if disk:
            used[disk] = used.get(disk, 0) + int(fs["used_kib"]) * 1024
    rows = []
    for d in real_disks(facts):
        size = _gib(d["size_bytes"])
        row = {"id": f"{host_id}-{d['name']}", "host_id": host_id, "name": d["name"],
               "size_gb": size, "used_gb": min(size, _gib(used.get(d["name"], 0))),
               "path": d["path"]}
        if d.get("wwid") and (d["type"] == "mpath" or d["wwid"] in shared):
            row["datastore"] = f"lun:{d['wwid']}"
        rows.append(row)
    return rows


def shared_luns(results: list[HostResult], same: dict[str, str] | None = None
                ) -> dict[str, dict[str, Any]]:
    """The LUNs (by WWID) that more than one host of ``results`` sees (a cluster's shared
    disk): ``{wwid: {"size_gb": …, "hosts": {host id: device name}}}``. ``same`` maps a
    target's id to the host it turned out to be (one machine reached twice is one host)."""
    same = same or {}
    seen: dict[str, dict[str, Any]] = {}
    for r in results:
        if not r.ok:
            continue
        hid = same.get(r.target.host_id, r.target.host_id)
        for d in real_disks(r.facts):
            if d.get("wwid"):
                lun = seen.setdefault(d["wwid"], {"size_gb": _gib(d["size_bytes"]),
                                                  "hosts": {}})
                lun["hosts"].setdefault(hid, d["name"])
    return {w: lun for w, lun in seen.items() if len(lun["hosts"]) > 1}


def database_rows(facts: dict[str, Any], host_id: str, system_id: str) -> list[dict[str, Any]]:
    """Estate ``databases`` rows for running engines (needs the host's system)."""
    if not system_id:
        return []
    return [{"id": f"{host_id}-{e['engine']}", "system_id": system_id, "host_id": host_id,
             "engine": e["engine"], "version": e["version"]}
            for e in facts.get("databases", []) if e["running"]]


def discovered_rows(results: list[HostResult]) -> tuple[list[dict[str, Any]],
                                                        list[dict[str, Any]],
                                                        list[dict[str, Any]]]:
    """Hosts (every target, with its status), disks and databases rows from the results."""
    hosts, disks, dbs = [], [], []
    shared = frozenset(shared_luns(results))
    for r in results:
        t = r.target
        if r.ok:
            row = host_row(r.facts, host_id=t.host_id, bureau_id=t.bureau, ip=t.address,
                           system_id=t.system_id, ssh_port=t.port)
            disks += disk_rows(r.facts, t.host_id, shared)
            dbs += database_rows(r.facts, t.host_id, t.system_id)
        else:
            row = {"id": t.host_id, "hostname": t.hostname or t.address, "ip": t.address,
                   "bureau_id": t.bureau, "system_id": t.system_id}
        row["discovery_status"] = r.status
        row["discovered_at"] = r.at
        hosts.append(row)
    return hosts, disks, dbs
