"""Ledgers as bureaus write them: one test per quirk class, from files the tests write.

Refusals name file, sheet, row and column; doubtful values are read with a warning.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

import connectors.grid as grid_module
from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.errors import LedgerError
from shangyun.estate import Estate
from shangyun.ledgers.aliases import ALIASES, IGNORED
from shangyun.ledgers.export import export_xlsx
from shangyun.ledgers.formats.ledger import MAX_PROBLEMS
from shangyun.ledgers.importer import import_ledgers
from shangyun.ledgers.read import read_ledger

from .conftest import write_csv, write_xlsx

HEAD = ["单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存(GB)", "等保级别"]


def _host(bureau: str, system: str, name: str, ip: str, cpu: object = 4,
          mlps: object = "三级") -> list[object]:
    return [bureau, system, name, ip, "CentOS 7.9", cpu, "16G", mlps]


def _read(path: Path, **kw: object) -> object:
    return read_ledger(path, reader=read_grids, **kw)  # type: ignore[arg-type]


def _refused(path: Path, **kw: object) -> LedgerError:
    with pytest.raises(LedgerError) as info:
        _read(path, **kw)
    return info.value


# ------------------------------------------------------------------ refuse what is wrong
@pytest.mark.parametrize("cpu, why", [
    ("-4", "negative"), (-6, "negative"), (0, "below the minimum"), ("4-8", "is a range"),
    ("2~16核", "is a range"), ("abc8", "not a whole number"), ("8 8", "not a whole number"),
    (dt.datetime(2026, 3, 4), "is a date"), (dt.date(2025, 12, 1), "is a date"),
])
def test_bad_numbers_are_refused_naming_the_cell(tmp_path: Path, cpu: object, why: str) -> None:
    path = write_xlsx(tmp_path / "cpu.xlsx", {"服务器": [
        ["某局服务器台账"], HEAD,
        _host("湖北局", "门户", "web-1", "10.20.0.1"),
        _host("湖北局", "门户", "web-2", "10.20.0.2", cpu=cpu)]})
    err = _refused(path)
    assert (err.file, err.sheet, err.row, err.column) == (str(path), "服务器", 4, "CPU(核) (F)")
    assert why in str(err)


def test_ranged_memory_and_garbled_link_are_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", [["单位", "主机名", "IP地址", "内存", "专线带宽"],
                                          ["甲局", "a1", "10.1.1.1", "8-16G", "100M"],
                                          ["甲局", "a2", "10.1.1.2", "16G", "x100"]])
    err = _refused(path)
    assert err.row == 2 and err.column == "内存 (D)" and "range" in str(err)
    assert "row 3, column '专线带宽 (E)'" in str(err) and "not a number" in str(err)


@pytest.mark.parametrize("level", ["二级/三级", "2-3级", "三级（拟定二级）"])
def test_several_mlps_levels_are_an_error(tmp_path: Path, level: str) -> None:
    path = write_xlsx(tmp_path / "l.xlsx", {"系统": [
        ["单位", "系统名称", "等保级别"], ["乙局", "审批", "三级"], ["乙局", "档案", level]]})
    err = _refused(path)
    assert (err.sheet, err.row, err.column) == ("系统", 3, "等保级别 (C)")


def test_mlps_with_the_standard_version_is_one_level(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "l.xlsx", {"系统": [
        ["单位", "系统名称", "安全保护等级"], ["乙局", "审批", "等保2.0三级"]]})
    assert _read(path).rows["systems"][0]["mlps_level"] == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("ip, why", [
    ("0.0.0.0", "unspecified"), ("255.255.255.255", "broadcast"), ("224.0.0.9", "multicast"),
    ("127.0.0.1", "loopback"), ("169.254.3.4", "link-local"), ("240.1.1.1", "reserved"),
    ("10.9.8.0/24", "network or broadcast"), ("10.9.8.300", "not an IP"),
])
def test_unusable_ips_are_refused(tmp_path: Path, ip: str, why: str) -> None:
    path = write_csv(tmp_path / "ip.csv", [["单位", "主机名", "IP地址"], ["丙局", "h1", "10.3.0.1"],
                                           ["丙局", "h2", ip]])
    err = _refused(path)
    assert (err.sheet, err.row, err.column) == (None, 3, "IP地址 (C)") and why in str(err)


@pytest.mark.parametrize("name", ["../../etc/passwd", "a" * 254, "x" * 64 + ".example",
                                  "web 01", "-lead", "主机一"])
def test_host_names_follow_rfc_1123(tmp_path: Path, name: str) -> None:
    path = write_csv(tmp_path / "h.csv", [["单位", "主机名", "IP地址"], ["丁局", name, "10.4.0.1"]])
    err = _refused(path)
    assert (err.row, err.column) == (2, "主机名 (B)")


def test_good_host_names_pass(tmp_path: Path) -> None:
    names = ["web-01", "DB_02", "a" * 63, ".".join(["b" * 60] * 4), "app01.gov.example."]
    path = write_csv(tmp_path / "h.csv", [["单位", "主机名"]] + [["丁局", n] for n in names])
    assert len(_read(path).rows["hosts"]) == 5  # type: ignore[attr-defined]


def test_ids_of_an_edited_export_are_checked(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", [["单位", "系统名称", "主机名"], ["戊局", "邮件", "m1"]])
    import_ledgers([src], tmp_path / "est", reader=read_grids)
    book = export_xlsx(Estate.load(tmp_path / "est"), tmp_path / "out.xlsx", "zh")
    wb = openpyxl.load_workbook(book)
    wb["主机"]["A2"] = "../../etc/cron.d/x"
    wb.save(book)
    with pytest.raises(LedgerError) as info:
        import_ledgers([book], tmp_path / "est", reader=read_grids)
    assert "'..'" in str(info.value) and info.value.column == "id"


def test_problems_are_capped_and_junk_stops_early(tmp_path: Path) -> None:
    junk = [["单位", "主机名", "IP地址", "CPU"]] + [
        ["某局", f"j{i}", f"999.{i % 250}.0.1", f"?{i}"] for i in range(60_000)]
    path = write_csv(tmp_path / "junk.csv", junk)
    started = time.perf_counter()
    err = _refused(path)
    assert time.perf_counter() - started < 30
    text = str(err)
    assert f"reading stopped after {MAX_PROBLEMS} problems" in text and "… and" in text
    assert text.count("\n  - ") == 30 and len(text) < 20_000


# ------------------------------------------------------------------ say what is doubtful
def test_duplicate_headers_are_both_reported(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "d.xlsx", {"主机": [
        ["单位", "主机名", "IP地址", "操作系统", "IP地址"],
        ["己局", "n1", "10.6.0.1", "Kylin V10", "10.7.0.1"],
        ["己局", "n2", "", "Kylin V10", "10.7.0.2"]]})
    read = _read(path)
    hosts = {h["hostname"]: h["ip"] for h in read.rows["hosts"]}  # type: ignore[attr-defined]
    assert hosts == {"n1": "10.6.0.1", "n2": "10.7.0.2"}
    [w] = [w for w in read.warnings if "both mean" in w]  # type: ignore[attr-defined]
    assert "'IP地址 (C)'" in w and "'IP地址 (E)'" in w


def test_several_ips_full_width_and_spaces(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ips.csv", [
        ["单位", "主机名", "管理IP"], ["庚局", "a", "10.8.0.1；10.8.1.1"],
        ["庚局", "b", "１０．８．０．２"], ["庚局", "c", " 10. 8. 0. 3 "],
        ["庚局", "d", "管理:10.8.0.4 业务:10.9.0.4"]], "gbk")
    read = _read(path)
    got = {h["hostname"]: h["ip"] for h in read.rows["hosts"]}  # type: ignore[attr-defined]
    # d: the business address labelled beside the management one wins, as between columns
    assert got == {"a": "10.8.0.1", "b": "10.8.0.2", "c": "10.8.0.3", "d": "10.9.0.4"}
    [w] = [w for w in read.warnings if "IP addresses" in w]  # type: ignore[attr-defined]
    assert "1 cell holds several IP addresses" in w and "(row 2: dropped 10.8.1.1)" in w
    [w] = [w for w in read.warnings if "management" in w]  # type: ignore[attr-defined]
    assert "1 cell holds a management address" in w and "(row 5)" in w


def test_formula_without_cached_value_is_warned(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "f.xlsx", {"主机": [
        ["单位", "主机名", "内存(GB)", "CPU(核)"], ["辛局", "f1", 8, 4],
        ["辛局", "f2", "=C2*2", 4]]})
    read = _read(path)
    assert any("row 3, column '内存(GB) (C)': a formula" in w
               for w in read.warnings)  # type: ignore[attr-defined]


def test_hidden_sheet_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "h.xlsx", {
        "主机": [["单位", "主机名"], ["壬局", "v1"]],
        "旧主机": [["单位", "主机名"], ["壬局", "old"]]})
    wb = openpyxl.load_workbook(path)
    wb["旧主机"].sheet_state = "hidden"
    wb.save(path)
    read = _read(path)
    assert [h["hostname"] for h in read.rows["hosts"]] == ["v1"]  # type: ignore[attr-defined]
    assert any("旧主机" in w and "hidden" in w for w in read.warnings)  # type: ignore[attr-defined]


def test_hidden_rows_are_skipped_with_a_warning_naming_them(tmp_path: Path) -> None:
    rows = [["某局主机台账"], HEAD] + [_host("壬局", "门户", f"web-{i}", f"10.0.0.{i}")
                                   for i in range(1, 7)]
    path = write_xlsx(tmp_path / "h.xlsx", {"主机": rows})
    wb = openpyxl.load_workbook(path)
    ws = wb["主机"]
    ws.row_dimensions[1].hidden = True  # a hidden title row changes nothing
    for r in (4, 6):  # web-2, web-4
        ws.row_dimensions[r].hidden = True
    wb.save(path)
    grids = read_grids(path)
    assert grids[0].hidden_rows == [0, 3, 5] and not grids[0].filtered
    read = _read(path)
    names = [h["hostname"] for h in read.rows["hosts"]]  # type: ignore[attr-defined]
    assert names == ["web-1", "web-3", "web-5", "web-6"]
    sheet = read.sheets[0]  # type: ignore[attr-defined]
    assert sheet.rows == 4 and sheet.skipped == 2
    assert any("2 hidden rows skipped (rows 4, 6)" in w
               for w in read.warnings)  # type: ignore[attr-defined]


def test_sheets_read_on_two_threads_keep_their_order_rows_and_facts(tmp_path: Path) -> None:
    """An .xlsx is read by two threads (the caller's, and a helper that scans the sheet XML
    and then reads the sheets left, from a workbook object of its own): whichever thread
    reads a sheet, the grids come in the workbook's order with their own rows, filled
    merged cells, hidden rows and formula blanks; the helper's path alone gives the same."""
    sheets = {f"S{i}": [["单位", "主机名", "内存(GB)"]] + [[f"局{i}", f"h{i}-{r}", r]
                                                       for r in range(300)]
              for i in range(6)}
    sheets["S2"].append(["局2", "f", "=C2*2"])
    path = write_xlsx(tmp_path / "many.xlsx", sheets)
    wb = openpyxl.load_workbook(path)
    wb["S4"].row_dimensions[5].hidden = True
    wb["S5"].merge_cells("A2:A4")
    wb.save(path)
    grids = read_grids(path)
    assert [g.sheet for g in grids] == list(sheets)
    assert [g.rows[1][:2] for g in grids] == [[f"局{i}", f"h{i}-0"] for i in range(6)]
    assert grids[2].formula_blanks == [(301, 2)] and grids[4].hidden_rows == [4]
    assert grids[5].merged == [((1, 0), (3, 0))] and grids[5].rows[3][0] == "局5"
    todo: deque[str] = deque(sheets)
    done: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    grid_module._helper(path, "zip", todo, done, facts)
    assert not todo and [done[n].rows for n in sheets] == [g.rows for g in grids]
    assert facts["S4"].hidden_rows == [4] and facts["S2"].formula_blanks == [(301, 2)]


