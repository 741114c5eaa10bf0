"""A large workbook's sheets after the first are read ahead by a forked process (their
rows found and cleaned) while this one reads the first sheet; the rows are built here.
The import must be the one a single process gives: the same estate, the same report, the
same refusal word for word — and a small workbook starts no process at all.

The tests lower ``AHEAD_MIN_BYTES`` to 0 so that their small workbooks take the path.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import openpyxl
import pytest

import connectors.grid as grid
from connectors.grid import read_grids
from shangyun.errors import LedgerError
from shangyun.ledgers.formats.ledger import ReadAhead, SheetAhead
from shangyun.ledgers.grid import Grid
from shangyun.ledgers.importer import import_ledgers

from .conftest import write_xlsx

HOSTS = [["某部信息系统资产台账"],
         ["单位", "系统名称", "主机名", "IP地址", "操作系统", "内存(G)"],
         ["甲局", "统一认证", "auth-app01", "10.0.1.10", "CentOS 7.9", 16],
         ["甲局", "统一认证", "auth-db01", "10.0.1.11", "CentOS 7.9", "32G"],
         ["乙局", "行政审批", "xzsp-app01", "10.0.2.10", "Kylin V10", 8],
         ["乙局", "门户网站", "mh-web01", "10.0.2.20", "UOS 20", 8]]
DISKS = [["主机名", "磁盘名称", "容量(GB)", "备注"],
         ["auth-app01", "sda", 100, "系统盘"], ["10.0.1.11", "sdb", 500, None],
         [None, None, None, None], ["xzsp-app01", "sda", 200, None],
         ["mh-web01", "sda", "1 TB", None], ["注：容量按分配计", None, None, None]]
DEPS = [["源系统", "目标系统", "源主机", "端口", "服务"],
        ["统一认证", "行政审批", "auth-app01", "443,8443", "https"],
        ["行政审批", "统一认证", "xzsp-app01", 0, "ldap"],
        [None, None, None, None, None],
        ["门户网站", "行政审批", "mh-web01", None, "http"],
        ["门户网站", "统一认证", None, 389, None]]


def _one_process(path: Path) -> list[Grid]:
    """``read_grids`` without reading ahead (a reader without ``reads_ahead``)."""
    return read_grids(path)


def _import(book: Path, est: Path, reader: Any) -> dict[str, Any]:
    report = import_ledgers([book], est, reader=reader)
    out = report.to_dict()
    out.pop("estate")
    files = {p.name: p.read_bytes() for p in est.iterdir() if p.suffix == ".csv"}
    return {"report": json.dumps(out, ensure_ascii=False, sort_keys=True, default=str),
            "csv": files}


@pytest.fixture
def ahead_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid, "AHEAD_MIN_BYTES", 0)


@pytest.mark.usefixtures("ahead_always")
def test_a_workbook_read_ahead_imports_as_one_process_reads_it(tmp_path: Path) -> None:
    book = write_xlsx(tmp_path / "ledger.xlsx", {"主机": HOSTS, "磁盘": DISKS, "依赖关系": DEPS})
    grids = read_grids(book, ahead=ReadAhead({}))
    for g in grids:
        close = getattr(g.rows, "close", None)
        if close is not None:
            close()
    assert [type(g.ahead) for g in grids] == [type(None), SheetAhead, SheetAhead]
    assert all(isinstance(g.ahead.done(), tuple) for g in grids[1:])  # the work came back
    ahead = _import(book, tmp_path / "est-ahead", read_grids)
    alone = _import(book, tmp_path / "est-alone", _one_process)
    assert ahead == alone
    assert len(ahead["csv"]["dependencies.csv"].splitlines()) == 1 + 5  # (443 and 8443)
    assert multiprocessing.active_children() == []


@pytest.mark.usefixtures("ahead_always")
def test_what_only_the_sheet_xml_says_of_a_sheet_read_ahead_is_said(tmp_path: Path) -> None:
    """A hidden row (skipped, with a warning) and a formula saved without its value (a
    warning) on the sheets read ahead, and a sheet of systems after them (no work ahead:
    its grid comes whole): the same report as one process gives."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in (("主机", HOSTS), ("磁盘", DISKS), ("依赖关系", DEPS),
                       ("系统", [["单位", "系统名称", "负责人"], ["甲局", "统一认证", "张三"]])):
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(list(row))
    wb["磁盘"].row_dimensions[3].hidden = True  # (10.0.1.11's disk)
    wb["依赖关系"]["E3"] = "=1+1"  # a formula without a cached value
    book = tmp_path / "ledger.xlsx"
    wb.save(book)
    grids = read_grids(book, ahead=ReadAhead({}))
    for g in grids:
        close = getattr(g.rows, "close", None)
        if close is not None:
            close()
    assert [type(g.ahead) for g in grids] == [type(None), SheetAhead, SheetAhead, type(None)]
    assert (grids[1].hidden_rows, grids[2].formula_blanks) == ([2], [(2, 4)])
    ahead = _import(book, tmp_path / "est-ahead", read_grids)
    alone = _import(book, tmp_path / "est-alone", _one_process)
    assert ahead == alone
    assert "hidden row" in ahead["report"] and "a formula saved without its value" in \
        ahead["report"]
    assert multiprocessing.active_children() == []


@pytest.mark.usefixtures("ahead_always")
@pytest.mark.parametrize(("sheet", "row", "cell"), [
    ("依赖关系", 2, ["统一认证", "行政审批", "auth-app01", 70000, "https"]),   # bad port
    ("依赖关系", 3, ["没有的系统", "统一认证", "xzsp-app01", 0, "ldap"]),      # unknown name
    ("磁盘", 3, ["no-such-host", "sdb", 500, None]),                         # unknown host
    ("磁盘", 2, ["auth-app01", "sda", "-100", "系统盘"]),                      # bad size
])
def test_a_bad_cell_of_a_sheet_read_ahead_is_refused_word_for_word(
        tmp_path: Path, sheet: str, row: int, cell: list[Any]) -> None:
    sheets = {"主机": HOSTS, "磁盘": [list(r) for r in DISKS], "依赖关系": [list(r) for r in DEPS]}
    sheets[sheet][row - 1] = cell
    book = write_xlsx(tmp_path / "ledger.xlsx", sheets)
    errors = []
    for name, reader in (("ahead", read_grids), ("alone", _one_process)):
        with pytest.raises(LedgerError) as got:
            import_ledgers([book], tmp_path / f"est-{name}", reader=reader)
        errors.append(str(got.value))
        assert not (tmp_path / f"est-{name}").exists()  # nothing written
    assert errors[0] == errors[1]
    assert f"sheet {sheet!r}" in errors[0] or sheet in errors[0]
    assert multiprocessing.active_children() == []


def test_a_small_workbook_is_read_by_one_process(tmp_path: Path) -> None:
    book = write_xlsx(tmp_path / "ledger.xlsx", {"主机": HOSTS, "磁盘": DISKS, "依赖关系": DEPS})
    assert book.stat().st_size < grid.AHEAD_MIN_BYTES
    grids = read_grids(book, ahead=ReadAhead({}))
    assert [g.ahead for g in grids] == [None, None, None]
    assert all(type(g.rows) is list for g in grids)
