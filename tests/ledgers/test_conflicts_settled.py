"""A conflict is resolved the way docs/ledgers.md says — export, type the value, import with
--apply — and then it is settled: `inventory conflicts` no longer lists it (before, it was
listed for ever, its "current" contradicting the estate)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate

from .conftest import write_csv

HEAD = ["单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存(GB)"]


def _cli(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize(("typed_cpu", "typed_mem"), [(8, 32), (6, 24), (8, 12)])
def test_an_applied_edit_settles_the_conflicts_on_its_cells(
        tmp_path: Path, typed_cpu: int, typed_mem: int) -> None:
    est = str(tmp_path / "est")
    first = write_csv(tmp_path / "吉林局台账.csv", [
        HEAD, ["吉林局", "OA", "jl-oa01", "10.7.1.1", "CentOS 7.9", 4, 16],
        ["吉林局", "OA", "jl-oa02", "10.7.1.2", "CentOS 7.9", 2, 8]], encoding="gbk")
    second = write_csv(tmp_path / "吉林局台账-修订.csv", [
        HEAD, ["吉林局", "OA", "jl-oa01", "10.7.1.1", "CentOS 7.9", 8, 32],
        ["吉林局", "OA", "jl-oa02", "10.7.1.2", "CentOS 7.9", 2, 12]], encoding="gbk")
    _cli("inventory", "import", str(first), "--estate", est, "--no-progress")
    _cli("inventory", "import", str(second), "--estate", est, "--no-progress")
    listed = json.loads(_cli("inventory", "conflicts", "--estate", est, "--json"))
    assert listed["count"] == 3  # oa01 cpu and memory, oa02 memory
    # the team types oa01's values in the exported workbook (not oa02's)
    book = tmp_path / "edit.xlsx"
    _cli("inventory", "export", "--estate", est, "--xlsx", str(book))
    wb = openpyxl.load_workbook(book)
    ws = wb["主机"]
    head = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[head.index("主机名")].value == "jl-oa01":
            row[head.index("CPU(核)")].value = typed_cpu
            row[head.index("内存(GB)")].value = typed_mem
    wb.save(book)
    preview = json.loads(_cli("inventory", "import", str(book), "--estate", est,
                              "--no-progress", "--json"))
    assert not preview["applied"] and len(preview["settled"]) == 2
    assert json.loads(_cli("inventory", "conflicts", "--estate", est, "--json"))["count"] == 3
    out = " ".join(_cli("inventory", "import", str(book), "--estate", est, "--no-progress",
                        "--apply").split())
    assert "2 conflict(s) settled by the edits" in out
    left = json.loads(_cli("inventory", "conflicts", "--estate", est, "--json"))
    assert [(c["key_label"].split(" ")[0], c["column"]) for c in left["conflicts"]] == [
        ("jl-oa02", "memory_gb")]
    hosts = {h["hostname"]: h for h in Estate.load(est).rows("hosts")}
    assert (hosts["jl-oa01"]["cpu_cores"], hosts["jl-oa01"]["memory_gb"]) == (
        typed_cpu, typed_mem)
    # the same disagreement submitted again is a conflict again (not silently known)
    again = write_csv(tmp_path / "吉林局台账-再修订.csv", [
        HEAD, ["吉林局", "OA", "jl-oa01", "10.7.1.1", "CentOS 7.9", 3, typed_mem]],
        encoding="gbk")
    _cli("inventory", "import", str(again), "--estate", est, "--no-progress")
    left = json.loads(_cli("inventory", "conflicts", "--estate", est, "--json"))
    assert sorted((c["key_label"].split(" ")[0], c["column"], c["current"], c["incoming"])
                  for c in left["conflicts"]) == [
        ("jl-oa01", "cpu_cores", str(typed_cpu), "3"), ("jl-oa02", "memory_gb", "8", "12")]
