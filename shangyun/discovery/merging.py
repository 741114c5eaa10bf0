"""Discovery results into the estate, through :func:`shangyun.estate.merge.merge`.

Hosts, disks and databases found go through the shared merge (matching ledger hosts by id,
MAC, IP or hostname; a value that differs from the ledger is listed as a conflict, never
overwritten). Measurements that change from run to run and belong to discovery — the
discovery status and time, CPU/memory utilisation and disk usage — are then set directly
(the latest run wins), so re-discovering does not pile up conflicts. Observed dependencies
of the hosts discovered are replaced and the system roll-up recomputed; declared ones stay,
and an observed row saying the same dependency as a declared one (same ends and port) is
merged into it through the same merge (blanks filled, a differing value a conflict).
"""

from __future__ import annotations

from typing import Any

from shangyun.discovery.dependencies import map_dependencies, meet_declared, merge_observed
from shangyun.discovery.jump import parse_jump
from shangyun.discovery.model import UNASSIGNED_BUREAU, Applied, HostResult
from shangyun.discovery.rows import discovered_rows, shared_luns
from shangyun.estate import Estate
from shangyun.estate.merge import host_key_name, merge, merge_rows
from shangyun.words import counted

SOURCE = "discovery"
_VOLATILE_HOST = ("discovery_status", "discovered_at", "cpu_util_pct", "mem_util_pct")
_UNASSIGNED_ROW = {"id": "unassigned", "name": "未分配 (unassigned: found by discovery)",
                   "kind": "bureau"}


def _place_extra_targets(estate: Estate, hosts: list[dict[str, Any]],
                         results: list[HostResult]) -> None:
    """Give an extra target (no bureau known) the bureau of the one estate host it is: the
    one with the same short hostname, else the one whose IP, else MAC, the machine carries
    (a host reached at its second address). When the machine carries that host's IP, the
    row takes it (and leaves its SSH port out): the address discovery used is one of the
    host's own, not a value that differs from the ledger's."""
    rows = estate.rows("hosts")
    index: dict[str, dict[str, list[dict[str, Any]]]] = {"name": {}, "ip": {}, "mac": {}}
    for h in rows:
        for kind, value in (("name", host_key_name(h["hostname"])), ("ip", h.get("ip")),
                            ("mac", str(h.get("mac") or "").lower())):
            if value:
                index[kind].setdefault(str(value), []).append(h)
    facts = {r.target.host_id: r.facts for r in results if r.ok}
    for row in hosts:
        if row["bureau_id"] != UNASSIGNED_BUREAU:
            continue
        ifaces = (facts.get(row["id"]) or {}).get("interfaces", [])
        own_ips = {str(a) for i in ifaces for a in i.get("addresses", [])}
        macs = {str(i.get("mac") or "").lower() for i in ifaces} - {"", "00:00:00:00:00:00"}
        wanted = [("name", {host_key_name(row.get("hostname"))} - {""}), ("ip", own_ips),
                  ("mac", macs)]
        for kind, values in wanted:
            found = {h["id"]: h for v in values for h in index[kind].get(v, [])}
            if len(found) == 1:
                (same,) = found.values()
                row["bureau_id"] = same["bureau_id"]
                if same.get("ip") and str(same["ip"]) in own_ips:
                    row["ip"] = same["ip"]
                    row.pop("ssh_port", None)
                break


def _jump_traffic(results: list[HostResult], hosts: list[dict[str, Any]],
                  host_ids: dict[str, str]) -> set[tuple[str, str, int]]:
    """``(jump host id, target ip, target port)`` for every target reached through a jump
    host of the estate: the jump's forwarded connections are discovery's, not the app's."""
    by_addr: dict[str, str] = {}
    for h in hosts:
        for key in (h.get("ip"), h.get("hostname"), host_key_name(h.get("hostname"))):
            if key:
                by_addr.setdefault(str(key), str(h["id"]))
    out: set[tuple[str, str, int]] = set()
    for r in results:
        t = r.target
        if not t.jump:
            continue
        _, jhost, _ = parse_jump(t.jump, t.user)
        jid = by_addr.get(jhost) or by_addr.get(host_key_name(jhost))
        if jid:
            out.add((host_ids.get(jid, jid), t.address, t.port))
    return out


