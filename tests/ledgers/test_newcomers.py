"""Ledgers shaped by people who did not write the code (a new user's first imports): files
with the wrong extension, cells written by export programs, IPv6 addresses, RVTools
exports of several versions, a bureau re-submitting its ledger. Every file is written by
the test; refusals name the file (and sheet, row, column where there is one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.comments import Comment
from openpyxl.worksheet.datavalidation import DataValidation

from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.errors import LedgerError
from shangyun.estate import Estate
from shangyun.ledgers.read import read_ledger

from .conftest import write_xlsx

HEAD = ["序号", "单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存(GB)",
        "磁盘(GB)", "等保级别"]


def _row(n: int, host: str, ip: object, cpu: object = 4, mem: object = 8, disk: object = 100,
         bureau: str = "湖北局", system: str = "OA系统") -> list[object]:
    return [n, bureau, system, host, ip, "CentOS 7.9", cpu, mem, disk, "三级"]


def _hosts(path: Path, **kw: object) -> dict[str, dict[str, object]]:
    read = read_ledger(path, reader=read_grids, **kw)  # type: ignore[arg-type]
    return {str(h["hostname"]): h for h in read.rows["hosts"]}


# -- files named for what they are not ------------------------------------------------------

def test_an_xlsx_named_xls_or_a_wps_et_file_is_read_by_its_bytes(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "real.xlsx", {"主机": [HEAD, _row(1, "oa01", "10.1.1.1")]})
    for name in ("saved-as.xls", "wps.et", "upper.XLS"):
        shutil.copy(good, tmp_path / name)
        hosts = _hosts(tmp_path / name)
        assert hosts["oa01"]["ip"] == "10.1.1.1", name


def test_a_folder_import_picks_up_wps_et_files(tmp_path: Path) -> None:
    folder = tmp_path / "ledgers"
    folder.mkdir()
    write_xlsx(folder / "湖北局.et", {"主机": [HEAD, _row(1, "oa01", "10.1.1.1")]})
    res = CliRunner().invoke(main, ["inventory", "import", str(folder), "--estate",
                                    str(tmp_path / "est")])
    assert res.exit_code == 0, res.output
    assert [h["hostname"] for h in Estate.load(tmp_path / "est").rows("hosts")] == ["oa01"]


@pytest.mark.parametrize(("name", "content", "says"), [
    ("web.xls", b"<html><body><table><tr><td>\xe4\xb8\xbb\xe6\x9c\xba\xe5\x90\x8d</td></tr>"
                b"</table></body></html>", "is a web page (HTML)"),
    ("text.xlsx", "主机名,IP地址\nx,10.1.1.1\n".encode(), "rename it .csv"),
    ("x2003.xls", b'<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:'
                  b'office:spreadsheet"></Workbook>', "XML Spreadsheet 2003"),
    ("empty.xlsx", b"", "is empty"),
])
def test_a_file_that_is_no_workbook_is_refused_saying_what_it_is(
        tmp_path: Path, name: str, content: bytes, says: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(LedgerError) as exc:
        read_grids(tmp_path / name)
    assert name in str(exc.value) and says in str(exc.value)
    assert "save it as an Excel workbook (.xlsx)" in str(exc.value)
    assert "Cfb error" not in str(exc.value) and "EOCD" not in str(exc.value)


def _write_ods(path: Path, rows: list[list[str]]) -> Path:
    """A minimal OpenDocument spreadsheet (as LibreOffice writes it: ``mimetype`` stored
    first, then content.xml and the manifest), written by hand: no ODS writer is
    installed."""
    import zipfile

    cells = "".join("<table:table-row>" + "".join(
        f'<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>'
        for v in r) + "</table:table-row>" for r in rows)
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
               'office:version="1.2"><office:body><office:spreadsheet>'
               f'<table:table table:name="主机">{cells}</table:table>'
               "</office:spreadsheet></office:body></office:document-content>")
    mime = "application/vnd.oasis.opendocument.spreadsheet"
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mime}"/>'
                '<manifest:file-entry manifest:full-path="content.xml" '
                'manifest:media-type="text/xml"/></manifest:manifest>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mime)
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return path


@pytest.mark.parametrize("name", ["calc.ods", "calc-renamed.xls", "calc-renamed.xlsx"])
def test_an_ods_file_is_read_by_its_bytes_whatever_its_name(tmp_path: Path, name: str) -> None:
    path = _write_ods(tmp_path / name, [["单位", "主机名", "IP地址", "操作系统"],
                                        ["湖北局", "oa01", "10.1.1.1", "CentOS 7.9"]])
    hosts = _hosts(path)
    assert hosts["oa01"]["ip"] == "10.1.1.1" and hosts["oa01"]["os"] == "CentOS"


@pytest.mark.parametrize("name", ["docs.xlsx", "docs.xls"])
def test_a_zip_that_is_no_workbook_is_one_error_naming_the_file(
        tmp_path: Path, name: str) -> None:
    import zipfile

    from connectors.grid import sheet_xml

    with zipfile.ZipFile(tmp_path / name, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    for call in (read_grids, sheet_xml):
        with pytest.raises(LedgerError) as exc:
            call(tmp_path / name)
        text = str(exc.value)
        assert name in text and "is a zip archive, not a workbook" in text, text
        assert "xl/workbook.xml" in text and "_rels" not in text.replace("xl/_rels", "")


def test_a_password_protected_workbook_is_refused_saying_so(tmp_path: Path) -> None:
    # An encrypted .xlsx is an OLE container holding an 'EncryptedPackage' stream.
    blob = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
            + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 1024)
    (tmp_path / "locked.xlsx").write_bytes(blob)
    with pytest.raises(LedgerError) as exc:
        read_grids(tmp_path / "locked.xlsx")
    assert "locked.xlsx" in str(exc.value) and "password-protected" in str(exc.value)


# -- cells as export programs and people write them ------------------------------------------

def test_apostrophes_comments_dropdowns_line_breaks_and_ipv6(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "主机"
    for r in [HEAD,
              [1, "湖北局 ", "OA系统 ", "oa01 ", "'10.1.1.1", "CentOS 7.9 ", "'4", "'8", "'100",
               "三级 "],
              _row(2, "oa02", "10.1.1.2\n10.1.1.3"),
              _row(3, "oa03", "2001:db8::10"),
              _row(4, "oa04", "fd00::10"),
              _row(5, "oa05", "FD00::11/64"),
              _row(6, "oa06", "10.1.1.6\r\n10.1.1.7")]:
        ws.append(r)
    ws["D2"].comment = Comment("老服务器", "张三")
    ws.freeze_panes = "A2"
    dv = DataValidation(type="list", formula1='"一级,二级,三级"')
    ws.add_data_validation(dv)
    dv.add("J2:J100")
    wb.save(tmp_path / "cells.xlsx")
    read = read_ledger(tmp_path / "cells.xlsx", reader=read_grids)
    hosts = {str(h["hostname"]): h for h in read.rows["hosts"]}
    assert (hosts["oa01"]["ip"], hosts["oa01"]["cpu_cores"], hosts["oa01"]["memory_gb"],
            hosts["oa01"]["disk_gb"]) == ("10.1.1.1", 4, 8, 100)
    assert [b["name"] for b in read.rows["bureaus"]] == ["湖北局"]
    assert hosts["oa02"]["ip"] == "10.1.1.2" and hosts["oa06"]["ip"] == "10.1.1.6"
    assert hosts["oa03"]["ip"] == "2001:db8::10"
    assert hosts["oa04"]["ip"] == "fd00::10"  # not 'fd' (a label) + '00::10' = ::10
    assert hosts["oa05"]["ip"] == "fd00::11"
    warned = " ".join(w for s in read.sheets for w in s.warnings)
    assert "several IP addresses" in warned
    assert "(rows 3: dropped 10.1.1.3; 7: dropped 10.1.1.7)" in warned


def test_a_chinese_host_name_is_refused_saying_where_a_description_goes(
        tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "cjk.xlsx", {"主机": [HEAD, _row(1, "办公服务器01", "10.1.1.9")]})
    with pytest.raises(LedgerError) as exc:
        _hosts(path)
    msg = str(exc.value)
    assert "cjk.xlsx" in msg and "'主机'" in msg and "row 2" in msg and "主机名 (D)" in msg
    assert "用途" in msg


# -- RVTools exports --------------------------------------------------------------------------

_VINFO4 = [
    ["VM", "Powerstate", "Template", "SRM Placeholder", "DNS Name", "CPUs", "Memory", "NICs",
     "Disks", "Provisioned MiB", "In Use MiB", "Primary IP Address", "Firmware",
     "OS according to the configuration file", "OS according to the VMware Tools",
     "Datacenter", "Cluster", "Host", "VM ID", "VI SDK Server"],
    ["web01", "poweredOn", "False", "False", "web01.hb.local", 4, 8192, 1, 1, 102400, 40960,
     "10.5.1.11", "bios", "CentOS 7 (64-bit)", "CentOS 7 (64-bit)", "DC-HB", "CL1", "esx01",
     "vm-101", "vc.hb.local"],
    ["db01", "poweredOff", "False", "False", "", 8, 16384, 1, 2, 512000, 0, "", "efi",
     "Microsoft Windows Server 2016 (64-bit)", "", "DC-HB", "CL1", "esx02", "vm-102",
     "vc.hb.local"],
    ["tpl-rhel", "poweredOff", "True", "False", "", 2, 2048, 1, 1, 20480, 0, "", "bios",
     "Red Hat Enterprise Linux 8 (64-bit)", "", "DC-HB", "CL1", "esx01", "vm-103",
     "vc.hb.local"],
    ["v6only", "poweredOn", "False", "False", "v6only", 2, 4096, 1, 1, 40960, 1000,
     "fd00::15", "bios", "Ubuntu Linux (64-bit)", "", "DC-HB", "CL1", "esx01", "vm-104",
     "vc.hb.local"],
]
_VDISK4 = [["VM", "Powerstate", "Template", "Disk", "Disk Key", "Disk Path", "Capacity MiB",
            "Disk Mode", "Thin", "Host"],
           ["web01", "poweredOn", "False", "Hard disk 1", 2000, "[ds1] web01/web01.vmdk", 102400,
            "persistent", "True", "esx01"]]


def _write_csv(path: Path, rows: list[list[object]]) -> Path:
    import csv
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f).writerows(rows)
    return path


def test_rvtools_4_templates_skipped_powered_off_kept_with_a_note_ipv6(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "rv4.xlsx", {"vInfo": _VINFO4, "vDisk": _VDISK4,
                                              "vHost": [["Host", "# CPU"], ["esx01", 2]]})
    read = read_ledger(path, reader=read_grids, bureau="湖北局")
    hosts = {str(h["hostname"]): h for h in read.rows["hosts"]}
    assert set(hosts) == {"web01.hb.local", "db01", "v6only"}  # no template
    assert hosts["db01"]["power_state"] == "off" and hosts["db01"]["memory_gb"] == 16
    assert hosts["v6only"]["ip"] == "fd00::15"
    warned = [w for s in read.sheets for w in s.warnings]
    assert any("1 template(s) skipped" in w for w in warned)
    assert any("1 VM(s) powered off" in w and "db01 (row 3)" in w for w in warned)


def test_an_rvtools_csv_export_is_read_as_rvtools_not_as_a_ledger(tmp_path: Path) -> None:
    """RVTools 'export to csv' writes RVTools_tabvInfo.csv …: read as a generic ledger,
    Memory 8192 (MiB) became 8192 GB, Disks (a count) became disk_gb and templates hosts."""
    folder = tmp_path / "rv"
    folder.mkdir()
    _write_csv(folder / "RVTools_tabvInfo.csv", _VINFO4)
    _write_csv(folder / "RVTools_tabvDisk.csv", _VDISK4)
    read = read_ledger(folder / "RVTools_tabvInfo.csv", reader=read_grids, bureau="湖北局")
    assert read.kind == "rvtools"
    hosts = {str(h["hostname"]): h for h in read.rows["hosts"]}
    assert set(hosts) == {"web01.hb.local", "db01", "v6only"}
    assert (hosts["web01.hb.local"]["memory_gb"], hosts["web01.hb.local"]["disk_gb"]) == (8, 100)
    assert hosts["web01.hb.local"]["os"] == "CentOS"
    res = CliRunner().invoke(main, ["inventory", "import", str(folder), "--estate",
                                    str(tmp_path / "est"), "--bureau", "湖北局"])
    assert res.exit_code == 0, res.output
    assert "vDisk tab exported as CSV without its VMs: skipped" in " ".join(res.output.split())
    assert len(Estate.load(tmp_path / "est").rows("hosts")) == 3


# -- a bureau re-submits its ledger a month later -------------------------------------------

_V1 = [HEAD, _row(1, "oa01", "10.1.1.1"), _row(2, "oa02", "10.1.1.2"),
       _row(3, "fin01", "10.1.2.1", 8, 16, 200, system="财务系统")]
_V2 = [HEAD, _row(1, "oa01", "10.1.1.1", cpu=8, mem=16), _row(2, "oa03", "10.1.1.3")]


def _import(*args: str) -> str:
    res = CliRunner().invoke(main, ["inventory", "import", *args])
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


@pytest.mark.parametrize("second", ["v2/湖北局台账.xlsx", "湖北局台账-202612修订.xlsx"])
def test_a_resubmitted_ledger_shows_its_corrections_and_flags_removed_hosts(
        tmp_path: Path, second: str) -> None:
    """Same name or a new one: the corrected values are printed as a diff (estate value
    kept), the hosts and systems the new version dropped are listed, nothing is deleted."""
    first = write_xlsx(tmp_path / "湖北局台账.xlsx", {"主机": _V1})
    (tmp_path / "v2").mkdir()
    again = write_xlsx(tmp_path / second, {"主机": _V2})
    est = str(tmp_path / "est")
    _import(str(first), "--estate", est)
    out = _import(str(again), "--estate", est)
    assert "values that differ from the estate's" in out
    assert "oa01 (h-" in out and "cpu_cores │ 4 │ 8" in out and "memory_gb │ 8 │ 16" in out
    assert "2 new conflict(s)" in out
    assert "oa02 (10.1.1.2) [湖北局], fin01 (10.1.2.1) [湖北局]" in out
    assert "财务系统 [湖北局]" in out
    if "修订" in second:
        assert "lists 1 of 3 host(s) the estate has from 湖北局台账.xlsx (a new version of it?)" \
            in out
    hosts = {h["hostname"]: h for h in Estate.load(est).rows("hosts")}
    assert set(hosts) == {"oa01", "oa02", "oa03", "fin01"}  # flagged, not dropped
    assert hosts["oa01"]["cpu_cores"] == 4  # kept, the new value is a conflict


def test_a_second_ledger_of_the_same_bureau_is_no_new_version(tmp_path: Path) -> None:
    """Two different ledgers of one bureau (no row in common) report nothing missing."""
    est = str(tmp_path / "est")
    _import(str(write_xlsx(tmp_path / "湖北局主机台账.xlsx", {"主机": _V1})), "--estate", est)
    out = _import(str(write_xlsx(tmp_path / "湖北局主机台账2.xlsx", {"主机": [
        HEAD, _row(1, "web09", "10.1.9.9", system="门户")]})), "--estate", est)
    assert "new version" not in out and "no longer lists" not in out


def test_rvtools_vms_get_their_systems_from_the_ledger_and_no_new_version_is_claimed(
        tmp_path: Path) -> None:
    """RVTools first (VMs without a system: said so), then the bureau's ledger naming two of
    the three VMs: they get their systems; the third is not 'no longer listed' (a ledger
    is no new version of an RVTools export)."""
    est = str(tmp_path / "est")
    out = _import(str(write_xlsx(tmp_path / "rv4.xlsx", {"vInfo": _VINFO4})), "--estate", est,
                  "--bureau", "湖北局")
    assert ("names no system, and no ledger gives one to 3 of its 3 VM(s): web01.hb.local, "
            "db01, v6only" in out)
    ledger = write_xlsx(tmp_path / "hb.xlsx", {"主机": [
        ["单位", "系统名称", "主机名", "IP地址", "CPU", "内存"],
        ["湖北局", "门户", "web01", "10.5.1.11", 4, "8G"],
        ["湖北局", "数据库", "DB01", "", 8, "16G"]]})
    out = _import(str(ledger), "--estate", est)
    assert "new version" not in out and "no longer lists" not in out
    # both in one import (the README pattern): only the VM no ledger lists is named
    both = _import(str(tmp_path / "rv4.xlsx"), str(ledger), "--estate",
                   str(tmp_path / "one"), "--bureau", "湖北局")
    assert "no ledger gives one to 1 of its 3 VM(s): v6only —" in both
    e = Estate.load(est)
    systems = {s["id"]: s["name"] for s in e.rows("systems")}
    got = {h["hostname"]: systems.get(h["system_id"] or "") for h in e.rows("hosts")}
    assert got == {"web01.hb.local": "门户", "db01": "数据库", "v6only": None}


# -- workbooks with more than the table -----------------------------------------------------

def test_instruction_and_summary_sheets_beside_hosts_in_another_column_order(
        tmp_path: Path) -> None:
    """填表说明 (a field table) is no ledger; 汇总 (systems with totals) beside the host sheet
    is skipped with a warning, not read as systems (a misspelt 'OA' would be a new system);
    two host sheets with the same headers in another order are both read."""
    head2 = ["主机名", "IP地址", "单位", "系统名称", "CPU(核)", "内存(GB)", "操作系统", "磁盘(GB)"]
    path = write_xlsx(tmp_path / "book.xlsx", {
        "填表说明": [["填表说明"], ["字段", "说明", "示例"], ["主机名", "服务器主机名", "oa-web01"],
                 ["IP地址", "管理IP", "10.0.0.1"]],
        "汇总": [["湖北局资源汇总表"], ["单位", "系统名称", "服务器数量", "CPU(核)", "内存(GB)"],
               ["湖北局", "OA", 2, 8, 16], ["合计", "", 3, 16, 32]],
        "主机": [HEAD, _row(1, "oa01", "10.1.1.1"), _row(2, "oa02", "10.1.1.2")],
        "主机(2)": [head2, ["fin01", "10.1.2.1", "湖北局", "财务系统", 8, 16, "CentOS 7.9", 200]],
    })
    read = read_ledger(path, reader=read_grids)
    assert sorted(h["hostname"] for h in read.rows["hosts"]) == ["fin01", "oa01", "oa02"]
    assert sorted(s["name"] for s in read.rows["systems"]) == ["OA系统", "财务系统"]
    summary = next(s for s in read.sheets if s.sheet == "汇总")
    assert summary.kind == "summary" and "a summary sheet" in summary.warnings[0]


def test_a_sheet_named_summary_list_of_systems_alone_is_still_read(tmp_path: Path) -> None:
    """Without a host sheet beside it, a 系统汇总表 is the bureau's list of systems."""
    path = write_xlsx(tmp_path / "sys.xlsx", {"系统汇总表": [
        ["单位", "系统名称", "等保级别"], ["湖北局", "OA系统", "三级"]]})
    read = read_ledger(path, reader=read_grids)
    assert [s["name"] for s in read.rows["systems"]] == ["OA系统"]


def test_an_rvtools_refusal_names_file_sheet_row_and_column(tmp_path: Path) -> None:
    info = [list(r) for r in _VINFO4]
    info[2][5] = "eight"  # CPUs of db01
    path = write_xlsx(tmp_path / "rvbad.xlsx", {"vInfo": info})
    with pytest.raises(LedgerError) as exc:
        read_ledger(path, reader=read_grids, bureau="湖北局")
    msg = str(exc.value)
    assert "rvbad.xlsx" in msg and "'vInfo'" in msg and "row 3" in msg and "CPUs (F)" in msg
