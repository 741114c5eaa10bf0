"""Ledgers from bureaus the project had not seen (outside team, round 6).

Each test writes the file the way a bureau's tool wrote it (openpyxl, csv) and imports it
through the real reader, and the CLI where the output matters.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from openpyxl.worksheet.table import Table, TableStyleInfo

from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.errors import LedgerError
from shangyun.ledgers.read import read_ledger
from shangyun.ledgers.values import BadValue, parse_go_live, parse_mlps


def test_an_excel_table_with_a_totals_row_of_formulas_is_read(tmp_path: Path) -> None:
    """A bureau formats its host list as an Excel table (插入 → 表格) and ticks 汇总行:
    the totals row holds SUBTOTAL formulas and no label. Saved by a program that does not
    calculate, the row has no cells the reader returns, and the import crashed
    (IndexError in the formula-blank check)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "服务器"
    for row in [["系统名称", "主机名", "IP地址", "CPU(核)", "内存(GB)", "磁盘(GB)"],
                ["OA系统", "gx-oa-01", "10.4.1.5", 4, 8, 100],
                ["OA系统", "gx-oa-02", "10.4.1.6", 4, 8, 100],
                [None, None, None, "=SUBTOTAL(109,Servers[CPU(核)])",
                 "=SUBTOTAL(109,Servers[内存(GB)])", "=SUBTOTAL(109,Servers[磁盘(GB)])"]]:
        ws.append(row)
    table = Table(displayName="Servers", ref="A1:F4")
    table.totalsRowCount = 1
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium9", showRowStripes=True)
    ws.add_table(table)
    path = tmp_path / "广西局服务器表.xlsx"
    wb.save(path)
    read = read_ledger(path, reader=read_grids)
    assert [h["hostname"] for h in read.rows["hosts"]] == ["gx-oa-01", "gx-oa-02"]
    assert not any("formula" in w for w in read.warnings), read.warnings


@pytest.mark.parametrize(("text", "date"), [("20190301", "2019-03-01"), ("201903", "2019-03"),
                                            ("20191231", "2019-12-31")])
def test_a_go_live_date_written_as_eight_or_six_digits_is_read(text: str, date: str) -> None:
    """Asset systems export dates as 20190301 (yyyymmdd): refused as no go-live date."""
    assert parse_go_live(text) == date


@pytest.mark.parametrize("text", ["20191301", "20190230", "201913", "12345678"])
def test_a_compact_date_that_is_no_date_is_still_refused(text: str) -> None:
    with pytest.raises(BadValue, match="is not a go-live date"):
        parse_go_live(text)


@pytest.mark.parametrize(("text", "level"), [
    ("三级（2023年测评）", 3), ("等保三级(2022年备案)", 3), ("二级（2021）", 2),
    ("三级，2023年已测评", 3), ("等保三级(已备案)", 3)])
def test_an_mlps_level_with_the_year_of_its_assessment_is_read(text: str, level: int) -> None:
    """A year beside the level (三级（2023年测评）) was read as more levels and refused
    ("names several MLPS levels")."""
    assert parse_mlps(text) == level


@pytest.mark.parametrize("text", ["二级/三级（2023年测评）", "2023年"])
def test_an_mlps_cell_with_a_year_and_two_levels_or_none_is_still_refused(text: str) -> None:
    with pytest.raises(BadValue):
        parse_mlps(text)


def test_a_header_below_a_long_instruction_block_is_found(tmp_path: Path) -> None:
    """A template puts its 填表说明 (38 numbered lines) above the table: the header in row
    40 was past the first 30 rows searched, and the workbook was refused ("no ledger
    found")."""
    wb = Workbook()
    ws = wb.active
    ws.title = "主机清单"
    ws.append(["填表说明"])
    for i in range(1, 38):
        ws.append([f"{i}. 请按照要求填写第{i}项内容，不得留空。"])
    ws.append([])
    ws.append(["单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存(GB)"])
    ws.append(["江西局", "OA系统", "jx-oa-01", "10.5.1.5", "CentOS 7.9", 4, 8])
    path = tmp_path / "jiangxi.xlsx"
    wb.save(path)
    read = read_ledger(path, reader=read_grids)
    assert [h["hostname"] for h in read.rows["hosts"]] == ["jx-oa-01"]
    assert read.sheets[0].header_row == 40


