"""The format registry: each file goes to the first format that recognises it; a format
added by a caller is used without touching the reader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from connectors.grid import read_grids
from shangyun.estate import Estate
from shangyun.ledgers.collector import Collector
from shangyun.ledgers.export import export_xlsx
from shangyun.ledgers.formats import (
    EXPORT,
    FORMATS,
    LEDGER,
    RVTOOLS,
    FormatRead,
    LedgerFormat,
    LedgerInput,
    detect_format,
)
from shangyun.ledgers.grid import Grid
from shangyun.ledgers.model import SheetReport
from shangyun.ledgers.read import read_ledger
from tests.ledgers.test_rvtools import rvtools


def test_each_file_goes_to_its_format(xlsx: Callable[..., Path], bureau_ledger: Path,
                                      tmp_path: Path) -> None:
    assert FORMATS[-1] is LEDGER
    assert detect_format(read_grids(rvtools(xlsx, "MiB"))) is RVTOOLS
    assert detect_format(read_grids(bureau_ledger)) is LEDGER
    est = Estate.from_records({"name": "x"}, {"bureaus": [{"id": "b1", "name": "B",
                                                           "kind": "bureau"}]})
    book = export_xlsx(est, tmp_path / "export.xlsx")
    assert detect_format(read_grids(book)) is EXPORT
    assert read_ledger(book, reader=read_grids).kind == "export"


def _is_inventory(grids: list[Grid]) -> bool:
    return any(g.sheet == "inventory" for g in grids)


def _read_inventory(inp: LedgerInput) -> FormatRead:
    col = Collector(inp.source, inp.known)
    (grid,) = [g for g in inp.grids if g.sheet == "inventory"]
    for name, ip in grid.rows[1:]:
        col.host(inp.bureau or "", {"hostname": name, "ip": ip})
    inp.progress(len(grid.rows) - 1)
    return col.rows, [SheetReport(grid.sheet, "hosts", 1, len(grid.rows) - 1, 0)]


def test_a_new_format_plugs_in(xlsx: Callable[..., Path]) -> None:
    path = xlsx("inv.xlsx", {"inventory": [["name", "ip"], ["web01", "10.0.0.1"]]})
    mine = LedgerFormat("inventory", _is_inventory, _read_inventory)
    seen: list[int] = []
    read = read_ledger(path, reader=read_grids, bureau="北京局", advance=seen.append,
                       formats=(mine, *FORMATS))
    assert read.kind == "inventory" and seen == [1]
    (host,) = read.rows["hosts"]
    assert host["hostname"] == "web01" and host["ip"] == "10.0.0.1"
    assert read.rows["bureaus"][0]["name"] == "北京局"
    # the same host read by the generic ledger format gets the same stable id
    ledger = xlsx("l.xlsx", {"主机": [["单位", "主机名", "IP地址"],
                                     ["北京局", "web01", "10.0.0.1"]]})
    assert read_ledger(ledger, reader=read_grids).rows["hosts"][0]["id"] == host["id"]