def test_rows_hidden_by_a_filter_are_read_with_a_warning(tmp_path: Path) -> None:
    rows = [HEAD] + [_host("壬局", "门户", f"web-{i}", f"10.0.0.{i}") for i in range(1, 5)]
    path = write_xlsx(tmp_path / "f.xlsx", {"主机": rows})
    wb = openpyxl.load_workbook(path)
    ws = wb["主机"]
    ws.auto_filter.ref = "A1:H5"
    ws.row_dimensions[3].hidden = True  # filtered out of view: still data
    wb.save(path)
    read = _read(path)
    names = [h["hostname"] for h in read.rows["hosts"]]  # type: ignore[attr-defined]
    assert names == ["web-1", "web-2", "web-3", "web-4"]
    assert any("1 row hidden by the sheet's filter was read" in w
               for w in read.warnings)  # type: ignore[attr-defined]


def test_a_96_mb_junk_csv_is_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    """Rows are read as they are used: the reader stops at the problems cap, so the rest of
    the file is never parsed (before: 90 s and 6.8 GB; then 9 s and 1.6 GB)."""
    import subprocess
    import sys

    path = tmp_path / "junk.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("单位,主机名,IP地址,CPU(核),内存(G)\n")
        i = 0
        while f.tell() < 96_000_000:
            f.write("".join(f"某局,host-{n},999.1.1.{n % 300},abc{n % 9},-{n % 7}G\n"
                            for n in range(i, i + 20000)))
            i += 20000
    code = ("import sys,time\n"
            "from connectors.grid import read_grids\n"
            "from shangyun.errors import LedgerError\n"
            "from shangyun.ledgers.read import read_ledger\n"
            "t=time.perf_counter()\n"
            "try:\n read_ledger(sys.argv[1], reader=read_grids)\n"
            "except LedgerError as e:\n print('stopped' if 'reading stopped' in str(e) else e)\n"
            # VmHWM is this program's own peak: getrusage's ru_maxrss survives exec and
            # would count the (large) pytest process this child was forked from
            "hwm=[l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "print(time.perf_counter()-t, hwm)\n")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=120, check=True).stdout.split("\n")
    assert out[0] == "stopped", out
    seconds, rss_kib = out[1].split()
    assert float(seconds) < 20, out  # 0.3 s on an idle machine
    assert int(rss_kib) < 400 * 1024, out  # 78 MiB peak for the whole process
    assert time.perf_counter() - t0 < 60


def test_a_large_csv_without_problems_keeps_one_stretch_in_memory(tmp_path: Path) -> None:
    """Rows the reader is done with are forgotten: 200,000 rows of unmapped junk (every row
    skipped, no problem to stop at) never sit in memory at once."""
    from shangyun.ledgers.grid import LazyRows

    path = write_csv(tmp_path / "big.csv", [["单位", "主机名", "备注"]] + [
        ["", "", f"x{i}"] for i in range(200_000)])
    grid = read_grids(path)[0]
    assert isinstance(grid.rows, LazyRows)
    read = read_ledger(path, reader=lambda p: [grid])
    assert read.data_rows == 0 and read.sheets[0].skipped == 200_000
    assert grid.rows.held == 0  # every block was dropped once read
    with pytest.raises(IndexError):
        grid.rows[5]  # forgotten


def test_lazy_rows_read_only_as_far_as_asked() -> None:
    from shangyun.ledgers.grid import LazyRows, rows_upto

    pulled: list[int] = []

    def source() -> Iterator[list[Any]]:
        for i in range(100):
            pulled.append(i)
            yield [i] if i % 2 else [i, "x"]

    rows = LazyRows(source())
    assert rows[1] == [1, ""] and len(pulled) == 2  # padded to the widest row so far
    assert rows[2:5] == [[2, "x"], [3, ""], [4, "x"]] and len(pulled) == 5
    assert rows_upto(rows, 5, 10) == 10 and len(pulled) == 10
    rows.forget_before(8)
    assert rows.held == 2 and rows[8] == [8, "x"]
    assert rows_upto(rows, 95, 200) == 100 and len(rows) == 100


def test_unknown_column_that_looks_like_ips_or_os_is_warned(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "u.csv", [
        ["单位", "主机名", "服务器地址（内网）", "平台软件"],
        ["癸局", "u1", "10.11.0.1", "Red Hat Enterprise Linux 8"],
        ["癸局", "u2", "10.11.0.2", "Windows Server 2019"]])
    warnings = _read(path).warnings  # type: ignore[attr-defined]
    assert any("服务器地址（内网）: hosts.ip" in w for w in warnings)
    assert any("平台软件: hosts.os" in w for w in warnings)
    assert any("no host has a 操作系统" in w for w in warnings)
    assert any("no host has a IP地址" in w for w in warnings)


def test_os_version_alone_is_the_os(tmp_path: Path) -> None:
    """The GBK CSV whose OS column was headed OS版本 lost every OS."""
    path = write_csv(tmp_path / "os.csv", [["单位", "主机名", "IP地址", "OS版本"],
                                           ["湖北局", "o1", "10.12.0.1", "麒麟 V10 SP2"]], "gbk")
    read = _read(path)
    host = read.rows["hosts"][0]  # type: ignore[attr-defined]
    assert (host["os"], host["os_version"]) == ("麒麟", "V10 SP2")
    assert not read.warnings  # type: ignore[attr-defined]


# ------------------------------------------------------------------ ledgers as they are
def test_separator_rows_inside_merged_regions_are_blank(tmp_path: Path) -> None:
    rows = [["单位", "系统名称", "主机名", "IP地址"],
            ["子局", "税务", "t1", "10.13.0.1"], ["子局", "税务", "t2", "10.13.0.2"],
            [None, None, None, None],
            ["子局", "社保", "s1", "10.13.1.1"], [None, None, None, None]]
    path = write_xlsx(tmp_path / "m.xlsx", {"主机": rows}, {"主机": ["A2:A6", "B2:B4"]})
    read = _read(path)
    assert [h["hostname"] for h in read.rows["hosts"]] == ["t1", "t2", "s1"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("line", [["填报单位：湖北出入境检验检疫局"],
                                  ["单位名称", "湖北出入境检验检疫局", None,
                                   "填报日期：2026-01-02"],
                                  ["填报单位: 湖北出入境检验检疫局   联系人：张三"]])
def test_bureau_named_above_the_header(tmp_path: Path, line: list[object]) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", {"台账": [
        ["资产台账"], line, ["系统名称", "主机名", "IP地址"], ["口岸", "k1", "10.14.0.1"]]})
    read = _read(path)
    assert [b["name"] for b in read.rows["bureaus"]] == ["湖北出入境检验检疫局"]  # type: ignore[attr-defined]


