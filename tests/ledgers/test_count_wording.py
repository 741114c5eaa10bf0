"""Counts in the import's warnings and errors read as English: "1 cell holds", "2 cells
hold", "row 3" / "rows 2, 5", "1 more problem" (they said "2 cell(s) holds")."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main

from .conftest import write_csv


def _import(path: Path, est: Path) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, ["inventory", "import", str(path), "--estate", str(est),
                                    "--no-progress"])
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize(("several", "wording"), [
    (1, "1 cell holds several IP addresses"), (2, "2 cells hold several IP addresses"),
    (3, "3 cells hold several IP addresses")])
def test_doubtful_cells_are_counted_in_number(tmp_path: Path, several: int,
                                              wording: str) -> None:
    rows = [["单位", "主机名", "管理IP"]]
    for i in range(4):
        ip = f"10.3.{i}.1；10.3.{i}.2" if i < several else f"10.3.{i}.1"
        rows.append(["癸局", f"h{i}", ip])
    code, out, _err = _import(write_csv(tmp_path / "ips.csv", rows, "gbk"), tmp_path / "e")
    assert code == 0, out
    flat = " ".join(out.split())
    assert wording in flat, out
    assert "cell(s)" not in flat
    where = ("(row 2: dropped 10.3.0.2)" if several == 1 else "(rows " + "; ".join(
        f"{r}: dropped 10.3.{r - 2}.2" for r in range(2, 2 + several)) + ")")
    assert where in flat, out


@pytest.mark.parametrize(("bad", "wording"), [(2, "1 more problem in this file"),
                                              (3, "2 more problems in this file")])
def test_the_other_problems_are_counted_in_number(tmp_path: Path, bad: int,
                                                  wording: str) -> None:
    rows = [["单位", "系统名称", "主机名", "等保级别"]] + [
        ["癸局", f"系统{i}", f"h{i}", "高" if i < bad else "三级"] for i in range(4)]
    code, _out, err = _import(write_csv(tmp_path / "bad.csv", rows), tmp_path / "e")
    assert code == 1
    assert wording in " ".join(err.split()), err
    assert "problem(s)" not in err


def test_one_row_is_one_row_in_the_file_lines(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "one.csv", [["单位", "主机名", "IP地址", "操作系统"],
                                            ["癸局", "h1", "10.3.0.1", "CentOS 7.9"]])
    res = CliRunner().invoke(main, ["inventory", "import", str(path), "--estate",
                                    str(tmp_path / "e"), "--dry-run", "--no-progress"])
    out = " ".join(res.stdout.split())
    assert "(ledger): 1 row → " in out and "header row 1, 1 row, 0 skipped" in out, out
    code, out, _err = _import(path, tmp_path / "e")
    assert code == 0 and "one.csv: 1 row (ledger)" in " ".join(out.split()), out
