"""Two source trees' workbook import, side by side: processes of each tree alternating.

Each process (``PYTHONPATH`` = its tree) runs ``--repeat`` pairs of a bare
``pandas.read_excel(path, sheet_name=None, engine="calamine")`` and an ``import_ledgers``
of the same workbook into a new estate (the pair alternating in one process), and prints
the minimum and median of each, the main thread's CPU seconds (``time.thread_time``)
around the import, the median of the pairs' ratios and the load average. ``--rounds``
processes per tree, base and new alternating, so a machine shared with other work loads
both alike. The workbook is ``bench_workbook.py``'s (made once, in a temporary folder).

Run:  .venv/bin/python benchmarks/ledgers/ab_trees.py --base /tmp/base-src --new . \\
          --hosts 10000 --repeat 7 --rounds 3
      (``--base``: a tree of the code before, e.g. ``git archive main | tar -x -C DIR``)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import gc, os, shutil, statistics, sys, time
from pathlib import Path
import pandas as pd
import shangyun
from connectors.grid import read_grids
from shangyun.ledgers.importer import import_ledgers
book, work, reps, tag = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
bare, imp, cpu, ratios = [], [], [], []
for _ in range(reps):
    gc.collect()
    t0 = time.perf_counter()
    pd.read_excel(book, sheet_name=None, engine="calamine")
    b = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    gc.collect()
    c0, t0 = time.thread_time(), time.perf_counter()
    import_ledgers([book], work, reader=read_grids)
    i, c = time.perf_counter() - t0, time.thread_time() - c0
    bare.append(b); imp.append(i); cpu.append(c); ratios.append(i / b)
shutil.rmtree(work, ignore_errors=True)
def f(xs):
    return f"min {min(xs):.3f} med {statistics.median(xs):.3f}"
print(f"{tag:4s} load {os.getloadavg()[0]:.2f}  bare {f(bare)} | import {f(imp)} | "
      f"main CPU {f(cpu)} | ratio (median of pairs) {statistics.median(ratios):.2f}x "
      f"[{Path(shangyun.__file__).parent}]", flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the tree of the code before")
    ap.add_argument("--new", default=".", help="the tree of the code after (default: .)")
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=7, help="pairs per process")
    ap.add_argument("--rounds", type=int, default=3, help="processes per tree")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_workbook import write_workbook

    work = Path(tempfile.mkdtemp(prefix="shangyun-ab-trees-"))
    try:
        book = work / "programme.xlsx"
        write_workbook(book, args.hosts)
        print(f"{args.hosts:,} hosts, {book.stat().st_size / 1e6:.1f} MB", flush=True)
        for _ in range(args.rounds):
            for tag, tree in (("base", args.base), ("new", args.new)):
                env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
                subprocess.run([sys.executable, "-c", CHILD, str(book), str(work / "est"),
                                str(args.repeat), tag], env=env, check=True,
                               cwd=work)  # (not here: "-c" puts the folder first on the path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
