"""Cells that say more than one thing, as an outside team found them in bureau ledgers:
a management and a business address labelled in one IP cell, an address range in one
host's IP cell, a dependency target labelled as an external system. Every file is written
by the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.grid import read_grids
from shangyun.errors import LedgerError
from shangyun.estate.model import Estate
from shangyun.ledgers.importer import import_ledgers
from shangyun.ledgers.read import read_ledger
from shangyun.planner.inputs import build_input
from shangyun.planner.options import PlanOptions

from .conftest import write_xlsx

HEAD = ["单位", "系统名称", "主机名", "IP地址"]


def _ips(tmp_path: Path, cells: list[str]) -> tuple[dict[str, str], list[str]]:
    rows = [HEAD] + [["甲局", "OA", f"oa{i:02d}", c] for i, c in enumerate(cells, 1)]
    read = read_ledger(write_xlsx(tmp_path / "t.xlsx", {"主机": rows}), reader=read_grids)
    return {h["hostname"]: h["ip"] for h in read.rows["hosts"]}, read.warnings


def test_a_business_address_beside_a_management_one_in_one_cell_wins(tmp_path: Path) -> None:
    got, warnings = _ips(tmp_path, ["管理:10.8.0.1 业务:10.9.0.1",
                                    "管理IP：10.8.0.2 业务IP：10.9.0.2",
                                    "业务 10.9.0.3 / 管理 10.8.0.3",
                                    "mgmt 10.8.0.4, 10.9.0.4",
                                    "10.9.0.5"])
    assert got == {"oa01": "10.9.0.1", "oa02": "10.9.0.2", "oa03": "10.9.0.3",
                   "oa04": "10.9.0.4", "oa05": "10.9.0.5"}
    said = [w for w in warnings if "management" in w]
    assert len(said) == 1, warnings
    assert "rows 2, 3, 4, 5" in said[0] and "business" in said[0], said
    assert not [w for w in warnings if "several IP" in w], warnings


def test_a_management_address_alone_is_the_hosts_address(tmp_path: Path) -> None:
    got, warnings = _ips(tmp_path, ["管理:10.8.0.1"])
    assert got == {"oa01": "10.8.0.1"}
    assert not [w for w in warnings if "management" in w], warnings


def test_a_small_range_is_several_addresses_of_the_host(tmp_path: Path) -> None:
    got, warnings = _ips(tmp_path, ["10.1.1.1-10.1.1.3", "10.1.2.1~3", "10.1.3.5 ~ 10.1.3.6",
                                    "10.1.4.1-10.1.4.16"])
    assert got == {"oa01": "10.1.1.1", "oa02": "10.1.2.1", "oa03": "10.1.3.5",
                   "oa04": "10.1.4.1"}
    said = [w for w in warnings if "range" in w]
    assert len(said) == 1 and "rows 2, 3, 4, 5" in said[0], warnings


@pytest.mark.parametrize("cell", ["10.1.1.1-10.1.1.17", "10.1.1.1~200", "10.1.1.9-10.1.1.3"])
def test_a_large_or_backward_range_is_refused_naming_the_cell(tmp_path: Path,
                                                               cell: str) -> None:
    with pytest.raises(LedgerError) as err:
        _ips(tmp_path, ["10.1.9.9", cell])
    msg = str(err.value)
    assert "row 3" in msg and "IP地址" in msg and cell in msg, msg
    assert "addresses (10.1.1." in msg or "runs backwards" in msg, msg


DEP_HEAD = ["单位", "源系统", "目标系统", "端口"]


@pytest.mark.parametrize("target,name", [("外部:税务总局", "税务总局"),
                                         ("外部系统：国家税务总局接口", "国家税务总局接口"),
                                         ("（外部）国家税务总局", "国家税务总局"),
                                         ("人社部接口(外部)", "人社部接口")])
def test_an_external_target_is_an_external_endpoint_not_a_system(
        tmp_path: Path, target: str, name: str) -> None:
    path = write_xlsx(tmp_path / "甲局.xlsx", {
        "主机": [HEAD, ["甲局", "征管", "zg01", "10.1.1.1"]],
        "依赖": [DEP_HEAD, ["甲局", "征管", target, 443], ["甲局", "征管", "外部门户", 80]]})
    est = tmp_path / "estate"
    report = import_ledgers([path], est, reader=read_grids)
    estate = Estate.load(est)
    systems = {s["name"] for s in estate.rows("systems")}
    assert name not in systems and target not in systems, systems
    assert "外部门户" in systems  # a system whose name starts with 外部 is still a system
    deps = [d for d in estate.rows("dependencies") if d.get("external")]
    assert [(d["external"], d["target_system"] or None) for d in deps] == [(name, None)]
    said = [w for w in report.warnings if "external" in w]
    assert len(said) == 1 and "row 2" in said[0] and "not planned" in said[0], report.warnings
    assert not [w for w in report.warnings if name in w and "placeholder" in w]


def test_an_external_target_on_a_sheet_naming_no_bureau_is_not_planned(
        tmp_path: Path) -> None:
    book = write_xlsx(tmp_path / "甲局.xlsx", {
        "主机": [HEAD, ["甲局", "征管", "zg01", "10.1.1.1"], ["甲局", "门户", "mh01", "10.1.1.2"]]})
    deps = write_xlsx(tmp_path / "依赖.xlsx", {"依赖": [
        ["源系统", "目标系统", "端口"], ["征管", "门户", 80], ["征管", "外部:税务总局", 443],
        ["门户", "外部:税务总局", 443]]})
    est = tmp_path / "estate"
    report = import_ledgers([deps, book], est, reader=read_grids)
    estate = Estate.load(est)
    assert {s["name"] for s in estate.rows("systems")} == {"征管", "门户"}
    assert sorted(d.get("external") or "-" for d in estate.rows("dependencies")) == [
        "-", "税务总局", "税务总局"]
    [said] = [w for w in report.warnings if "external" in w]
    assert "2 cells name an external system" in said and "rows 3, 4" in said, said
    plan = build_input(estate, PlanOptions())
    assert sorted(plan.systems) == sorted(s["id"] for s in estate.rows("systems"))
    assert plan.dependency_rows == 1, plan.dependency_rows
