"""What the planner needs from an estate, computed with vectorised pandas.

Per planned system: bureau, hosts, data (GB, per bureau), criticality, shared or not.
Per pair of systems: how many dependencies join them and whether any is strong.
Per consumer → shared provider: the dependency order. Plus the excluded systems, each with
its reason (classified, no security zone, not ready, or excluded by the user).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shangyun.assess.catalog import Catalog, load_catalog
from shangyun.assess.constraints import placement
from shangyun.assess.readiness import NOT_READY, host_readiness
from shangyun.errors import PlanError
from shangyun.estate import Estate
from shangyun.planner.options import PlanOptions

CRITICALITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
DB_PORTS = {5432, 3306, 1521, 1433, 5236, 54321, 2881, 50000, 5258, 9088}


@dataclass(frozen=True)
class Bureau:
    """One bureau's link and maintenance window; ``capacity_gb`` None = unconstrained."""

    id: str
    link_mbps: float | None
    window_day: str | None
    window_start: str | None
    window_hours: float | None
    blackout: frozenset[str]
    capacity_gb: float | None


@dataclass
class PlanInput:
    """The planner's view of an estate (only the systems that will move, plus the rest)."""

    systems: list[str]
    index: dict[str, int]
    bureau: list[str]
    hosts: np.ndarray
    data_gb: np.ndarray
    data_by_bureau: list[dict[str, float]]
    crit: np.ndarray
    criticality: list[str]
    shared: np.ndarray
    zones: list[str]
    sites: list[str]
    pairs: pd.DataFrame
    precedence: list[tuple[int, int, int]]
    bureaus: dict[str, Bureau]
    excluded: dict[str, str]
    to_excluded: dict[str, dict[str, int]] = field(default_factory=dict)
    dependency_rows: int = 0
    #: systems a wave that already ran holds (system → wave): not planned again; a
    #: planned system's dependencies on them are counted in ``to_excluded``
    moved: dict[str, int] = field(default_factory=dict)
    #: DR pairs of planned systems: ``(standby, primary)`` indices, and where each was
    #: declared (``systems.dr_primary``: the ledgers; ``--dr-pair``)
    dr: list[tuple[int, int, str]] = field(default_factory=list)
    #: a planned system's DR partners that are not planned (excluded, or held by a wave
    #: that ran): system → ``[(partner, "standby" | "primary")]``
    dr_outside: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def window_capacity_gb(link_mbps: float, hours: float, efficiency: float) -> float:
    """GB a link of ``link_mbps`` moves in ``hours`` at ``efficiency`` (decimal GB)."""
    return link_mbps * efficiency * hours * 3600 / 8 / 1000


def _bureaus(estate: Estate, opts: PlanOptions) -> dict[str, Bureau]:
    out: dict[str, Bureau] = {}
    for b in estate.rows("bureaus"):
        cap = None
        if b["link_mbps"] and b["window_hours"]:
            cap = window_capacity_gb(b["link_mbps"], b["window_hours"], opts.link_efficiency)
        out[b["id"]] = Bureau(b["id"], b["link_mbps"], b["window_day"], b["window_start"],
                              b["window_hours"],
                              frozenset(x for x in (b["blackout_dates"] or "").split(";") if x),
                              cap)
    return out


def _host_data(estate: Estate) -> pd.DataFrame:
    """Per host: system, bureau and data in GB (used disk space, else disk size)."""
    hosts = estate.tables["hosts"][["id", "system_id", "bureau_id", "disk_gb", "os", "arch"]]
    disks = estate.tables["disks"]
    per_disk = disks["used_gb"].where(disks["used_gb"].notna(), disks["size_gb"])
    by_host = per_disk.groupby(disks["host_id"]).sum()
    data = hosts["id"].map(by_host)
    data = data.where(data.notna(), hosts["disk_gb"]).fillna(0.0).astype(float)
    return hosts.assign(data_gb=data)


