"""Ledger import benchmark: our import beside a bare ``pandas.read_excel`` of the same files.

Two workloads:

1. the sample estate's ledgers (``shangyun.sample``: 35 bureaus + HQ, ~700 hosts, every
   bureau style: zh/en workbooks, GBK CSV, RVTools), imported in one go through the
   sample's ``ledgers/manifest.yaml`` (and, for comparison, as one import per bureau —
   each of those loads, validates and saves the whole estate);
2. one 50,000-row host ledger (.xlsx, Chinese headers, a title row, units in text, 是/否,
   三级, 政务外网 …), generated here.

For each: the bare read (``pandas.read_excel(sheet_name=None)`` for workbooks,
``pandas.read_csv`` for CSV files) with the calamine engine (the engine we use) and with
openpyxl (pandas' default), then our ``read_ledger`` (read + clean) and our full
``import_ledgers`` (read + clean + merge + validate + atomic save). Prints seconds, rows/s
and the ratios ours / bare. Target: full import <= 1.5 x the bare read.

Run:  .venv/bin/python benchmarks/ledgers/bench_import.py [--rows 50000] [--repeat 3]
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
import yaml

from connectors.grid import read_grids
from shangyun.ledgers.importer import import_ledgers
from shangyun.ledgers.read import read_ledger

HEADER = ["序号", "单位", "系统名称", "主机名", "IP地址", "MAC地址", "主机类型", "操作系统",
          "CPU(核)", "内存（G）", "磁盘(GB)", "等保级别", "是否涉密", "网络区域", "负责人",
          "联系电话", "CPU利用率(%)"]


def write_big_ledger(path: Path, rows: int, seed: int = 1) -> None:
    """A realistic one-sheet host ledger of ``rows`` rows with the usual quirks."""
    from openpyxl import Workbook

    rnd = random.Random(seed)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("主机台账")
    ws.append(["某部直属局信息系统资产台账（汇总）"])
    ws.append(HEADER)
    bureaus = [f"第{i}直属局" for i in range(1, 36)]
    oses = ["CentOS 7.9", "Red Hat Enterprise Linux 7.6", "Kylin V10", "Windows Server 2012",
            "UOS 20", "SUSE 12 SP3"]
    zones = ["政务外网", "政务内网", "互联网区", "DMZ", "管理区"]
    owners = ["张三", "李四", "王五", "赵六"]
    for i in range(rows):
        s = i // 6  # about six hosts per system, each system in one bureau
        b = s % 35
        ws.append([
            i + 1, bureaus[b], f"业务系统{s:05d}", f"host-{i:06d}",
            f"10.{b}.{(i // 250) % 250}.{i % 250 + 1}",
            f"00:50:56:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
            rnd.choice(["虚拟机", "物理机", "VM"]), rnd.choice(oses),
            rnd.choice(["4核", 8, "16", "2*8"]), rnd.choice(["16G", "32 GB", 64, "8G"]),
            rnd.choice(["500G", "2 TB", "2*300G", 1024]),
            # system-level columns: the same for every host of a system, spelled per bureau
            ["三级", "等保2级", "3"][s % 3], ["是", "否", "N", "Y"][s % 4], zones[s % 5],
            owners[s % 4],
            13800000000 + b, f"{rnd.randint(5, 40)}%",
        ])
    ws.append(["合计"] + [None] * 16)
    wb.save(path)


def timed(fn: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` runs of ``fn``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bare_read(files: list[Path], engine: str) -> int:
    """Read every file with plain pandas; returns the number of rows read."""
    n = 0
    for f in files:
        if f.suffix.lower() == ".csv":
            try:
                n += len(pd.read_csv(f, dtype=str, encoding="utf-8"))
            except UnicodeDecodeError:
                n += len(pd.read_csv(f, dtype=str, encoding="gb18030"))
        else:
            for df in pd.read_excel(f, sheet_name=None, engine=engine).values():
                n += len(df)
    return n


def sample_files(root: Path) -> list[tuple[list[Path], str | None]]:
    manifest = yaml.safe_load((root / "ledgers" / "manifest.yaml").read_text("utf-8"))
    return [([root / "ledgers" / e["folder"] / f for f in e["files"]], e.get("bureau"))
            for e in manifest["order"]]


def report(title: str, rows: int, results: dict[str, float]) -> None:
    print(f"\n== {title}: {rows:,} data rows")
    print(f"{'step':46s} {'seconds':>8s} {'rows/s':>10s} {'÷ bare calamine':>16s}")
    base = results["bare pandas.read_excel (calamine)"]
    for name, t in results.items():
        print(f"{name:46s} {t:8.3f} {rows / t:10,.0f} {t / base:15.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-openpyxl", action="store_true",
                    help="skip the slow openpyxl bare read")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shangyun-bench-ledgers-"))
    try:
        # ---- 1. the sample estate's ledgers
        from shangyun.sample import write_sample

        write_sample(work / "sample")
        groups = sample_files(work / "sample")
        files = [f for fs, _b in groups for f in fs]
        rows = sum(read_ledger(f, bureau=b, reader=read_grids).data_rows
                   for fs, b in groups for f in fs)

        def our_read() -> None:
            for fs, b in groups:
                for f in fs:
                    read_ledger(f, bureau=b, reader=read_grids)

        manifest = work / "sample" / "ledgers" / "manifest.yaml"

        def our_import() -> None:
            est = work / "est-sample"
            shutil.rmtree(est, ignore_errors=True)
            import_ledgers([manifest], est, reader=read_grids)

        def per_bureau_imports() -> None:
            est = work / "est-sample-per-bureau"
            shutil.rmtree(est, ignore_errors=True)
            for fs, b in groups:
                import_ledgers(fs, est, bureau=b, reader=read_grids)

        res = {"bare pandas.read_excel (calamine)": timed(lambda: bare_read(files, "calamine"),
                                                          args.repeat)}
        if not args.skip_openpyxl:
            res["bare pandas.read_excel (openpyxl, default)"] = timed(
                lambda: bare_read(files, "openpyxl"), args.repeat)
        res["shangyun read_ledger (read + clean)"] = timed(our_read, args.repeat)
        res["shangyun import (…+ merge, validate, save)"] = timed(our_import, args.repeat)
        res[f"  same, as {len(groups)} separate imports"] = timed(per_bureau_imports, 1)
        report(f"sample ledgers ({len(files)} files, one import of the manifest)", rows, res)

        # ---- 2. one 50,000-row ledger
        big = work / "big.xlsx"
        t0 = time.perf_counter()
        write_big_ledger(big, args.rows)
        print(f"\n(generated {big.name}: {args.rows:,} rows in {time.perf_counter() - t0:.1f} s,"
              f" {big.stat().st_size / 1e6:.1f} MB)")

        def big_import() -> None:
            est = work / "est-big"
            shutil.rmtree(est, ignore_errors=True)
            import_ledgers([big], est, reader=read_grids)

        res = {"bare pandas.read_excel (calamine)": timed(lambda: bare_read([big], "calamine"),
                                                          args.repeat)}
        if not args.skip_openpyxl:
            res["bare pandas.read_excel (openpyxl, default)"] = timed(
                lambda: bare_read([big], "openpyxl"), 1)
        res["shangyun read_ledger (read + clean)"] = timed(
            lambda: read_ledger(big, reader=read_grids), args.repeat)
        res["shangyun import (…+ merge, validate, save)"] = timed(big_import, args.repeat)
        report("one big ledger", args.rows, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