def test_header_over_two_rows_split_and_repeated(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "two.xlsx", {"主机": [
        ["单位", "主机", "IP", "内存", "配置", "配置"],
        [None, "名称", "地址", "(MB)", "CPU", "磁盘"],
        ["unit", "hostname", "ip", "memory", "cpu", "disk"],
        ["丑局", "c1", "10.15.0.1", 2048, "8核", "1T"]]}, {"主机": ["A1:A3"]})
    host = _read(path).rows["hosts"][0]  # type: ignore[attr-defined]
    assert (host["hostname"], host["ip"], host["memory_gb"], host["cpu_cores"], host["disk_gb"]) \
        == ("c1", "10.15.0.1", 2.0, 8, 1024.0)


def test_dates_as_excel_serials(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", {"单位": [
        ["单位", "封网日期", "维护窗口(星期)"], ["寅局", 45566, "周六"],
        ["卯局", dt.datetime(2024, 10, 1), "周日"]]})
    got = {b["name"]: b.get("blackout_dates") for b in _read(path).rows["bureaus"]}  # type: ignore[attr-defined]
    assert got == {"寅局": "2024-10-01", "卯局": "2024-10-01"}


def _programme(tmp_path: Path) -> list[Path]:
    """Two bureaus' ledgers and a cross-bureau dependency workbook without a 单位 column."""
    a = write_xlsx(tmp_path / "a" / "甲.xlsx", {"主机": [
        HEAD, _host("甲局", "门户网站", "mh1", "10.16.0.1"),
        _host("甲局", "公共数据", "gg1", "10.16.0.2")]}) if (tmp_path / "a").mkdir() is None \
        else Path()
    (tmp_path / "b").mkdir()
    b = write_csv(tmp_path / "b" / "乙.csv", [HEAD, _host("乙局", "审批", "sp1", "10.17.0.1"),
                                             _host("乙局", "档案", "da1", "10.17.0.2")], "gbk")
    (tmp_path / "x").mkdir()
    deps = write_xlsx(tmp_path / "x" / "依赖.xlsx", {"依赖关系": [
        ["跨单位依赖关系"], ["源系统", "目标系统", "源主机", "端口"],
        ["审批", "公共数据", "sp1", 5432], ["门户网站", "档案", "mh1", "80,443"]]})
    return [a, b, deps]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_dependencies_by_name_in_any_file_order(tmp_path: Path,
                                                order: tuple[int, int, int]) -> None:
    files = _programme(tmp_path)
    report = import_ledgers([files[i] for i in order], tmp_path / "est", reader=read_grids)
    est = Estate.load(tmp_path / "est")
    names = {s["id"]: s["name"] for s in est.rows("systems")}
    deps = {(names[d["source_system"]], names[d["target_system"]], d["port"])
            for d in est.rows("dependencies")}
    assert deps == {("审批", "公共数据", 5432), ("门户网站", "档案", 80), ("门户网站", "档案", 443)}
    assert len(names) == 4 and report.counts["bureaus"].to_dict() == {
        "added": 2, "updated": 0, "unchanged": 0}


