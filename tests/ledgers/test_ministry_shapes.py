"""Ledgers of the shapes a ministry's bureaus really send, which the project read wrongly:
a grouped host sheet whose 系统名称 is written once per system and left blank below it
("same as above", without merged cells), a database sheet naming its host by IP under
所在主机IP, a dependency sheet naming systems by their short names (简称). Every file is
written by the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.errors import LedgerError
from shangyun.estate.model import Estate
from shangyun.ledgers.importer import import_ledgers
from shangyun.ledgers.read import read_ledger

from .conftest import write_csv, write_xlsx

HEAD = ["序号", "系统名称", "主机名", "IP地址", "操作系统", "CPU", "内存"]


def _systems_of(path: Path) -> tuple[dict[str, str | None], list[str]]:
    read = read_ledger(path, reader=read_grids, bureau="湖北局")
    names = {s["id"]: s["name"] for s in read.rows["systems"]}
    return ({h["hostname"]: names.get(h.get("system_id")) for h in read.rows["hosts"]},
            read.warnings)


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_a_blank_system_name_below_a_filled_one_means_same_as_above(
        tmp_path: Path, suffix: str) -> None:
    rows: list[list[Any]] = [
        HEAD,
        [1, "行政审批系统", "sp-app01", "10.1.1.11", "CentOS 7.9", 8, "16G"],
        [2, "", "sp-app02", "10.1.1.12", "CentOS 7.9", 8, "16G"],
        [3, None, "sp-db01", "10.1.1.13", "CentOS 7.9", 16, "64G"],
        [4, "门户网站", "mh-web01", "10.1.1.21", "CentOS 7.9", 4, "8G"],
        [5, "", "mh-web02", "10.1.1.22", "CentOS 7.9", 4, "8G"],
        ["合计", "", "", "", "", 40, ""],
    ]
    path = (write_xlsx(tmp_path / "t.xlsx", {"主机": rows}) if suffix == "xlsx"
            else write_csv(tmp_path / "t.csv", rows, "gbk"))
    hosts, warnings = _systems_of(path)
    assert hosts == {"sp-app01": "行政审批系统", "sp-app02": "行政审批系统",
                     "sp-db01": "行政审批系统", "mh-web01": "门户网站", "mh-web02": "门户网站"}
    said = [w for w in warnings if "same as above" in w]
    assert len(said) == 1, warnings
    assert "系统名称 (B)" in said[0] and "rows 3, 4, 6" in said[0]


def test_a_merged_system_name_then_blanks_below_the_next_one(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        HEAD,
        [1, "财务系统", "cw-app01", "10.2.1.11", "CentOS 7.9", 4, "8G"],
        [2, None, "cw-app02", "10.2.1.12", "CentOS 7.9", 4, "8G"],
        [3, "社保系统", "sb-app01", "10.2.1.21", "CentOS 7.9", 4, "8G"],
        [4, None, "sb-db01", "10.2.1.22", "CentOS 7.9", 4, "8G"],
    ]
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": rows}, {"主机": ["B2:B3"]})
    hosts, warnings = _systems_of(path)
    assert hosts["cw-app02"] == "财务系统" and hosts["sb-db01"] == "社保系统"
    said = [w for w in warnings if "same as above" in w]
    assert len(said) == 1 and "row 5" in said[0]  # the merged cell is no blank


def test_a_placeholder_or_a_blank_first_row_is_not_filled_from_above(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        HEAD,
        [1, "", "free01", "10.3.1.10", "CentOS 7.9", 4, "8G"],
        [2, "财务系统", "cw-app01", "10.3.1.11", "CentOS 7.9", 4, "8G"],
        [3, "-", "cw-tool01", "10.3.1.12", "CentOS 7.9", 4, "8G"],
        [4, "", "cw-tool02", "10.3.1.13", "CentOS 7.9", 4, "8G"],
    ]
    hosts, warnings = _systems_of(write_xlsx(tmp_path / "t.xlsx", {"主机": rows}))
    assert hosts == {"free01": None, "cw-app01": "财务系统", "cw-tool01": None,
                     "cw-tool02": None}
    assert not [w for w in warnings if "same as above" in w]


HOSTS = [["单位", "系统名称", "主机名", "IP地址", "操作系统"],
         ["江苏局", "电子发票系统", "js-fp-db01", "10.5.1.21", "银河麒麟V10"],
         ["江苏局", "电子发票系统", "js-fp-db02", "10.5.1.22", "银河麒麟V10"],
         ["江苏局", "统一认证平台", "js-rz-db01", "10.5.1.31", "Windows Server 2016"]]


@pytest.mark.parametrize("header", ["所在主机IP", "数据库服务器IP", "部署服务器IP", "Host IP"])
def test_a_database_sheet_naming_its_host_by_ip_gives_the_database_its_host(
        tmp_path: Path, header: str) -> None:
    dbs = [["单位", "所属系统", "数据库类型", "版本", "实例名", header, "端口", "数据量"],
           ["江苏局", "电子发票系统", "达梦DM8", "8.1", "FPDB", "10.5.1.21", 5236, "300G"],
           ["江苏局", "电子发票系统", "人大金仓 KingbaseES", "V8R6", "FPLOG", "10.5.1.22",
            54321, "50G"],
           ["江苏局", "统一认证平台", "SQL Server", "2016", "AUTHDB", "10.5.1.31", 1433, "80G"]]
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": HOSTS, "数据库": dbs})
    read = read_ledger(path, reader=read_grids)
    host = {h["id"]: h["hostname"] for h in read.rows["hosts"]}
    got = {d["name"]: (d["engine"], host.get(d.get("host_id"))) for d in read.rows["databases"]}
    assert got == {"FPDB": ("dm", "js-fp-db01"), "FPLOG": ("kingbase", "js-fp-db02"),
                   "AUTHDB": ("sqlserver", "js-rz-db01")}
    assert len(read.rows["hosts"]) == 3  # no host made of an address
    sheet = next(s for s in read.sheets if s.sheet == "数据库")
    assert sheet.columns[f"{header} (F)"] == "hosts.ip"
    # the estate keeps no database port: the column is said to be ignored, not mapped
    assert "端口" in sheet.unmapped or "端口 (G)" not in sheet.columns
    assert not [w for w in read.warnings if "look like IP addresses" in w]


def test_a_database_sheet_naming_its_host_by_name_under_所在服务器(tmp_path: Path) -> None:
    dbs = [["单位", "所属系统", "数据库类型", "实例名", "所在服务器"],
           ["江苏局", "统一认证平台", "MySQL 5.7", "sso", "js-rz-db01"]]
    read = read_ledger(write_xlsx(tmp_path / "t.xlsx", {"主机": HOSTS, "数据库": dbs}),
                       reader=read_grids)
    hid = {h["hostname"]: h["id"] for h in read.rows["hosts"]}
    assert read.rows["databases"][0]["host_id"] == hid["js-rz-db01"]


SYSTEMS = [["单位", "系统名称", "简称", "等保级别"],
           ["江苏局", "税务征管系统", "征管", "三级"],
           ["江苏局", "电子发票系统", "电子发票", "三级"],
           ["江苏局", "统一认证平台", "统一认证", "二级"]]
DEPS = [["源系统", "目标系统", "依赖类型", "端口"],
        ["征管", "统一认证", "接口", 443],
        ["电子发票", "征管", "数据库", 1521]]


def _deps(est: Path) -> tuple[set[tuple[str, str]], dict[str, str | None]]:
    estate = Estate.load(est)
    name = {s["id"]: s["name"] for s in estate.rows("systems")}
    return ({(name[d["source_system"]], name[d["target_system"]])
             for d in estate.rows("dependencies")},
            {s["name"]: s.get("short_name") or None for s in estate.rows("systems")})


def test_dependencies_naming_systems_by_their_short_names_join_those_systems(
        tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "江苏局台账.xlsx", {"主机": HOSTS, "系统": SYSTEMS,
                                                   "依赖关系": DEPS})
    report = import_ledgers([path], tmp_path / "est", reader=read_grids)
    deps, systems = _deps(tmp_path / "est")
    assert deps == {("税务征管系统", "统一认证平台"), ("电子发票系统", "税务征管系统")}
    assert systems == {"税务征管系统": "征管", "电子发票系统": "电子发票",
                       "统一认证平台": "统一认证"}  # no placeholder named by a short name
    assert not [w for w in report.warnings if "placeholder" in w]


@pytest.mark.parametrize("together", [True, False])
def test_short_names_resolve_across_files_and_imports(tmp_path: Path, together: bool) -> None:
    systems = write_xlsx(tmp_path / "系统清单.xlsx", {"主机": HOSTS, "系统": SYSTEMS})
    deps = write_xlsx(tmp_path / "依赖.xlsx", {"依赖关系": DEPS})
    if together:
        import_ledgers([deps, systems], tmp_path / "est", reader=read_grids)
    else:
        import_ledgers([systems], tmp_path / "est", reader=read_grids)
        import_ledgers([deps], tmp_path / "est", reader=read_grids)
    deps_got, names = _deps(tmp_path / "est")
    assert deps_got == {("税务征管系统", "统一认证平台"), ("电子发票系统", "税务征管系统")}
    assert len(names) == 3


def test_a_short_name_never_hides_a_system_of_that_name(tmp_path: Path) -> None:
    systems = [["单位", "系统名称", "简称"], ["江苏局", "统一认证平台", "门户"],
               ["江苏局", "门户", None]]
    deps = [["源系统", "目标系统"], ["门户", "统一认证平台"], ["统一认证平台", "门户"]]
    path = write_xlsx(tmp_path / "t.xlsx", {"系统": systems, "依赖关系": deps})
    import_ledgers([path], tmp_path / "est", reader=read_grids)
    got, names = _deps(tmp_path / "est")
    assert got == {("门户", "统一认证平台"), ("统一认证平台", "门户")}
    assert names == {"统一认证平台": "门户", "门户": None}


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_a_database_product_not_in_the_list_keeps_its_name_with_a_warning(
        tmp_path: Path, suffix: str) -> None:
    rows = [["单位", "系统名称", "主机名", "IP地址", "数据库"],
            ["甲局", "档案", "da01", "10.0.0.1", "神通数据库 7.0"],
            ["甲局", "档案", "da02", "10.0.0.2", "DB2 10.5"],
            ["甲局", "门户", "mh01", "10.0.0.3", "Oracle 11g RAC"],
            ["甲局", "门户", "mh02", "10.0.0.4", "其他"],
            ["甲局", "门户", "mh03", "10.0.0.5", "无"]]
    path = (write_xlsx(tmp_path / "t.xlsx", {"主机": rows}) if suffix == "xlsx"
            else write_csv(tmp_path / "t.csv", rows, "gbk"))
    read = read_ledger(path, reader=read_grids)
    got = sorted((d["engine"], d.get("version") or "") for d in read.rows["databases"])
    assert got == [("oracle", "11g"), ("other", ""), ("other", "DB2 10.5"),
                   ("other", "神通数据库 7.0")]
    said = [w for w in read.warnings if "not in the engine list" in w]
    assert len(said) == 1 and "rows 2, 3" in said[0] and "数据库 (E)" in said[0], read.warnings


def test_a_database_sheet_with_an_unlisted_product_and_its_version_apart(tmp_path: Path) -> None:
    dbs = [["单位", "所属系统", "数据库类型", "版本", "实例名", "所在主机IP"],
           ["江苏局", "统一认证平台", "DB2", "10.5", "AUTH", "10.5.1.31"],
           ["江苏局", "统一认证平台", "OceanBase", None, "OB", "10.5.1.31"]]
    read = read_ledger(write_xlsx(tmp_path / "t.xlsx", {"主机": HOSTS, "数据库": dbs}),
                       reader=read_grids)
    got = {d["name"]: (d["engine"], d["version"]) for d in read.rows["databases"]}
    assert got == {"AUTH": ("other", "DB2 10.5"), "OB": ("other", "OceanBase")}


def test_a_system_name_saying_none_gives_the_host_no_system(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        HEAD,
        [1, "财务系统", "cw-app01", "10.3.1.11", "CentOS 7.9", 4, "8G"],
        [2, "无", "tool01", "10.3.1.12", "CentOS 7.9", 4, "8G"],
        [3, "", "tool02", "10.3.1.13", "CentOS 7.9", 4, "8G"],
        [4, "暂无", "tool03", "10.3.1.14", "CentOS 7.9", 4, "8G"],
        [5, "不涉及", "tool04", "10.3.1.15", "CentOS 7.9", 4, "8G"],
    ]
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": rows})
    hosts, _ = _systems_of(path)
    assert hosts == {"cw-app01": "财务系统", "tool01": None, "tool02": None, "tool03": None,
                     "tool04": None}
    read = read_ledger(path, reader=read_grids, bureau="湖北局")
    assert [s["name"] for s in read.rows["systems"]] == ["财务系统"]  # no system named 无


def _card(name: str) -> list[list[Any]]:
    return [["字段", "值"], ["系统名称", name], ["所属单位", "广东局"], ["负责人", "王五"],
            ["等保级别", "三级"], ["服务器1主机名", "gd-app01"], ["服务器1IP", "10.3.1.11"]]


def test_a_workbook_of_system_cards_is_refused_saying_what_it_is(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "广东局-系统信息卡.xlsx",
                      {"不动产登记系统": _card("不动产登记系统"),
                       "档案管理系统": _card("档案管理系统")})
    with pytest.raises(LedgerError) as err:
        read_ledger(path, reader=read_grids)
    text = str(err.value)
    assert "广东局-系统信息卡.xlsx" in text
    assert "'不动产登记系统'" in text and "'档案管理系统'" in text
    assert "field | value" in text and "a row per system" in text
    assert "--mapping" not in text  # a mapping file cannot turn a card into rows


def test_a_card_sheet_beside_a_host_sheet_is_skipped_with_a_warning(tmp_path: Path) -> None:
    hosts = [["单位", "系统名称", "主机名", "IP地址"],
             ["广东局", "不动产登记系统", "gd-app01", "10.3.1.11"]]
    fields = [["字段", "说明"], ["系统名称", "业务系统全称"], ["主机名", "服务器主机名"],
              ["IP地址", "业务IP"], ["负责人", "系统负责人姓名"]]
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": hosts, "字段": fields, "须知": fields[1:],
                                            "不动产登记系统": _card("不动产登记系统")})
    read = read_ledger(path, reader=read_grids)
    assert [h["hostname"] for h in read.rows["hosts"]] == ["gd-app01"]
    said = [w for w in read.warnings if "field | value" in w]
    assert len(said) == 1 and said[0].startswith("sheet '不动产登记系统'"), read.warnings


@pytest.mark.parametrize(("cell", "gb"), [
    ("C盘100G D盘500G", 600.0), ("C盘:100G，D盘:500G", 600.0), ("c盘 100G+d盘 1T", 1124.0),
    ("500GB SSD + 2TB HDD", 2548.0), ("系统盘40G SSD+数据盘1T SAS", 1064.0)])
def test_disk_cells_with_drive_letters_and_media_per_disk(tmp_path: Path, cell: str,
                                                          gb: float) -> None:
    rows = [["单位", "系统名称", "主机名", "IP地址", "磁盘"],
            ["甲局", "OA", "oa01", "10.0.0.1", cell]]
    read = read_ledger(write_xlsx(tmp_path / "t.xlsx", {"主机": rows}), reader=read_grids)
    assert read.rows["hosts"][0]["disk_gb"] == gb


def test_a_formula_in_the_totals_row_is_not_warned_about(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        HEAD,
        [1, "财务系统", "cw-app01", "10.2.1.11", "CentOS 7.9", 4, "8G"],
        [2, "财务系统", "cw-app02", "10.2.1.12", "CentOS 7.9", "=F2*2", "8G"],
        ["合计", None, None, None, None, "=SUM(F2:F3)", None],
    ]
    hosts, warnings = _systems_of(write_xlsx(tmp_path / "t.xlsx", {"主机": rows}))
    assert list(hosts) == ["cw-app01", "cw-app02"]
    said = [w for w in warnings if "formula saved without its value" in w]
    assert len(said) == 1 and "row 3," in said[0], warnings  # the host's, not the total's


def test_a_folder_import_names_the_text_files_it_leaves_out(tmp_path: Path) -> None:
    folder = tmp_path / "ledgers"
    folder.mkdir()
    write_xlsx(folder / "江苏局台账.xlsx", {"主机": HOSTS})
    text = "\r\n".join("\t".join(r) for r in [["单位", "系统名称", "主机名", "IP地址"],
                                              ["山东局", "医保系统", "sd-yb-app01", "10.8.1.11"]])
    (folder / "山东局_unicode.txt").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    est = tmp_path / "est"
    res = CliRunner().invoke(main, ["inventory", "import", str(folder), "--estate", str(est),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "山东局_unicode.txt" in out and "not imported" in out, out
    assert len(Estate.load(est).rows("hosts")) == 3
    res = CliRunner().invoke(main, ["inventory", "import", str(folder / "山东局_unicode.txt"),
                                    "--estate", str(est), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "sd-yb-app01" in {h["hostname"] for h in Estate.load(est).rows("hosts")}


def test_a_virtual_ip_beside_the_hosts_own_is_not_taken_for_the_host(tmp_path: Path) -> None:
    rows = [["单位", "系统名称", "主机名", "IP地址"],
            ["甲局", "OA", "oa01", "VIP:10.1.1.10 实IP:10.1.1.1"],
            ["甲局", "OA", "oa02", "VIP:10.1.1.10 实IP:10.1.1.2"],
            ["甲局", "OA", "oa03", "10.1.1.20（VIP）、10.1.1.3"],
            ["甲局", "OA", "oa04", "浮动IP 10.1.1.21；10.1.1.4"],
            ["甲局", "OA", "oa05", "10.1.1.5；10.1.1.6"]]
    read = read_ledger(write_xlsx(tmp_path / "t.xlsx", {"主机": rows}), reader=read_grids)
    got = {h["hostname"]: h["ip"] for h in read.rows["hosts"]}
    assert got == {"oa01": "10.1.1.1", "oa02": "10.1.1.2", "oa03": "10.1.1.3",
                   "oa04": "10.1.1.4", "oa05": "10.1.1.5"}
    said = [w for w in read.warnings if "virtual" in w]
    assert len(said) == 1 and "rows 2, 3, 4, 5" in said[0], read.warnings
