"""The read ahead (a forked process reading a large workbook's later sheets) on and off,
in one process: a bare ``pandas.read_excel(engine="calamine")``, ``import_ledgers`` with
the read ahead (``AHEAD_MIN_BYTES`` = 0) and without (a huge threshold), alternating.

Run:  .venv/bin/python benchmarks/ledgers/ahead_onoff.py --hosts 100000 --repeat 4
(the workbook of bench_workbook.py, written once to /tmp/shangyun-ahead-HOSTS.xlsx)
"""

from __future__ import annotations

import argparse
import shutil
import statistics as st
import sys
import time
from pathlib import Path

import pandas as pd

import connectors.grid as grid
from shangyun.ledgers.importer import import_ledgers

sys.path.insert(0, str(Path(__file__).parent))
from bench_workbook import write_workbook


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=4)
    args = ap.parse_args()
    book = Path(f"/tmp/shangyun-ahead-{args.hosts}.xlsx")
    if not book.exists():
        write_workbook(book, args.hosts)
    est = Path(f"/tmp/shangyun-ahead-{args.hosts}-estate")
    res: dict[str, list[float]] = {"bare": [], "on": [], "off": []}
    cpu: dict[str, list[float]] = {"on": [], "off": []}
    for i in range(args.repeat):
        for k in ("bare", "on", "off") if i % 2 == 0 else ("bare", "off", "on"):
            t, c = time.perf_counter(), time.thread_time()
            if k == "bare":
                pd.read_excel(book, sheet_name=None, engine="calamine")
            else:
                grid.AHEAD_MIN_BYTES = 0 if k == "on" else 1 << 62
                shutil.rmtree(est, ignore_errors=True)
                import_ledgers([book], est, reader=grid.read_grids)
                cpu[k].append(time.thread_time() - c)
            res[k].append(time.perf_counter() - t)
    shutil.rmtree(est, ignore_errors=True)
    for k in ("on", "off"):
        pairs = [x / y for x, y in zip(res[k], res["bare"], strict=True)]
        print(f"{args.hosts} {k:3s} import min {min(res[k]):.3f} med {st.median(res[k]):.3f} s"
              f" | bare min {min(res['bare']):.3f} med {st.median(res['bare']):.3f} s"
              f" | ratio (median of pairs) {st.median(pairs):.2f}x"
              f" | main-thread CPU med {st.median(cpu[k]):.3f} s")
    print(f"on/off (medians) {st.median(res['on']) / st.median(res['off']):.3f}")


if __name__ == "__main__":
    main()