def test_ambiguous_system_name_lists_the_candidates(tmp_path: Path) -> None:
    a, b, _deps = _programme(tmp_path)
    c = write_csv(tmp_path / "丙.csv", [HEAD, _host("丙局", "审批", "sp9", "10.18.0.1")])
    deps = write_csv(tmp_path / "d.csv", [["源系统", "目标系统"], ["门户网站", "档案"],
                                          ["审批", "门户网站"]])
    with pytest.raises(LedgerError) as info:
        import_ledgers([deps, a, b, c], tmp_path / "est", reader=read_grids)
    err = info.value
    assert (err.row, err.column) == (3, "源系统 (A)")
    assert "ambiguous" in str(err) and "丙局 / 审批" in str(err) and "乙局 / 审批" in str(err)
    assert not (tmp_path / "est").exists()


def test_unknown_system_without_bureau_is_an_error(tmp_path: Path) -> None:
    deps = write_csv(tmp_path / "d.csv", [["源系统", "目标系统", "端口"],
                                          ["无此系统", "也没有", 80]])
    err = _refused(deps)
    assert (err.row, err.column) == (2, "源系统 (A)") and "not defined in any bureau" in str(err)


def test_counts_add_up_for_one_bureau_in_several_files(tmp_path: Path) -> None:
    one = write_csv(tmp_path / "1.csv", [HEAD, _host("辰局", "门户", "p1", "10.19.0.1")])
    two = write_csv(tmp_path / "2.csv", [HEAD, _host("辰局", "门户", "p2", "10.19.0.2")])
    three = write_csv(tmp_path / "3.csv", [["单位", "专线带宽"], ["辰局", "100M"]])
    report = import_ledgers([one, two, three], tmp_path / "est", reader=read_grids)
    assert report.counts["bureaus"].to_dict() == {"added": 1, "updated": 0, "unchanged": 0}
    assert report.totals["bureaus"] == 1 and report.counts["hosts"].added == 2
    again = import_ledgers([one, two, three], tmp_path / "est", reader=read_grids)
    assert again.counts["bureaus"].to_dict() == {"added": 0, "updated": 0, "unchanged": 1}


