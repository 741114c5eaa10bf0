"""Planner benchmark: speed and memory at national size, quality beside baseline and optimum.

Usage::

    .venv/bin/python benchmarks/planner/bench.py                 # everything
    .venv/bin/python benchmarks/planner/bench.py --sizes 1000 --small 5

Scale: estates from ``shangyun.sample.generate_estate`` (35 bureaus, 3,000 systems, 100,000
dependencies; 1k/5k/10k hosts), each planned in its own subprocess; wall and CPU time of
``make_plan`` and the process's peak RSS (``ru_maxrss``, includes the estate itself),
beside the naive baseline (components + first-fit decreasing) on the same estate.

Quality: small random estates (12 systems) solved exactly with CP-SAT: the fewest waves,
and the fewest cut dependencies with as many waves as the planner used.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from baseline import naive_plan  # noqa: E402
from optimum import solve  # noqa: E402

from shangyun.errors import PlanError  # noqa: E402
from shangyun.estate import Estate  # noqa: E402
from shangyun.planner import PlanOptions, make_plan  # noqa: E402
from shangyun.planner.inputs import build_input  # noqa: E402


def one_size(hosts: int, seed: int) -> dict[str, Any]:
    """Generate, plan and measure one estate (run inside a fresh subprocess)."""
    from shangyun.sample import generate_estate

    est = generate_estate(35, 3000, seed=seed, hosts=hosts, dependencies=100_000)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    opts = PlanOptions()
    # a system whose data can never fit its bureau's window is a PlanError; a planner user
    # would --exclude it (offline transfer), so the benchmark does the same and says so
    too_big: list[str] = []
    for _ in range(100):
        try:
            c0, t0 = time.process_time(), time.perf_counter()
            plan = make_plan(est, opts)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            break
        except PlanError as exc:
            hit = re.search(r"system (\S+) alone does not fit", str(exc))
            if not hit:
                raise
            too_big.append(hit.group(1))
            opts = PlanOptions(exclude=tuple(too_big))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t1 = time.perf_counter()
    naive = naive_plan(est, opts)
    naive_wall = time.perf_counter() - t1
    return {"hosts": hosts, "systems": len(est.tables["systems"]), "too_big": len(too_big),
            "dependencies": len(est.tables["dependencies"]), "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "peak_rss_mib": round(rss / 1024), "rss_before_mib":
            round(rss_before / 1024), "metrics": plan.metrics, "naive": naive,
            "naive_wall_s": round(naive_wall, 2)}


def small_estate(rng: np.random.Generator, n: int = 12) -> Estate:
    """A small random estate: 2 bureaus with windows, a shared service, strong pairs."""
    est = Estate.new("small")
    est.set_rows("bureaus", [
        {"id": "B0", "name": "b0", "kind": "bureau", "link_mbps": 100, "window_day": "sat",
         "window_start": "22:00", "window_hours": 4},
        {"id": "B1", "name": "b1", "kind": "bureau", "link_mbps": 200, "window_day": "sun",
         "window_start": "22:00", "window_hours": 4}])
    systems, hosts = [], []
    for i in range(n):
        b = f"B{int(rng.integers(0, 2))}"
        systems.append({"id": f"S{i:02d}", "name": f"s{i}", "bureau_id": b,
                        "kind": "shared-service" if i < 2 else "business",
                        "criticality": str(rng.choice(["low", "medium", "high", "critical"]))})
        for j in range(int(rng.integers(1, 4))):
            hosts.append({"id": f"H{i:02d}{j}", "hostname": f"h{i}{j}", "system_id": f"S{i:02d}",
                          "bureau_id": b, "kind": "vm", "os": "CentOS", "os_version": "7.9",
                          "arch": "x86_64", "disk_gb": float(rng.integers(5, 30))})
    deps = []
    for k in range(int(rng.integers(14, 26))):
        a, b = rng.choice(n, size=2, replace=False)
        kind = "database" if rng.random() < 0.12 else "async"
        deps.append({"id": f"D{k}", "source_system": f"S{a:02d}",
                     "target_system": f"S{b:02d}", "type": kind, "origin": "observed"})
    est.set_rows("systems", systems)
    est.set_rows("hosts", hosts)
    est.set_rows("dependencies", deps)
    est.check()
    return est


def quality(count: int, seed: int) -> dict[str, Any]:
    """Planner vs naive vs CP-SAT optimum on ``count`` small estates."""
    rng = np.random.default_rng(seed)
    rows = []
    opts = PlanOptions(max_hosts=8, max_systems=4, max_tb=None, pilot_systems=0)
    while len(rows) < count:
        est = small_estate(rng)
        try:
            plan = make_plan(est, opts)
        except PlanError:  # an infeasible random instance: draw another
            continue
        if plan.metrics["split_groups"]:
            continue  # keep instances whose strong groups fit a wave (as the model assumes)
        inp = build_input(est, opts)
        ours_w, ours_c = plan.metrics["waves"], plan.metrics["cut_dependencies"]
        bound = len(inp.systems)
        opt_w, _, proven_w = solve(inp, opts, bound, minimise="waves")
        _, opt_c, proven_c = solve(inp, opts, ours_w, minimise="cut")
        naive = naive_plan(est, opts)
        rows.append({"ours_waves": ours_w, "ours_cut": ours_c, "opt_waves": opt_w,
                     "opt_cut": opt_c, "naive_waves": naive["waves"],
                     "naive_cut": naive["cut_dependencies"], "proven": proven_w and proven_c,
                     "deps": plan.metrics["dependencies"]})
    return {"instances": rows}


def main() -> None:
    """Run the benchmark and print the tables with ratios."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000,5000,10000")
    ap.add_argument("--small", type=int, default=30, help="small instances for the optimum")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.seed)))
        return
    print("== scale: 35 bureaus, 3000 systems, 100000 dependencies (shangyun.sample) ==")
    print(f"{'hosts':>6} {'wall s':>7} {'cpu s':>6} {'peak MiB':>9} {'waves':>6} {'LB':>4} "
          f"{'naive w':>8} {'cut':>7} {'naive cut':>10} {'cut ratio':>10} {'naive s':>8} "
          f"{'too big':>8}")
    for size in [int(s) for s in args.sizes.split(",") if s]:
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--seed",
                              str(args.seed)], capture_output=True, text=True, check=True,
                             timeout=900)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        m, nv = r["metrics"], r["naive"]
        print(f"{size:>6} {r['wall_s']:>7.2f} {r['cpu_s']:>6.2f} {r['peak_rss_mib']:>9} "
              f"{m['waves']:>6} {m['lower_bound_waves']:>4} {nv['waves']:>8} "
              f"{m['cut_dependencies']:>7} {nv['cut_dependencies']:>10} "
              f"{m['cut_dependencies'] / max(nv['cut_dependencies'], 1):>10.3f} "
              f"{r['naive_wall_s']:>8.2f} {r['too_big']:>8}")
    if args.small:
        print(f"\n== quality: {args.small} small estates (12 systems) vs CP-SAT optimum ==")
        q = quality(args.small, args.seed)["instances"]
        ours_c = sum(r["ours_cut"] for r in q)
        opt_c = sum(r["opt_cut"] for r in q)
        naive_c = sum(r["naive_cut"] for r in q)
        gaps = [r["ours_waves"] - r["opt_waves"] for r in q]
        within = sum(1 for r in q if r["ours_waves"] <= r["opt_waves"] + 1
                     and r["ours_cut"] <= 1.05 * r["opt_cut"] + 1e-9)
        print(f"waves: ours {sum(r['ours_waves'] for r in q)}, optimum "
              f"{sum(r['opt_waves'] for r in q)}, naive {sum(r['naive_waves'] for r in q)}; "
              f"max extra waves over optimum: {max(gaps)}")
        print(f"cut dependencies: ours {ours_c}, optimum {opt_c} (ratio "
              f"{ours_c / max(opt_c, 1):.3f}), naive {naive_c} (ratio "
              f"{naive_c / max(opt_c, 1):.3f})")
        print(f"instances within +1 wave and ≤ 5 % cut of the optimum: {within}/{len(q)}; "
              f"proven optimal: {sum(r['proven'] for r in q)}/{len(q)}")
        worst = sorted(q, key=lambda r: r["ours_cut"] - r["opt_cut"])[-3:]
        print("worst instances (ours/opt cut, ours/opt waves):",
              [(r["ours_cut"], r["opt_cut"], r["ours_waves"], r["opt_waves"]) for r in worst])


if __name__ == "__main__":
    main()
