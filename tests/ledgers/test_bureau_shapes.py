"""Ledgers as bureaus write them, round 3: the leftovers of the inventory issue — hosts
named only by dependency rows across imports, UTF-16 text without a byte-order mark,
a 是否虚拟机 column, the OS in one cell or two, edits of moved systems, and the shapes a
bureau clerk sends (序号 and 小计 rows, a sheet per bureau, 2019年3月, 16384M, 2*600G SAS).
Every test writes its files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.grid import read_grids
from shangyun.assess.catalog import load_catalog
from shangyun.assess.readiness import host_readiness, os_family
from shangyun.errors import LedgerError
from shangyun.estate import Estate
from shangyun.estate.merge import merge_rows
from shangyun.ledgers.importer import import_ledgers
from shangyun.ledgers.read import read_ledger

from .conftest import write_csv, write_xlsx


def _read(path: Path, **kw: Any) -> Any:
    return read_ledger(path, reader=read_grids, **kw)


def _import(files: list[Path], estate: Path, **kw: Any) -> Any:
    return import_ledgers(files, estate, reader=read_grids, **kw)


def _hosts(read: Any) -> dict[str, dict[str, Any]]:
    return {str(h["hostname"]): h for h in read.rows["hosts"]}


# ------------------------------------------------------------------ UTF-16 without a BOM
_U16_ROWS = [
    ["单位", "系统名称", "主机名", "IP地址", "操作系统", "内存"],
    ["湖北局", "行政审批", "hb-app01", "10.2.0.5", "CentOS 7.9", "16G"],
    ["湖北局", "行政审批", "hb-db01", "10.2.0.6", "麒麟V10", "64G"],
    ["湖北局", "电子证照", "hb-zz01", "10.2.0.7", "统信UOS 20", "8G"],
]


def _u16(path: Path, rows: list[list[str]], encoding: str, sep: str) -> Path:
    text = "".join(sep.join(r) + "\r\n" for r in rows)
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("name, encoding, sep", [
    ("unicode.txt", "utf-16-le", "\t"),   # Excel's "Unicode text" without its BOM
    ("unicode.csv", "utf-16-le", ","),
    ("be.tsv", "utf-16-be", "\t"),
    ("bom.txt", "utf-16", "\t"),          # with a BOM, as Excel writes it
])
def test_utf16_text_with_or_without_a_bom_is_read_not_garbled(
        tmp_path: Path, name: str, encoding: str, sep: str) -> None:
    read = _read(_u16(tmp_path / name, _U16_ROWS, encoding, sep))
    hosts = _hosts(read)
    assert set(hosts) == {"hb-app01", "hb-db01", "hb-zz01"}
    assert hosts["hb-zz01"]["os"].startswith("统信UOS")
    assert hosts["hb-db01"]["ip"] == "10.2.0.6" and hosts["hb-db01"]["memory_gb"] == 64
    assert {s["name"] for s in read.rows["systems"]} == {"行政审批", "电子证照"}
    assert [b["name"] for b in read.rows["bureaus"]] == ["湖北局"]


def test_mostly_chinese_utf16_without_a_bom_is_read(tmp_path: Path) -> None:
    rows = [["单位", "系统名称", "主机名", "操作系统"],
            *[["湖北出入境检验检疫局", f"业务系统{'一二三四五六七八'[i]}", f"h{i}", "麒麟"]
              for i in range(8)]]
    read = _read(_u16(tmp_path / "zh.txt", rows, "utf-16-le", "\t"))
    assert len(read.rows["hosts"]) == 8
    assert {s["name"] for s in read.rows["systems"]} == {
        f"业务系统{c}" for c in "一二三四五六七八"}


def test_utf16_without_a_bom_that_does_not_decode_is_one_error_naming_the_file(
        tmp_path: Path) -> None:
    good = "".join("\t".join(r) + "\r\n" for r in _U16_ROWS).encode("utf-16-le")
    path = tmp_path / "cut.txt"
    path.write_bytes(good + "湖北局\tx\r\n".encode("utf-16-le") + b"\x00\xdc")  # lone half
    with pytest.raises(LedgerError) as info:
        _read(path)
    err = info.value
    assert err.file == str(path) and err.row == 6
    assert "UTF-16-LE" in str(err) and "CSV UTF-8" in str(err)


def test_a_csv_with_nul_bytes_in_no_utf16_pattern_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\x00\x01PK\x00\x00\x00\x03\x00ab\x00\x00\x00" * 50)
    with pytest.raises(LedgerError) as info:
        _read(path)
    assert info.value.file == str(path) and "NUL bytes" in str(info.value)
    utf8 = write_csv(tmp_path / "plain.csv", _U16_ROWS, "utf-8")  # still read as UTF-8
    assert set(_hosts(_read(utf8))) == {"hb-app01", "hb-db01", "hb-zz01"}


# ------------------------------------------------------------------ physical or virtual
@pytest.mark.parametrize("header, cells, kinds", [
    ("是否虚拟机", ["是", "否", "Y", "×"], ["vm", "physical", "vm", "physical"]),
    ("是否为虚拟机", ["√", "N", "是（VMware）", "否"], ["vm", "physical", "vm", "physical"]),
    ("虚拟机", ["是", "否", None, "物理机"], ["vm", "physical", None, "physical"]),
    ("是否物理机", ["是", "否", "yes", "no"], ["physical", "vm", "physical", "vm"]),
    ("物理机", ["否", "是", "VM", "-"], ["vm", "physical", "vm", None]),
    ("设备类型", ["虚拟机", "物理服务器", "VM", "刀片服务器"],
     ["vm", "physical", "vm", "physical"]),
    ("物理机/虚拟机", ["physical", "云主机", "机架式", "虚机"],
     ["physical", "vm", "physical", "vm"]),
])
def test_a_physical_or_virtual_column_sets_the_host_kind(
        tmp_path: Path, header: str, cells: list[Any], kinds: list[str | None]) -> None:
    rows = [["单位", "系统名称", "主机名", "IP地址", header]]
    rows += [["湖南局", "门户", f"hn-{i}", f"10.9.0.{i + 1}", c] for i, c in enumerate(cells)]
    read = _read(write_xlsx(tmp_path / "kind.xlsx", {"服务器": rows}))
    hosts = _hosts(read)
    assert [hosts[f"hn-{i}"].get("kind") for i in range(len(cells))] == kinds
    assert read.sheets[0].columns[f"{header} (E)"] == "hosts.kind"


def test_a_physical_host_from_a_yes_no_column_needs_p2v_in_the_assessment(
        tmp_path: Path) -> None:
    rows = [["单位", "系统名称", "主机名", "IP地址", "操作系统", "架构", "是否虚拟机"],
            ["湖南局", "门户", "hn-pm", "10.9.1.1", "CentOS 7.9", "x86_64", "否"],
            ["湖南局", "门户", "hn-vm", "10.9.1.2", "CentOS 7.9", "x86_64", "是"]]
    _import([write_csv(tmp_path / "k.csv", rows)], tmp_path / "est")
    est = Estate.load(tmp_path / "est")
    catalog = load_catalog()
    verdicts = {h["hostname"]: host_readiness(h, [], catalog) for h in est.rows("hosts")}
    assert "physical server: needs a P2V conversion" in verdicts["hn-pm"][1]
    assert verdicts["hn-vm"] == ("ready", ["supported OS, architecture and disks"])


def test_a_yes_no_kind_cell_that_is_neither_is_refused_naming_the_cell(tmp_path: Path) -> None:
    rows = [["单位", "主机名", "IP地址", "是否虚拟机"],
            ["湖南局", "a1", "10.9.2.1", "是"], ["湖南局", "a2", "10.9.2.2", "待迁移"]]
    path = write_xlsx(tmp_path / "bad.xlsx", {"主机": rows})
    with pytest.raises(LedgerError) as info:
        _read(path)
    err = info.value
    assert (err.sheet, err.row, err.column) == ("主机", 3, "是否虚拟机 (D)")
    assert "neither yes/no" in str(err)


# ------------------------------------------------------------------ the OS in one cell or two
@pytest.mark.parametrize("cells, os, version, family", [
    (["CentOS 7.9", None], "CentOS", "7.9", "centos"),
    (["CentOS", "7.9"], "CentOS", "7.9", "centos"),
    (["RHEL7.6", None], "RHEL", "7.6", "rhel"),
    (["Windows Server 2012 R2", None], "Windows Server", "2012 R2", "windows"),
    (["Windows Server", "2012 R2"], "Windows Server", "2012 R2", "windows"),
    (["麒麟V10", None], "麒麟", "V10", "kylin"),
    (["银河麒麟 V10 SP1 64位", None], "银河麒麟", "V10 SP1", "kylin"),
    (["Linux", "CentOS 6.5"], "CentOS", "6.5", "centos"),
    (["CentOS", "CentOS 7.6"], "CentOS", "7.6", "centos"),
    (["CentOS 7", "7.9"], "CentOS", "7.9", "centos"),
    (["CentOS Linux release 7.9.2009 (Core)", None], "CentOS Linux", "7.9.2009 (Core)",
     "centos"),
    (["Kylin", "V10 SP2"], "Kylin", "V10 SP2", "kylin"),
])
def test_the_os_in_one_cell_or_two_gives_the_same_name_and_version(
        tmp_path: Path, cells: list[Any], os: str, version: str, family: str) -> None:
    rows = [["单位", "系统名称", "主机名", "IP地址", "操作系统", "系统版本", "架构"],
            ["湖南局", "门户", "hn-os", "10.9.3.1", *cells, "x86_64"]]
    read = _read(write_xlsx(tmp_path / "os.xlsx", {"服务器": rows}))
    host = _hosts(read)["hn-os"]
    assert (host["os"], host.get("os_version")) == (os, version)
    catalog = load_catalog()
    assert os_family(host["os"], catalog) == family
    status, reasons = host_readiness(host, [], catalog)
    assert status == "ready", reasons


def test_one_cell_and_two_cells_give_equal_readiness_and_no_conflict(tmp_path: Path) -> None:
    one = write_csv(tmp_path / "one.csv", [
        ["单位", "主机名", "IP地址", "操作系统", "架构"],
        ["湖南局", "hn-a", "10.9.4.1", "CentOS 6.4", "x86_64"],
        ["湖南局", "hn-b", "10.9.4.2", "Ubuntu 18.04 aarch64", None]])
    two = write_csv(tmp_path / "two.csv", [
        ["单位", "主机名", "IP地址", "操作系统", "操作系统版本"],
        ["湖南局", "hn-a", "10.9.4.1", "centos", "6.4"],
        ["湖南局", "hn-b", "10.9.4.2", "Ubuntu", "18.04"]], "gbk")
    est = tmp_path / "est"
    _import([one], est)
    report = _import([two], est)
    assert report.conflicts == []
    hosts = {h["hostname"]: h for h in Estate.load(est).rows("hosts")}
    assert (hosts["hn-a"]["os"], hosts["hn-a"]["os_version"]) == ("CentOS", "6.4")
    assert hosts["hn-b"]["arch"] == "aarch64"
    status, reasons = host_readiness(hosts["hn-a"], [], load_catalog())
    assert status == "conditional" and any("older than the supported" in r for r in reasons)


def test_an_estate_holding_the_os_in_one_cell_does_not_conflict_with_the_split_form(
        tmp_path: Path) -> None:
    est = Estate.new("e")
    est.set_rows("bureaus", [{"id": "b1", "name": "湖南局", "kind": "bureau"}])
    est.set_rows("hosts", [{"id": "h1", "hostname": "hn-a", "bureau_id": "b1",
                            "os": "CentOS 7.9"}])
    same = merge_rows(est, {"hosts": [{"id": "h1", "hostname": "hn-a", "bureau_id": "b1",
                                       "os": "CentOS", "os_version": "7.9"}]}, "new.xlsx")
    assert same.conflicts == []
    other = merge_rows(est, {"hosts": [{"id": "h1", "hostname": "hn-a", "bureau_id": "b1",
                                        "os": "CentOS 6.5"}]}, "old.xlsx")
    assert [c["column"] for c in other.conflicts] == ["os"]


def test_a_kernel_version_column_is_not_read_as_the_os_version(tmp_path: Path) -> None:
    rows = [["单位", "主机名", "操作系统", "内核版本"],
            ["湖南局", "hn-k", "CentOS 7.9", "3.10.0-1160.el7.x86_64"]]
    read = _read(write_xlsx(tmp_path / "k.xlsx", {"主机": rows}))
    host = _hosts(read)["hn-k"]
    assert (host["os"], host["os_version"]) == ("CentOS", "7.9")


# ------------------------------------------------------------------ hosts named by dependencies
_DEP_HEAD = ["单位", "源系统", "源主机", "目标系统", "目标主机", "端口"]
_HOST_HEAD = ["单位", "系统名称", "主机名", "IP地址", "操作系统"]


def _hosts_of(est: Path) -> list[dict[str, Any]]:
    return Estate.load(est).rows("hosts")


@pytest.mark.parametrize("order", ["a-b-c", "a-c-b", "c-a-b", "ab-c", "abc"])
def test_a_host_named_by_address_and_by_name_in_separate_imports_is_one_host(
        tmp_path: Path, order: str) -> None:
    a = write_csv(tmp_path / "a.csv", [_DEP_HEAD, ["湖北局", "OA", "APP01", "门户", "10.1.1.5",
                                                   "8080"]])
    b = write_xlsx(tmp_path / "b.xlsx", {"依赖": [
        _DEP_HEAD, ["湖北局", "OA", "app01.hb.gov", "门户", "WEB01", "443"],
        ["湖北局", "OA", "10.1.1.9", "门户", "Web01.hb.gov", "8080"]]})
    c = write_csv(tmp_path / "c.csv", [
        _HOST_HEAD, ["湖北局", "门户", "web01", "10.1.1.5", "CentOS 7.9"],
        ["湖北局", "OA", "App01", "10.1.1.9", "麒麟V10"]], "gbk")
    files = {"a": a, "b": b, "c": c}
    est = tmp_path / "est"
    warnings: list[str] = []
    for step in order.split("-"):
        warnings = _import([files[x] for x in step], est).warnings
    if order == "a-b-c":  # a.csv's 10.1.1.5 and b.xlsx's WEB01 were two hosts until c.csv
        assert any("'10.1.1.5' (named by its address in a.csv) is 'WEB01'" in w
                   for w in warnings), warnings
    hosts = _hosts_of(est)
    assert sorted(h["hostname"].lower() for h in hosts) == ["app01", "web01"], hosts
    by_name = {h["hostname"].lower(): h for h in hosts}
    assert by_name["web01"]["ip"] == "10.1.1.5" and by_name["app01"]["ip"] == "10.1.1.9"
    deps = Estate.load(est).rows("dependencies")
    ids = {h["id"] for h in hosts}
    assert all(d.get("target_host") in ids and d.get("source_host") in ids for d in deps)
    # a.csv's 10.1.1.5:8080 and b.xlsx's Web01:8080 (from 10.1.1.9 = App01) are one
    assert sorted((d["port"]) for d in deps) == [443, 8080]
    assert Estate.load(est).rows("conflicts") == []


def test_a_host_named_by_address_is_not_folded_into_another_bureaus_host(
        tmp_path: Path) -> None:
    est = tmp_path / "est"
    _import([write_csv(tmp_path / "a.csv", [_DEP_HEAD, ["湖北局", "OA", "10.7.0.1", "门户",
                                                         "10.7.0.2", "80"]])], est)
    report = _import([write_csv(tmp_path / "h.csv", [
        _HOST_HEAD, ["湖南局", "门户", "hn-web", "10.7.0.2", "CentOS 7.9"]])], est)
    assert not any("named by its address" in w for w in report.warnings)
    assert sorted(h["hostname"] for h in _hosts_of(est)) == ["10.7.0.1", "10.7.0.2", "hn-web"]
    report = _import([write_csv(tmp_path / "h2.csv", [
        _HOST_HEAD, ["湖北局", "门户", "hb-web", "10.7.0.2", "UOS 20"]])], est)
    assert report.conflicts == []  # the host known by its address there takes the name
    assert sorted(h["hostname"] for h in _hosts_of(est)) == ["10.7.0.1", "hb-web", "hn-web"]


def test_a_host_listed_by_ip_only_takes_its_name_from_a_later_ledger(tmp_path: Path) -> None:
    est = tmp_path / "est"
    _import([write_csv(tmp_path / "ip.csv", [
        ["单位", "IP地址", "CPU(核)"], ["湖北局", "10.3.0.8", "8"]])], est)
    report = _import([write_csv(tmp_path / "n.csv", [
        ["单位", "主机名", "IP地址", "内存"], ["湖北局", "hb-file01", "10.3.0.8", "16G"]])], est)
    assert report.conflicts == []
    (host,) = _hosts_of(est)
    assert (host["hostname"], host["cpu_cores"], host["memory_gb"]) == ("hb-file01", 8, 16)


# ------------------------------------------------------------------ a clerk's workbook
def test_a_sheet_per_bureau_with_subtotals_and_media_words_beside_sizes(tmp_path: Path) -> None:
    head = ["序号", "系统名称", "主机名", "IP地址", "操作系统", "CPU", "内存", "硬盘", "上线时间"]
    sheets: dict[str, list[list[Any]]] = {}
    for b, n in (("湖北局", 10), ("武汉海关", 11)):
        sheets[b] = [[f"{b}服务器资产台账"], head,
                     [1, "OA", f"h{n}-oa1", f"10.{n}.0.1", "CentOS 7.9", "8核", "16384M",
                      "2*600G SAS", "2019年3月"],
                     [2, "OA", f"h{n}-oa2", f"10.{n}.0.2", "RHEL7.6", 4, "16 GB", "500G SSD",
                      "2021.06"],
                     ["小计", None, None, None, None, 12, "32G", None, None],
                     [3, "门户", f"h{n}-web", f"10.{n}.0.3", "麒麟V10", 2, "8G", "1T nvme", None],
                     ["合计", None, None, None, None, 14, "40G", None, None]]
    read = _read(write_xlsx(tmp_path / "台账.xlsx", sheets))
    hosts = _hosts(read)
    bureaus = {b["id"]: b["name"] for b in read.rows["bureaus"]}
    assert {h: bureaus[v["bureau_id"]] for h, v in hosts.items()} == {
        "h10-oa1": "湖北局", "h10-oa2": "湖北局", "h10-web": "湖北局",
        "h11-oa1": "武汉海关", "h11-oa2": "武汉海关", "h11-web": "武汉海关"}
    assert [hosts["h10-oa1"][k] for k in ("memory_gb", "disk_gb", "cpu_cores")] == [16, 1200, 8]
    assert hosts["h11-oa2"]["disk_gb"] == 500 and hosts["h11-web"]["disk_gb"] == 1024
    assert sum(s.skipped for s in read.sheets) == 4
    assert any("sheet's name '武汉海关' is taken as its bureau" in w for w in read.warnings)
    other = write_xlsx(tmp_path / "清单.xlsx",
                       {"服务器清单": [head[1:4], ["OA", "x1", "10.1.0.1"]]})
    with pytest.raises(LedgerError):  # a sheet not named like a bureau still needs one
        _read(other)
