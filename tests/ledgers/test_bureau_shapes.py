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
from shangyun.errors import LedgerError
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
