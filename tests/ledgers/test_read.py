"""Reading real ledger files: every quirk of issue 2 item 4, one test each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from connectors.grid import read_grids
from shangyun.errors import LedgerError
from shangyun.ledgers.mapping import load_mapping
from shangyun.ledgers.read import read_ledger
from tests.ledgers.conftest import HOST_HEADER


def hosts_by_name(read) -> dict[str, dict]:
    return {h["hostname"]: h for h in read.rows["hosts"]}


def test_bureau_ledger_title_rows_merged_cells_units_totals(bureau_ledger: Path) -> None:
    read = read_ledger(bureau_ledger, reader=read_grids)
    main = next(s for s in read.sheets if s.sheet == "主机")
    assert main.header_row == 3
    assert main.kind == "hosts"
    assert main.rows == 3  # blank row, totals row and note row skipped
    assert main.skipped == 2
    hosts = hosts_by_name(read)
    assert set(hosts) == {"oa-web01", "oa-db01", "fin01"}
    web, db, fin = hosts["oa-web01"], hosts["oa-db01"], hosts["fin01"]
    assert (web["cpu_cores"], web["memory_gb"], web["disk_gb"]) == (8, 16.0, 600.0)
    assert (db["cpu_cores"], db["memory_gb"], db["disk_gb"]) == (16, 64.0, 2048.0)
    # merged 单位/系统名称 cells are filled down: oa-db01 belongs to OA系统 of 北京局
    assert db["system_id"] == web["system_id"] != fin["system_id"]
    assert db["bureau_id"] == web["bureau_id"] == fin["bureau_id"]
    systems = {s["name"]: s for s in read.rows["systems"]}
    assert systems["OA系统"]["mlps_level"] == 3
    assert systems["OA系统"]["classified"] is False
    assert systems["OA系统"]["network_zone"] == "extranet"
    assert systems["OA系统"]["phone"] == "13800000000"
    assert systems["财务系统"]["mlps_level"] == 2
    assert systems["财务系统"]["classified"] is True
    assert systems["财务系统"]["network_zone"] == "internet"
    assert read.rows["bureaus"][0]["name"] == "北京局"


def test_dependencies_sheet_resolves_system_names_and_splits_ports(bureau_ledger: Path) -> None:
    read = read_ledger(bureau_ledger, reader=read_grids)
    systems = {s["name"]: s["id"] for s in read.rows["systems"]}
    deps = read.rows["dependencies"]
    assert sorted(d["port"] for d in deps) == [80, 443]
    assert {(d["source_system"], d["target_system"]) for d in deps} == {
        (systems["OA系统"], systems["财务系统"])}
    assert {d["origin"] for d in deps} == {"declared"}


def test_same_row_same_id(bureau_ledger: Path, xlsx: Callable[..., Path]) -> None:
    first = hosts_by_name(read_ledger(bureau_ledger, reader=read_grids))
    second = hosts_by_name(read_ledger(bureau_ledger, reader=read_grids))
    assert {h: r["id"] for h, r in first.items()} == {h: r["id"] for h, r in second.items()}
    # the same host in another file (other columns, other order) gets the same id
    other = xlsx("other.xlsx", {"Servers": [["Bureau", "IP Address", "Hostname"],
                                            ["北京局", "10.1.0.21", "FIN01"]]})
    again = hosts_by_name(read_ledger(other, reader=read_grids))
    assert again["FIN01"]["id"] == first["fin01"]["id"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(csvfile: Callable[..., Path], encoding: str) -> None:
    rows = [["单位", "主机名", "IP地址", "内存(GB)", "是否涉密", "系统名称", "操作系统"],
            ["上海局", "sh-app01", "10.2.0.1", "32", "是", "税务征管系统", "银河麒麟 V10"]]
    read = read_ledger(csvfile(f"sh-{encoding}.csv", rows, encoding), reader=read_grids)
    host = read.rows["hosts"][0]
    assert host["hostname"] == "sh-app01"
    assert (host["os"], host["os_version"]) == ("银河麒麟", "V10")
    assert read.rows["bureaus"][0]["name"] == "上海局"
    assert read.rows["systems"][0]["name"] == "税务征管系统"
    assert read.rows["systems"][0]["classified"] is True


def test_english_headers_booleans_and_sizes(csvfile: Callable[..., Path]) -> None:
    rows = [["Bureau", "System Name", "Hostname", "IP", "Memory (MB)", "Disk (TB)", "vCPU",
             "Classified", "Network Zone", "MLPS Level", "Type", "Power State"],
            ["Guangzhou", "Portal", "gz-web1", "10.3.0.1", "16384", "1.5", "4", "N", "DMZ",
             "III", "VM", "poweredOn"],
            ["Guangzhou", "Portal", "gz-web2", "10.3.0.2", "8192 MB", "500G", "2*2", "no",
             "管理区", "L2", "Physical", "off"]]
    hosts = hosts_by_name(read_ledger(csvfile("gz.csv", rows), reader=read_grids))
    assert hosts["gz-web1"]["memory_gb"] == 16.0
    assert hosts["gz-web1"]["disk_gb"] == 1536.0
    assert hosts["gz-web2"]["memory_gb"] == 8.0
    assert hosts["gz-web2"]["disk_gb"] == 500.0
    assert hosts["gz-web2"]["cpu_cores"] == 4
    assert (hosts["gz-web1"]["kind"], hosts["gz-web2"]["kind"]) == ("vm", "physical")
    assert (hosts["gz-web1"]["power_state"], hosts["gz-web2"]["power_state"]) == ("on", "off")


def test_full_width_punctuation_in_headers_and_values(csvfile: Callable[..., Path]) -> None:
    rows = [["单位：", "主机名", "ＩＰ地址", "内存（ＧＢ）", "ＣＰＵ（核）", "磁盘（Ｔ）"],
            ["深圳局", "sz-01", "１０．４．０．１", "１６Ｇ", "８", "２"]]
    host = read_ledger(csvfile("sz.csv", rows), reader=read_grids).rows["hosts"][0]
    assert host["ip"] == "10.4.0.1"
    assert (host["memory_gb"], host["cpu_cores"], host["disk_gb"]) == (16.0, 8, 2048.0)


def test_several_sheets_systems_databases_bureaus(xlsx: Callable[..., Path]) -> None:
    path = xlsx("multi.xlsx", {
        "单位信息": [["单位名称", "地区", "专线带宽(Mbps)", "维护窗口(星期)", "维护窗口开始",
                     "维护窗口时长(小时)"],
                    ["成都局", "四川", "100M", "周六", "22：00", "6"]],
        "业务系统": [["所属单位", "系统名称", "重要程度", "灾备等级", "等保等级"],
                     ["成都局", "电子档案系统", "核心", "2", "第三级"]],
        "服务器": [["所属单位", "所属系统", "服务器名称", "管理IP", "MAC地址"],
                   ["成都局", "电子档案系统", "cd-arch01", "10.5.0.1", "00-50-56-AA-BB-01"]],
        "数据库": [["所属单位", "系统名称", "数据库类型", "版本", "库名", "所在主机", "数据量",
                    "是否共享"],
                   ["成都局", "电子档案系统", "达梦DM8", "", "ARCHIVE", "cd-arch01", "1.2T", "否"]],
    })
    read = read_ledger(path, reader=read_grids)
    kinds = {s.sheet: s.kind for s in read.sheets}
    assert kinds == {"单位信息": "bureaus", "业务系统": "systems", "服务器": "hosts",
                     "数据库": "databases"}
    bureau = next(b for b in read.rows["bureaus"] if b.get("region"))
    assert (bureau["link_mbps"], bureau["window_day"], bureau["window_start"],
            bureau["window_hours"]) == (100.0, "sat", "22:00", 6.0)
    system = next(s for s in read.rows["systems"] if s.get("criticality"))
    assert (system["criticality"], system["dr_tier"], system["mlps_level"]) == ("critical", 2, 3)
    host = read.rows["hosts"][0]
    assert host["mac"] == "00:50:56:aa:bb:01"
    db = read.rows["databases"][0]
    assert (db["engine"], db["version"], db["name"], db["size_gb"], db["shared"]) == (
        "dm", "8", "ARCHIVE", 1228.8, False)
    assert db["host_id"] == host["id"]
    assert db["system_id"] == host["system_id"] == system["id"]


def test_two_row_grouped_header(xlsx: Callable[..., Path]) -> None:
    path = xlsx("grouped.xlsx", {"Sheet1": [
        ["单位", "主机名", "配置", None, None],
        [None, None, "CPU", "内存", "硬盘"],
        ["杭州局", "hz-01", 4, "8G", "100G"],
    ]}, {"Sheet1": ["A1:A2", "B1:B2", "C1:E1"]})
    host = read_ledger(path, reader=read_grids).rows["hosts"][0]
    assert (host["hostname"], host["cpu_cores"], host["memory_gb"], host["disk_gb"]) == (
        "hz-01", 4, 8.0, 100.0)


def test_mapping_file_for_unknown_headers(tmp_path: Path, csvfile: Callable[..., Path]) -> None:
    rows = [["机构", "服务器标识", "地址", "运存", "机房位置"],
            ["武汉局", "wh-01", "10.6.0.1", "16384", "3楼"]]
    path = csvfile("wh.csv", rows)
    with pytest.raises(LedgerError, match="--mapping"):
        read_ledger(path, reader=read_grids)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("服务器标识: hosts.hostname\n地址: ip\n运存: {column: hosts.memory_gb, "
                       "unit: MB}\n机房位置: ignore\n", encoding="utf-8")
    read = read_ledger(path, mapping=load_mapping(mapping), reader=read_grids)
    host = read.rows["hosts"][0]
    assert (host["hostname"], host["ip"], host["memory_gb"]) == ("wh-01", "10.6.0.1", 16.0)
    assert read.sheets[0].unmapped == []


def test_bad_mapping_target_is_named(tmp_path: Path) -> None:
    mapping = tmp_path / "bad.yaml"
    mapping.write_text("运存: hosts.ram_size\n", encoding="utf-8")
    with pytest.raises(LedgerError, match=r"bad.yaml, row 1, column '运存'.*hosts.ram_size"):
        load_mapping(mapping)


def test_bureau_option_when_no_bureau_column(csvfile: Callable[..., Path]) -> None:
    path = csvfile("nob.csv", [["主机名", "IP地址"], ["x1", "10.7.0.1"]])
    with pytest.raises(LedgerError, match="--bureau"):
        read_ledger(path, reader=read_grids)
    read = read_ledger(path, bureau="西安局", reader=read_grids)
    assert read.rows["bureaus"][0]["name"] == "西安局"
    assert read.rows["hosts"][0]["bureau_id"] == read.rows["bureaus"][0]["id"]


def test_bad_cell_names_file_sheet_row_column(xlsx: Callable[..., Path]) -> None:
    path = xlsx("bad.xlsx", {"主机": [
        ["资产台账"],
        HOST_HEADER,
        [1, "南京局", "门户", "nj-01", "10.8.0.1", "CentOS", 4, "16G", 100, "三级", "否",
         "政务外网", "王五", 1],
        [2, "南京局", "门户", "nj-02", "10.8.0.300", "CentOS", 4, "很多", 100, "三级", "否",
         "政务外网", "王五", 1],
    ]})
    with pytest.raises(LedgerError) as exc:
        read_ledger(path, reader=read_grids)
    err = exc.value
    assert (err.sheet, err.row, err.column) == ("主机", 4, "IP地址 (E)")
    assert "bad.xlsx" in str(err) and "10.8.0.300" in str(err)
    assert "内存（G） (H)" in str(err) and "很多" in str(err)  # the second problem is listed


def test_no_header_anywhere_is_one_clear_error(xlsx: Callable[..., Path]) -> None:
    path = xlsx("junk.xlsx", {"Sheet1": [["hello", "world"], [1, 2]]})
    with pytest.raises(LedgerError, match=r"junk.xlsx: no ledger found"):
        read_ledger(path, reader=read_grids)


def test_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(LedgerError, match=r"fake\.xlsx"):
        read_ledger(path, reader=read_grids)


def test_host_row_without_name_or_ip(csvfile: Callable[..., Path]) -> None:
    path = csvfile("noid.csv", [["单位", "主机名", "IP地址", "内存"],
                                ["郑州局", "", "", "16G"]])
    with pytest.raises(LedgerError, match=r"row 2.*主机名"):
        read_ledger(path, reader=read_grids)


def test_placeholders_are_blank(csvfile: Callable[..., Path]) -> None:
    path = csvfile("ph.csv", [["单位", "主机名", "内存", "CPU", "操作系统"],
                              ["长沙局", "cs-01", "-", "/", "待定"]])
    host = read_ledger(path, reader=read_grids).rows["hosts"][0]
    assert "memory_gb" not in host and "cpu_cores" not in host and "os" not in host


def test_gb18030_only_characters_and_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "rare.csv"
    text = "单位;主机名;负责人;系统名称\r\n𠮷林局;jl-01;龘先生;档案系统\r\n"
    path.write_bytes(text.encode("gb18030"))
    read = read_ledger(path, reader=read_grids)
    assert read.rows["bureaus"][0]["name"] == "𠮷林局"
    assert read.rows["systems"][0]["owner"] == "龘先生"
    assert read.rows["hosts"][0]["hostname"] == "jl-01"


def test_excel_typed_cells_and_hidden_sheet(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "单位"
    ws.append(["单位名称", "维护窗口(星期)", "维护窗口开始", "维护窗口时长(小时)", "封网日期"])
    ws.append(["拉萨局", "星期日", dt.time(23, 30), 4, dt.datetime(2027, 10, 1)])
    hidden = wb.create_sheet("旧主机")
    hidden.append(["单位", "主机名"])
    hidden.append(["拉萨局", "old-01"])
    hidden.sheet_state = "hidden"
    path = tmp_path / "typed.xlsx"
    wb.save(path)
    read = read_ledger(path, reader=read_grids)
    bureau = next(b for b in read.rows["bureaus"] if b.get("window_day"))
    assert (bureau["window_day"], bureau["window_start"], bureau["window_hours"],
            bureau["blackout_dates"]) == ("sun", "23:30", 4.0, "2027-10-01")
    assert read.rows["hosts"] == []  # the hidden sheet is not read