# ------------------------------------------------------------------ the CLI
def test_cli_imports_folders_and_globs_and_dry_run_writes_nothing(tmp_path: Path) -> None:
    _programme(tmp_path)
    est = tmp_path / "est"
    run = CliRunner().invoke(main, ["inventory", "import", str(tmp_path / "*" / "*.*"),
                                    "--estate", str(est), "--dry-run", "--no-progress"])
    assert run.exit_code == 0, run.output
    assert not est.exists()
    out = " ".join(run.output.split())
    assert "dry run: nothing written" in out
    assert "IP地址 (D) → hosts.ip" in out and "源系统 (A) → dependencies.source_system" in out
    run = CliRunner().invoke(main, ["inventory", "import", str(tmp_path / "a"),
                                    str(tmp_path / "x"), str(tmp_path / "b"),
                                    "--estate", str(est), "--no-progress"])
    assert run.exit_code == 0, run.output
    assert len(Estate.load(est).rows("dependencies")) == 3


def test_cli_prints_warnings_at_the_end(tmp_path: Path,
                                        csvfile: Callable[..., Path]) -> None:
    path = csvfile("w.csv", [["单位", "主机名", "地址"], ["巳局", "w1", "10.20.0.1"]])
    run = CliRunner().invoke(main, ["inventory", "import", str(path), "--estate",
                                    str(tmp_path / "est"), "--no-progress"])
    assert run.exit_code == 0, run.output
    out = " ".join(run.output.split())
    tail = out[out.index("warning(s)"):]
    assert "地址: hosts.ip" in tail and "no host has a 操作系统" in tail


