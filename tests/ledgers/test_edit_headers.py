"""The import of an edited export shows each edit under the header the team edited in the
workbook (维护窗口开始 in a zh workbook, its English header in an en one), not the field
name (window_start); --json keeps the field name as ``column`` beside the ``header``."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate.schema import TABLES
from shangyun.ledgers.formats.export import headers, sheet_title

from .conftest import write_csv

HEAD = ["单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存(GB)"]


def _cli(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.stdout


def _edit(book: Path, table: str, lang: str, key: str, match: str, field: str,
          value: object) -> str:
    """Type ``value`` in ``field``'s column of the row whose ``key`` is ``match``; the
    header of that column."""
    t = TABLES[table]
    col_header = dict(zip(t.column_names, headers(t, lang), strict=True))
    wb = openpyxl.load_workbook(book)
    ws = wb[sheet_title(t, lang)]
    head = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[head.index(col_header[key])].value == match:
            row[head.index(col_header[field])].value = value
    wb.save(book)
    return col_header[field]


@pytest.mark.parametrize(("lang", "start", "cores"), [("zh", "22:30", 12), ("en", "01:00", 6)])
def test_edits_are_shown_under_the_workbook_headers(tmp_path: Path, lang: str, start: str,
                                                    cores: int) -> None:
    est = str(tmp_path / "est")
    ledger = write_csv(tmp_path / "辽宁局.csv", [
        HEAD, ["辽宁局", "OA", "ln-oa01", "10.6.1.1", "CentOS 7.9", 4, 16]], encoding="gbk")
    _cli("inventory", "import", str(ledger), "--estate", est, "--no-progress")
    book = tmp_path / f"edit-{lang}.xlsx"
    _cli("inventory", "export", "--estate", est, "--xlsx", str(book), "--lang", lang)
    window = _edit(book, "bureaus", lang, "name", "辽宁局", "window_start", start)
    day = _edit(book, "bureaus", lang, "name", "辽宁局", "window_day", "sat")
    hours = _edit(book, "bureaus", lang, "name", "辽宁局", "window_hours", 6)
    cpu = _edit(book, "hosts", lang, "hostname", "ln-oa01", "cpu_cores", cores)
    assert {window, cpu}.isdisjoint({"window_start", "cpu_cores"})
    shown = _cli("inventory", "import", str(book), "--estate", est, "--no-progress")
    rows = [line for line in shown.splitlines() if "│" in line]
    assert any(f" {window} " in r and start in r for r in rows), shown
    assert any(f" {cpu} " in r and str(cores) in r for r in rows), shown
    assert "window_start" not in shown and "cpu_cores" not in shown
    got = json.loads(_cli("inventory", "import", str(book), "--estate", est, "--no-progress",
                          "--json"))
    fields = {(e["column"], e["header"]) for e in got["edits"]}
    assert fields == {("window_start", window), ("cpu_cores", cpu), ("window_day", day),
                      ("window_hours", hours)}
