"""Shapes of ledgers filled by hand in bureaus, written by the tests (issue 16, round 3).

Signature lines under the table (制表人/审核人/填表日期, in one cell or spread over several),
a merged 备注 row, a second block of the same table lower in a sheet under a copy of the
header, MLPS written as S2A3G3 or 未定级, and values with units as people type them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.errors import LedgerError
from shangyun.ledgers.read import read_ledger
from shangyun.ledgers.values import BadValue, parse_mlps

from .conftest import write_xlsx

HEAD = ["序号", "单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU", "内存", "磁盘",
        "等保级别"]


def _row(i: int, **kw: Any) -> list[Any]:
    values = dict(zip(HEAD, [i, "甲局", "OA系统", f"host{i:02d}", f"10.1.1.{i + 4}",
                             "CentOS 7.9", 8, 16, 500, "三级"], strict=True))
    values.update(kw)
    return [values[h] for h in HEAD]


def _read(path: Path) -> Any:
    return read_ledger(path, reader=read_grids)  # type: ignore[arg-type]


def _hosts(path: Path) -> list[str]:
    return sorted(h["hostname"] for h in _read(path).rows["hosts"])


SIGNATURES = [
    [["制表人：张三      审核人：李四      填表日期：2026-03-01"]],
    [["制表人：张三", None, "审核人：李四", None, "填表日期：2026年3月1日"]],
    [[None, "制表人：", "张三", None, "审核人：", "李四", None, "填表日期：", "2026-03-01"]],
    [[None, "填表人:王五", None, "联系电话：010-12345678", "10.1.1.200"]],
    [["单位负责人：赵六", "部门负责人：钱七", "填报日期：", dt.datetime(2026, 3, 1)]],
    [["审核：李四", None, None, "日期：2026.3.1"]],
]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 6), sign=st.sampled_from(SIGNATURES),
       notes=st.lists(st.sampled_from(["备注：本表每季度更新", "说明：CPU单位为核",
                                       "注：IP为业务地址"]), max_size=2),
       totals=st.sampled_from([[], ["合计"], ["小计"], ["总计"]]))
def test_totals_notes_and_signature_lines_below_the_table_are_skipped(
        tmp_path: Path, n: int, sign: list[list[Any]], notes: list[str],
        totals: list[str]) -> None:
    rows: list[list[Any]] = [["XX局信息系统资产台账（2026年）"], HEAD]
    rows += [_row(i) for i in range(1, n + 1)]
    if totals:
        rows.append([totals[0], None, None, None, None, None, 8 * n, 16 * n, 500 * n])
    rows += [[t] for t in notes] + sign
    path = write_xlsx(tmp_path / "sig.xlsx", {"主机": rows}, {"主机": ["A1:J1"]})
    read = _read(path)
    assert sorted(h["hostname"] for h in read.rows["hosts"]) == [
        f"host{i:02d}" for i in range(1, n + 1)]
    assert read.sheets[0].skipped == len(totals) + len(notes) + len(sign)


def test_a_note_merged_across_the_table_is_skipped(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "note.xlsx", {"主机": [
        HEAD, _row(1), _row(2), ["备注：本表由信息中心填报，每季度更新一次"]]}, {"主机": ["A4:J4"]})
    assert _hosts(path) == ["host01", "host02"]


def test_a_host_row_with_a_person_s_name_is_still_a_host(tmp_path: Path) -> None:
    # only a label with a colon (制表人：) makes a signature line; a bureau named 审核中心 is data
    path = write_xlsx(tmp_path / "data.xlsx", {"主机": [
        HEAD, _row(1, 单位="审核中心"), _row(2, 单位="制表人：张三", IP地址="10.1.1.300")]})
    with pytest.raises(LedgerError) as info:
        _read(path)
    err = info.value
    assert (err.sheet, err.row, err.column) == ("主机", 3, "IP地址 (E)")


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=st.lists(st.integers(1, 4), min_size=2, max_size=4),
       title=st.sampled_from([None, "二、测试环境", "（二）灾备中心"]),
       blank=st.booleans())
def test_a_second_block_under_a_copy_of_the_header_is_read(
        tmp_path: Path, blocks: list[int], title: str | None, blank: bool) -> None:
    rows: list[list[Any]] = [["一、生产环境"], HEAD]
    i = 0
    for b, size in enumerate(blocks):
        if b:
            rows += ([[]] if blank else []) + ([[title]] if title else []) + [HEAD]
        for _ in range(size):
            i += 1
            rows.append(_row(i))
    path = write_xlsx(tmp_path / "blocks.xlsx", {"主机": rows})
    read = _read(path)
    assert len(read.rows["hosts"]) == i == sum(blocks)


def test_a_header_copy_with_other_columns_is_refused_naming_the_row(tmp_path: Path) -> None:
    other = ["序号", "单位", "系统名称", "IP地址", "主机名", "操作系统"]  # IP and name swapped
    path = write_xlsx(tmp_path / "other.xlsx", {"主机": [HEAD, _row(1), other, _row(2)]})
    with pytest.raises(LedgerError) as info:
        _read(path)
    err = info.value
    assert (err.sheet, err.row, err.column) == ("主机", 3, "主机名 (D)")
    assert "header of another table" in str(err) and "'IP地址'" not in str(err)


@pytest.mark.parametrize("text, level", [
    ("第三级", 3), ("三级", 3), ("3级", 3), ("等保三级", 3), ("S3A3G3", 3), ("S2A3G3", 3),
    ("s3a2g3", 3), ("二级（S2A2G2）", 2), ("第二级(S2A1G2)", 2), ("未定级", None),
    ("未定", None), ("待定级", None), ("不涉及", None), ("未备案", None), ("暂未定级", None),
])
def test_mlps_as_bureaus_write_it(tmp_path: Path, text: str, level: int | None) -> None:
    assert parse_mlps(text) == level
    path = write_xlsx(tmp_path / "m.xlsx", {"主机": [HEAD, _row(1, 等保级别=text)]})
    [system] = _read(path).rows["systems"]
    assert system.get("mlps_level") == level


@pytest.mark.parametrize("text, why", [
    ("S2A3G2", "should be the higher"), ("三级（S2A2G2）", "several"), ("二级/三级", "several"),
])
def test_contradictory_mlps_is_refused(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(BadValue, match=why):
        parse_mlps(text)
    path = write_xlsx(tmp_path / "m.xlsx", {"主机": [HEAD, _row(1, 等保级别=text)]})
    with pytest.raises(LedgerError) as info:
        _read(path)
    err = info.value
    assert (err.sheet, err.row, err.column) == ("主机", 2, "等保级别 (J)")


@given(s=st.integers(1, 5), a=st.integers(1, 5), cn=st.booleans())
def test_sag_notation_gives_the_overall_level(s: int, a: int, cn: bool) -> None:
    g = max(s, a)
    prefix = "一二三四五"[g - 1] + "级" if cn else ""
    assert parse_mlps(f"{prefix}S{s}A{a}G{g}") == g


@pytest.mark.parametrize("cpu, mem, disk, want", [
    ("8核", "16G", "500G", (8, 16, 500)), ("8 核", "16GB", "2T", (8, 16, 2048)),
    ("8C", "16 G", "500GB+1T", (8, 16, 1524)), ("8vCPU", "16384MB", "1.5TB", (8, 16, 1536)),
    ("8 vCPU", "0.5T", "500G+500G", (8, 512, 1000)),
])
def test_units_as_typed(tmp_path: Path, cpu: str, mem: str, disk: str,
                        want: tuple[int, int, int]) -> None:
    path = write_xlsx(tmp_path / "u.xlsx", {"主机": [HEAD, _row(1, CPU=cpu, 内存=mem, 磁盘=disk)]})
    [h] = _read(path).rows["hosts"]
    assert (h["cpu_cores"], h["memory_gb"], h["disk_gb"]) == want


def test_the_cli_imports_a_signed_ledger_with_two_blocks(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "台账.xlsx", {"主机": [
        ["XX局信息系统资产台账（2026年）"], HEAD, _row(1), _row(2, 等保级别="S2A3G3"),
        ["小计"], [], ["二、测试环境"], HEAD, _row(3, 等保级别="第三级"), ["合计"],
        ["备注：无"], ["制表人：张三", None, "审核人：李四", None, "填表日期：2026年3月1日"]]},
        {"主机": ["A1:J1"]})
    estate = tmp_path / "estate"
    got = CliRunner().invoke(main, ["inventory", "import", str(path), "--estate", str(estate),
                                    "--dry-run"])
    assert got.exit_code == 0, got.output
    assert not estate.exists() or not (estate / "hosts.csv").exists()
    got = CliRunner().invoke(main, ["inventory", "import", str(path), "--estate", str(estate)])
    assert got.exit_code == 0, got.output
    hosts = (estate / "hosts.csv").read_text(encoding="utf-8")
    assert all(f"host0{i}" in hosts for i in (1, 2, 3)) and "制表人" not in hosts


# ------------------------------------------------------------------ values as typed, round 2
DISK_LABELS = ["", "系统盘", "数据盘", "C:", "D:", "数据盘：", "/data "]


@given(disks=st.lists(st.tuples(st.sampled_from(DISK_LABELS), st.integers(1, 4000),
                                st.sampled_from(["G", "GB", "T", " TB"])), min_size=1, max_size=4),
       sep=st.sampled_from(["+", "＋", "，", "、", ";"]))
def test_several_labelled_disks_in_one_cell_add_up(
        disks: list[tuple[str, int, str]], sep: str) -> None:
    from shangyun.ledgers.values import parse_size_gb
    text = sep.join(f"{label}{n}{unit}" for label, n, unit in disks)
    want = sum(n * (1024 if "T" in unit else 1) for _label, n, unit in disks)
    assert parse_size_gb(text) == want


@pytest.mark.parametrize("text, want", [
    ("C:100G D:500G", 600), ("2TB(SAN)", 2048), ("16G（2*8G）", 16), ("16 GB RAM", 16),
    ("16G内存", 16), ("500G(SSD)", 500),
])
def test_sizes_with_words_and_details(text: str, want: float) -> None:
    from shangyun.ledgers.values import parse_size_gb
    assert parse_size_gb(text) == want


@pytest.mark.parametrize("text", ["16G(2*4G)", "1T（RAID1）", "40G/500G", "1.2T SAS*4", "RAID5"])
def test_doubtful_disk_arithmetic_is_refused_naming_the_cell(tmp_path: Path, text: str) -> None:
    path = write_xlsx(tmp_path / "d.xlsx", {"主机": [HEAD, _row(1), _row(2, 磁盘=text)]})
    with pytest.raises(LedgerError) as info:
        _read(path)
    err = info.value
    assert (err.sheet, err.row, err.column) == ("主机", 3, "磁盘 (I)")
    assert repr(text.replace("（", "(").replace("）", ")"))[1:-1] in str(err) or text in str(err)


@pytest.mark.parametrize("text, cores, warned", [
    ("8核16线程", 16, True), ("4C8T", 8, True), ("4核/8线程", 8, True), ("2颗*8核", 16, False),
    ("8(vCPU)", 8, False), ("8（核）", 8, False),
])
def test_cpu_cells_as_typed(tmp_path: Path, text: str, cores: int, warned: bool) -> None:
    path = write_xlsx(tmp_path / "c.xlsx", {"主机": [HEAD, _row(1, CPU=text)]})
    read = _read(path)
    assert read.rows["hosts"][0]["cpu_cores"] == cores
    assert any("the threads are the vCPU count" in w for w in read.warnings) == warned


@given(a=st.integers(1, 254), b=st.integers(1, 254))
def test_two_addresses_separated_by_a_slash_give_the_first_with_a_warning(a: int, b: int) -> None:
    from shangyun.ledgers.values import Doubtful, parse_ip
    got = parse_ip(f"10.1.1.{a}/10.1.2.{b}")
    assert type(got) is Doubtful and got.value == f"10.1.1.{a}"


TICKS = {"√": True, "×": False, "是": True, "否": False, "v": True, "V": True, "☑": True,
         "☐": False, "●": True, "○": False, "不是": False, "是（涉密）": True,
         "否(非涉密)": False, "Y": True, "N": False}


@given(cells=st.lists(st.sampled_from(sorted(TICKS)), min_size=1, max_size=6))
def test_yes_no_columns_as_ticked(cells: list[str]) -> None:
    from shangyun.ledgers.values import clean
    assert [clean("systems.classified", c) for c in cells] == [TICKS[c] for c in cells]


def test_a_yes_no_cell_that_says_something_else_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", {"主机": [
        [*HEAD, "是否涉密"], [*_row(1), "√"], [*_row(2), "见附件"]]})
    with pytest.raises(LedgerError) as info:
        _read(path)
    assert (info.value.sheet, info.value.row, info.value.column) == ("主机", 3, "是否涉密 (K)")


@pytest.mark.parametrize("label", [
    "合  计", "合 计", "小　计", "总 计：", "Grand Total", "备 注：无", "制 表 人：张三"])
def test_labels_spread_with_spaces_are_still_totals_notes_and_signatures(
        tmp_path: Path, label: str) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": [
        HEAD, _row(1), _row(2), [label, None, None, None, None, None, 16, 32, 1000]
        if "计" in label or "otal" in label else [label]]})
    read = _read(path)
    assert len(read.rows["hosts"]) == 2 and read.sheets[0].skipped == 1


@given(mb=st.sampled_from([1024, 2048, 4096, 8192, 16384, 32768, 65536]))
def test_memory_in_mb_without_a_unit_is_read_as_gb_with_a_warning(mb: int) -> None:
    from shangyun.ledgers.values import Doubtful, clean_or_doubt
    got = clean_or_doubt("hosts.memory_gb", mb, "")
    assert type(got) is Doubtful and got.value == mb and "内存(MB)" in got.kind
    assert clean_or_doubt("hosts.memory_gb", mb, "mb") == mb / 1024  # the header says MB
    assert clean_or_doubt("hosts.memory_gb", f"{mb}MB", "") == mb / 1024
    assert clean_or_doubt("hosts.memory_gb", mb // 1024, "") == mb // 1024  # no doubt


def test_memory_column_in_mb_without_a_unit_warns_once_listing_rows(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "m.xlsx", {"主机": [
        HEAD, _row(1, 内存=16384), _row(2, 内存=16), _row(3, 内存="8192")]})
    read = _read(path)
    assert [h["memory_gb"] for h in read.rows["hosts"]] == [16384, 16, 8192]
    [w] = [w for w in read.warnings if "no unit" in w]
    assert "'内存 (H)'" in w and "2 cells have no unit" in w and "(rows 2, 4)" in w


@given(last=st.integers(1, 254), port=st.integers(1, 65535), colon=st.sampled_from([":", "："]))
def test_an_address_with_a_port_gives_the_address_with_a_warning(
        last: int, port: int, colon: str) -> None:
    from shangyun.ledgers.values import Doubtful, parse_ip
    got = parse_ip(f"10.2.3.{last}{colon}{port}")
    assert type(got) is Doubtful and got.value == f"10.2.3.{last}" and "port" in got.kind


def test_a_labelled_address_is_not_taken_for_a_port() -> None:
    from shangyun.ledgers.values import parse_ip, value_of
    assert value_of(parse_ip("管理:10.0.0.5")) == "10.0.0.5"
    with pytest.raises(BadValue):
        parse_ip("0.0.0.0:22")  # an unusable address stays refused
