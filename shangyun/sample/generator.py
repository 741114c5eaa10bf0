"""A deterministic generator of a realistic estate like the reference case.

One national ministry: a headquarters (``hq``) and its regional bureaus (直属局), each with a
server room, a network link and a maintenance window; business systems with hosts
(physical servers and VMs), disks and databases; shared services at headquarters (统一身份认证,
API网关, 消息总线 …) and shared databases that many systems depend on; a few classified
(涉密) systems; MLPS levels 2–3; utilisation mostly 15–20 %.

Everything is drawn from one ``numpy.random.Generator`` seeded with ``seed``, in a fixed
order, so the same parameters always give the same estate. Columns are built as whole
arrays (no per-row Python work beyond string formatting), so 10,000 hosts, 3,000 systems and
100,000 dependencies take about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shangyun.errors import ShangyunError
from shangyun.estate import TABLES, Estate
from shangyun.sample import names as N

GENERATOR = "shangyun.sample"
MAX_BUREAUS = 254
HOSTS_PER_SYSTEM = 5.8
ROLE_PATTERN = ("app", "db", "web", "app", "db", "cache", "web", "mq", "app", "file", "app",
                "web", "db", "lb", "app", "web")
ROLES = ("app", "db", "web", "cache", "mq", "file", "lb")
# Share of shared-service consumers: auth, gateway, bus, exchange, portal, licences, SMS.
CONSUME_RATE = (0.85, 0.55, 0.35, 0.3, 0.4, 0.2, 0.25)


class SampleParameterError(ShangyunError):
    """The sample generator was asked for an estate it cannot build (names the parameter)."""


@dataclass(frozen=True)
class SampleSize:
    """How big a generated estate is: the parameters after defaults are filled in."""

    bureaus: int
    systems: int
    hosts: int
    dependencies: int | None


def generate_estate(
    bureaus: int = 35,
    systems: int = 120,
    seed: int = 0,
    hosts: int | None = None,
    dependencies: int | None = None,
) -> Estate:
    """A realistic estate: ``bureaus`` regional bureaus plus headquarters, ``systems`` systems.

    ``hosts`` defaults to about 5.8 per system (≈ 700 for 120 systems); with fewer hosts than
    systems, the systems left over have no inventoried host. ``dependencies``
    defaults to what the shared services, shared databases and about 1.2 extra links per
    system give (≈ 600 for 120 systems); when given, exactly that many are made. The same
    arguments always return the same estate (same :meth:`Estate.fingerprint`).
    """
    size = _check(bureaus, systems, hosts, dependencies, seed)
    rng = np.random.default_rng(seed)
    b = _bureaus(rng, size.bureaus)
    s = _systems(rng, b, size.systems)
    h = _hosts(rng, b, s, size.hosts)
    d = _disks(rng, h, _window_gb(b)[h["bureau"].to_numpy()])
    h["disk_gb"] = d.groupby("host")["size_gb"].sum().reindex(range(len(h)), fill_value=0.0)
    h["used_gb"] = d.groupby("host")["used_gb"].sum().reindex(range(len(h)), fill_value=0.0)
    db = _databases(rng, s, h)
    dep = _dependencies(rng, s, h, db, size.dependencies)
    meta = {
        "name": "sample",
        "description": "生成的示例资产：某部总部及直属局信息系统 (shangyun inventory sample)",
        "generator": {"tool": GENERATOR, "seed": int(seed), "bureaus": size.bureaus,
                      "systems": size.systems, "hosts": size.hosts,
                      "dependencies": size.dependencies},
        "sources": [],
    }
    tables = {
        "bureaus": _typed("bureaus", b),
        "systems": _typed("systems", s),
        "hosts": _typed("hosts", h),
        "disks": _typed("disks", d),
        "databases": _typed("databases", db),
        "dependencies": _typed("dependencies", dep),
    }
    return Estate(meta=meta, tables=tables)


def _check(bureaus: int, systems: int, hosts: int | None, deps: int | None,
           seed: int) -> SampleSize:
    if not 1 <= bureaus <= MAX_BUREAUS:
        raise SampleParameterError(
            f"bureaus={bureaus}: must be between 1 and {MAX_BUREAUS} (one 10.<bureau>.x.y "
            "network each)")
    if systems < 10:
        raise SampleParameterError(f"systems={systems}: must be at least 10")
    if seed < 0:
        raise SampleParameterError(f"seed={seed}: must be 0 or more")
    n_hosts = round(systems * HOSTS_PER_SYSTEM) if hosts is None else hosts
    if n_hosts < 1:
        raise SampleParameterError(f"hosts={n_hosts}: must be at least 1")
    if n_hosts > (bureaus + 1) * 60_000:
        raise SampleParameterError(f"hosts={n_hosts}: more than 60,000 per bureau network")
    if deps is not None and not 0 <= deps <= systems * (systems - 1) // 2:
        raise SampleParameterError(
            f"dependencies={deps}: must be between 0 and {systems * (systems - 1) // 2} "
            f"for {systems} systems")
    return SampleSize(bureaus, systems, n_hosts, deps)


# ---------------------------------------------------------------------------- bureaus
def _bureaus(rng: np.random.Generator, n: int) -> pd.DataFrame:
    regions = [N.REGIONS[(k - 1) % len(N.REGIONS)] for k in range(1, n + 1)]
    rounds = [(k - 1) // len(N.REGIONS) for k in range(1, n + 1)]
    names = [r[0] + (f"{i + 1}" if i else "") for r, i in zip(regions, rounds, strict=True)]
    codes = [r[1] + (f"{i + 1}" if i else "") for r, i in zip(regions, rounds, strict=True)]
    width = max(2, len(str(n)))
    day = rng.choice(["sat", "sun", "daily"], size=n, p=[0.55, 0.35, 0.10])
    start = rng.choice(["22:00", "23:00", "00:00", "01:00"], size=n, p=[0.35, 0.3, 0.25, 0.1])
    hours = rng.choice([6.0, 8.0, 10.0], size=n, p=[0.3, 0.5, 0.2])
    daily = day == "daily"
    start = np.where(daily, "01:00", start)
    hours = np.where(daily, 4.0, hours)
    link = rng.choice([50.0, 100.0, 155.0, 200.0, 300.0, 500.0, 1000.0], size=n,
                      p=[0.08, 0.3, 0.1, 0.2, 0.12, 0.12, 0.08])
    n_black = rng.integers(2, 6, size=n)
    black = [";".join(sorted(rng.choice(N.BLACKOUT_DATES, size=k, replace=False)))
             for k in n_black]
    return pd.DataFrame({
        "id": ["hq"] + [f"b{k:0{width}d}" for k in range(1, n + 1)],
        "name": ["总部"] + [f"{x}直属局" for x in names],
        "kind": ["hq"] + ["bureau"] * n,
        "region": ["北京", *names],
        "code": ["hq", *codes],
        "area": ["010"] + [r[2] for r in regions],
        "net": list(range(0, n + 1)),
        "link_mbps": np.concatenate([[10000.0], link]),
        "window_day": np.concatenate([["sun"], day]),
        "window_start": np.concatenate([["00:00"], start]),
        "window_hours": np.concatenate([[6.0], hours]),
        "blackout_dates": [";".join(N.BLACKOUT_DATES[:5]), *black],
        "ssh_user": "shangyun",
        "ssh_port": 22,
    })


# ---------------------------------------------------------------------------- systems
def _systems(rng: np.random.Generator, b: pd.DataFrame, n: int) -> pd.DataFrame:
    n_shared = min(len(N.SHARED_SERVICES), max(1, n // 12))
    n_business = n - n_shared
    n_national = max(1, round(n_business * 0.25))
    n_local = n_business - n_national
    n_bureaus = len(b) - 1
    # local systems spread over the bureaus: everyone gets its share, the rest at random
    local_bureau = np.concatenate([
        np.tile(np.arange(1, n_bureaus + 1), n_local // n_bureaus),
        rng.choice(np.arange(1, n_bureaus + 1), size=n_local % n_bureaus, replace=False),
    ])
    local_bureau.sort(kind="stable")
    bureau = np.concatenate([np.zeros(n_shared + n_national, dtype=int), local_bureau])
    names, codes, domains = [], [], []
    for sv in N.SHARED_SERVICES[:n_shared]:
        names.append(sv[0])
        codes.append(sv[1])
        domains.append(sv[0])
    suffix = rng.choice(len(N.SUFFIXES), size=n_business)
    order = {k: rng.permutation(len(N.DOMAINS)) for k in range(n_bureaus + 1)}
    seen: dict[int, int] = {}
    for i, k in enumerate(bureau[n_shared:].tolist()):
        j = seen.get(k, 0)
        seen[k] = j + 1
        dom, code = N.DOMAINS[order[k][j % len(N.DOMAINS)]]
        rnd = j // len(N.DOMAINS)
        phase = N.PHASES[rnd] if rnd < len(N.PHASES) else f"（{rnd + 1}期）"
        prefix = "" if k == 0 else f"{b['region'].iat[k]}局"
        suf = N.SUFFIXES[suffix[i]]
        if dom.endswith("管理") and suf.startswith("管理"):
            suf = suf[2:]
        names.append(f"{prefix}{dom}{suf}{phase}")
        codes.append(code + (str(rnd + 1) if rnd else ""))
        domains.append(dom)
    shared = np.arange(n) < n_shared
    crit = rng.choice(["low", "medium", "high", "critical"], size=n, p=[0.15, 0.45, 0.3, 0.1])
    crit[shared] = "critical"
    mlps3 = rng.random(n) < np.select([crit == "critical", crit == "high", crit == "medium"],
                                      [0.95, 0.7, 0.2], 0.05)
    classified = np.zeros(n, dtype=bool)
    n_classified = max(1, round(n_business * 0.03))
    classified[rng.choice(np.arange(n_shared, n), size=n_classified, replace=False)] = True
    mlps3 |= classified
    zone = rng.choice(list(("intranet", "dmz", "extranet", "internet", "management")), size=n,
                      p=[0.6, 0.12, 0.15, 0.08, 0.05])
    public = np.isin(np.array(domains), ["网站群", "政务公开", "统一门户", "12345热线",
                                         "投诉举报"])
    zone[public] = "internet"
    zone[:n_shared] = ["dmz", "dmz", "intranet", "intranet", "internet", "intranet",
                       "intranet"][:n_shared]
    zone[classified] = "intranet"
    tier_base = np.select([crit == "critical", crit == "high", crit == "medium"], [3, 2, 1], 0)
    tier = np.clip(tier_base - (rng.random(n) < 0.25), 0, 3)
    tier[shared] = 3
    owner, phone = _people(rng, n, b["area"].to_numpy()[bureau])
    bname = b["name"].to_numpy()[bureau]
    desc = [f"全局共享的{nm}，供各业务系统调用" if sh else f"{bn}{dm}业务"
            for nm, sh, bn, dm in zip(names, shared, bname, domains, strict=True)]
    return pd.DataFrame({
        "id": [f"s{i:04d}" for i in range(1, n + 1)],
        "name": names,
        "bureau": bureau,
        "bureau_id": b["id"].to_numpy()[bureau],
        "code": codes,
        "kind": np.where(shared, "shared-service", "business"),
        "owner": owner,
        "phone": phone,
        "mlps_level": np.where(mlps3, 3, 2),
        "classified": classified,
        "network_zone": zone,
        "dr_tier": tier,
        "criticality": crit,
        "description": desc,
    })


def _people(rng: np.random.Generator, n: int, area: np.ndarray) -> tuple[list[str], list[str]]:
    sur = rng.integers(0, len(N.SURNAMES), size=n)
    g1 = rng.integers(0, len(N.GIVEN), size=n)
    g2 = rng.integers(0, len(N.GIVEN), size=n)
    two = rng.random(n) < 0.6
    owner = [N.SURNAMES[a] + N.GIVEN[c] + (N.GIVEN[d] if t else "")
             for a, c, d, t in zip(sur, g1, g2, two, strict=True)]
    mobile = rng.random(n) < 0.7
    prefix = rng.choice([130, 133, 135, 136, 138, 139, 150, 153, 158, 177, 186, 189], size=n)
    digits = rng.integers(0, 10**8, size=n)
    phone = [f"{p}{x:08d}" if m else f"{ac}-{x % 10 ** (11 - len(ac)):0{11 - len(ac)}d}"
             for m, p, x, ac in zip(mobile, prefix, digits, area, strict=True)]
    return owner, phone


# ---------------------------------------------------------------------------- hosts
def _hosts(rng: np.random.Generator, b: pd.DataFrame, s: pd.DataFrame,
           n: int) -> pd.DataFrame:
    n_sys = len(s)
    weight = rng.lognormal(0.0, 0.6, size=n_sys)
    weight[s["kind"].to_numpy() == "shared-service"] *= 4
    weight[s["criticality"].to_numpy() == "critical"] *= 1.5
    if n >= n_sys:
        per = 1 + rng.multinomial(n - n_sys, weight / weight.sum())
    else:  # fewer hosts than systems: the others' hosts are not inventoried (yet)
        per = np.zeros(n_sys, dtype=int)
        per[rng.choice(n_sys, size=n, replace=False, p=weight / weight.sum())] = 1
    sys_idx = np.repeat(np.arange(n_sys), per)
    within = np.arange(n) - np.repeat(np.cumsum(per) - per, per)
    role = np.array(ROLE_PATTERN)[within % len(ROLE_PATTERN)]
    role[per[sys_idx] == 1] = "app"
    frame = pd.DataFrame({"sys": sys_idx, "role": role})
    nn = frame.groupby(["sys", "role"], sort=False).cumcount().to_numpy() + 1
    bureau = s["bureau"].to_numpy()[sys_idx]
    bcode = b["code"].to_numpy()[bureau]
    scode = s["code"].to_numpy()[sys_idx]
    hostname = [f"{bc}-{sc}-{r}{k:02d}" for bc, sc, r, k in
                zip(bcode, scode, role, nn, strict=True)]
    in_bureau = pd.Series(bureau).groupby(bureau).cumcount().to_numpy()
    net = b["net"].to_numpy()[bureau]
    ip = [f"10.{a}.{1 + c // 240}.{10 + c % 240}" for a, c in zip(net, in_bureau, strict=True)]
    p_phys = pd.Series({"app": 0.25, "db": 0.6, "web": 0.1, "cache": 0.2, "mq": 0.2,
                        "file": 0.4, "lb": 0.3})[role].to_numpy()
    physical = rng.random(n) < p_phys
    kind = np.where(physical, "physical", "vm")
    # VMs: about 15 per ESXi host, 8 ESXi hosts per cluster, per bureau
    vm_no = pd.Series(~physical).groupby(bureau).cumsum().to_numpy() - 1
    hv = vm_no // 15
    hypervisor = np.where(physical, "", [f"{bc}-esxi{k + 1:02d}" for bc, k in
                                         zip(bcode, hv, strict=True)])
    cluster = np.where(physical, "", [f"{bc}-cluster{k // 8 + 1}" for bc, k in
                                      zip(bcode, hv, strict=True)])
    power = np.where(physical,
                     rng.choice(["on", "off"], size=n, p=[0.98, 0.02]),
                     rng.choice(["on", "off", "suspended"], size=n, p=[0.95, 0.04, 0.01]))
    weights = np.array([o[3] for o in N.OSES])
    os_i = rng.choice(len(N.OSES), size=n, p=weights / weights.sum())
    os_name = np.array([o[0] for o in N.OSES])[os_i]
    arch = np.array([o[2] for o in N.OSES])[os_i]
    uefi = (arch == "aarch64") | (rng.random(n) < 0.2)
    cpu = np.where(physical, rng.choice([16, 24, 32, 48, 64], size=n),
                   rng.choice([2, 4, 4, 8, 8, 8, 16, 16, 32], size=n))
    cpu = np.where((role == "db") & ~physical, np.maximum(cpu, 8), cpu)
    mem = cpu * np.where(physical, rng.choice([4, 8], size=n), rng.choice([2, 2, 4], size=n))
    cpu_u, cpu_p = _utilisation(rng, n)
    mem_u, mem_p = _utilisation(rng, n)
    off = power != "on"
    windows = os_name == "Windows Server"
    return pd.DataFrame({
        "id": [f"h{i:05d}" for i in range(1, n + 1)],
        "hostname": hostname,
        "ip": ip,
        "mac": _macs(rng, physical),
        "sys": sys_idx,
        "system_id": s["id"].to_numpy()[sys_idx],
        "bureau": bureau,
        "bureau_id": b["id"].to_numpy()[bureau],
        "bcode": bcode,
        "kind": kind,
        "role": role,
        "hv": np.where(physical, -1, hv),
        "hypervisor": hypervisor,
        "cluster": cluster,
        "power_state": power,
        "os": os_name,
        "os_version": np.array([o[1] for o in N.OSES])[os_i],
        "arch": arch,
        "firmware": np.where(uefi, "uefi", "bios"),
        "cpu_cores": cpu,
        "memory_gb": mem.astype(float),
        "cpu_util_pct": np.where(off, 0.0, cpu_u),
        "mem_util_pct": np.where(off, 0.0, mem_u),
        "cpu_p95_pct": np.where(off, 0.0, cpu_p),
        "mem_p95_pct": np.where(off, 0.0, mem_p),
        "ssh_port": np.where(windows, -1, 22),
        "source": "sample",
    })


def _utilisation(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean utilisation: 80 % of hosts between 15 and 20 %, the rest 3–15 % or 20–65 %."""
    usual = rng.uniform(15.0, 20.0, size=n)
    low = rng.uniform(3.0, 15.0, size=n)
    high = rng.uniform(20.0, 65.0, size=n)
    pick = rng.random(n)
    mean = np.where(pick < 0.8, usual, np.where(pick < 0.9, low, high))
    p95 = np.minimum(100.0, mean * rng.uniform(1.15, 1.6, size=n))
    return np.round(mean, 1), np.round(np.maximum(p95, mean), 1)


