"""Do two versions of the code import the same ledgers into the same estates?

For a change to the import that must not change its output (a speed-up): runs one set of
imports with each source tree (``PYTHONPATH`` = the tree, one child process each) and
compares what they wrote, so a round of work can show "byte-identical" rather than say it.

The imports, each into a fresh estate unless said otherwise:

- the bench workbooks of ``bench_workbook.py`` (2,000 and 10,000 hosts; the 2,000 one
  twice onto one estate);
- the sample's manifest (``inventories/sample/ledgers/manifest.yaml``), and its folders one
  by one onto one estate (docs/sample.md), and every sample ledger file alone with its
  bureau;
- a few workbooks made here where what one sheet reads depends on another (a 填报单位
  line on another sheet, a bureau sheet after the host sheet, a systems sheet first, a
  hidden first sheet, one sheet only, two tables on the first sheet) — round 10 read the
  first sheet ahead of the others and had to keep these the same;
- a workbook with bad cells in two sheets (the error's text, word for word).

Compared: every CSV byte for byte, ``estate.yaml`` but its time stamps, name, source
paths and hashes, and the whole ``ImportReport`` as JSON (but the estate's path), or the
error's text. Prints each difference and ``SAME`` / ``N DIFFERENCES``; exits 1 on any.

Run:  .venv/bin/python benchmarks/ledgers/same_estates.py --base /tmp/base-src --new .
      (``--base``: a tree of the code before, e.g. ``git archive main | tar -x -C DIR``)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent.parent / "inventories" / "sample" / "ledgers"


def _workbooks(out: Path) -> list[tuple[str, Path]]:
    """The workbooks this script makes: (case name, path)."""
    sys.path.insert(0, str(HERE))
    from bench_workbook import write_workbook
    from openpyxl import Workbook

    made = []
    for n in (2000, 10000):
        p = out / f"bench{n}.xlsx"
        write_workbook(p, n)
        made.append((f"bench{n}", p))

    def book(name: str, sheets: list[tuple[str, list[list[object]]]],
             hidden: tuple[str, ...] = ()) -> None:
        wb = Workbook()
        wb.remove(wb.active)
        for title, rows in sheets:
            ws = wb.create_sheet(title)
            for r in rows:
                ws.append(r)
            if title in hidden:
                ws.sheet_state = "hidden"
        p = out / f"{name}.xlsx"
        wb.save(p)
        made.append((name, p))

    head = ["主机名", "IP地址", "系统名称", "操作系统", "CPU(核)", "内存（G）"]
    hosts = [[f"srv{i:03d}", f"10.1.{i // 200}.{i % 200 + 1}", f"业务系统{i // 4}",
              "CentOS 7.9", 4 + i % 3, 16] for i in range(60)]
    with_bureau = [[*head, "单位"], *([*h, "湖北直属局"] for h in hosts)]
    disks = [["主机名", "磁盘名称", "容量(GB)"], *([f"srv{i:03d}", "sda", 100 + i]
                                              for i in range(60))]
    deps = [["源系统", "目标系统", "端口"], *([f"业务系统{i}", f"业务系统{(i + 3) % 15}", 443]
                                         for i in range(15))]
    line = ["填报单位：湖北直属局"]
    book("line-on-second-sheet", [("主机", [head, *hosts]), ("磁盘", [line, *disks])])
    book("line-on-first-sheet", [("主机", [line, head, *hosts]),
                                ("磁盘", [["填报单位：湖南直属局"], *disks]),
                                ("依赖关系", deps)])
    book("bureau-sheet-after", [("主机", with_bureau),
                                ("单位", [["单位名称", "带宽(Mbps)"], ["湖北直属局", 100]])])
    book("systems-first", [("系统", [["系统名称", "单位", "负责人"],
                                   *([f"业务系统{i}", "湖北直属局", "张三"] for i in range(15))]),
                           ("主机", with_bureau)])
    book("hidden-first", [("旧主机", [head, *hosts[:5]]), ("主机", with_bureau),
                          ("磁盘", disks)], hidden=("旧主机",))
    book("one-sheet", [("主机", with_bureau)])
    book("two-tables", [("主机", [*with_bureau, [], ["数据库名称", "数据库类型", "主机名"],
                                *([f"db{i}", "MySQL", f"srv{i:03d}"] for i in range(5))]),
                        ("依赖关系", deps)])
    bad = [row[:] for row in with_bureau]
    bad[7][0] = "bad host/name"
    bad[9][1] = "10.1.300.1"
    bad_disks = [row[:] for row in disks]
    bad_disks[4][0] = "no-such-host"
    bad_disks[5][2] = "lots"
    book("bad-cells", [("主机", bad), ("磁盘", bad_disks)])
    return made


def run(out: Path, books: Path) -> None:
    """Do every import with the code on ``sys.path`` (the child's side) of the workbooks in
    ``books`` and the sample; write the estates, and each report (or error text) as
    ``NAME.json``, under ``out``."""
    import yaml

    from connectors.grid import read_grids
    from shangyun.errors import LedgerError
    from shangyun.ledgers.importer import import_ledgers

    (out / "code.txt").write_text(str(Path(sys.modules["shangyun"].__file__ or "").parent))

    def one(name: str, files: list, estate: str | None = None, **kw: object) -> None:
        est = out / "estates" / (estate or name)
        try:
            report = import_ledgers(files, est, reader=read_grids, **kw)  # type: ignore[arg-type]
            got: object = report.to_dict()
            got.pop("estate", None)  # type: ignore[attr-defined]
        except LedgerError as exc:
            got = {"error": str(exc)}
        text = json.dumps(got, ensure_ascii=False, indent=1, sort_keys=True, default=str)
        (out / f"{name}.json").write_text(text.replace(str(out), "OUT")
                                          .replace(str(books), "BOOKS"))

    for name, p in json.loads((books / "books.json").read_text()):
        one(name, [p])
        if name == "bench2000":
            one("bench2000-again", [p], estate=name)
    manifest = SAMPLE / "manifest.yaml"
    one("sample-manifest", [manifest])
    order = yaml.safe_load(manifest.read_text())["order"]
    for n, entry in enumerate(order):
        files = [(SAMPLE / entry["folder"] / f, entry.get("bureau")) for f in entry["files"]]
        one(f"sample-folders-{n:02d}", files, estate="sample-folders")
        for k, f in enumerate(files):
            one(f"sample-file-{n:02d}-{k}", [f])


_STAMPS = re.compile(r"^(\s*(?:-\s+)?(?:created|updated|imported_at|name|path|sha256):).*$",
                     re.M)


def compare(base: Path, new: Path) -> int:
    """Print the differences between two runs' outputs; their number."""
    diffs = 0
    for a in sorted(base.rglob("*")):
        rel = a.relative_to(base)
        if a.is_dir() or rel.name == "code.txt":
            continue
        b = new / rel
        if not b.exists():
            print(f"only in base: {rel}")
            diffs += 1
            continue
        x, y = a.read_bytes(), b.read_bytes()
        if rel.name == "estate.yaml":
            x, y = (_STAMPS.sub(r"\1 *", t.decode()).encode() for t in (x, y))
        if x != y:
            print(f"DIFFERENT: {rel}")
            diffs += 1
    for b in sorted(new.rglob("*")):
        rel = b.relative_to(new)
        if b.is_file() and not (base / rel).exists():
            print(f"only in new: {rel}")
            diffs += 1
    return diffs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="source tree of the code before")
    ap.add_argument("--new", default=str(HERE.parent.parent), help="source tree after")
    ap.add_argument("--keep", help="keep the estates and reports in this folder")
    ap.add_argument("--run", help=argparse.SUPPRESS)  # the child's side: output folder
    ap.add_argument("--books", help=argparse.SUPPRESS)  # the child's side: the workbooks
    args = ap.parse_args()
    if args.run:
        run(Path(args.run), Path(args.books))
        return
    work = Path(args.keep or tempfile.mkdtemp(prefix="shangyun-same-estates-"))
    shutil.rmtree(work, ignore_errors=True)
    books = work / "books"
    books.mkdir(parents=True)
    made = [(name, str(p)) for name, p in _workbooks(books)]  # the same files for both
    (books / "books.json").write_text(json.dumps(made))
    try:
        outs = []
        for side in ("base", "new"):
            root = Path(getattr(args, side)).resolve()
            out = work / side
            out.mkdir()
            env = dict(os.environ, PYTHONPATH=str(root))
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--base", "-",
                            "--run", str(out), "--books", str(books)], env=env, check=True)
            print(f"{side}: {(out / 'code.txt').read_text()}, "
                  f"{len(list(out.glob('*.json')))} imports")
            outs.append(out)
        diffs = compare(*outs)
        print("SAME" if not diffs else f"{diffs} DIFFERENCES")
        sys.exit(1 if diffs else 0)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
