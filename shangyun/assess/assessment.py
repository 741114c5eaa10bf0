"""Assess an estate: readiness, right-size, consolidation and cost, placement constraints.

:func:`assess` is pure (estate in, :class:`Assessment` out); :func:`write_assessment` puts it
into the estate's ``assessment/`` folder (``assessment.yaml`` with ``schema_version`` and the
totals, ``hosts.csv`` and ``systems.csv`` per row) and :func:`read_assessment` reads it back.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shangyun.assess.catalog import Catalog, CatalogError, load_catalog
from shangyun.assess.constraints import placement
from shangyun.assess.folder import read_meta, write_folder
from shangyun.assess.readiness import CONDITIONAL, NOT_READY, READY, host_readiness, worst
from shangyun.assess.sizing import right_size
from shangyun.estate import Estate

ASSESSMENT_SCHEMA_VERSION = 1
FOLDER = "assessment"


@dataclass
class Assessment:
    """The result of :func:`assess`: per-host and per-system frames plus the totals."""

    hosts: pd.DataFrame
    systems: pd.DataFrame
    summary: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""


def _host_label(row: dict[str, Any]) -> str:
    """``hostname (id)`` for a reader; the id alone when the host has no hostname."""
    name, ident = row.get("hostname") or "", row["host_id"]
    return f"{name} ({ident})" if name and name != ident else ident


#: host columns whose utilisation discovery measures (the share is of its own count)
_MEASURED = {"cpu_cores": ("cpu_util_pct", "cpu_p95_pct"),
             "memory_gb": ("mem_util_pct", "mem_p95_pct")}


def _measured(estate: Estate) -> dict[str, dict[str, Any]]:
    """Per host with an open conflict between the estate's CPU count or memory and
    discovery's, and a utilisation measured for it: ``{column: discovery's value}``."""
    util = {h["id"]: h for h in estate.rows("hosts")}
    out: dict[str, dict[str, Any]] = {}
    for c in estate.rows("conflicts"):
        col, key = str(c.get("column") or ""), str(c.get("key") or "")
        if (c.get("table") != "hosts" or col not in _MEASURED or key not in util
                or str(c.get("incoming_source") or "") != "discovery"):
            continue
        if all(util[key].get(u) is None for u in _MEASURED[col]):
            continue
        try:
            value = float(c.get("incoming") or "")
        except ValueError:
            continue
        if value > 0:
            out.setdefault(key, {})[col] = int(value) if col == "cpu_cores" else value
    return out


def _measured_note(h: dict[str, Any], found: dict[str, Any]) -> str:
    """Why a host is sized on discovery's figures, and how to settle it."""
    def num(v: Any) -> str:
        return f"{float(v):g}"
    parts = []
    if "cpu_cores" in found:
        parts.append(f"{found['cpu_cores']} CPUs (the ledger says {num(h['cpu_cores'])})")
    if "memory_gb" in found:
        parts.append(f"{num(found['memory_gb'])} GB memory (the ledger says "
                     f"{num(h['memory_gb'])} GB)")
    name = h.get("hostname") or h["id"]
    return ("sized on what discovery measured: " + " and ".join(parts)
            + ", since the utilisation is a share of the machine's own; settle the conflict "
            f"with `shangyun inventory resolve {name} --column "
            + next(iter(found)) + " --keep incoming|current --apply`")


def _ceil(x: float) -> int:
    return math.ceil(x - 1e-9)