def _macs(rng: np.random.Generator, physical: np.ndarray) -> list[str]:
    i = np.arange(len(physical))
    ouis = np.array(["6c:92:bf", "f4:1d:6b", "a0:36:9f", "3c:fd:fe"])
    oui = np.where(physical, ouis[rng.integers(0, len(ouis), size=len(i))], "00:50:56")
    top = np.where(physical, rng.integers(0x40, 0x100, size=len(i)), (i >> 16) & 0x3F)
    return [f"{o}:{t:02x}:{(k >> 8) & 0xFF:02x}:{k & 0xFF:02x}"
            for o, t, k in zip(oui, top, i, strict=True)]


# ---------------------------------------------------------------------------- disks
def _window_gb(b: pd.DataFrame) -> np.ndarray:
    """GB each bureau's link moves in one maintenance window at 80 % efficiency."""
    return (b["link_mbps"].to_numpy() * 0.8 * b["window_hours"].to_numpy() * 3600 / 8 / 1000)


def _disks(rng: np.random.Generator, h: pd.DataFrame, window_gb: np.ndarray) -> pd.DataFrame:
    """Disks of every host; a system's used data fits 70 % of its bureau's window."""
    n = len(h)
    physical = h["kind"].to_numpy() == "physical"
    is_db = h["role"].to_numpy() == "db"
    extra = np.where(physical, rng.integers(1, 3, size=n),
                     np.where(is_db, rng.integers(1, 4, size=n), rng.integers(0, 3, size=n)))
    count = 1 + extra
    host = np.repeat(np.arange(n), count)
    nth = np.arange(len(host)) - np.repeat(np.cumsum(count) - count, count)
    phys = physical[host]
    windows = h["os"].to_numpy()[host] == "Windows Server"
    first = nth == 0
    sys_size = np.where(phys, 300.0, np.where(windows, 100.0, rng.choice([50.0, 100.0],
                                                                         size=len(host))))
    data_size = np.where(phys, rng.choice([500.0, 1024.0, 2048.0], size=len(host),
                                          p=[0.5, 0.35, 0.15]),
                         rng.choice([50.0, 100.0, 200.0, 500.0, 1024.0], size=len(host),
                                    p=[0.3, 0.3, 0.2, 0.15, 0.05]))
    size = np.where(first, sys_size, data_size)
    used = size * rng.uniform(0.1, 0.7, size=len(host))
    system = h["sys"].to_numpy()[host]
    sys_used = np.bincount(system, weights=used, minlength=int(system.max(initial=0)) + 1)
    cap = np.zeros_like(sys_used)
    cap[h["sys"].to_numpy()] = 0.7 * window_gb
    scale = np.minimum(1.0, cap / np.maximum(sys_used, 1e-9))
    used = np.floor(used * scale[system] * 10) / 10
    hostname = h["hostname"].to_numpy()[host]
    bcode = h["bcode"].to_numpy()[host]
    hv = h["hv"].to_numpy()[host]
    letter = np.array(list("abcdefgh"))[nth]
    datastore = np.where(phys, "", [f"{bc}-ds{(k % 4) + 1:02d}" for bc, k in
                                    zip(bcode, hv, strict=True)])
    name = np.where(phys, np.char.add("sd", letter),
                    np.char.add("Hard disk ", (nth + 1).astype(str)))
    vm_path = [f"[{ds}] {hn}/{hn}{'' if k == 0 else f'_{k}'}.vmdk"
               for ds, hn, k in zip(datastore, hostname, nth, strict=True)]
    path = np.where(phys, np.char.add("/dev/sd", letter), vm_path)
    return pd.DataFrame({
        "id": [f"k{i:06d}" for i in range(1, len(host) + 1)],
        "host": host,
        "host_id": h["id"].to_numpy()[host],
        "name": name,
        "size_gb": size,
        "used_gb": used,
        "format": np.where(phys, "raw", "vmdk"),
        "path": path,
        "datastore": datastore,
    })


