"""Workbook import at programme scale beside a bare ``pandas.read_excel(engine="calamine")``.

One workbook of three sheets: 主机 (N hosts with 单位, 系统名称, IP, OS, CPU, memory …),
磁盘 (N disk rows naming their host by name, no 单位 column) and 依赖关系 (N dependency
rows 源系统/目标系统/源主机/端口 with **no 单位 column**: every name is resolved across the
bureaus of the workbook). 3 N rows in all; systems of different bureaus have different
names, so each name resolves to exactly one system.

Timed: the bare read (``pandas.read_excel(path, sheet_name=None, engine="calamine")``) and
``import_ledgers`` into a new estate (read + clean + resolve + merge + validate + save).
The ratio import / bare read is printed; the goal is <= 1.5x at both sizes, i.e. an
import cost linear in rows (a quadratic name lookup never finished at 100,000 hosts).

With ``--phases`` one more import is timed phase by phase (the grid reader, the sheet XML
scan, reading the sheets into rows, merge, typed frames, validation, save).

Run:  .venv/bin/python benchmarks/ledgers/bench_workbook.py --hosts 10000 [--repeat 3] [--phases]
      .venv/bin/python benchmarks/ledgers/bench_workbook.py --hosts 100000 --repeat 1
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from openpyxl import Workbook

from connectors.grid import read_grids
from shangyun.ledgers.importer import import_ledgers

HOST_HEADER = ["序号", "单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存（G）",
               "磁盘(GB)", "等保级别", "网络区域", "负责人"]
BUREAUS = 35
HOSTS_PER_SYSTEM = 6


def write_workbook(path: Path, hosts: int, seed: int = 7) -> int:
    """The three-sheet workbook of ``hosts`` hosts; returns its number of data rows."""
    rnd = random.Random(seed)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("主机")
    ws.append(["某部信息系统资产台账（汇总）"])
    ws.append(HOST_HEADER)
    systems = (hosts + HOSTS_PER_SYSTEM - 1) // HOSTS_PER_SYSTEM
    oses = ["CentOS 7.9", "Kylin V10", "Windows Server 2012", "UOS 20", "RHEL 7.6"]
    zones = ["政务外网", "政务内网", "互联网区", "DMZ"]
    for i in range(hosts):
        s = i // HOSTS_PER_SYSTEM
        b = s % BUREAUS
        ws.append([i + 1, f"第{b + 1}直属局", f"第{b + 1}局业务系统{s:06d}", f"h{i:07d}",
                   f"10.{b}.{(i // 250) % 250}.{i % 250 + 1}", rnd.choice(oses),
                   rnd.choice(["4核", 8, "16"]), rnd.choice(["16G", 32, "64 GB"]),
                   rnd.choice(["500G", 1024, "2 TB"]), ["三级", "等保2级", "3"][s % 3],
                   zones[s % 4], ["张三", "李四"][s % 2]])
    ds = wb.create_sheet("磁盘")
    ds.append(["主机名", "磁盘名称", "容量(GB)", "已用(GB)"])
    for i in range(hosts):
        ds.append([f"h{i:07d}", "sda", rnd.choice([100, 200, 500]), rnd.randint(10, 90)])
    dep = wb.create_sheet("依赖关系")
    dep.append(["源系统", "目标系统", "源主机", "端口", "服务"])
    for i in range(hosts):
        s = i // HOSTS_PER_SYSTEM
        t = rnd.randrange(systems)
        dep.append([f"第{s % BUREAUS + 1}局业务系统{s:06d}",
                    f"第{t % BUREAUS + 1}局业务系统{t:06d}",
                    f"h{i:07d}", rnd.choice([80, 443, 1521, 3306, "8080,8443"]), "http"])
    wb.save(path)
    return 3 * hosts


def timed(fn: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` runs of ``fn``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def phases(book: Path, work: Path) -> dict[str, float]:
    """Seconds per phase of one import of ``book`` (each phase's function wrapped with a
    timer for the duration of the call; the wrappers are removed afterwards)."""
    import connectors.grid as grid
    import shangyun.estate.merge as merge
    import shangyun.estate.model as model
    import shangyun.ledgers.formats.ledger as ledger
    import shangyun.ledgers.read as read

    spent: dict[str, float] = {}
    wrapped = [(grid, "_read_excel", "read workbook (calamine + XML scan)"),
               (grid, "sheet_xml", "  of which sheet XML scan"),
               (ledger, "_read_sheet", "sheets -> rows (clean, ids, names)"),
               (read, "check_ids", "check ids"), (merge.Merger, "merge", "merge"),
               (merge.Merger, "finish", "typed frames"),
               (model.Estate, "validate", "validate"), (model.Estate, "save", "save")]
    originals = []
    for owner, name, label in wrapped:
        fn = getattr(owner, name)
        originals.append((owner, name, fn))

        def timer(*a: object, _fn: Callable[..., object] = fn, _label: str = label,
                  **k: object) -> object:
            t0 = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, timer)
    try:
        est = work / "est-phases"
        t0 = time.perf_counter()
        import_ledgers([book], est, reader=read_grids)
        spent["whole import"] = time.perf_counter() - t0
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--phases", action="store_true", help="time one more import by phase")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shangyun-bench-workbook-"))
    try:
        book = work / "programme.xlsx"
        t0 = time.perf_counter()
        rows = write_workbook(book, args.hosts)
        print(f"generated {book.name}: {args.hosts:,} hosts, {rows:,} data rows, "
              f"{book.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s")

        def bare() -> None:
            pd.read_excel(book, sheet_name=None, engine="calamine")

        counts: dict[str, int] = {}

        def ours() -> None:
            est = work / "est"
            shutil.rmtree(est, ignore_errors=True)
            report = import_ledgers([book], est, reader=read_grids)
            counts.update(report.totals)

        t_bare = timed(bare, args.repeat)
        t_ours = timed(ours, args.repeat)
        print(f"estate: {counts}")
        print(f"{'step':44s} {'seconds':>8s} {'rows/s':>10s}")
        print(f"{'bare pandas.read_excel (calamine)':44s} {t_bare:8.2f} {rows / t_bare:10,.0f}")
        name = "shangyun import_ledgers (whole import)"
        print(f"{name:44s} {t_ours:8.2f} {rows / t_ours:10,.0f}")
        print(f"ratio import / bare read: {t_ours / t_bare:.2f}x (goal <= 1.5x)")
        if args.phases:
            for label, sec in phases(book, work).items():
                print(f"  {label:42s} {sec:8.3f} s  {sec / t_bare:5.2f}x bare read")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
