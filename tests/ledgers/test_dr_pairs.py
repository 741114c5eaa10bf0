"""DR pairs from ledgers: a standby's 对应主系统 (its primary), or a primary's 灾备系统 (its
standby), resolved by name across the import and the estate once every file is read, kept
on the standby's row (``systems.dr_primary``), exported and read back, and planned apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from shangyun.planner import PlanOptions, make_plan

from .conftest import write_xlsx

IAM, IAM_DR = "统一身份认证平台", "统一身份认证平台灾备"


def run(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def refused(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code != 0, res.output
    return res.output


def _ledgers(tmp: Path) -> tuple[Path, Path]:
    # a.xlsx: the primary's row names its standby (灾备系统), defined on a later row;
    # b.xlsx: a host sheet whose standby rows name their primary in another file
    a = write_xlsx(tmp / "a.xlsx", {"系统": [
        ["单位", "系统名称", "等保级别", "灾备系统"],
        ["湖北局", IAM, 3, IAM_DR],
        ["湖北局", "办公系统", 2, None],
        ["湖北局", IAM_DR, 3, None]]})
    b = write_xlsx(tmp / "b.xlsx", {"主机": [
        ["单位", "系统名称", "主机名", "IP地址", "操作系统", "对应主系统"],
        ["武汉海关", "报关系统灾备", "bgdr01", "10.2.0.2", "CentOS 7.9", "办公系统"],
        ["武汉海关", "报关系统灾备", "bgdr02", "10.2.0.3", "CentOS 7.9", "办公系统"],
        ["武汉海关", "报关系统", "bg01", "10.2.0.1", "CentOS 7.9", None]]})
    return a, b


def _pairs(est: Estate) -> set[tuple[str, str]]:
    names = {s["id"]: s["name"] for s in est.rows("systems")}
    return {(s["name"], names[s["dr_primary"]]) for s in est.rows("systems")
            if s["dr_primary"]}


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_pairs_in_either_direction_and_any_file_order(tmp_path: Path,
                                                      order: tuple[int, int]) -> None:
    files = _ledgers(tmp_path)
    est = tmp_path / "e"
    run("inventory", "import", *(str(files[i]) for i in order), "--estate", str(est))
    # the standby 报关系统灾备 names 办公系统, a system of another bureau (the only one)
    assert _pairs(Estate.load(est)) == {(IAM_DR, IAM), ("报关系统灾备", "办公系统")}


def test_an_unknown_or_ambiguous_partner_is_refused_naming_the_cell(tmp_path: Path) -> None:
    a = write_xlsx(tmp_path / "a.xlsx", {"系统": [
        ["单位", "系统名称", "主备关系"], ["湖北局", "门户网站", "门户灾备"]]})
    est = tmp_path / "e"
    out = refused("inventory", "import", str(a), "--estate", str(est))
    assert ("a.xlsx, sheet '系统', row 2, column '主备关系 (C)': DR partner '门户灾备' is not "
            "a system of any bureau") in " ".join(out.split())
    assert not est.exists()  # nothing half-written
    two = write_xlsx(tmp_path / "d.xlsx", {"系统": [
        ["单位", "系统名称"], ["甲局", "共享库"], ["乙局", "共享库"], ["丙局", "查询系统"]]})
    dr = write_xlsx(tmp_path / "e.xlsx", {"系统": [
        ["单位", "系统名称", "对应主系统"], ["丙局", "查询灾备", "共享库"]]})
    out = " ".join(refused("inventory", "import", str(two), str(dr), "--estate",
                           str(est)).split())
    assert ("e.xlsx, sheet '系统', row 2, column '对应主系统 (C)': DR partner '共享库' is "
            "ambiguous: 2 bureaus have a system of that name (乙局 / 共享库; 甲局 / 共享库)") \
        in out


def test_exported_and_read_back_into_a_new_estate(tmp_path: Path) -> None:
    est = tmp_path / "e"
    run("inventory", "import", *map(str, _ledgers(tmp_path)), "--estate", str(est))
    book = tmp_path / "out.xlsx"
    run("inventory", "export", "--estate", str(est), "--xlsx", str(book))
    fresh = tmp_path / "f"
    run("inventory", "import", str(book), "--estate", str(fresh))
    assert Estate.load(fresh).fingerprint() == Estate.load(est).fingerprint()
    assert _pairs(Estate.load(fresh)) == {(IAM_DR, IAM), ("报关系统灾备", "办公系统")}


def test_the_imported_pair_is_planned_apart(tmp_path: Path) -> None:
    est = tmp_path / "e"
    run("inventory", "import", *map(str, _ledgers(tmp_path)), "--estate", str(est))
    loaded = Estate.load(est)
    ids = {s["name"]: s["id"] for s in loaded.rows("systems")}
    wave = make_plan(loaded, PlanOptions(pilot_systems=0)).wave_of()
    assert wave[ids[IAM_DR]] < wave[ids[IAM]]
    assert wave[ids["报关系统灾备"]] < wave[ids["办公系统"]]