def test_docs_list_every_header_alias() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "ledgers.md").read_text(encoding="utf-8")
    missing = [n for names in ALIASES.values() for n in names if n.replace("|", "/") not in doc]
    missing += [n for n in IGNORED if n not in doc]
    assert not missing, f"docs/ledgers.md lacks aliases: {missing}"


def test_excel_round_trip_shows_a_diff_then_applies(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", [HEAD, _host("午局", "门户", "r1", "10.21.0.1"),
                                         _host("午局", "门户", "r2", "10.21.0.2", cpu=8)])
    est = tmp_path / "est"
    import_ledgers([src], est, reader=read_grids)
    book = tmp_path / "edit.xlsx"
    run = CliRunner().invoke(main, ["inventory", "export", "--estate", str(est),
                                    "--xlsx", str(book)])
    assert run.exit_code == 0, run.output
    wb = openpyxl.load_workbook(book)
    ws = wb["主机"]
    head = [c.value for c in ws[1]]
    row = next(r for r in ws.iter_rows(min_row=2) if r[head.index("主机名")].value == "r2")
    row[head.index("CPU(核)")].value = 16
    systems = wb["业务系统"]
    shead = [c.value for c in systems[1]]
    systems.cell(row=2, column=shead.index("负责人") + 1).value = "王五"
    wb.save(book)
    before = Estate.load(est).fingerprint()
    run = CliRunner().invoke(main, ["inventory", "import", str(book), "--estate", str(est),
                                    "--no-progress"])
    assert run.exit_code == 0, run.output
    out = " ".join(run.output.split())
    assert "CPU(核) │ 8 │ 16" in out and "王五" in out and "--apply" in out
    assert Estate.load(est).fingerprint() == before
    run = CliRunner().invoke(main, ["inventory", "import", str(book), "--estate", str(est),
                                    "--apply", "--json"])
    assert run.exit_code == 0, run.output
    hosts = {h["hostname"]: h for h in Estate.load(est).rows("hosts")}
    assert hosts["r2"]["cpu_cores"] == 16
    assert Estate.load(est).rows("systems")[0]["owner"] == "王五"
    assert Estate.load(est).rows("conflicts") == []