def _not_ready(hosts: pd.DataFrame, catalog: Catalog) -> set[str]:
    """Systems with a host the target cannot run (OS family or architecture)."""
    combos = hosts[["os", "arch"]].fillna("").drop_duplicates()
    bad: set[tuple[str, str]] = set()
    for os_name, arch in combos.itertuples(index=False, name=None):
        status, _ = host_readiness({"os": os_name, "arch": arch, "os_version": "9999"}, [],
                                   catalog)
        if status == NOT_READY:
            bad.add((os_name, arch))
    if not bad:
        return set()
    key = list(zip(hosts["os"].fillna(""), hosts["arch"].fillna(""), strict=True))
    mask = np.array([k in bad for k in key], dtype=bool)
    return set(hosts.loc[mask, "system_id"].dropna()) - {""}


def build_input(estate: Estate, opts: PlanOptions, catalog: Catalog | None = None,
                moved: Mapping[str, int] | None = None) -> PlanInput:
    """Collect everything the planner needs from ``estate`` under ``opts``; ``moved``
    (system → wave) are the systems waves that already ran hold: they are not planned."""
    held = {str(k): int(v) for k, v in (moved or {}).items()}
    cat = catalog or load_catalog()
    sysdf = estate.tables["systems"]
    all_ids = sysdf["id"].astype(str).tolist()
    known = set(all_ids)
    for sid in [*opts.exclude, *opts.pins]:
        if sid not in known:
            raise PlanError(f"constraint pins/exclusions: unknown system {sid!r}")
    for standby, primary in opts.dr_pairs:
        for sid in (standby, primary):
            if sid not in known:
                raise PlanError(f"constraint DR pairs: --dr-pair {standby}={primary}: "
                                f"unknown system {sid!r}")
        if standby == primary:
            raise PlanError(f"constraint DR pairs: --dr-pair {standby}={primary}: a system "
                            "cannot be the DR standby of itself")
    both = sorted(set(opts.exclude) & set(opts.pins))
    if both:
        raise PlanError(f"constraint pins/exclusions: {', '.join(both)} both pinned and "
                        "excluded")
    hosts = _host_data(estate)
    excluded: dict[str, str] = {}
    cols = ["classified", "mlps_level", "network_zone", "dr_tier"]
    place: dict[tuple[Any, ...], Any] = {}
    zones_of: dict[str, str] = {}
    sites_of: dict[str, str] = {}
    for sid, *vals in sysdf[["id", *cols]].itertuples(index=False, name=None):
        key = tuple(None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v
                    for v in vals)
        if key not in place:
            place[key] = placement(dict(zip(cols, key, strict=True)), cat)
        p = place[key]
        zones_of[sid], sites_of[sid] = ";".join(p.zones), ";".join(p.sites)
        if p.excluded:
            excluded[sid] = p.excluded
    if not opts.include_not_ready:
        for sid in _not_ready(hosts, cat):
            excluded.setdefault(sid, "not ready: a host's OS or CPU architecture cannot run on "
                                     "the target cloud (see 'shangyun assess')")
    for sid in opts.exclude:
        excluded.setdefault(sid, "excluded by the user (--exclude)")
    for sid in opts.pins:
        if sid in excluded:
            raise PlanError(f"constraint pins: --pin {sid}={opts.pins[sid]}: {sid} cannot be "
                            f"planned: {excluded[sid]}")
    for sid in held:  # it ran: the wave that holds it keeps it, whatever rule now excludes it
        excluded.pop(sid, None)
    planned = [s for s in all_ids if s not in excluded and s not in held]
    index = {s: i for i, s in enumerate(planned)}
    n = len(planned)
    sub = sysdf[sysdf["id"].isin(index)]
    order = sub["id"].map(index).to_numpy()
    bureau = [""] * n
    crit = np.ones(n, dtype=np.int64)
    crit_name = ["medium"] * n
    kinds = np.zeros(n, dtype=bool)
    for pos, (_sid, bid, c, kind) in zip(order, sub[["id", "bureau_id", "criticality", "kind"]]
                                        .itertuples(index=False, name=None), strict=True):
        bureau[pos] = bid
        if c:
            crit[pos], crit_name[pos] = CRITICALITY_RANK[c], c
        kinds[pos] = kind == "shared-service"
    dbs = estate.tables["databases"]
    shared_db = set(dbs.loc[dbs["shared"].fillna(False).astype(bool), "system_id"])
    for sid in shared_db:
        if sid in index:
            kinds[index[sid]] = True
    h = hosts[hosts["system_id"].isin(index)]
    hcount = np.zeros(n, dtype=np.int64)
    vc = h["system_id"].value_counts()
    if len(vc):
        hcount[vc.index.map(index).to_numpy(dtype=np.int64)] = vc.to_numpy()
    data = np.zeros(n)
    by_bureau: list[dict[str, float]] = [{} for _ in range(n)]
    for (sid, bid), gb in h.groupby(["system_id", "bureau_id"])["data_gb"].sum().items():
        i = index[sid]
        by_bureau[i][bid] = by_bureau[i].get(bid, 0.0) + float(gb)
        data[i] += float(gb)
    loose = dbs[(dbs["host_id"].fillna("") == "") & dbs["system_id"].isin(index)]
    for sid, gb in loose.groupby("system_id")["size_gb"].sum().items():
        i = index[sid]
        by_bureau[i][bureau[i]] = by_bureau[i].get(bureau[i], 0.0) + float(gb)
        data[i] += float(gb)
    outside = {**excluded, **{s: f"moved in wave {w}" for s, w in held.items() if s in known}}
    pairs, prec, to_excl, rows = _dependencies(estate, index, outside, kinds, opts)
    dr, dr_outside = _dr_pairs(sysdf, opts, index)
    return PlanInput(planned, index, bureau, hcount, data, by_bureau, crit, crit_name, kinds,
                     [zones_of[s] for s in planned], [sites_of[s] for s in planned], pairs, prec,
                     _bureaus(estate, opts), excluded, to_excl, rows,
                     {s: w for s, w in held.items() if s in known}, dr, dr_outside)