# ---------------------------------------------------------------------------- databases
def _databases(rng: np.random.Generator, s: pd.DataFrame, h: pd.DataFrame) -> pd.DataFrame:
    n_sys = len(s)
    sys_of = h["sys"].to_numpy()
    first_host = np.full(n_sys, -1)
    first_host[sys_of[::-1]] = np.arange(len(h))[::-1]
    db_host = first_host.copy()
    db_rows = np.flatnonzero(h["role"].to_numpy() == "db")
    db_host[sys_of[db_rows[::-1]]] = db_rows[::-1]
    has_db_role = db_host != first_host
    business = s["kind"].to_numpy() == "business"
    own = business & (has_db_role | (rng.random(n_sys) < 0.5))
    count = np.where(own, 1 + (rng.random(n_sys) < 0.15), 0)
    system = np.repeat(np.arange(n_sys), count)
    nth = np.arange(len(system)) - np.repeat(np.cumsum(count) - count, count)
    # shared databases at headquarters, on hq systems that have a database host
    hq_candidates = np.flatnonzero((s["bureau"].to_numpy() == 0) & has_db_role)
    n_shared = min(len(N.SHARED_DATABASES), max(1, n_sys // 30), len(hq_candidates))
    shared_sys = rng.choice(hq_candidates, size=n_shared, replace=False)
    system = np.concatenate([system, shared_sys])
    nth = np.concatenate([nth, np.zeros(n_shared, dtype=int)])
    shared = np.arange(len(system)) >= len(system) - n_shared
    n = len(system)
    weights = np.array([e[3] for e in N.ENGINES])
    eng_i = rng.choice(len(N.ENGINES), size=n, p=weights / weights.sum())
    engine = np.array([e[0] for e in N.ENGINES])[eng_i]
    version = [N.ENGINES[e][1][k % len(N.ENGINES[e][1])]
               for e, k in zip(eng_i, rng.integers(0, 6, size=n), strict=True)]
    host = db_host[system]  # -1: the system has no host in the inventory
    code = s["code"].to_numpy()[system]
    base = np.where(shared, np.array([c for _, c in N.SHARED_DATABASES] or [""])[
        np.minimum(np.cumsum(shared) - 1, len(N.SHARED_DATABASES) - 1)], code)
    name = [f"{c}{'' if k == 0 else k + 1}" for c, k in zip(base, nth, strict=True)]
    name = [x.upper() if e == "oracle" else f"{x}_db" for x, e in zip(name, engine, strict=True)]
    used = np.where(host >= 0, h["used_gb"].to_numpy()[host], np.inf)
    size = np.round(np.minimum(rng.lognormal(np.where(shared, 5.0, 3.5), 1.0, size=n),
                               used * 0.8), 1)
    return pd.DataFrame({
        "id": [f"db{i:05d}" for i in range(1, n + 1)],
        "sys": system,
        "system_id": s["id"].to_numpy()[system],
        "host": host,
        "host_id": np.where(host >= 0, h["id"].to_numpy()[host], ""),
        "engine": engine,
        "engine_i": eng_i,
        "version": version,
        "name": name,
        "size_gb": size,
        "shared": shared,
        "label": [f"{N.SHARED_DATABASES[min(k, len(N.SHARED_DATABASES) - 1)][0]}" if sh else ""
                  for k, sh in zip(np.cumsum(shared) - 1, shared, strict=True)],
    })


# ---------------------------------------------------------------------------- dependencies
def _dependencies(rng: np.random.Generator, s: pd.DataFrame, h: pd.DataFrame,
                  db: pd.DataFrame, wanted: int | None) -> pd.DataFrame:
    n_sys = len(s)
    shared = np.flatnonzero(s["kind"].to_numpy() == "shared-service")
    business = np.flatnonzero(s["kind"].to_numpy() == "business")
    ports = np.array([e[2] for e in N.ENGINES])
    sys_of = h["sys"].to_numpy()
    first_host = np.full(n_sys, -1)
    first_host[sys_of[::-1]] = np.arange(len(h))[::-1]
    # 1. consumers of the shared services (system level)
    parts: list[dict[str, Any]] = []
    for k, svc in enumerate(shared):
        src = business[rng.random(len(business)) < CONSUME_RATE[k]]
        _, _, port, service, kind = N.SHARED_SERVICES[k]
        parts.append(_edges(src, np.full(len(src), svc), port, service, kind))
    # 2. consumers of the shared databases (host level: an app host -> the database host)
    sdb = db[db["shared"]]
    for owner, host, eng in zip(sdb["sys"], sdb["host"], sdb["engine_i"], strict=True):
        src = business[(rng.random(len(business)) < 0.25) & (business != owner)]
        e = _edges(src, np.full(len(src), owner), int(ports[eng]), N.ENGINES[eng][0],
                   "database")
        e["source_host"], e["target_host"] = first_host[src], np.full(len(src), host)
        parts.append(e)
    fixed = _concat(parts)
    n_fixed = len(fixed["src"])
    extra = round(n_sys * 1.2) if wanted is None else wanted - n_fixed
    if extra < 0:
        keep = np.sort(rng.choice(n_fixed, size=wanted, replace=False))
        fixed = {k: v[keep] for k, v in fixed.items()}
        extra = 0
    taken = fixed["src"] * n_sys + fixed["tgt"]
    # 3. other links between systems: sources at random, popular targets more often
    rand = _random_edges(rng, s, db, ports, first_host, taken, extra)
    allp = _concat([fixed, rand])
    n = len(allp["src"])
    sid = s["id"].to_numpy()
    hid = np.concatenate([h["id"].to_numpy(), np.array([""], dtype=object)])
    return pd.DataFrame({
        "id": [f"d{i:06d}" for i in range(1, n + 1)],
        "source_system": sid[allp["src"]],
        "target_system": sid[allp["tgt"]],
        "source_host": hid[allp["source_host"]],
        "target_host": hid[allp["target_host"]],
        "port": allp["port"],
        "service": allp["service"],
        "type": allp["type"],
        "origin": "declared",
    })


def _edges(src: np.ndarray, tgt: np.ndarray, port: int | np.ndarray, service: Any,
           kind: Any) -> dict[str, Any]:
    n = len(src)
    return {"src": src.astype(int), "tgt": tgt.astype(int),
            "port": np.broadcast_to(np.asarray(port), n).astype(int),
            "service": np.broadcast_to(np.asarray(service, dtype=object), n),
            "type": np.broadcast_to(np.asarray(kind, dtype=object), n),
            "source_host": np.full(n, -1), "target_host": np.full(n, -1)}


def _concat(parts: list[dict[str, Any]]) -> dict[str, Any]:
    if not parts:
        return _edges(np.array([], dtype=int), np.array([], dtype=int), 0, "", "")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _random_edges(rng: np.random.Generator, s: pd.DataFrame, db: pd.DataFrame,
                  ports: np.ndarray, first_host: np.ndarray, taken: np.ndarray,
                  wanted: int) -> dict[str, Any]:
    n_sys = len(s)
    bureau = s["bureau"].to_numpy()
    suite = _suites(bureau)
    popularity = rng.lognormal(0.0, 1.0, size=n_sys)
    chosen = np.array([], dtype=np.int64)
    for attempt in range(20):
        need = wanted - len(chosen)
        if need <= 0:
            break
        m = int(need * 1.5) + 16
        src = rng.integers(0, n_sys, size=m)
        if attempt < 10:
            tgt = rng.choice(n_sys, size=m, p=popularity / popularity.sum())
            # most links stay inside an application suite or a bureau
            where = rng.random(m)
            in_suite = _pick_in_bureau(rng, suite, suite[src])
            in_bureau = _pick_in_bureau(rng, bureau, bureau[src])
            tgt = np.where(where < 0.45, in_suite, np.where(where < 0.6, in_bureau, tgt))
        else:
            tgt = rng.integers(0, n_sys, size=m)
        key = src.astype(np.int64) * n_sys + tgt
        key = key[(src != tgt) & ~np.isin(key, taken) & ~np.isin(key, chosen)]
        _, first = np.unique(key, return_index=True)
        chosen = np.concatenate([chosen, key[np.sort(first)][:need]])
    if len(chosen) < wanted:
        raise SampleParameterError(
            f"dependencies: could only place {len(chosen)} of {wanted} extra links between "
            f"{n_sys} systems; ask for fewer dependencies or more systems")
    src, tgt = chosen // n_sys, chosen % n_sys
    n = len(src)
    db_first = db[~db["shared"]].drop_duplicates("sys")
    tgt_db_engine = np.full(n_sys, -1)
    tgt_db_engine[db_first["sys"].to_numpy()] = db_first["engine_i"].to_numpy()
    tgt_db_host = np.full(n_sys, -1)
    tgt_db_host[db_first["sys"].to_numpy()] = db_first["host"].to_numpy()
    # inside a suite: mostly synchronous calls and shared schemas; across: messages, files
    same = suite[src] == suite[tgt]
    u = rng.random(n)
    kinds = np.array(["sync", "async", "file", "database"], dtype=object)
    edges = np.where(same[:, None], np.array([[0.45, 0.6, 0.75]]),
                     np.array([[0.2, 0.65, 0.95]]))
    kind = kinds[(u[:, None] >= edges).sum(axis=1)]
    is_db = (kind == "database") & (tgt_db_engine[tgt] >= 0)
    kind = np.where((kind == "database") & ~is_db, "sync", kind)
    sync_port = rng.choice([8080, 443, 8443, 80, 9000], size=n)
    async_port = rng.choice([61616, 5672, 9092], size=n)
    file_port = rng.choice([22, 21, 2049, 445], size=n)
    port = np.select([kind == "sync", kind == "async", kind == "file"],
                     [sync_port, async_port, file_port],
                     ports[np.maximum(tgt_db_engine[tgt], 0)])
    svc_map = {8080: "http", 443: "https", 8443: "https", 80: "http", 9000: "http",
               61616: "activemq", 5672: "amqp", 9092: "kafka", 22: "sftp", 21: "ftp",
               2049: "nfs", 445: "smb"}
    eng_names = np.array([e[0] for e in N.ENGINES], dtype=object)
    service = np.where(is_db, eng_names[np.maximum(tgt_db_engine[tgt], 0)],
                       pd.Series(port).map(svc_map).fillna("").to_numpy(dtype=object))
    return {"src": src, "tgt": tgt, "port": port, "service": service, "type": kind,
            "source_host": np.where(is_db, first_host[src], -1),
            "target_host": np.where(is_db, tgt_db_host[tgt], -1)}


def _suites(bureau: np.ndarray, size: int = 8) -> np.ndarray:
    """Application suites: runs of ``size`` systems of one bureau (a dense label each)."""
    within = pd.Series(bureau).groupby(bureau).cumcount().to_numpy() // size
    _, label = np.unique(bureau.astype(np.int64) * 1_000_000 + within, return_inverse=True)
    return label


def _pick_in_bureau(rng: np.random.Generator, bureau: np.ndarray,
                    want: np.ndarray) -> np.ndarray:
    """For each bureau in ``want``, a random system of that bureau (-1 when none)."""
    order = np.argsort(bureau, kind="stable")
    counts = np.bincount(bureau, minlength=int(want.max(initial=0)) + 1)
    starts = np.cumsum(counts) - counts
    c = counts[want]
    offs = (rng.random(len(want)) * np.maximum(c, 1)).astype(int)
    return np.where(c > 0, order[np.minimum(starts[want] + offs, len(order) - 1)], -1)


# ---------------------------------------------------------------------------- typing
def _typed(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """The table's typed frame, exactly as :meth:`Estate.load` would return it."""
    out: dict[str, pd.Series] = {}
    n = len(df)
    for col in TABLES[name].columns:
        if col.name not in df.columns:
            values: Any = None
        else:
            values = df[col.name].to_numpy()
        if col.kind == "int":
            if values is None:
                out[col.name] = pd.Series(pd.array([pd.NA] * n, dtype="Int64"))
            else:
                arr = np.asarray(values, dtype=np.int64)
                out[col.name] = pd.Series(pd.arrays.IntegerArray(arr, arr < 0))
        elif col.kind == "float":
            out[col.name] = pd.Series(np.nan if values is None else
                                      np.asarray(values, dtype=float), index=range(n),
                                      dtype="float64")
        elif col.kind == "bool":
            out[col.name] = pd.Series(pd.array([pd.NA] * n if values is None else
                                                np.asarray(values, dtype=bool),
                                                dtype="boolean"))
        else:
            out[col.name] = pd.Series([""] * n if values is None else
                                      [str(v) for v in values], dtype=object)
    return pd.DataFrame(out)