def test_a_sheet_with_no_header_in_its_first_100_rows_is_still_refused(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    for i in range(120):
        ws.append([f"说明 {i}"])
    ws.append(["单位", "系统名称", "主机名", "IP地址"])
    path = tmp_path / "x.xlsx"
    wb.save(path)
    with pytest.raises(LedgerError, match="no ledger found"):
        read_ledger(path, reader=read_grids)


def test_system_names_differing_by_spacing_or_bracket_width_are_one_system(
        xlsx: Callable[..., Path]) -> None:
    """The 系统清单 sheet says 综合办公系统 and OA系统（新）; the host sheet, typed by
    someone else, 综合 办公系统 and OA系统(新): two extra systems were made, and the host
    was 'listed under two systems'."""
    path = xlsx("fujian.xlsx", {
        "系统清单": [["单位", "系统名称", "等保级别", "负责人"],
                     ["福建局", "OA系统（新）", "三级", "张三"],
                     ["福建局", "综合办公系统", "二级", "李四"]],
        "主机清单": [["单位", "系统名称", "主机名", "IP地址", "操作系统"],
                     ["福建局", "OA系统(新)", "fj-oa-01", "10.7.1.5", "CentOS 7.9"],
                     ["福建局", "综合 办公系统", "fj-oa-02", "10.7.1.6", "CentOS 7.9"]],
        "系统-主机对应": [["系统名称", "主机名", "IP地址"],
                          ["OA系统（新）", "fj-oa-01", "10.7.1.5"],
                          ["综合办公 系统", "fj-oa-02", "10.7.1.6"]]})
    est = path.parent / "est"
    res = CliRunner().invoke(main, ["inventory", "import", str(path), "--estate", str(est),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    systems = (est / "systems.csv").read_text(encoding="utf-8").splitlines()
    assert len(systems) == 3, systems  # the header and two systems
    assert "listed under two systems" not in res.output
    hosts = (est / "hosts.csv").read_text(encoding="utf-8")
    assert hosts.count("s-") >= 2


def test_the_several_ips_warning_names_the_addresses_dropped(xlsx: Callable[..., Path]) -> None:
    """A cell with several IPs gave the first with a warning listing the rows only: which
    addresses were dropped was not said, so nobody could check they were the NICs."""
    path = xlsx("henan.xlsx", {"主机": [
        ["单位", "系统名称", "主机名", "IP地址"],
        ["河南局", "OA系统", "hn2-oa-01", "10.10.1.5,10.10.1.6"],
        ["河南局", "OA系统", "hn2-oa-02", "10.10.1.7；10.10.1.8、10.10.1.9"],
        ["河南局", "OA系统", "hn2-oa-03", "10.10.1.10"]]})
    read = read_ledger(path, reader=read_grids)
    assert [h["ip"] for h in read.rows["hosts"]] == ["10.10.1.5", "10.10.1.7", "10.10.1.10"]
    w = next(w for w in read.warnings if "several IP addresses" in w)
    assert "(rows 2: dropped 10.10.1.6; 3: dropped 10.10.1.8, 10.10.1.9)" in w, w


@pytest.mark.parametrize(("header", "cell", "says"), [
    ("内存", "16G/32G", "'16G/32G' gives two sizes: used/total (16G in use of 32G?) or two "
                        "values? Give the host's memory alone (its total: 32G)"),
    ("磁盘", "40G/500G", "'40G/500G' gives two sizes: used/total (40G in use of 500G?) or two "
                         "disks? Give the total size (500G), or each disk labelled "
                         "(系统盘40G+数据盘500G) or added up (40G+500G)")])
def test_two_sizes_split_by_a_slash_are_refused_saying_what_they_may_mean(
        xlsx: Callable[..., Path], header: str, cell: str, says: str) -> None:
    """Memory 16G/32G (used of total, as a monitoring export writes it) was refused as
    "is not a size (like 16G …)": the bureau could not tell what was wrong."""
    path = xlsx("henan.xlsx", {"主机": [["单位", "主机名", "IP地址", header],
                                        ["河南局", "hn2-oa-01", "10.10.1.5", cell]]})
    with pytest.raises(LedgerError) as err:
        read_ledger(path, reader=read_grids)
    assert f"row 2, column '{header} (D)': {says}" in str(err.value), str(err.value)


@pytest.mark.parametrize("target", ["systems.name", "systems.owner"])
def test_an_rvtools_annotation_reads_every_label_the_header_table_knows(target: str) -> None:
    """The Annotation's labels were a list of their own beside the header alias table:
    `信息系统：OA系统`, `技术负责人：王五` (headers every ledger reader knows) were not read
    in a VM's notes. One table now: every header naming the system or its owner is a
    label."""
    from shangyun.ledgers.aliases import ALIASES
    from shangyun.ledgers.formats.rvtools import annotation_fields
    field = target.split(".")[1]
    for label in ALIASES[target]:
        assert annotation_fields(f"{label}：OA系统") == {field: "OA系统"}, label
    assert annotation_fields("信息系统：OA系统\n技术负责人：王五") == {"name": "OA系统",
                                                                    "owner": "王五"}


def _table_row(out: str, name: str) -> list[str]:
    line = [x for x in out.splitlines() if x.startswith(f"│ {name} ")][-1]  # the counts
    return [c.strip() for c in line.strip("│").split("│")]


def test_an_edited_export_held_for_apply_counts_what_apply_would_do(tmp_path: Path) -> None:
    """An edited export imported without --apply printed "nothing written: run again with
    --apply" above a table titled "rows this import touched" counting the added row as
    added (and the estate's total with it) and the edited row as unchanged: the counts
    contradicted the line above them."""
    from openpyxl import load_workbook
    est, run = tmp_path / "est", CliRunner().invoke
    ledger = tmp_path / "湖南局台账.xlsx"
    wb = Workbook()
    wb.active.append(["单位", "系统名称", "主机名", "IP地址", "内存(GB)"])
    for i in (1, 2, 3):
        wb.active.append(["湖南局", "OA系统", f"hn-oa-0{i}", f"10.2.1.{i}", 8])
    wb.save(ledger)
    assert run(main, ["inventory", "import", str(ledger), "--estate", str(est),
                      "--no-progress"]).exit_code == 0
    book = tmp_path / "export.xlsx"
    assert run(main, ["inventory", "export", "--estate", str(est), "--xlsx",
                      str(book)]).exit_code == 0
    wb = load_workbook(book)
    ws = wb["主机"]
    head = [c.value for c in ws[1]]
    new = [c.value for c in ws[2]]
    new[head.index("主机编号")] = None
    new[head.index("主机名")], new[head.index("IP地址")] = "hn-new-01", "10.2.1.99"
    ws.append(new)
    ws.cell(row=3, column=head.index("内存(GB)") + 1).value = 16
    wb.save(book)
    held = run(main, ["inventory", "import", str(book), "--estate", str(est), "--no-progress"])
    assert held.exit_code == 0, held.output
    assert "nothing written: run again with --apply" in held.output
    assert "rows this import would touch with --apply (each once; nothing written)" in " ".join(
        held.output.split()), held.output
    assert "rows this import touched" not in held.output
    assert _table_row(held.output, "hosts") == ["hosts", "1", "1", "2", "4"]
    assert (est / "hosts.csv").read_text(encoding="utf-8").count("hn-") == 3  # nothing written
    done = run(main, ["inventory", "import", str(book), "--estate", str(est), "--no-progress",
                      "--apply"])
    assert done.exit_code == 0, done.output
    assert "rows this import touched (each once)" in done.output
    assert _table_row(done.output, "hosts") == ["hosts", "1", "1", "2", "4"]


def test_a_dry_run_says_its_counts_are_what_would_be_written(xlsx: Callable[..., Path]) -> None:
    path = xlsx("湖南局台账.xlsx", {"主机": [["单位", "主机名", "IP地址"],
                                            ["湖南局", "hn-oa-01", "10.2.1.1"]]})
    res = CliRunner().invoke(main, ["inventory", "import", str(path), "--estate",
                                    str(path.parent / "est"), "--dry-run", "--no-progress"])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "rows this import would touch (each once; dry run: nothing written)" in flat, flat
    assert "estate total if written" in flat
    assert not (path.parent / "est").exists()


GZ_HEAD = ["序号", "单位名称", "处室", "系统名称", "系统等保级别", "设备类别", "主机名", "设备IP",
           "操作系统及版本号", "CPU(个)", "内存（GB）", "所属宿主机", "投入运行时间", "主机状态",
           "安全区域", "联系人手机"]


def test_a_provincial_template_s_headers_are_all_read(xlsx: Callable[..., Path]) -> None:
    """A provincial template (贵州局) heads its columns 系统等保级别, 设备IP, 操作系统及版本号,
    所属宿主机, 投入运行时间, 主机状态, 安全区域, 联系人手机, 设备类别: none was known — the
    hosts came in without IP, OS, MLPS level, hypervisor, go-live date, power state, zone
    and phone (three of them named in "looks like" warnings, the rest ignored silently)."""
    path = xlsx("guizhou.xlsx", {"服务器清单": [GZ_HEAD, [
        1, "贵州局", "科技处", "OA系统", "三级", "虚拟机", "gz-oa-01", "10.14.1.5", "CentOS 7.9",
        8, 16, "gz-esx-01", "2019/3/1", "运行", "政务外网", "13800000000"]]})
    read = read_ledger(path, reader=read_grids)
    [host] = read.rows["hosts"]
    assert {k: host.get(k) for k in ("ip", "os", "os_version", "kind", "hypervisor", "go_live",
                                     "power_state")} == {
        "ip": "10.14.1.5", "os": "CentOS", "os_version": "7.9", "kind": "vm",
        "hypervisor": "gz-esx-01", "go_live": "2019-03-01", "power_state": "on"}
    [system] = read.rows["systems"]
    assert (system["mlps_level"], system["network_zone"], system["phone"]) == (
        3, "extranet", "13800000000")
    assert read.sheets[0].unmapped == ["处室"]


def test_system_and_data_disk_columns_are_added_up(xlsx: Callable[..., Path]) -> None:
    """系统盘(G) and 数据盘(G) in two columns, as most templates split them: both were
    ignored (bare numbers do not "look like" sizes), so the hosts had no disk at all and
    the plan sized nothing to copy."""
    head = ["单位", "系统名称", "主机名", "IP地址", "系统盘(G)", "数据盘(G)", "数据盘2(G)"]
    path = xlsx("guizhou.xlsx", {"服务器清单": [
        head, ["贵州局", "OA系统", "gz-oa-01", "10.14.1.5", 100, 500, None],
        ["贵州局", "OA系统", "gz-oa-02", "10.14.1.6", 100, "1T", "2*500G"],
        ["贵州局", "OA系统", "gz-oa-03", "10.14.1.7", None, 200, None]]})
    read = read_ledger(path, reader=read_grids)
    assert [h.get("disk_gb") for h in read.rows["hosts"]] == [600, 2124, 200]
    assert any("columns '系统盘(G) (E)', '数据盘(G) (F)', '数据盘2(G) (G)' are disks of the "
               "host" in w for w in read.warnings), read.warnings
    assert read.sheets[0].columns["数据盘(G) (F)"] == "hosts.disk_gb"
    assert not read.sheets[0].unmapped


def test_a_bad_data_disk_cell_is_named_by_its_own_column(xlsx: Callable[..., Path]) -> None:
    head = ["单位", "主机名", "IP地址", "系统盘", "数据盘"]
    path = xlsx("guizhou.xlsx", {"服务器清单": [
        head, ["贵州局", "gz-oa-01", "10.14.1.5", "100G", "很大"]]})
    with pytest.raises(LedgerError) as err:
        read_ledger(path, reader=read_grids)
    assert "'很大' is not a size" in str(err.value)
    assert "in column '数据盘 (E)'" in str(err.value), str(err.value)


ASSET_HEAD = ["资产编号", "设备类型", "设备名称", "IP地址", "所属系统", "宿主机", "所属集群", "CPU",
              "内存", "硬盘", "操作系统", "使用状态", "上线时间"]


def test_an_asset_register_of_esxi_hosts_and_their_vms_moves_only_the_vms(
        xlsx: Callable[..., Path]) -> None:
    """An asset system's 资产登记表 lists the ESXi servers (设备类型 服务器, 操作系统 VMware
    ESXi 6.7) beside the VMs they run, the storage and the switches: the ESXi host was
    imported as a physical host to move (P2V of a hypervisor, and 32 cores / 512 GB of
    target sized for it); its VMs are what moves."""
    path = xlsx("01_湖北局_资产登记表.xlsx", {"资产登记表": [ASSET_HEAD, [
        "ZC-2019-001", "服务器", "hb-esx-01", "10.1.1.10", "虚拟化平台", None, "集群A",
        "2颗*16核", "512G", "2*960G SSD", "VMware ESXi 6.7", "在用", "2019/3/1"], [
        "ZC-2019-002", "虚拟机", "hb-oa-01", "10.1.2.5", "OA系统（新）", "hb-esx-01", "集群A",
        "8 vCPUs", "8192M", "500 GiB", "CentOS 7.9", "在用", "20190301"], [
        "ZC-2019-003", "虚拟机", "hb-oa-02", "10.1.2.6", "OA系统(新)", "hb-esx-01", "集群A",
        "8 vCPUs", "16384MB", "1.5T", "CentOS 7.9", "在用", "2019-03-01"], [
        "ZC-2019-004", "存储", "hb-san-01", "10.1.1.20", None, None, None, None, None, "0.5TB",
        None, "在用", "2018"], [
        "ZC-2019-006", "物理机", "hb-db-01", "10.1.3.5", "审批系统", None, None, "32", "256GB",
        "4*1.2T SAS RAID5", "RHEL 7.6", "在用", "2020年5月"]]})
    read = read_ledger(path, reader=read_grids)
    hosts = {h["hostname"]: h for h in read.rows["hosts"]}
    assert sorted(hosts) == ["hb-db-01", "hb-oa-01", "hb-oa-02"]
    assert {(h["memory_gb"], h["disk_gb"], h["go_live"], h["cpu_cores"]) for h in
            hosts.values() if h["kind"] == "vm"} == {(8, 500, "2019-03-01", 8),
                                                     (16, 1536, "2019-03-01", 8)}
    assert hosts["hb-oa-01"]["hypervisor"] == "hb-esx-01"
    assert len({h["system_id"] for h in hosts.values()}) == 2  # OA系统（新） once
    assert read.sheets[0].skipped == 2
    assert any("column '操作系统 (K)': 1 row names a hypervisor (VMware ESXi 6.7; row 2): "
               "skipped — a virtualisation host is not moved" in w for w in read.warnings), \
        read.warnings


def test_host_names_with_underscores_are_kept_with_a_warning(xlsx: Callable[..., Path]) -> None:
    """hb_oa_01 (a Windows name) is no RFC 1123 host name: it was taken without a word,
    though the cut-over's DNS record and the target cloud's host name (OpenStack writes
    hb-oa-01) may not take it. Kept — discovery connects by IP and the name is the
    machine's own — with one warning per column naming the rows."""
    path = xlsx("underscore.xlsx", {"主机": [
        ["单位", "系统名称", "主机名", "IP地址"], ["湖北局", "OA系统", "hb_oa_01", "10.3.1.5"],
        ["湖北局", "OA系统", "hb-oa-02", "10.3.1.6"],
        ["湖北局", "OA系统", "HB_OA_DB", "10.3.1.7"]]})
    read = read_ledger(path, reader=read_grids)
    assert [h["hostname"] for h in read.rows["hosts"]] == ["hb_oa_01", "hb-oa-02", "HB_OA_DB"]
    assert any("column '主机名 (C)': 2 cells hold '_'" in w and "(rows 2, 4)" in w
               and "OpenStack" in w for w in read.warnings), read.warnings


def test_a_host_to_system_sheet_beside_the_host_sheet_is_not_warned_of_a_missing_os(
        xlsx: Callable[..., Path]) -> None:
    """A 系统-主机对应 sheet (系统名称, 主机名, IP地址) relates the hosts of the 主机清单 to
    their systems: it was warned about as "no host has a 操作系统 (OS)", though every
    host has one from the host sheet."""
    sheets = {"主机清单": [["单位", "系统名称", "主机名", "IP地址", "操作系统"],
                           ["福建局", "OA系统", "fj-oa-01", "10.7.1.5", "CentOS 7.9"]],
              "系统-主机对应": [["单位", "系统名称", "主机名", "IP地址"],
                                ["福建局", "OA系统", "fj-oa-01", "10.7.1.5"]]}
    read = read_ledger(xlsx("fujian.xlsx", sheets), reader=read_grids)
    assert not any("no host has a 操作系统" in w for w in read.warnings), read.warnings
    del sheets["主机清单"]
    read = read_ledger(xlsx("fujian2.xlsx", sheets), reader=read_grids)
    assert any("no host has a 操作系统" in w for w in read.warnings), read.warnings


def test_a_workbook_with_a_sheet_per_system_gives_each_sheet_s_hosts_its_system(
        xlsx: Callable[..., Path]) -> None:
    """青海局 keeps one sheet per system (sheets OA系统 and 门户网站, no 系统名称 column):
    every host came in without a system, without a word (assess and plan leave such hosts
    out)."""
    head = ["主机名", "IP地址", "操作系统", "CPU(核)"]
    path = xlsx("青海局服务器台账.xlsx", {
        "OA系统": [head, ["qh-oa-01", "10.16.1.1", "CentOS 7.9", 4],
                   ["qh-oa-02", "10.16.1.2", "CentOS 7.9", 4]],
        "门户网站": [head, ["qh-web-01", "10.16.2.1", "CentOS 7.9", 4]],
        "服务器清单": [head, ["qh-x-01", "10.16.3.1", "CentOS 7.9", 4]]})
    read = read_ledger(path, reader=read_grids)
    names = {s["id"]: s["name"] for s in read.rows["systems"]}
    got = {h["hostname"]: names.get(h.get("system_id")) for h in read.rows["hosts"]}
    assert got == {"qh-oa-01": "OA系统", "qh-oa-02": "OA系统", "qh-web-01": "门户网站",
                   "qh-x-01": None}
    assert any("sheet 'OA系统': no 系统名称 column: the sheet's name gives the system of its "
               "2 hosts: 'OA系统'" in w for w in read.warnings), read.warnings


@pytest.mark.parametrize("label", ["共1台", "共 12 台服务器", "总数：1", "总台数 1"])
def test_a_totals_row_counting_the_servers_is_skipped(xlsx: Callable[..., Path],
                                                      label: str) -> None:
    """宁夏局 ends its list with 共1台 (or 总数：1): the row was refused as a host without a
    主机名 or an IP, and so the whole workbook."""
    path = xlsx("ningxia.xlsx", {"Sheet": [["单位", "系统名称", "主机名", "IP地址"],
                                           ["宁夏局", "OA系统", "nx-oa-01", "10.17.1.5"],
                                           [label, None, None, None]]})
    read = read_ledger(path, reader=read_grids)
    assert [h["hostname"] for h in read.rows["hosts"]] == ["nx-oa-01"]
    assert read.sheets[0].skipped == 1
