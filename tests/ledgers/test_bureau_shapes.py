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
from shangyun.assess.readiness import host_readiness
from shangyun.errors import LedgerError
from shangyun.estate import Estate
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