def dr_pairs_of(sysdf: pd.DataFrame, declared: tuple[tuple[str, str], ...]
                ) -> list[tuple[str, str, str]]:
    """Every DR pair ``(standby, primary, declared where)``: the estate's
    (``systems.dr_primary``) then ``declared`` (``--dr-pair``), each pair once (a pair both rows
    declare, each naming the other, keeps the first direction read)."""
    out: list[tuple[str, str, str]] = []
    seen: set[frozenset[str]] = set()
    col = sysdf["dr_primary"] if "dr_primary" in sysdf.columns else pd.Series([], dtype=object)
    given = [(str(s), str(p), "the estate (对应主系统)")
             for s, p in zip(sysdf["id"].tolist(), col.tolist(), strict=False)
             if isinstance(p, str) and p and p != s]
    given += [(s, p, "--dr-pair") for s, p in declared]
    for standby, primary, where in given:
        key = frozenset((standby, primary))
        if key not in seen:
            seen.add(key)
            out.append((standby, primary, where))
    return out


def _dr_pairs(sysdf: pd.DataFrame, opts: PlanOptions, index: dict[str, int]
              ) -> tuple[list[tuple[int, int, str]], dict[str, list[tuple[str, str]]]]:
    """The DR pairs of planned systems (indices), and each planned system's partners
    that are not planned."""
    dr: list[tuple[int, int, str]] = []
    outside: dict[str, list[tuple[str, str]]] = {}
    for standby, primary, where in dr_pairs_of(sysdf, opts.dr_pairs):
        if standby in index and primary in index:
            dr.append((index[standby], index[primary], where))
        elif standby in index:
            outside.setdefault(standby, []).append((primary, "primary"))
        elif primary in index:
            outside.setdefault(primary, []).append((standby, "standby"))
    return dr, outside


def _without_rollups(deps: pd.DataFrame) -> pd.DataFrame:
    """``deps`` without discovery's system roll-up rows (observed, no host columns) whose
    (source system, target system, port) its host→host rows already give: the roll-up sums
    them up for a reader, and counted beside them every observed link counted twice."""
    if not len(deps):
        return deps
    hosted = (deps["source_host"].fillna("") != "") | (deps["target_host"].fillna("") != "")
    observed = deps["origin"].fillna("") == "observed"
    roll = observed & ~hosted & (deps["external"].fillna("") == "")
    if not roll.any():
        return deps
    key = (deps["source_system"].fillna("").astype(str) + "\0"
           + deps["target_system"].fillna("").astype(str) + "\0"
           + deps["port"].astype(str))
    covered = key.isin(set(key[observed & hosted]))
    return deps[~(roll & covered)]