def assess(estate: Estate, catalog: Catalog | None = None, *, target: float = 0.70,
           headroom: float = 0.10) -> Assessment:
    """Assess every host and system of ``estate`` against ``catalog`` (default data files).

    ``target`` is the utilisation to size for (0–1), ``headroom`` the fraction added on top.
    """
    if not 0.05 <= target <= 1.0:
        raise ValueError("target utilisation must be between 0.05 and 1.0")
    cat = catalog or load_catalog()
    disks_by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in estate.rows("disks"):
        disks_by_host[d["host_id"]].append(d)
    systems = {s["id"]: s for s in estate.rows("systems")}
    places = {sid: placement(s, cat) for sid, s in systems.items()}
    prices = cat.prices
    host_rows: list[dict[str, Any]] = []
    measured = _measured(estate)
    for h in estate.rows("hosts"):
        disks = disks_by_host.get(h["id"], [])
        status, reasons = host_readiness(h, disks, cat)
        # utilisation is a share of what discovery counted: a disputed size is sized on it
        found = measured.get(h["id"], {})
        row = h
        if found:
            reasons.append(_measured_note(h, found))
            h = {**h, **found}
        size = right_size(h, cat, target=target, headroom=headroom)
        disk_gb = sum(float(d["size_gb"]) for d in disks) if disks else float(h["disk_gb"] or 0)
        if size.note:
            reasons.append(size.note)
        fl = size.flavour
        cloud = (fl.monthly_cny if fl else 0.0) + disk_gb * prices["cloud"]["storage_gb_month"]
        host_rows.append({
            "host_id": h["id"], "hostname": h["hostname"] or "",
            "system_id": h["system_id"] or "", "bureau_id": h["bureau_id"],
            "kind": h["kind"] or "", "hypervisor": h["hypervisor"] or "",
            "readiness": status, "reasons": "; ".join(reasons), "basis": size.basis,
            "vcpu_before": int(row["cpu_cores"] or 0), "memory_gb_before": row["memory_gb"] or 0.0,
            "disk_gb": round(disk_gb, 3),
            "vcpu_need": size.vcpu_need, "memory_gb_need": size.memory_need_gb,
            "flavour": fl.name if fl else "", "vcpu_after": fl.vcpu if fl else 0,
            "memory_gb_after": fl.memory_gb if fl else 0.0,
            "cloud_monthly_cny": round(cloud, 2),
            "cpu_used": (h["cpu_cores"] or 0) * float(
                h["cpu_p95_pct"] if h["cpu_p95_pct"] is not None else h["cpu_util_pct"] or 0)
            / 100 if (h["cpu_p95_pct"] is not None or h["cpu_util_pct"] is not None) else None,
        })
    hosts = pd.DataFrame(host_rows, columns=[
        "host_id", "hostname", "system_id", "bureau_id", "kind", "hypervisor", "readiness",
        "reasons",
        "basis", "vcpu_before", "memory_gb_before", "disk_gb", "vcpu_need", "memory_gb_need",
        "flavour", "vcpu_after", "memory_gb_after", "cloud_monthly_cny", "cpu_used"])
    by_sys: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in host_rows:
        by_sys[r["system_id"]].append(r)
    sys_rows: list[dict[str, Any]] = []
    for sid, s in systems.items():
        p, hs = places[sid], by_sys.get(sid, [])
        status = worst([r["readiness"] for r in hs]) if hs else CONDITIONAL
        reasons = sorted({x for r in hs if r["readiness"] != READY
                          for x in [f"{_host_label(r)}: {r['reasons']}"]})
        if not hs:
            reasons = ["no hosts known for this system"]
        moves = not p.excluded and status != NOT_READY
        sys_rows.append({
            "system_id": sid, "name": s.get("name") or "", "bureau_id": s["bureau_id"],
            "readiness": status,
            "reasons": " | ".join(reasons) if reasons else "all hosts ready",
            "excluded": p.excluded, "moves": moves, "mlps_level": p.mlps_level,
            "allowed_zones": ";".join(p.zones), "dr_tier": p.dr_tier,
            "placement": ";".join(p.sites), "placement_note": p.note, "hosts": len(hs),
            "vcpu_before": sum(r["vcpu_before"] for r in hs),
            "vcpu_after": sum(r["vcpu_after"] for r in hs),
            "memory_gb_before": round(sum(r["memory_gb_before"] for r in hs), 2),
            "memory_gb_after": round(sum(r["memory_gb_after"] for r in hs), 2),
            "cloud_monthly_cny": round(sum(r["cloud_monthly_cny"] for r in hs), 2),
        })
    sysdf = pd.DataFrame(sys_rows, columns=[
        "system_id", "name", "bureau_id", "readiness", "reasons", "excluded", "moves", "mlps_level",
        "allowed_zones", "dr_tier", "placement", "placement_note", "hosts", "vcpu_before",
        "vcpu_after", "memory_gb_before", "memory_gb_after", "cloud_monthly_cny"])
    moving = set(sysdf.loc[sysdf["moves"], "system_id"]) if len(sysdf) else set()
    summary = _summary(hosts, sysdf, moving, cat)
    # hosts whose disputed CPU count or memory was sized on discovery's figures
    summary["sized_on_discovery"] = sorted(
        str(h.get("hostname") or h["id"]) for h in estate.rows("hosts") if h["id"] in measured)
    opts = {"target_utilisation": target, "headroom": headroom, "data": cat.source}
    return Assessment(hosts=hosts.drop(columns=["cpu_used"]), systems=sysdf, summary=summary,
                      options=opts, fingerprint=estate.fingerprint())


def _servers_before(h: pd.DataFrame, cat: Catalog) -> int:
    cur = cat.prices["current"]
    physical = int((h["kind"] == "physical").sum())
    vms = h[h["kind"] != "physical"]
    known = vms[vms["hypervisor"] != ""]
    servers = physical + known["hypervisor"].nunique()
    unknown = vms[vms["hypervisor"] == ""]
    for _, grp in unknown.groupby("bureau_id"):
        servers += max(1, _ceil(max(grp["vcpu_before"].sum() / cur["vcpu_per_server"],
                                    grp["memory_gb_before"].sum() / cur["memory_gb_per_server"])))
    return int(servers)


