"""Sample generator benchmark: ``generate_estate`` at the planner's scales, side by side with
(a) building the same estate row by row through ``Estate.from_records`` (the generic path a
per-row generator would take) and (b) the planner benchmark's own fallback generator
(``benchmarks/planner/estates.py: national``), when present. Also times ``write_ledgers``
and ``write_sample`` for the default sample.

Run: .venv/bin/python benchmarks/sample/bench_sample.py [--rounds 3]
Prints medians (wall and CPU seconds) and ratios ours / peer (< 1 = ours faster).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shangyun.estate import Estate  # noqa: E402
from shangyun.sample import generate_estate, write_ledgers, write_sample  # noqa: E402

SCALES = ((1_000, 3_000, 100_000), (5_000, 3_000, 100_000), (10_000, 3_000, 100_000))


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``fn`` over ``rounds`` runs, and its last result."""
    walls, cpus, out = [], [], None
    for _ in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def planner_fallback() -> Callable[..., Estate] | None:
    """``national`` of benchmarks/planner/estates.py, if that file exists."""
    path = ROOT / "benchmarks" / "planner" / "estates.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("planner_estates", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, "national", None)


def main() -> None:
    """Run every comparison and print a table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    national = planner_fallback()
    print(f"{'case':<44}{'ours s':>9}{'cpu s':>8}{'peer s':>9}{'cpu s':>8}{'ratio':>8}")
    for hosts, systems, deps in SCALES:
        w, c, est = timed(lambda h=hosts, s=systems, d=deps: generate_estate(
            systems=s, hosts=h, dependencies=d), args.rounds)
        assert est.validate() == []
        rows = {name: est.rows(name) for name in est.tables if name != "conflicts"}
        pw, pc, again = timed(lambda r=rows, m=est.meta: Estate.from_records(m, r), 1)
        assert again.fingerprint() == est.fingerprint()
        label = f"{hosts // 1000}k hosts/{systems // 1000}k sys/{deps // 1000}k deps vs rows"
        print(f"{label:<44}{w:>9.2f}{c:>8.2f}{pw:>9.2f}{pc:>8.2f}{w / pw:>8.2f}")
        if national is not None:
            nw, nc, _ = timed(lambda h=hosts, s=systems, d=deps: national(h, s, d),
                              args.rounds)
            label = f"{hosts // 1000}k hosts vs planner fallback generator"
            print(f"{label:<44}{w:>9.2f}{c:>8.2f}{nw:>9.2f}{nc:>8.2f}{w / nw:>8.2f}")
    est = generate_estate()
    with tempfile.TemporaryDirectory(prefix="sy-bench-sample-") as tmp:
        w, c, files = timed(lambda: write_ledgers(est, Path(tmp) / "ledgers", 0), args.rounds)
        print(f"{'write_ledgers (default: 36 bureaus)':<44}{w:>9.2f}{c:>8.2f}"
              f"   ({len(files)} files)")
        w, c, _ = timed(lambda: write_sample(Path(tmp) / "s", force=True), args.rounds)
        print(f"{'write_sample (estate + ledgers, default)':<44}{w:>9.2f}{c:>8.2f}")


if __name__ == "__main__":
    main()
