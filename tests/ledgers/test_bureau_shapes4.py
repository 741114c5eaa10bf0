"""Ledgers from bureaus and vendors the project had not seen (outside team, round 4).

Each test writes the file the way the bureau's tool wrote it (openpyxl) and imports it
through the real reader (and the CLI where the output matters).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.grid import read_grids
from shangyun.estate import Estate
from shangyun.ledgers.importer import import_ledgers
from shangyun.ledgers.read import read_ledger


def _rows(path: Path, table: str) -> list[dict]:
    return read_ledger(path, reader=read_grids).rows[table]


def test_zero_width_and_bom_characters_in_cells_are_dropped(xlsx: Callable[..., Path]) -> None:
    """A vendor's web export leaves U+200B/U+FEFF in cells: '8\u200b' was refused as
    no size, and a host name with one was refused as no host name."""
    path = xlsx("zw.xlsx", {"主机": [
        ["单位", "系统名称", "主机名", "IP地址", "内存(GB)", "CPU"],
        ["广东局", "\ufeff门户", "gd-web-01\u200b", "\u200b10.50.1.1", "8\u200b", "4\u2060"],
        ["广东局", "门户\u200d", "gd-web-02", "10.50.1.2\ufeff", 16, 8],
    ]})
    hosts = _rows(path, "hosts")
    assert [(h["hostname"], h["ip"], h["memory_gb"], h["cpu_cores"]) for h in hosts] == [
        ("gd-web-01", "10.50.1.1", 8, 4), ("gd-web-02", "10.50.1.2", 16, 8)]
    assert {s["name"] for s in _rows(path, "systems")} == {"门户"}


def test_bilingual_headers_english_then_chinese_in_one_cell(xlsx: Callable[..., Path]) -> None:
    """A vendor's ledger heads each column in both languages ('Hostname 主机名',
    'OS 操作系统', '主机名 Hostname'): those columns were ignored, so the hosts had no
    name, system or bureau (the import asked for --bureau) and no OS."""
    path = xlsx("vendor.xlsx", {"Servers": [
        ["No.", "Bureau 单位", "System 系统名称", "Hostname 主机名", "IP Address",
         "操作系统 OS", "vCPU", "Memory(GB)", "Remarks 备注", "Rack 机柜"],
        [1, "广东局", "Portal 门户", "gd-portal-01", "10.50.1.1", "CentOS 7.9", 4, 8, "ok", "A01"],
        [2, "广东局", "Portal 门户", "gd-portal-02", "10.50.1.2", "CentOS 7.9", 4, 8, "", "A02"],
    ]})
    read = read_ledger(path, reader=read_grids)
    hosts = read.rows["hosts"]
    assert [(h["hostname"], h["os"], h["os_version"]) for h in hosts] == [
        ("gd-portal-01", "CentOS", "7.9"), ("gd-portal-02", "CentOS", "7.9")]
    assert [b["name"] for b in read.rows["bureaus"]] == ["广东局"]
    assert [s["name"] for s in read.rows["systems"]] == ["Portal 门户"]
    assert not read.sheets[0].unmapped


def test_a_bilingual_header_naming_two_fields_is_not_read_as_either(
        xlsx: Callable[..., Path]) -> None:
    """'IP 主机名' names two different fields: it stays unknown (no guess)."""
    path = xlsx("odd.xlsx", {"Servers": [
        ["单位", "主机名", "IP地址", "CPU 内存"],
        ["广东局", "gd-a", "10.50.1.1", "4"],
    ]})
    read = read_ledger(path, reader=read_grids)
    assert "CPU 内存" in read.sheets[0].unmapped
    assert read.rows["hosts"][0].get("cpu_cores") is None


@pytest.mark.parametrize(("header", "target"), [
    ("Hostname 主机名", "hosts.hostname"), ("主机名 / Hostname", "hosts.hostname"),
    ("操作系统\nOS", "hosts.os"), ("Memory 内存(GB)", "hosts.memory_gb"),
    ("Physical host 宿主机", "hosts.hypervisor"), ("Remarks 备注", "ignore"),
    ("CPU 型号", None), ("OS 许可", None), ("CPU 内存", None), ("Warranty 保修期", "ignore"),
])
def test_bilingual_header_lookup(header: str, target: str | None) -> None:
    """Both halves, or the Chinese half with an unknown English one; never two fields."""
    from shangyun.ledgers.headers import lookup
    assert lookup(header, "hosts")[0] == target


def _grouped_sheet(n: int, every: int, system: str, net: int) -> tuple[list[list], list[str]]:
    """A host sheet printed for binding: a title, a grouped two-row header (基本信息 |
    配置信息 | 网络信息 merged over the names) repeated every ``every`` rows."""
    top = ["序号", "基本信息", None, None, "配置信息", None, None, None, "网络信息", None, "备注"]
    sub = [None, "单位", "系统名称", "主机名", "操作系统", "CPU(核)", "内存(GB)", "磁盘(GB)",
           "IP地址", "网络区域", None]
    rows: list[list] = [[f"{system}服务器清单"], top, sub]
    merges = ["A1:K1", "B2:D2", "E2:H2", "I2:J2", "A2:A3", "K2:K3"]
    for i in range(n):
        if i and i % every == 0:
            at = len(rows) + 1
            rows += [list(top), list(sub)]
            merges += [f"B{at}:D{at}", f"E{at}:H{at}", f"I{at}:J{at}"]
        rows.append([i + 1, "湖南局", system, f"hn-{net}-{i:03d}", "CentOS 7.9", 4, 8, 100,
                     f"10.30.{net}.{i + 1}", "政务外网", None])
    return rows, merges


def test_a_grouped_header_repeated_every_page_is_skipped_each_time(
        xlsx: Callable[..., Path]) -> None:
    """A printed ledger repeats its two header rows every 50 rows: the copy of the names
    row was skipped, but the copy of the group row (基本信息 | 配置信息 | 网络信息) was read
    as a host and the whole file refused ('基本信息' is not a host name …)."""
    s1, m1 = _grouped_sheet(120, 50, "行政审批系统", 1)
    s2, m2 = _grouped_sheet(30, 50, "电子证照系统", 2)
    path = xlsx("湖南局分系统台账.xlsx", {"填表说明": [["填表说明"], ["1. 每个系统一张表"]],
                                         "行政审批系统": s1, "电子证照系统": s2},
                {"行政审批系统": m1, "电子证照系统": m2})
    read = read_ledger(path, reader=read_grids)
    hosts = read.rows["hosts"]
    assert len(hosts) == 150
    assert {h["hostname"] for h in hosts} >= {"hn-1-000", "hn-1-050", "hn-1-119", "hn-2-029"}
    sheet = next(s for s in read.sheets if s.sheet == "行政审批系统")
    assert (sheet.rows, sheet.skipped) == (120, 4)


@pytest.mark.parametrize(("text", "gb"), [
    ("系统盘50G/数据盘500G", 550), ("C:100G/D:500G", 600), ("系统盘 50G / 数据盘 1T", 1074),
    ("50G/数据盘500G", 550),
])
def test_labelled_disks_separated_by_a_slash_add_up(text: str, gb: float) -> None:
    """An asset system writes 系统盘50G/数据盘500G: two labelled disks. It was refused as
    no size (like 40G/500G, still refused: used/total or two disks?)."""
    from shangyun.ledgers.values import BadValue, parse_size_gb
    assert parse_size_gb(text) == gb
    with pytest.raises(BadValue):
        parse_size_gb("40G/500G")


_OA_HEADER = ["资产编号", "资产名称", "设备类型", "使用状态", "所属系统", "主机名", "IP地址",
              "操作系统", "CPU", "内存", "硬盘", "保修期"]


def test_an_asset_systems_use_status_gives_the_power_state_and_warns_of_retired_hosts(
        xlsx: Callable[..., Path]) -> None:
    """An OA/asset system's export says 使用状态 在用/停用/报废: the column was ignored
    without a word, so a scrapped (报废) server was imported like a live one."""
    path = xlsx("湖北局资产导出.xlsx", {"资产清单": [
        _OA_HEADER,
        ["ZC-0001", "应用服务器", "服务器", "在用", "审批", "hb-app01", "10.20.1.11",
         "CentOS 7.6", 8, "16G", "500G", "3年"],
        ["ZC-0002", "旧OA", "服务器", "报废", "OA", "hb-oa-old", "10.20.3.5",
         "Windows Server 2003", 4, "8G", "300G", "已过保"],
        ["ZC-0003", "备份机", "虚拟机", "停用", "备份", "hb-bak01", "10.20.4.4",
         "CentOS 7.9", 4, "8G", "1T", "-"],
    ]})
    read = read_ledger(path, reader=read_grids)
    assert {h["hostname"]: h["power_state"] for h in read.rows["hosts"]} == {
        "hb-app01": "on", "hb-oa-old": "off", "hb-bak01": "off"}
    sheet = read.sheets[0]
    assert sheet.columns["使用状态 (D)"] == "hosts.power_state"
    retired = [w for w in sheet.warnings if "retired or not to move" in w]
    assert len(retired) == 1 and "rows 3, 4" in retired[0] and "报废" in retired[0]
    assert "使用状态 (D)" in retired[0]


def test_storage_and_network_devices_of_an_asset_export_are_skipped_with_a_warning(
        xlsx: Callable[..., Path]) -> None:
    """An asset system lists every device: 设备类型 存储/网络设备/交换机/防火墙 rows are no
    hosts to move. The whole file was refused ('存储' is not a host kind); a 存储服务器 is
    still a (physical) host."""
    path = xlsx("湖北局资产导出.xlsx", {"资产清单": [
        _OA_HEADER,
        ["ZC-1", "应用服务器", "服务器", "在用", "审批", "hb-app01", "10.20.1.11",
         "CentOS 7.6", 8, "16G", "500G", "3年"],
        ["ZC-2", "存储阵列", "存储", "在用", "审批", None, "10.20.9.1", None, None, None, "20T",
         "3年"],
        ["ZC-3", "核心交换机", "网络设备", "在用", None, "core-sw01", "10.20.0.1", "Comware",
         None, None, None, None],
        ["ZC-4", "防火墙", "防火墙", "在用", None, "fw01", "10.20.0.2", None, None, None, None,
         None],
        ["ZC-5", "文件服务器", "存储服务器", "在用", "档案", "hb-file01", "10.20.1.30",
         "CentOS 7.9", 8, "16G", "4T", "3年"],
        ["ZC-6", "大数据节点", "虚拟机", "在用", "数据共享", "hb-bd01", "10.20.5.1", "麒麟V10",
         16, "0.5T", "2T", "-"],
    ]})
    read = read_ledger(path, reader=read_grids)
    assert {h["hostname"]: h["kind"] for h in read.rows["hosts"]} == {
        "hb-app01": "physical", "hb-file01": "physical", "hb-bd01": "vm"}
    assert {s["name"] for s in read.rows["systems"]} == {"审批", "档案", "数据共享"}
    sheet = read.sheets[0]
    assert (sheet.rows, sheet.skipped) == (3, 3)
    devices = [w for w in sheet.warnings if "not servers" in w]
    assert len(devices) == 1, sheet.warnings
    assert "rows 3, 4, 5" in devices[0] and "存储" in devices[0] and "设备类型 (C)" in devices[0]


def test_a_host_cell_naming_several_systems_joins_the_first_and_serves_the_others(
        xlsx: Callable[..., Path], tmp_path: Path) -> None:
    """An asset export writes every system a server serves in one cell
    (行政审批系统、电子证照系统): a system of that whole name was made. Now the host joins
    the first, the others get a declared dependency on it (shared use, as when two rows
    list the host), with a warning; a name that merely holds 、 stays whole."""
    path = xlsx("湖北局资产导出.xlsx", {"资产清单": [
        _OA_HEADER,
        ["ZC-1", "应用服务器", "服务器", "在用", "行政审批系统、电子证照系统", "hb-app01",
         "10.20.1.11", "CentOS 7.6", 8, "16G", "2*600G SAS RAID1", "3年"],
        ["ZC-2", "数据库", "服务器", "在用", "行政审批系统；统一门户平台；档案管理系统", "hb-db01",
         "10.20.1.12", "CentOS 7.6", 8, "16G", "500G", "3年"],
        ["ZC-3", "人事服务器", "服务器", "在用", "人事、工资管理系统", "hb-hr01",
         "10.20.1.13", "CentOS 7.6", 8, "16G", "500G", "3年"],
    ]})
    estate = tmp_path / "estate"
    report = import_ledgers([path], estate, reader=read_grids)
    est = Estate.load(estate)
    systems = {s["id"]: s["name"] for s in est.rows("systems")}
    assert sorted(systems.values()) == ["人事、工资管理系统", "档案管理系统", "电子证照系统",
                                        "统一门户平台", "行政审批系统"]
    hosts = {h["hostname"]: systems[h["system_id"]] for h in est.rows("hosts")}
    assert hosts == {"hb-app01": "行政审批系统", "hb-db01": "行政审批系统",
                     "hb-hr01": "人事、工资管理系统"}
    host_names = {h["id"]: h["hostname"] for h in est.rows("hosts")}
    shared = sorted((systems[d["source_system"]], host_names[d["target_host"]])
                    for d in est.rows("dependencies") if d.get("service") == "shared host")
    assert shared == [("档案管理系统", "hb-db01"), ("电子证照系统", "hb-app01"),
                      ("统一门户平台", "hb-db01")]
    warned = [w for w in report.warnings if "several systems" in w]
    assert len(warned) == 1 and "rows 2, 3" in warned[0], report.warnings
    assert {h["hostname"]: h["disk_gb"] for h in est.rows("hosts")}["hb-app01"] == 1200


# ---------------------------------------------------------------- the Excel round trip
def _cli(*args: str) -> str:
    from click.testing import CliRunner

    from shangyun.cli import main
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def _round_trip_estate(tmp_path: Path, xlsx: Callable[..., Path]) -> tuple[Path, Path]:
    led = xlsx("江西局台账.xlsx", {"主机": [
        ["单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存(GB)"],
        ["江西局", "综合办公", "jx-oa-app01", "10.40.1.5", "CentOS 7.9", 8, 16],
        ["江西局", "综合办公", "jx-oa-db01", "10.40.1.6", "CentOS 7.9", 8, 32],
        ["江西局", "档案管理", "jx-da-app01", "10.40.2.5", "CentOS 7.9", 4, 8],
    ]})
    est = tmp_path / "est"
    _cli("inventory", "import", str(led), "--estate", str(est), "--no-progress")
    book = tmp_path / "export.xlsx"
    _cli("inventory", "export", "--estate", str(est), "--xlsx", str(book))
    return est, book


def test_a_column_of_the_teams_own_in_an_edited_export_is_not_written_into_the_estate(
        tmp_path: Path, xlsx: Callable[..., Path]) -> None:
    """A team adds a column of its own (迁移批次) to the exported 主机 sheet: it was shown
    as an edit of every host and --apply wrote it into hosts.csv as a new estate column.
    Now it is named in a warning as not imported, and no edit."""
    import openpyxl
    est, book = _round_trip_estate(tmp_path, xlsx)
    wb = openpyxl.load_workbook(book)
    ws = wb["主机"]
    col = ws.max_column + 1
    ws.cell(1, col, "迁移批次")
    for r in range(2, ws.max_row + 1):
        ws.cell(r, col, f"第{r}批")
    wb.save(book)
    out = _cli("inventory", "import", str(book), "--estate", str(est), "--no-progress",
               "--json")
    import json
    report = json.loads(out)
    assert report["edits"] == []
    assert any("迁移批次" in w and "not imported" in w for w in report["warnings"])
    _cli("inventory", "import", str(book), "--estate", str(est), "--no-progress", "--apply")
    head = (est / "hosts.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert "迁移批次" not in head


def test_chinese_words_typed_in_an_edited_export_are_read_as_a_ledger_reads_them(
        tmp_path: Path, xlsx: Callable[..., Path]) -> None:
    """A Chinese team types 周六 in the exported 维护窗口(星期) and 关机 in 电源状态: the import
    refused the workbook ('周六' is not one of: mon, tue …), though a ledger reads them."""
    import json

    import openpyxl
    est, book = _round_trip_estate(tmp_path, xlsx)
    wb = openpyxl.load_workbook(book)
    ws = wb["单位"]
    head = [c.value for c in ws[1]]
    ws.cell(2, head.index("维护窗口(星期)") + 1, "周六")
    ws.cell(2, head.index("维护窗口开始") + 1, "22:00")
    ws.cell(2, head.index("维护窗口时长(小时)") + 1, 6)
    ws = wb["主机"]
    head = [c.value for c in ws[1]]
    ws.cell(2, head.index("电源状态") + 1, "关机")
    wb.save(book)
    report = json.loads(_cli("inventory", "import", str(book), "--estate", str(est),
                             "--no-progress", "--json"))
    assert sorted((e["column"], e["edited"]) for e in report["edits"]) == [
        ("power_state", "off"), ("window_day", "sat"), ("window_hours", 6),
        ("window_start", "22:00")]