def _summary(hosts: pd.DataFrame, sysdf: pd.DataFrame, moving: set[str],
             cat: Catalog) -> dict[str, Any]:
    counts = {k: int(v) for k, v in sysdf["readiness"].value_counts().items()} if len(sysdf) \
        else {}
    h = hosts[hosts["system_id"].isin(moving)] if len(hosts) else hosts
    cur, tgt = cat.prices["current"], cat.prices["target_server"]
    before_servers = _servers_before(h, cat) if len(h) else 0
    vcpu_after = int(h["vcpu_after"].sum()) if len(h) else 0
    mem_after = float(h["memory_gb_after"].sum()) if len(h) else 0.0
    after_servers = _ceil(max(vcpu_after / (tgt["cores"] * tgt["cpu_overcommit"]),
                              mem_after / tgt["memory_gb"])) if len(h) else 0
    disk = float(h["disk_gb"].sum()) if len(h) else 0.0
    before_cost = before_servers * cur["server_month"] + disk * cur["storage_gb_month"]
    after_cost = float(h["cloud_monthly_cny"].sum()) if len(h) else 0.0
    used = h["cpu_used"].dropna() if len(h) else pd.Series(dtype=float)
    measured = h.loc[h["cpu_used"].notna()] if len(h) else h
    util_before = float(used.sum() / measured["vcpu_before"].sum()) \
        if len(used) and measured["vcpu_before"].sum() else None
    util_after = float(used.sum() / measured["vcpu_after"].sum()) \
        if len(used) and measured["vcpu_after"].sum() else None
    return {
        "systems": {READY: counts.get(READY, 0), CONDITIONAL: counts.get(CONDITIONAL, 0),
                    NOT_READY: counts.get(NOT_READY, 0),
                    "excluded": int((sysdf["excluded"] != "").sum()) if len(sysdf) else 0,
                    "moving": len(moving)},
        "hosts_moving": len(h),
        # hosts no system claims: assess and plan work on systems, so these move nowhere
        "hosts_without_system": int((hosts["system_id"] == "").sum()) if len(hosts) else 0,
        "before": {"vcpu": int(h["vcpu_before"].sum()) if len(h) else 0,
                   "memory_gb": round(float(h["memory_gb_before"].sum()), 1) if len(h) else 0.0,
                   "physical_servers": before_servers, "disk_gb": round(disk, 1),
                   "cpu_utilisation": None if util_before is None else round(util_before, 3),
                   "monthly_cny": round(before_cost, 2)},
        "after": {"vcpu": vcpu_after, "memory_gb": round(mem_after, 1),
                  "physical_servers": after_servers, "disk_gb": round(disk, 1),
                  "cpu_utilisation": None if util_after is None else round(util_after, 3),
                  "monthly_cny": round(after_cost, 2)},
        "saving_pct": round(100 * (1 - after_cost / before_cost), 1) if before_cost else None,
        "currency": cat.prices.get("currency", "CNY"),
    }


def write_assessment(result: Assessment, estate_dir: str | Path) -> Path:
    """Write ``result`` into ``estate_dir/assessment/`` all-or-nothing."""
    meta = {"schema_version": ASSESSMENT_SCHEMA_VERSION,
            "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "estate_fingerprint": result.fingerprint, "options": result.options,
            "summary": result.summary}
    return write_folder(Path(estate_dir) / FOLDER, {
        "assessment.yaml": meta, "hosts.csv": result.hosts, "systems.csv": result.systems})


def read_assessment(estate_dir: str | Path) -> Assessment:
    """Read ``estate_dir/assessment/`` back (checks its ``schema_version``)."""
    root = Path(estate_dir) / FOLDER
    meta = read_meta(root / "assessment.yaml", ASSESSMENT_SCHEMA_VERSION)
    hosts = pd.read_csv(root / "hosts.csv", encoding="utf-8-sig", keep_default_na=False)
    systems = pd.read_csv(root / "systems.csv", encoding="utf-8-sig", keep_default_na=False)
    return Assessment(hosts=hosts, systems=systems, summary=dict(meta["summary"]),  # type: ignore[arg-type]
                      options=dict(meta["options"]),  # type: ignore[arg-type]
                      fingerprint=str(meta["estate_fingerprint"]))


def assessment_data_dir(estate_dir: str | Path) -> str | None:
    """The data folder ``estate_dir``'s assessment was made with (``assess --data``), so a
    plan reads the same zones and support matrix; None for the packaged files or when
    there is no assessment. A folder that no longer exists is a :class:`CatalogError`."""
    path = Path(estate_dir) / FOLDER / "assessment.yaml"
    if not path.is_file():
        return None
    data = (read_meta(path, ASSESSMENT_SCHEMA_VERSION).get("options") or {}).get("data")
    if not data or data == "shangyun/data":
        return None
    if not Path(str(data)).is_dir():
        raise CatalogError(f"{path}: the assessment was made with the data files in {data}, "
                           "which no longer exists: pass --data FOLDER (the target's "
                           "layout.yaml and support_matrix.yaml) or run 'shangyun assess' "
                           "again")
    return str(data)
