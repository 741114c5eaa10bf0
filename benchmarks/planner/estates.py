"""Generated estates for the planner benchmark (used when ``shangyun.sample`` is absent).

``national(hosts, systems=3000, edges=100_000, seed)``: 35 bureaus with links of 200–2000
Mbit/s and weekend windows; systems in clusters of ~10 inside a bureau (an application
suite: its databases and synchronous calls stay inside the cluster), 5 % shared services,
and dependencies: 60 % inside a cluster (30 % of them strong: database or sync), 25 % from
consumers to shared services (async), 15 % random across the estate (async).
"""

from __future__ import annotations

import numpy as np

from shangyun.estate import Estate


def national(hosts: int, systems: int = 3000, edges: int = 100_000, bureaus: int = 35,
             seed: int = 7) -> Estate:
    """A national-size estate with the given counts (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    b_ids = [f"B{k:02d}" for k in range(bureaus)]
    link = rng.choice([200, 500, 1000, 2000], size=bureaus)
    b_rows = [{"id": b, "name": f"直属局{b}", "kind": "bureau", "link_mbps": float(link[k]),
               "window_day": ["sat", "sun"][k % 2], "window_start": "22:00",
               "window_hours": 10.0} for k, b in enumerate(b_ids)]
    sys_bureau = rng.integers(0, bureaus, size=systems)
    order = np.argsort(sys_bureau, kind="stable")
    cluster = np.empty(systems, dtype=np.int64)
    cluster[order] = np.arange(systems) // 10
    shared = rng.random(systems) < 0.05
    crit = rng.choice(["low", "medium", "high", "critical"], p=[0.3, 0.4, 0.2, 0.1],
                      size=systems)
    s_ids = [f"S{k:04d}" for k in range(systems)]
    s_rows = [{"id": s_ids[k], "name": f"系统{k}", "bureau_id": b_ids[sys_bureau[k]],
               "kind": "shared-service" if shared[k] else "business",
               "criticality": crit[k], "mlps_level": int(rng.integers(2, 4)),
               "dr_tier": int(rng.integers(0, 4))} for k in range(systems)]
    owner = rng.integers(0, systems, size=hosts)
    disk = rng.uniform(10, 40, size=hosts).round(1)
    h_rows = [{"id": f"H{k:05d}", "hostname": f"h{k:05d}", "system_id": s_ids[owner[k]],
               "bureau_id": b_ids[sys_bureau[owner[k]]], "kind": "vm", "os": "CentOS",
               "os_version": "7.9", "arch": "x86_64", "cpu_cores": 4, "memory_gb": 8.0,
               "disk_gb": float(disk[k])} for k in range(hosts)]
    members: dict[int, np.ndarray] = {}
    for c in np.unique(cluster):
        members[int(c)] = np.flatnonzero(cluster == c)
    shared_ids = np.flatnonzero(shared)
    n_in, n_sh = int(edges * 0.60), int(edges * 0.25)
    n_rand = edges - n_in - n_sh
    src = rng.integers(0, systems, size=edges)
    tgt = np.empty(edges, dtype=np.int64)
    for k in range(n_in):
        m = members[int(cluster[src[k]])]
        tgt[k] = m[rng.integers(0, len(m))]
    tgt[n_in:n_in + n_sh] = shared_ids[rng.integers(0, len(shared_ids), size=n_sh)]
    tgt[n_in + n_sh:] = rng.integers(0, systems, size=n_rand)
    strong = np.zeros(edges, dtype=bool)
    strong[:n_in] = rng.random(n_in) < 0.30
    kind = np.where(strong, np.where(rng.random(edges) < 0.5, "database", "sync"), "async")
    keep = src != tgt
    d_rows = [{"id": f"D{k:06d}", "source_system": s_ids[src[k]], "target_system": s_ids[tgt[k]],
               "type": kind[k], "origin": "observed"} for k in np.flatnonzero(keep)]
    est = Estate.new(f"national-{hosts}")
    for name, rows in (("bureaus", b_rows), ("systems", s_rows), ("hosts", h_rows),
                       ("dependencies", d_rows)):
        problems = est.set_rows(name, rows)
        if problems:
            raise ValueError(problems[:3])
    return est
