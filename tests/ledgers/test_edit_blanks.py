"""An edited export whose blanks are no edit anyone made, or would let a classified system
move, is refused before anything is written.

- A workbook saved by a program that does not calculate keeps formulas without their values
  (LibreOffice writes 是/否 as ``=TRUE()``/``=FALSE()``; a script's openpyxl save drops the
  values): read as blanks, every such cell was an edit emptying the estate's value — 120
  是否涉密 cleared on the sample, the 3 classified systems among them.
- An edit emptying 是否涉密 of a classified system (a system that never moves) is refused:
  emptied, the assessment would move it like any other.

Real workbooks (openpyxl), the real CLI."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate

from .conftest import write_csv

HEAD = ["单位", "系统名称", "主机名", "IP地址", "是否涉密", "CPU(核)"]


def _cli(*args: str, ok: bool = True) -> str:
    res = CliRunner().invoke(main, [*args, "--no-progress"] if args[1] == "import" else
                             list(args))
    assert (res.exit_code == 0) is ok, res.output
    return " ".join(res.output.split())


@pytest.fixture
def exported(tmp_path: Path) -> tuple[str, Path]:
    est = str(tmp_path / "est")
    ledger = write_csv(tmp_path / "湖北局.csv", [
        HEAD, ["湖北局", "执法办案", "hb-zf01", "10.7.0.1", "是", 8],
        ["湖北局", "门户网站", "hb-mh01", "10.7.0.2", "否", 4],
        ["湖北局", "OA", "hb-oa01", "10.7.0.3", "", 2]], encoding="gbk")
    _cli("inventory", "import", str(ledger), "--estate", est)
    book = tmp_path / "edit.xlsx"
    _cli("inventory", "export", "--estate", est, "--xlsx", str(book))
    return est, book


def _cells(book: Path, sheet: str, column: str) -> tuple[openpyxl.Workbook, dict[str, object]]:
    wb = openpyxl.load_workbook(book)
    ws = wb[sheet]
    head = [c.value for c in ws[1]]
    return wb, {str(r[head.index("系统名称" if sheet == "业务系统" else "主机名")].value):
                r[head.index(column)] for r in ws.iter_rows(min_row=2)}


def _snapshot(est: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(est).glob("*.csv"))}


@pytest.mark.parametrize("formula", ["=TRUE()", "=FALSE()", "=1+1"])
def test_formulas_saved_without_values_are_refused(exported: tuple[str, Path],
                                                   formula: str) -> None:
    est, book = exported
    wb, cells = _cells(book, "业务系统", "是否涉密")
    for cell in cells.values():
        cell.value = formula  # openpyxl writes the formula, no value: as a script saves it
    wb.save(book)
    before = _snapshot(est)
    for apply in ((), ("--apply",)):
        out = _cli("inventory", "import", str(book), "--estate", est, *apply, ok=False)
        assert "sheet '业务系统', row 2, column '是否涉密'" in out
        assert "a formula cell saved without its value (and 2 more on this sheet)" in out
        assert "save it (which calculates the formulas)" in out
    assert _snapshot(est) == before
    systems = {s["name"]: s for s in Estate.load(est).rows("systems")}
    assert systems["执法办案"]["classified"] is True


def test_emptying_a_classified_flag_is_refused_and_changing_it_is_an_edit(
        exported: tuple[str, Path]) -> None:
    est, book = exported
    wb, cells = _cells(book, "业务系统", "是否涉密")
    cells["执法办案"].value = None
    wb.save(book)
    before = _snapshot(est)
    out = _cli("inventory", "import", str(book), "--estate", est, "--apply", ok=False)
    assert "column '是否涉密': 是否涉密 of system '执法办案'" in out
    assert "is emptied: it is classified (涉密)" in out and "type 否 (false)" in out
    assert _snapshot(est) == before
    # emptying the flag of a system that is not classified is an edit like any other
    cells["执法办案"].value = True
    cells["门户网站"].value = None
    wb.save(book)
    out = _cli("inventory", "import", str(book), "--estate", est)
    assert "门户网站" in out and "1 edit(s) shown" in out
    # and so is saying, in so many words, that the classified one is not
    cells["执法办案"].value = "否"
    cells["门户网站"].value = False
    wb.save(book)
    _cli("inventory", "import", str(book), "--estate", est, "--apply")
    systems = {s["name"]: s for s in Estate.load(est).rows("systems")}
    assert systems["执法办案"]["classified"] is False
