"""Dependency and disk sheets without a 单位 column are read column by column (each
distinct name resolved once); the estate must be the one the row-by-row reading gives.

The reference is the same ledger with a 单位 column on those sheets (read row by row,
each name resolved in the row's bureau): every system and host name is unique, so both
must give the same rows in the same order. Rows the column reader cannot take (a name no
file defines yet, a bad port, an ambiguous host) go through the row reader: deferred rows
resolve against a later file, and a refusal names the file, sheet, row and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.grid import read_grids
from shangyun.errors import LedgerError
from shangyun.estate.model import Estate
from shangyun.ledgers.importer import import_ledgers

from .conftest import write_xlsx

HOSTS = [["单位", "系统名称", "主机名", "IP地址", "操作系统"],
         ["甲局", "统一认证", "auth-app01", "10.0.1.10", "CentOS 7.9"],
         ["甲局", "统一认证", "auth-db01", "10.0.1.11", "CentOS 7.9"],
         ["乙局", "行政审批", "xzsp-app01", "10.0.2.10", "Kylin V10"],
         ["乙局", "门户网站", "mh-web01", "10.0.2.20", "UOS 20"]]
#: (bureau of the row, disk cells): host by name or by IP, a blank row between
DISKS = [("甲局", ["auth-app01", "sda", 100]), ("甲局", ["10.0.1.11", "sdb", 500]),
         (None, [None, None, None]), ("乙局", ["xzsp-app01", "sda", 200]),
         ("乙局", ["mh-web01", "sda", "1 TB"])]
#: (bureau of the row, dependency cells): several ports in a cell, port 0, no port
DEPS = [("甲局", ["统一认证", "行政审批", "auth-app01", "443,8443", "https"]),
        ("乙局", ["行政审批", "统一认证", "xzsp-app01", 0, "ldap"]),
        (None, [None, None, None, None, None]),
        ("乙局", ["门户网站", "行政审批", "mh-web01", None, "http"]),
        ("乙局", ["门户网站", "统一认证", None, 389, None])]
DISK_HEADER = ["主机名", "磁盘名称", "容量(GB)"]
DEP_HEADER = ["源系统", "目标系统", "源主机", "端口", "服务"]


def _sheet(header: list[str], rows: list[tuple[str | None, list[Any]]],
           bureau: bool) -> list[list[Any]]:
    if not bureau:
        return [header, *(cells for _b, cells in rows)]
    return [["单位", *header], *([b, *cells] for b, cells in rows)]


def _estate(tmp_path: Path, name: str, bureau: bool) -> dict[str, list[dict[str, Any]]]:
    book = write_xlsx(tmp_path / f"{name}.xlsx", {
        "主机": HOSTS, "磁盘": _sheet(DISK_HEADER, DISKS, bureau),
        "依赖关系": _sheet(DEP_HEADER, DEPS, bureau)})
    est = tmp_path / f"est-{name}"
    import_ledgers([book], est, reader=read_grids)
    e = Estate.load(est)
    return {t: [{k: v for k, v in r.items() if k != "source"} for r in e.rows(t)]
            for t in ("systems", "hosts", "disks", "dependencies")}


def test_columnwise_sheets_give_the_rows_the_row_reader_gives(tmp_path: Path) -> None:
    by_column = _estate(tmp_path, "no-bureau", bureau=False)
    by_row = _estate(tmp_path, "bureau", bureau=True)
    assert by_column == by_row
    deps = by_column["dependencies"]
    assert [d.get("port") for d in deps] == [443, 8443, 0, None, 389]
    assert [d["size_gb"] for d in by_column["disks"]] == [100, 500, 200, 1024]
    hosts = {h["id"]: h["hostname"] for h in by_column["hosts"]}
    assert [hosts[d["host_id"]] for d in by_column["disks"]] == [
        "auth-app01", "auth-db01", "xzsp-app01", "mh-web01"]


def test_a_name_defined_by_a_later_file_waits_for_it(tmp_path: Path) -> None:
    deps = write_xlsx(tmp_path / "deps.xlsx", {"依赖关系": [
        DEP_HEADER, ["统一认证", "行政审批", "auth-app01", 443, "https"],
        ["统一认证", "档案管理", "auth-app01", 80, "http"]]})
    other = write_xlsx(tmp_path / "other.xlsx", {"主机": [
        ["单位", "系统名称", "主机名"], ["丙局", "档案管理", "da-app01"]]})
    book = write_xlsx(tmp_path / "hosts.xlsx", {"主机": HOSTS})
    est = tmp_path / "est"
    import_ledgers([deps, book, other], est, reader=read_grids)
    e = Estate.load(est)
    names = {s["id"]: s["name"] for s in e.rows("systems")}
    got = sorted((names[d["source_system"]], names[d["target_system"]], d["port"])
                 for d in e.rows("dependencies"))
    assert got == [("统一认证", "档案管理", 80), ("统一认证", "行政审批", 443)]


@pytest.mark.parametrize(("sheet", "rows", "row", "column", "text"), [
    ("依赖关系", [DEP_HEADER, ["统一认证", "行政审批", None, 443, None],
                  ["统一认证", "行政审批", None, "70000", None]],
     3, "端口 (D)", "not between 0 and 65535"),
    ("磁盘", [DISK_HEADER, ["auth-app01", "sda", 100], ["web01", "sda", 100]],
     3, "主机名 (A)", "ambiguous"),
])
def test_a_refusal_still_names_file_sheet_row_and_column(
        tmp_path: Path, sheet: str, rows: list[list[Any]], row: int, column: str,
        text: str) -> None:
    hosts = [*HOSTS, ["甲局", "统一认证", "web01", "10.0.1.30", "CentOS 7.9"],
             ["乙局", "门户网站", "web01", "10.0.2.30", "UOS 20"]]
    book = write_xlsx(tmp_path / "book.xlsx", {"主机": hosts, sheet: rows})
    est = tmp_path / "est"
    with pytest.raises(LedgerError) as err:
        import_ledgers([book], est, reader=read_grids)
    assert (err.value.sheet, err.value.row, err.value.column) == (sheet, row, column)
    assert text in str(err.value)
    assert not est.exists() or not any(est.iterdir())
