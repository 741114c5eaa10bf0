"""Ledgers from bureaus and vendors the project had not seen (outside team, round 4).

Each test writes the file the way the bureau's tool wrote it (openpyxl) and imports it
through the real reader (and the CLI where the output matters).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.grid import read_grids
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
