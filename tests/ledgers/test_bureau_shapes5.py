"""Ledgers from bureaus the project had not seen (outside team, round 5).

Each test writes the file the way a bureau's tool wrote it (openpyxl, csv) and imports it
through the real reader, and the CLI where the output matters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.errors import LedgerError
from shangyun.ledgers.read import read_ledger
from shangyun.ledgers.values import BadValue, Doubtful, parse_count, parse_size_gb

HEAD = ["序号", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存(GB)"]


def _hosts(n: int = 2) -> list[list[object]]:
    return [[i, "OA系统", f"oa0{i}", f"10.31.1.{i}", "CentOS 7.9", 4, 8] for i in range(1, n + 1)]


@pytest.mark.parametrize("name", ["01_湖北局_服务器台账.xlsx", "附件3-湖北局资产清单.xlsx",
                                  "（02）湖北局台账.xlsx", "2026_湖北局服务器台账.xlsx",
                                  "【湖北局】服务器台账.xlsx"])
def test_a_number_before_the_bureau_in_the_file_name_still_gives_the_bureau(
        xlsx: Callable[..., Path], name: str) -> None:
    """A programme numbers its 35 bureaus' files (01_湖北局_服务器台账.xlsx): the file's
    name was the only place naming the bureau, and the import refused it ("no bureau …
    pass --bureau NAME") because the name did not begin with the bureau."""
    read = read_ledger(xlsx(name, {"服务器台账": [HEAD, *_hosts()]}), reader=read_grids)
    assert [b["name"] for b in read.rows["bureaus"]] == ["湖北局"]
    assert any("file's name gives the bureau '湖北局'" in w for w in read.warnings)


def test_a_file_named_with_a_number_and_no_bureau_is_still_refused(
        xlsx: Callable[..., Path]) -> None:
    with pytest.raises(LedgerError, match="no bureau"):
        read_ledger(xlsx("01_服务器台账.xlsx", {"服务器台账": [HEAD, *_hosts()]}),
                    reader=read_grids)


def test_a_title_row_naming_the_bureau_gives_the_bureau(xlsx: Callable[..., Path]) -> None:
    """The bureau is named only in the merged title above the header
    (湖北局2026年信息系统服务器台账): it was refused as naming no bureau."""
    path = xlsx("台账.xlsx", {"Sheet1": [["湖北局2026年信息系统服务器台账"], HEAD, *_hosts()]},
                merges={"Sheet1": ["A1:G1"]})
    read = read_ledger(path, reader=read_grids)
    assert [b["name"] for b in read.rows["bureaus"]] == ["湖北局"]
    assert [h["hostname"] for h in read.rows["hosts"]] == ["oa01", "oa02"]
    assert any("the title '湖北局2026年信息系统服务器台账' (row 1) "
               "gives the bureau '湖北局'" in w for w in read.warnings), read.warnings


def test_a_title_naming_no_bureau_is_still_refused(xlsx: Callable[..., Path]) -> None:
    path = xlsx("台账.xlsx", {"Sheet1": [["2026年信息系统服务器台账"], HEAD, *_hosts()]})
    with pytest.raises(LedgerError, match="no bureau"):
        read_ledger(path, reader=read_grids)


def test_the_file_name_and_a_title_naming_different_bureaus_take_the_title(
        xlsx: Callable[..., Path]) -> None:
    """The sheet's own title is nearer the rows than the file's name."""
    path = xlsx("01_湖南局_台账.xlsx", {"Sheet1": [["湖北局服务器台账"], HEAD, *_hosts()]})
    read = read_ledger(path, reader=read_grids)
    assert [b["name"] for b in read.rows["bureaus"]] == ["湖北局"]


@pytest.mark.parametrize("text", ["1,5", "1,5T", "2，5 TB", "0,5"])
def test_a_decimal_comma_in_a_size_is_refused_not_read_as_two_disks(text: str) -> None:
    """A ';'-separated CSV (a European-locale export) writes 1.5 TB as '1,5': it was read
    as two disks, 1 + 5 (6 TB, or 1 GB + 5 TB = 5121 GB for '1,5T'), silently."""
    with pytest.raises(BadValue, match="decimal comma"):
        parse_size_gb(text, "t")


@pytest.mark.parametrize(("text", "gb"), [("40G,500G", 540), ("40G，500G", 540),
                                          ("1,500", 1500), ("1,024G", 1024),
                                          ("100G, 200G", 300)])
def test_sizes_with_units_and_thousands_separators_still_read(text: str, gb: float) -> None:
    assert parse_size_gb(text) == gb


def test_a_decimal_comma_in_a_semicolon_csv_names_the_cell(tmp_path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(["单位", "系统名称", "主机名", "IP地址", "磁盘(TB)"])
    w.writerow(["湖南局", "门户", "hn-web-01", "10.23.1.1", "1,5"])
    path = tmp_path / "hn.csv"
    path.write_bytes(buf.getvalue().encode("gbk"))
    with pytest.raises(LedgerError, match=r"row 2, column '磁盘\(TB\) \(E\)': '1,5'.*decimal"):
        read_ledger(path, reader=read_grids)


@pytest.mark.parametrize(("text", "count"), [("2×E5-2680 v4 (14核)", 28),
                                             ("2*Xeon Gold 6248 20核", 40),
                                             ("Xeon Gold 6248 20核 x2", 40),
                                             ("E5-2650 v4 10核*2", 20),
                                             ("2颗 E5-2650 v4 10核", 20),
                                             ("Intel Xeon 8核", 8)])
def test_a_count_of_processors_written_with_x_before_or_after_the_model_multiplies(
        text: str, count: int) -> None:
    """'2×E5-2680 v4 (14核)' is two 14-core processors: it was read as 14 (the 2× was
    dropped), while '2颗 …' was multiplied."""
    got = parse_count(text)
    assert isinstance(got, Doubtful)
    assert got.value == count


@pytest.mark.parametrize("text", ["E5-2650 v4 x2", "2*E5-2650 v4", "Xeon Gold 6248",
                                  "2颗E5-2650"])
def test_a_processor_model_without_cores_is_refused_saying_so(text: str) -> None:
    """'E5-2650 v4 x2' names processors, not their cores: refused with a message saying
    the model's digits are no count and how to write the cores (it said only 'is not a
    whole number')."""
    with pytest.raises(BadValue, match=r"names the processor model.*no count of cores"):
        parse_count(text)


def _export_round_trip(tmp_path: Path) -> tuple[Path, Path, Callable[..., object]]:
    est = tmp_path / "est"
    ledger = tmp_path / "湖北局台账.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "主机"
    ws.append(["单位", *HEAD])
    for r in _hosts(3):
        ws.append(["湖北局", *r])
    wb.save(ledger)
    run = CliRunner().invoke
    res = run(main, ["inventory", "import", str(ledger), "--estate", str(est), "--no-progress"])
    assert res.exit_code == 0, res.output
    book = tmp_path / "export.xlsx"
    res = run(main, ["inventory", "export", "--estate", str(est), "--xlsx", str(book)])
    assert res.exit_code == 0, res.output
    return est, book, run


def test_rows_deleted_from_an_exported_workbook_are_named_not_kept_silently(
        tmp_path: Path) -> None:
    """The team deleted a host's row in the exported workbook and imported it with
    --apply, expecting the host gone: the estate kept it without a word."""
    est, book, run = _export_round_trip(tmp_path)
    wb = openpyxl.load_workbook(book)
    ws = wb["主机"]
    row = next(r[0].row for r in ws.iter_rows(min_row=2) if r[1].value == "oa02")
    ws.delete_rows(row)
    wb.save(book)
    res = run(main, ["inventory", "import", str(book), "--estate", str(est), "--apply",
                     "--no-progress"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert ("export.xlsx (an `inventory export` workbook) does not list 1 host(s) the estate "
            "has: oa02 (10.31.1.2) [湖北局]") in out, out
    assert "hosts.csv" in out
    assert "oa02" in (est / "hosts.csv").read_text(encoding="utf-8")  # kept


def test_an_unchanged_export_names_no_deleted_rows(tmp_path: Path) -> None:
    est, book, run = _export_round_trip(tmp_path)
    res = run(main, ["inventory", "import", str(book), "--estate", str(est), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "does not list" not in res.output


SECTION_HEAD = ["单位", "序号", "主机名", "IP地址", "操作系统", "等保级别"]


def test_section_rows_name_the_system_of_the_hosts_below(xlsx: Callable[..., Path]) -> None:
    """A ledger grouped by system with a numbered heading row per system (一、OA系统
    merged across the table, （二）审批系统 typed in the first cell) and no 系统名称
    column: the headings were refused as hosts ('一、OA系统' is not an IP address …) and
    the 等保 cells as 'system details without a 系统名称'."""
    path = xlsx("sections.xlsx", {"服务器": [
        SECTION_HEAD,
        ["一、OA系统"],
        ["湖北局", 1, "oa01", "10.22.1.1", "CentOS 7.9", "三级（S3A3G3）"],
        ["湖北局", 2, "oa02", "10.22.1.2", "CentOS 7.9", "三级"],
        ["（二）审批系统"],
        ["湖北局", 3, "sp01", "10.22.2.1", "CentOS 7.9", "二级"],
    ]}, merges={"服务器": ["A2:F2"]})
    read = read_ledger(path, reader=read_grids)
    systems = {s["id"]: s for s in read.rows["systems"]}
    assert [(h["hostname"], systems[h["system_id"]]["name"]) for h in read.rows["hosts"]] == [
        ("oa01", "OA系统"), ("oa02", "OA系统"), ("sp01", "审批系统")]
    assert {s["name"]: s["mlps_level"] for s in systems.values()} == {"OA系统": 3, "审批系统": 2}
    assert read.sheets[0].skipped == 2
    assert any("2 section rows" in w and "2 'OA系统', 5 '审批系统'" in w
               for w in read.warnings), read.warnings


def test_section_rows_beside_a_system_column_are_skipped_with_a_warning(
        xlsx: Callable[..., Path]) -> None:
    path = xlsx("sections.xlsx", {"服务器": [
        ["单位", "系统名称", "主机名", "IP地址"],
        ["一、OA系统"],
        ["湖北局", "OA系统", "oa01", "10.22.1.1"],
        ["二、审批系统"],
        ["湖北局", "审批系统", "sp01", "10.22.2.1"],
    ]})
    read = read_ledger(path, reader=read_grids)
    assert [h["hostname"] for h in read.rows["hosts"]] == ["oa01", "sp01"]
    assert sorted(s["name"] for s in read.rows["systems"]) == ["OA系统", "审批系统"]
    assert any("section rows" in w and "skipped" in w for w in read.warnings)


def test_a_section_naming_an_environment_is_no_system(xlsx: Callable[..., Path]) -> None:
    """一、物理服务器 / 二、测试环境 head kinds of rows, not systems: skipped with a warning
    (the heading was refused as 'a host row needs a 主机名'), no system made of it."""
    path = xlsx("sections.xlsx", {"服务器": [
        SECTION_HEAD, ["一、OA系统"], ["湖北局", 1, "oa01", "10.22.1.1", "CentOS 7.9", ""],
        ["二、测试环境"], ["湖北局", 2, "oa-t1", "10.22.9.1", "CentOS 7.9", ""]]})
    read = read_ledger(path, reader=read_grids)
    systems = {s["id"]: s["name"] for s in read.rows["systems"]}
    assert [(h["hostname"], systems.get(h.get("system_id"))) for h in read.rows["hosts"]] == [
        ("oa01", "OA系统"), ("oa-t1", None)]
    assert any("1 heading row (row 4 '测试环境')" in w for w in read.warnings), read.warnings


def test_a_section_holds_for_the_rows_of_later_blocks_of_a_long_csv(tmp_path: Path) -> None:
    """A CSV is read in blocks of 5,000 rows: a section's name reaches the rows of the
    next block too."""
    rows = [SECTION_HEAD[:5], ["一、OA系统"]]
    rows += [["湖北局", i, f"oa{i:05d}", f"10.{40 + i // 60000}.{i // 250 % 240}.{i % 250 + 1}",
              "CentOS 7.9"] for i in range(5100)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path = tmp_path / "long.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    read = read_ledger(path, reader=read_grids)
    assert len(read.rows["hosts"]) == 5100
    assert {h.get("system_id") for h in read.rows["hosts"]} == {read.rows["systems"][0]["id"]}


@pytest.mark.parametrize(("note", "fields"), [
    ("系统：OA系统\n负责人：王五", {"name": "OA系统", "owner": "王五"}),
    ("所属系统: 行政审批系统 负责人: 李四 电话: 123", {"name": "行政审批系统", "owner": "李四"}),
    ("System=Portal; Owner=Wang Wu", {"name": "Portal", "owner": "Wang Wu"}),
    ("业务系统：门户网站，联系人：张三", {"name": "门户网站", "owner": "张三"}),
    ("OA系统 数据库 王五", {}),
    ("2019年部署，勿删", {}),
])
def test_an_rvtools_annotation_gives_its_labelled_system_and_owner(
        note: str, fields: dict[str, str]) -> None:
    from shangyun.ledgers.formats.rvtools import annotation_fields
    assert annotation_fields(note) == fields


def _rv_info(extra_head: list[str], rows: list[list[object]]) -> list[list[object]]:
    head = ["VM", "Powerstate", "Template", "DNS Name", "CPUs", "Memory",
            "Provisioned MiB", "In Use MiB", "Primary IP Address", "Datacenter",
            "VI SDK Server", *extra_head]
    return [head, *[["vm" + str(i), "poweredOn", False, f"vm{i}.js.gov", 4, 8192, 102400,
                     51200, f"10.13.1.{i}", "江苏局", "vc1", *extra]
                    for i, extra in enumerate(rows, start=1)]]


def test_an_rvtools_export_whose_annotations_name_the_systems_gives_the_vms_systems(
        xlsx: Callable[..., Path]) -> None:
    """A vCenter whose admins keep 系统：… 负责人：… in each VM's notes (RVTools'
    Annotation column): the column was unused, so every VM came in without a system (and
    assess and plan left them out) though the export said which system each served."""
    path = xlsx("rv.xlsx", {"vInfo": _rv_info(["Annotation"], [
        ["系统：OA系统\n负责人：王五"], ["OA系统 数据库"], [""]])})
    read = read_ledger(path, reader=read_grids)
    systems = {s["id"]: s for s in read.rows["systems"]}
    got = {h["hostname"]: systems[h["system_id"]]["name"] if h.get("system_id") else None
           for h in read.rows["hosts"]}
    assert got == {"vm1.js.gov": "OA系统", "vm2.js.gov": None, "vm3.js.gov": None}
    assert [s["owner"] for s in systems.values()] == ["王五"]
    assert any("1 VM(s) of vInfo given their system" in w and "vm1 → OA系统" in w
               for w in read.warnings), read.warnings
    assert any("Annotation of 1 VM(s)" in w and "vm2 (row 3)" in w for w in read.warnings)


def test_an_rvtools_custom_attribute_column_names_the_system(xlsx: Callable[..., Path]) -> None:
    """RVTools writes vCenter's custom attributes as vInfo columns (业务系统, Owner): the
    system's column wins over the Annotation."""
    path = xlsx("rv.xlsx", {"vInfo": _rv_info(["Annotation", "业务系统", "Owner"], [
        ["系统：旧名", "门户网站", "张三"], ["", "门户网站", "张三"]])})
    read = read_ledger(path, reader=read_grids)
    assert [(s["name"], s.get("owner")) for s in read.rows["systems"]] == [("门户网站", "张三")]
    assert all(h.get("system_id") for h in read.rows["hosts"])


@pytest.mark.parametrize(("text", "gb"), [("4条16G", 64), ("16G*4条", 64), ("两条16G", 32),
                                          ("16G×4根", 64), ("4根16GB DDR4", 64)])
def test_memory_written_as_sticks_adds_them_up(text: str, gb: float) -> None:
    """内存 '4条16G' (four 16 GB sticks) was refused as no size; 块 for disks was read."""
    assert parse_size_gb(text) == gb


def test_a_department_after_the_bureau_and_a_note_after_a_host_name_are_dropped_with_warnings(
        xlsx: Callable[..., Path]) -> None:
    """单位 '湖北局（信息中心）' beside '湖北局' made two bureaus (each with its own OA系统)
    without a word; 主机名 'HB-OA-01（主）' was refused as no host name."""
    path = xlsx("t.xlsx", {"主机": [
        ["单位", "系统名称", "主机名", "IP地址"],
        ["湖北局（信息中心）", "OA系统", "HB-OA-01（主）", "10.41.1.1"],
        ["湖北局", "OA系统", "hb-oa-02(备机)", "10.41.1.2"],
        ["湖北局", "OA系统", "hb-oa-03", "10.41.1.3"]]})
    read = read_ledger(path, reader=read_grids)
    assert [b["name"] for b in read.rows["bureaus"]] == ["湖北局"]
    assert len({s["id"] for s in read.rows["systems"]}) == 1
    assert [h["hostname"] for h in read.rows["hosts"]] == ["HB-OA-01", "hb-oa-02", "hb-oa-03"]
    assert any("'单位 (A)': 1 cell names a bureau with a note in brackets" in w and "(row 2)" in w
               for w in read.warnings), read.warnings
    assert any("'主机名 (C)': 2 cells hold a note in brackets after the host name" in w
               and "(rows 2, 3)" in w for w in read.warnings), read.warnings


@pytest.mark.parametrize("name", ["web 01(主)", "办公服务器（主）", "a(b)c"])
def test_a_host_name_that_is_no_host_name_is_still_refused_with_a_note(
        xlsx: Callable[..., Path], name: str) -> None:
    path = xlsx("t.xlsx", {"主机": [["单位", "主机名", "IP地址"], ["湖北局", name, "10.41.1.1"]]})
    with pytest.raises(LedgerError, match="is not a host name"):
        read_ledger(path, reader=read_grids)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "utf-16"])
def test_a_csv_starting_with_excels_sep_line_uses_that_delimiter(
        tmp_path: Path, encoding: str) -> None:
    """'sep=;' on the first line tells Excel the delimiter: the sniffer saw a comma-less
    first line and the file was refused as 'no ledger found'."""
    path = tmp_path / "hn.csv"
    path.write_bytes("sep=;\r\n单位;系统名称;主机名;IP地址;内存(GB)\r\n"
                     "湖南局;门户;hn-web-01;10.23.1.1;8\r\n湖南局;门户;hn-web-02;bad;8\r\n"
                     .encode(encoding))
    with pytest.raises(LedgerError, match=r"row 4, column 'IP地址 \(D\)'"):
        read_ledger(path, reader=read_grids)  # (the rows keep the file's line numbers)
    path.write_bytes("sep=;\r\n单位;系统名称;主机名;IP地址;内存(GB)\r\n"
                     "湖南局;门户;hn-web-01;10.23.1.1;8\r\n".encode(encoding))
    read = read_ledger(path, reader=read_grids)
    assert [(h["hostname"], h["ip"], h["memory_gb"]) for h in read.rows["hosts"]] == [
        ("hn-web-01", "10.23.1.1", 8)]
