"""The sheet XML scan finds the same facts whatever the size of the pieces it reads."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.worksheet.pagebreak import Break

import connectors.grid as grid_module
from connectors.grid import sheet_xml


def _book(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "主机"
    ws.append(["主机名", "IP地址", "CPU"])
    for i in range(60):
        ws.append([f"web-{i}", f"10.0.0.{i + 1}", "=B2+1" if i in (1, 37) else 4])
    for r in (5, 20, 61):
        ws.row_dimensions[r].hidden = True
    ws.auto_filter.ref = "A1:C61"
    ws.merge_cells("E2:E9")
    ws.row_breaks.append(Break(id=30))  # <rowBreaks> after the filter: not a row
    empty = wb.create_sheet("空")  # no rows at all (<sheetData/>), a filter all the same
    empty.auto_filter.ref = "A1:B1"
    plain = wb.create_sheet("磁盘")
    plain.append(["主机名", "容量"])
    plain.append(["web-1", 100])
    wb.save(path)
    return path


def _facts(path: Path) -> dict[str, tuple[list[tuple[int, int]], list[int], bool]]:
    return {name: (f.formula_blanks, f.hidden_rows, f.filtered)
            for name, f in sheet_xml(path).items()}


EXPECTED = {"主机": ([(2, 2), (38, 2)], [4, 19, 60], True), "空": ([], [], True)}


def test_the_facts_of_each_sheet(tmp_path: Path) -> None:
    assert _facts(_book(tmp_path / "b.xlsx")) == EXPECTED


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(piece=st.integers(min_value=8, max_value=6000))
def test_any_piece_size_finds_the_same(tmp_path: Path, piece: int,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "b.xlsx"
    if not path.exists():
        _book(path)
    with monkeypatch.context() as m:
        m.setattr(grid_module, "_XML_CHUNK", piece)
        assert _facts(path) == EXPECTED