def merge_discovered(estate: Estate, results: list[HostResult],
                     hypervisor_rows: dict[str, list[dict[str, Any]]]) -> Applied:
    """Merge ``results`` (and hypervisor rows) into ``estate`` in place; see the module."""
    hosts, disks, dbs = discovered_rows(results)
    # an extra target (--target) never reached is no host: it does not join the estate
    known = {str(h["id"]) for h in estate.rows("hosts")}
    dropped = {r.target.host_id: r.target.address for r in results if not r.ok
               and not r.target.in_estate and r.target.host_id not in known}
    hosts = [h for h in hosts if h["id"] not in dropped]
    _place_extra_targets(estate, hosts, results)
    volatile = {h["id"]: {k: h.pop(k, None) for k in _VOLATILE_HOST} for h in hosts}
    used = {d["id"]: d.pop("used_gb", None) for d in disks}
    records: dict[str, list[dict[str, Any]]] = {"hosts": hosts, "disks": disks,
                                                "databases": dbs}
    for table, rows in hypervisor_rows.items():
        records.setdefault(table, [])
        records[table] = rows + records[table]
    known_bureaus = {b["id"] for b in estate.rows("bureaus")}
    if any(h.get("bureau_id") == UNASSIGNED_BUREAU for h in records["hosts"]) and \
            UNASSIGNED_BUREAU not in known_bureaus:
        records["bureaus"] = [*records.get("bureaus", []), _UNASSIGNED_ROW]
    before = {t: {str(r["id"]) for r in estate.rows(t)} for t in ("hosts", "disks",
                                                                  "databases")}
    # a host not reached brings its status only: it is not "updated"
    unreached = {r.target.host_id for r in results if not r.ok}
    brought = {t: [str(r["id"]) for r in records.get(t, [])
                   if t != "hosts" or r["id"] not in unreached] for t in before}
    incoming = Estate.from_records({"name": SOURCE}, records)
    report = merge(estate, incoming, SOURCE)
    merged = report.estate
    host_ids = report.id_map["hosts"]
    disk_ids = report.id_map["disks"]

    host_rows = merged.rows("hosts")
    by_id = {h["id"]: h for h in host_rows}
    for inc_id, values in volatile.items():
        row = by_id.get(host_ids.get(inc_id, inc_id))
        if row is not None:
            row.update({k: v for k, v in values.items() if v is not None or
                        k in ("discovery_status", "discovered_at")})
    merged.set_rows("hosts", host_rows)
    disk_rows = merged.rows("disks")
    dby = {d["id"]: d for d in disk_rows}
    for inc_id, value in used.items():
        row = dby.get(disk_ids.get(inc_id, inc_id))
        if row is not None and value is not None:
            row["used_gb"] = min(value, row["size_gb"]) if row.get("size_gb") else value
    merged.set_rows("disks", disk_rows)

    observed = {host_ids.get(r.target.host_id, r.target.host_id): r.facts
                for r in results if r.ok}
    depmap = map_dependencies(observed, merged.rows("hosts"),
                              ignore=_jump_traffic(results, merged.rows("hosts"), host_ids))
    deps = merge_observed(merged.rows("dependencies"), depmap.host_rows(), set(observed))
    for d in deps:
        if d.get("origin") == "observed" and not d.get("source"):
            d["source"] = SOURCE
    deps, meeting = meet_declared(deps)
    merged.set_rows("dependencies", deps)
    conflicts = list(report.conflicts)
    if meeting:  # what a ledger declared, seen: one row, differences are conflicts
        met = merge_rows(merged, {"dependencies": meeting}, SOURCE)
        merged, conflicts = met.estate, conflicts + met.conflicts
        deps = merged.rows("dependencies")

    estate.meta = merged.meta
    estate.tables = merged.tables
    # each estate row counted once, however many incoming rows met it (one machine
    # reached at two addresses is one host, its disks one set)
    rows_met = {t: {report.id_map[t].get(i, i) for i in ids} for t, ids in brought.items()}
    names = {str(h["id"]): str(h.get("hostname") or h["id"]) for h in estate.rows("hosts")}
    luns = [f"LUN {w} ({lun['size_gb']} GB) is seen by {len(lun['hosts'])} hosts ("
            + ", ".join(f"{names.get(h, h)}: {dev}" for h, dev in sorted(
                lun["hosts"].items(), key=lambda x: names.get(x[0], x[0])))
            + f"): one shared disk — count it once (its disks rows: datastore lun:{w})"
            for w, lun in sorted(shared_luns(results, host_ids).items())]
    return Applied(
        hosts_updated=len(rows_met["hosts"] & before["hosts"]),
        hosts_added=len(rows_met["hosts"] - before["hosts"]),
        hosts_not_reached=len({host_ids.get(i, i) for i in unreached} - rows_met["hosts"]),
        disks=len(rows_met["disks"]),
        databases=len(rows_met["databases"]),
        dependencies=sum(1 for d in deps if d.get("origin") == "observed"),
        conflicts=len(conflicts), matched=dict(host_ids), depmap=depmap,
        notes=list(report.notes) + luns + ([
            f"{counted(len(dropped), 'extra target')} (--target) not reached: not added to "
            f"the estate ({', '.join(sorted(dropped.values()))})"] if dropped else []))