def _dependencies(
    estate: Estate, index: dict[str, int], excluded: dict[str, str], shared: np.ndarray,
    opts: PlanOptions,
) -> tuple[pd.DataFrame, list[tuple[int, int, int]], dict[str, dict[str, int]], int]:
    deps = _without_rollups(estate.tables["dependencies"])
    hosts = estate.tables["hosts"]
    host_sys = pd.Series(hosts["system_id"].to_numpy(), index=hosts["id"].to_numpy())
    src = deps["source_system"].where(deps["source_system"] != "",
                                      deps["source_host"].map(host_sys)).fillna("")
    tgt = deps["target_system"].where(deps["target_system"] != "",
                                      deps["target_host"].map(host_sys)).fillna("")
    typ = deps["type"].fillna("").astype(str)
    port = deps["port"]
    inferred = np.where((typ == "") & port.isin(list(DB_PORTS)).fillna(False).to_numpy(),
                        "database", typ)
    strong = np.isin(inferred, list(opts.strong_types))
    frame = pd.DataFrame({"src": src.to_numpy(), "tgt": tgt.to_numpy(), "strong": strong})
    frame = frame[(frame["src"] != "") & (frame["tgt"] != "") & (frame["src"] != frame["tgt"])]
    to_excl: dict[str, dict[str, int]] = {}
    cross = frame[frame["src"].isin(index) & frame["tgt"].isin(excluded)]
    cross2 = frame[frame["tgt"].isin(index) & frame["src"].isin(excluded)]
    for a, b in [*zip(cross["src"], cross["tgt"], strict=True),
                 *zip(cross2["tgt"], cross2["src"], strict=True)]:
        d = to_excl.setdefault(a, {})
        d[b] = d.get(b, 0) + 1
    frame = frame[frame["src"].isin(index) & frame["tgt"].isin(index)]
    s = frame["src"].map(index).to_numpy(dtype=np.int64)
    t = frame["tgt"].map(index).to_numpy(dtype=np.int64)
    a, b = np.minimum(s, t), np.maximum(s, t)
    pairs = (pd.DataFrame({"a": a, "b": b, "weight": 1, "strong": frame["strong"].to_numpy()})
             .groupby(["a", "b"], as_index=False).agg(weight=("weight", "sum"),
                                                      strong=("strong", "any")))
    prec: list[tuple[int, int, int]] = []
    if opts.order != "off" and len(s):
        m = shared[t]
        p = (pd.DataFrame({"c": s[m], "p": t[m], "w": 1}).groupby(["c", "p"], as_index=False)
             ["w"].sum())
        prec = list(zip(p["c"].tolist(), p["p"].tolist(), p["w"].tolist(), strict=True))
    return pairs, prec, to_excl, len(frame)


def held_facts(estate: Estate, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per system of ``ids`` (those a wave that ran holds): its bureau, hosts, data (GB,
    and per bureau) and criticality rank, as :func:`build_input` counts them."""
    if not ids:
        return {}
    wanted = set(ids)
    sysdf = estate.tables["systems"]
    out: dict[str, dict[str, Any]] = {}
    for sid, bid, c in sysdf[["id", "bureau_id", "criticality"]].itertuples(index=False,
                                                                           name=None):
        if sid in wanted:
            out[sid] = {"bureau_id": bid, "hosts": 0, "data_gb": 0.0, "by_bureau": {},
                        "crit": CRITICALITY_RANK.get(c, 1) if isinstance(c, str) else 1}
    hosts = _host_data(estate)
    h = hosts[hosts["system_id"].isin(wanted)]
    for sid, count in h["system_id"].value_counts().items():
        out[str(sid)]["hosts"] = int(count)
    for (sid, bid), gb in h.groupby(["system_id", "bureau_id"])["data_gb"].sum().items():
        f = out[str(sid)]
        f["by_bureau"][bid] = f["by_bureau"].get(bid, 0.0) + float(gb)
        f["data_gb"] += float(gb)
    dbs = estate.tables["databases"]
    loose = dbs[(dbs["host_id"].fillna("") == "") & dbs["system_id"].isin(wanted)]
    for sid, gb in loose.groupby("system_id")["size_gb"].sum().items():
        f = out[str(sid)]
        f["by_bureau"][f["bureau_id"]] = f["by_bureau"].get(f["bureau_id"], 0.0) + float(gb)
        f["data_gb"] += float(gb)
    return out
