"""Ledgers as teams that did not write the code make them: a 系统类型 column holding the
system's kind on a host sheet, and the shapes found by writing such ledgers by hand."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.ledgers.read import read_ledger

from .conftest import write_csv, write_xlsx


def _read(path: Path, **kw: object) -> object:
    return read_ledger(path, reader=read_grids, **kw)  # type: ignore[arg-type]


HEAD = ["单位", "系统名称", "系统类型", "主机名", "IP地址", "操作系统"]


def test_system_type_holding_system_kinds_on_a_host_sheet_is_the_system_kind(
        tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "k.xlsx", {"服务器": [
        HEAD,
        ["甲局", "审批", "业务系统", "sp01", "10.6.0.1", "CentOS 7.9"],
        ["甲局", "统一认证", "shared-service", "uc01", "10.6.0.2", "Kylin V10"],
        ["甲局", "存储平台", "基础设施", "st01", "10.6.0.3", "CentOS 7.6"]]})
    read = _read(path)
    systems = {s["name"]: s.get("kind") for s in read.rows["systems"]}  # type: ignore[attr-defined]
    assert systems == {"审批": "business", "统一认证": "shared-service",
                       "存储平台": "shared-service"}
    hosts = {h["hostname"]: h["os"] for h in read.rows["hosts"]}  # type: ignore[attr-defined]
    assert hosts == {"sp01": "CentOS", "uc01": "Kylin", "st01": "CentOS"}
    assert not [w for w in read.warnings if "both mean" in w]  # type: ignore[attr-defined]
    [sheet] = read.sheets  # type: ignore[attr-defined]
    assert sheet.columns["系统类型 (C)"] == "systems.kind"


def test_system_type_holding_operating_systems_is_still_the_os(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "o.xlsx", {"服务器": [
        ["单位", "主机名", "IP地址", "系统类型"],
        ["甲局", "a1", "10.6.0.1", "CentOS 7.9"], ["甲局", "a2", "10.6.0.2", "Windows Server 2012"],
        ["甲局", "a3", "10.6.0.3", "银河麒麟V10"]]})
    read = _read(path)
    hosts = {h["hostname"]: h["os"] for h in read.rows["hosts"]}  # type: ignore[attr-defined]
    assert hosts == {"a1": "CentOS", "a2": "Windows Server", "a3": "银河麒麟"}


def test_system_type_holding_neither_is_not_dropped_silently(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "n.xlsx", {"服务器": [
        HEAD,
        ["甲局", "审批", "政务服务类", "sp01", "10.6.0.1", "CentOS 7.9"],
        ["甲局", "门户", "对外门户类", "mh01", "10.6.0.2", "CentOS 7.9"]]})
    read = _read(path)
    hosts = {h["hostname"]: h["os"] for h in read.rows["hosts"]}  # type: ignore[attr-defined]
    assert hosts == {"sp01": "CentOS", "mh01": "CentOS"}  # the OS column is untouched
    [w] = [w for w in read.warnings if "系统类型" in w]  # type: ignore[attr-defined]
    assert "'系统类型 (C)'" in w and "not imported" in w and "政务服务类" in w, w
    assert "systems.kind" in w and "hosts.os" in w, w


def test_system_kinds_on_a_host_sheet_without_systems_are_said_not_imported(
        tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "s.xlsx", {"服务器": [
        ["单位", "主机名", "IP地址", "操作系统", "系统类型"],
        ["甲局", "a1", "10.6.0.1", "CentOS 7.9", "业务系统"]]})
    read = _read(path)
    assert [h["hostname"] for h in read.rows["hosts"]] == ["a1"]  # type: ignore[attr-defined]
    [w] = [w for w in read.warnings if "系统类型" in w]  # type: ignore[attr-defined]
    assert "no 系统名称 column" in w and "not imported" in w, w


def test_an_export_reimported_counts_its_conflicts_sheet(tmp_path: Path) -> None:
    est = str(tmp_path / "e")
    ledger = write_xlsx(tmp_path / "甲局.xlsx", {"服务器": [
        ["单位", "系统名称", "主机名", "IP地址", "操作系统", "内存(GB)"],
        ["甲局", "审批", "sp01", "10.6.0.1", "CentOS 7.9", 16],
        ["甲局", "审批", "sp02", "10.6.0.2", "CentOS 7.9", 16]]})
    cmdb = write_csv(tmp_path / "cmdb.csv", [["单位", "主机名", "IP地址", "内存(GB)"],
                                             ["甲局", "sp01", "10.6.0.1", "32"],
                                             ["甲局", "sp02", "10.6.0.2", "64"]])
    run = CliRunner().invoke
    for f in (ledger, cmdb):
        assert run(main, ["inventory", "import", str(f), "--estate", est]).exit_code == 0
    book = tmp_path / "export.xlsx"
    assert run(main, ["inventory", "export", "--estate", est, "--xlsx", str(book)]).exit_code == 0
    for target, recorded, new in ((est, 2, 0), (str(tmp_path / "fresh"), 0, 2)):
        res = run(main, ["inventory", "import", str(book), "--estate", target, "--dry-run",
                         "--json"])
        assert res.exit_code == 0, res.output
        [f] = json.loads(res.output)["files"]
        # bureau 1 + system 1 + hosts 2 + conflicts 2: every row of the workbook counted
        assert f["read"] == {"bureaus": 1, "systems": 1, "hosts": 2, "conflicts": 2}, f
        assert sum(f["read"].values()) == f["rows"] == 6
        assert f["conflicts_sheet"] == {"rows": 2, "recorded": recorded, "new": new}
    res = run(main, ["inventory", "import", str(book), "--estate", est, "--no-progress"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert ("export.xlsx: 6 rows (export); its conflicts sheet: 2 rows, 2 already "
            "recorded") in out, out
    res = run(main, ["inventory", "import", str(book), "--estate", est, "--dry-run",
                     "--no-progress"])
    out = " ".join(res.output.split())
    assert "6 rows → bureaus 1, conflicts 2, hosts 2, systems 1" in out, out


def test_an_outside_teams_host_sheet_disks_states_and_cloud_servers(tmp_path: Path) -> None:
    """Cells as a bureau writes them, found by writing ledgers by hand: disks counted
    before their size (2块600G, 两块600G: 两 is two, not a label) or after it with a
    spaced x (600G x 2); 运行状态 as in service / retired (在用, 在运, 停用, 报废); a
    云服务器 is a cloud VM, not a physical server."""
    head = ["单位", "系统名称", "服务器名称", "IP地址", "操作系统", "硬盘", "运行状态",
            "设备类型"]
    rows = [["甲局", "审批", "h1", "10.7.0.1", "CentOS 7.9", "2块600G", "在用", "云服务器"],
            ["甲局", "审批", "h2", "10.7.0.2", "CentOS 7.9", "两块600G", "在运", "物理服务器"],
            ["甲局", "审批", "h3", "10.7.0.3", "CentOS 7.9", "600G x 2", "停用", "虚拟机"],
            ["甲局", "审批", "h4", "10.7.0.4", "CentOS 7.9", "500G X2", "已停用", "云主机"],
            ["甲局", "审批", "h5", "10.7.0.5", "CentOS 7.9", "3个1.2T", "报废", "云服务器ECS"],
            ["甲局", "审批", "h6", "10.7.0.6", "CentOS 7.9", "六块600G", "使用中", "物理机"]]
    read = _read(write_xlsx(tmp_path / "t.xlsx", {"服务器": [head, *rows]}))
    got = {h["hostname"]: (h["disk_gb"], h["power_state"], h["kind"])
           for h in read.rows["hosts"]}  # type: ignore[attr-defined]
    assert got == {"h1": (1200, "on", "vm"), "h2": (1200, "on", "physical"),
                   "h3": (1200, "off", "vm"), "h4": (1000, "off", "vm"),
                   "h5": (3686.4, "off", "vm"), "h6": (3600, "on", "physical")}


def test_no_database_written_as_a_word_is_no_database(tmp_path: Path) -> None:
    """A 数据库 column on a host sheet saying there is none (无, 不涉及, none): no database
    row — it was added as a database of engine 'other'."""
    head = ["单位", "系统名称", "主机名", "IP地址", "操作系统", "数据库"]
    rows = [["乙局", "社保", "s1", "10.8.0.1", "CentOS 7.9", "Oracle 11g"],
            ["乙局", "社保", "s2", "10.8.0.2", "CentOS 7.9", "无"],
            ["乙局", "社保", "s3", "10.8.0.3", "CentOS 7.9", "不涉及"],
            ["乙局", "社保", "s4", "10.8.0.4", "CentOS 7.9", "None"],
            ["乙局", "社保", "s5", "10.8.0.5", "CentOS 7.9", "没有"]]
    read = _read(write_xlsx(tmp_path / "d.xlsx", {"服务器": [head, *rows]}))
    dbs = read.rows["databases"]  # type: ignore[attr-defined]
    assert [(d["engine"], d.get("version")) for d in dbs] == [("oracle", "11g")]
    assert len(read.rows["hosts"]) == 5  # type: ignore[attr-defined]


def test_a_file_named_after_its_bureau_gives_the_bureau(tmp_path: Path) -> None:
    """A bureau's file with no 单位 column, no 填报单位 line and a sheet named Sheet1:
    the file's name (湖北局服务器台账.xlsx) names the bureau, with a warning — it was
    refused ('no bureau … pass --bureau NAME'), though a sheet so named was read."""
    rows = [["主机名", "IP地址", "操作系统"], ["hb-a1", "10.9.0.1", "CentOS 7.9"]]
    read = _read(write_xlsx(tmp_path / "湖北局服务器台账(2026).xlsx", {"Sheet1": rows}))
    assert {b["name"] for b in read.rows["bureaus"]} == {"湖北局"}  # type: ignore[attr-defined]
    [w] = [w for w in read.warnings if "file's name" in w]  # type: ignore[attr-defined]
    assert "'湖北局'" in w, w
    # --bureau wins over the name, and a name naming no bureau is still refused
    read = _read(tmp_path / "湖北局服务器台账(2026).xlsx", bureau="湖南局")
    assert {b["name"] for b in read.rows["bureaus"]} == {"湖南局"}  # type: ignore[attr-defined]
    import pytest

    from shangyun.errors import LedgerError

    with pytest.raises(LedgerError, match="no bureau"):
        _read(write_xlsx(tmp_path / "服务器台账.xlsx", {"Sheet1": rows}))


def test_an_outside_teams_gbk_csv_with_title_lines_totals_and_signatures(
        tmp_path: Path) -> None:
    """A GBK CSV as a bureau exports it: a title, 填报单位 and 填报日期 above the header,
    sizes and levels as people write them (16G*2, 500G×2, 1.5 TB, 64GB DDR4 — the
    memory's type after its size was refused —, S3A3G3), a 合计 row and a signature line."""
    lines = ["辽宁局服务器资产台账,,,,,,,,", "填报单位：辽宁局,,,,填报日期：2026-11-30,,,,",
             "序号,应用系统,服务器名称,IP地址,操作系统及版本,CPU核数,内存(GB),硬盘(TB),安全等级",
             "1,医保结算,ln-yb01,10.40.1.5（业务）,CentOS 7.9,2*8核,16G*2,1.5 TB,三级（等保）",
             "2,医保结算,ln-yb02,10.40.1.6/24,CentOS 7.9,16,32,500G×2,S3A3G3",
             "3,医保结算,ln-yb03,10.40.1.7,CentOS 7.9,16,64GB DDR4,2,第三级",
             "合计,,,,,48,128,,", "制表人：张三,,审核人：李四,,,,,,"]
    path = tmp_path / "辽宁局.csv"
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    read = _read(path)
    got = {h["hostname"]: (h["ip"], h["cpu_cores"], h["memory_gb"], h["disk_gb"])
           for h in read.rows["hosts"]}  # type: ignore[attr-defined]
    assert got == {"ln-yb01": ("10.40.1.5", 16, 32, 1536), "ln-yb02": ("10.40.1.6", 16, 32, 1000),
                   "ln-yb03": ("10.40.1.7", 16, 64, 2048)}
    [system] = read.rows["systems"]  # type: ignore[attr-defined]
    assert system["name"] == "医保结算" and system["mlps_level"] == 3
    assert {b["name"] for b in read.rows["bureaus"]} == {"辽宁局"}  # type: ignore[attr-defined]


def test_an_mlps_level_with_the_standard_in_brackets(tmp_path: Path) -> None:
    """三级(2.0), 三级（等保2.0）: the level under MLPS 2.0 — it was refused as naming
    several levels (2 and 3); 二级/三级 still is."""
    import pytest

    from shangyun.ledgers.values import BadValue, parse_mlps

    assert [parse_mlps(t) for t in ("三级(2.0)", "三级（等保2.0）", "第三级（2.0版）",
                                    "2.0三级")] == [3, 3, 3, 3]
    with pytest.raises(BadValue, match="several"):
        parse_mlps("二级/三级")


def test_a_display_name_column_beside_the_host_name_is_the_role(tmp_path: Path) -> None:
    """服务器名称 holding Chinese display names before a 主机名 column of host names: the
    host names name the hosts and the display names are their 用途 — the file was refused
    ('审批应用服务器1' is not a host name) though its 主机名 column was right."""
    path = write_xlsx(tmp_path / "j.xlsx", {"服务器": [
        ["单位", "系统名称", "服务器名称", "主机名", "IP地址", "操作系统"],
        ["吉林局", "审批", "审批应用服务器1", "jl-sp-app01", "10.50.1.5", "CentOS 7.9"],
        ["吉林局", "审批", "审批数据库服务器", "jl-sp-db01", "10.50.1.6", "CentOS 7.9"]]})
    read = _read(path)
    got = {h["hostname"]: h.get("role") for h in read.rows["hosts"]}  # type: ignore[attr-defined]
    assert got == {"jl-sp-app01": "审批应用服务器1", "jl-sp-db01": "审批数据库服务器"}
    [w] = [w for w in read.warnings if "服务器名称" in w]  # type: ignore[attr-defined]
    assert "hosts.role" in w and "'主机名 (D)'" in w and "both mean" not in w, w


def test_a_disk_format_column_and_the_format_a_path_names(tmp_path: Path) -> None:
    """A bureau's 格式 column sets the disk's format (it was ignored: a qcow2 disk then read
    as raw); without it the path's ending names it (.vmdk, .qcow2, .vhd, .vhdx), and a path
    that says nothing (.img) leaves it unset."""
    path = write_xlsx(tmp_path / "d.xlsx", {
        "主机": [["单位", "系统名称", "主机名", "IP地址", "操作系统"],
                 ["甲局", "审批", "sp01", "10.6.0.1", "CentOS 7.9"]],
        "磁盘": [["主机名", "磁盘名称", "容量(GB)", "路径", "磁盘格式"],
                 ["sp01", "a", 40, "/data/sp01-a.img", "QCOW2"],
                 ["sp01", "b", 40, "/data/sp01-b.qcow2", None],
                 ["sp01", "c", 40, "/data/sp01-c.VHDX", None],
                 ["sp01", "d", 40, "[ds1] sp01/sp01.vmdk", None],
                 ["sp01", "e", 40, "/data/sp01-e.img", None]]})
    read = _read(path)
    formats = {d["name"]: d.get("format") for d in read.rows["disks"]}  # type: ignore[attr-defined]
    assert formats == {"a": "qcow2", "b": "qcow2", "c": "vhdx", "d": "vmdk", "e": None}
    disk_sheet = next(s for s in read.sheets if s.sheet == "磁盘")  # type: ignore[attr-defined]
    assert disk_sheet.columns["磁盘格式 (E)"] == "disks.format"
    assert not disk_sheet.unmapped
