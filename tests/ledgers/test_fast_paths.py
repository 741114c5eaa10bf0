"""The import's fast paths (round 9 of the workbook benchmark) give what the plain code
gives: quick_ip's octet lookups, Collector.add_hosts beside Collector.host row by row,
the host and system look-ups of the disk/dependency column readers, memos shared by
columns of one cleaner (and a column mapped through its memo at once: round 12), a
system's id from the match keys formed already."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from connectors.grid import read_grids
from shangyun.errors import LedgerError
from shangyun.estate.merge import stable_id
from shangyun.ledgers.collector import Collector
from shangyun.ledgers.formats.ledger import _clean_column, _clean_each, _Col, _transposed
from shangyun.ledgers.formats.ledger_rows import _FAILED, _host_memo, _memo, _system_memo
from shangyun.ledgers.importer import import_ledgers
from shangyun.ledgers.read import read_ledger
from shangyun.ledgers.values import cleaner, quick_ip

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


def _quick_ip_by_regex(text: str) -> bool:
    """quick_ip as it was: the regular expression alone."""
    if not _IPV4.fullmatch(text):
        return False
    first = int(text[: text.index(".")])
    return 0 < first < 224 and first != 127 and not text.startswith("169.254.")


_PART = st.one_of(st.integers(0, 300).map(str), st.sampled_from(
    ["00", "01", "007", "", " 1", "1 ", "١", "٢٥٥", "１", "a", "-1", "+1", "256"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(_PART, min_size=1, max_size=6).map(".".join))
def test_quick_ip_is_the_regular_expression(text: str) -> None:
    assert quick_ip(text) == _quick_ip_by_regex(text)


def test_quick_ip_examples() -> None:
    assert quick_ip("10.1.2.3") and quick_ip("223.255.255.254")
    assert not quick_ip("127.0.0.1") and not quick_ip("169.254.1.1") and not quick_ip("0.1.2.3")
    assert not quick_ip("10.01.2.3") and not quick_ip("10.1.2") and not quick_ip("224.0.0.1")
    assert quick_ip("10.1.2.١") == _quick_ip_by_regex("10.1.2.١")  # \d matches it


_NAME = st.sampled_from(["web01", "WEB01", " web01 ", "web01.example.com", "db", "10.0.0.5",
                         "１０.0.0.6", "Ａpp", "", None, 7])
_IP = st.sampled_from(["10.0.0.5", "10.0.0.6", "", None])
_BUREAU = st.sampled_from(["第1直属局", "总部", "Bureau A"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_BUREAU, _NAME, _IP, st.booleans()), max_size=12))
def test_add_hosts_is_host_row_by_row(spec: list[tuple[str, Any, Any, bool]]) -> None:
    def rows() -> list[tuple[str, dict[str, Any]]]:
        out = []
        for b, name, ip, sourced in spec:
            row: dict[str, Any] = {}
            if name is not None:
                row["hostname"] = name
            if ip is not None:
                row["ip"] = ip
            if sourced:
                row["source"] = "other.xlsx"
            out.append((b, row))
        return out

    one = Collector("f.xlsx", None)
    for b, row in rows():
        one.host(b, row)
    batch = Collector("f.xlsx", None)
    items = rows()
    for b, _row in items:
        batch.bureau(b)
    batch.add_hosts([b for b, _ in items], [r for _, r in items])
    assert batch.rows == one.rows
    assert [list(r) for r in batch.rows["hosts"]] == [list(r) for r in one.rows["hosts"]]
    assert batch.hosts == one.hosts and batch.hosts_any == one.hosts_any


def test_host_memo_is_host_ref_per_text() -> None:
    col = Collector("f.xlsx", None)
    for b, name, ip in [("A局", "web01", "10.0.0.1"), ("B局", "web01", "10.0.0.2"),
                        ("A局", "db01.corp", "10.0.0.3")]:
        col.bureau(b)
        col.host(b, {"hostname": name, "ip": ip})
    texts = ["web01", "db01", " 10.0.0.3 ", "10.0.0.2", "nope", None, "DB01.corp", "web01"]

    def by_ref(t: str) -> str:
        return col.host_ref("", t)

    expected = _memo(texts, by_ref)
    col._hosts_anywhere.clear()
    got = _host_memo(col, texts)
    assert got == expected
    assert got["web01"] is _FAILED and got["nope"] is _FAILED  # ambiguous, unknown
    assert got["10.0.0.2"] == expected["10.0.0.2"] != _FAILED
    assert _host_memo(col, texts) == expected  # again, from what it looked up


def test_free_text_columns_share_one_cleaner() -> None:
    """A memo may be shared by the columns of one cleaner function: every free-text
    column gets the same one, other columns one per target and unit."""
    assert cleaner("systems.name", "", True) is cleaner("dependencies.source_system", "", True)
    assert cleaner("hosts.hostname", "", True) is cleaner("hosts.hostname", "", True)
    assert cleaner("hosts.hostname", "", True) is not cleaner("dependencies.source_host", "",
                                                            True)
    assert cleaner("hosts.memory_gb", "g", True) is not cleaner("hosts.memory_gb", "mb", True)


def test_a_bad_value_in_two_sheets_is_named_in_each(tmp_path: Path) -> None:
    """The host sheet and the disk sheet share the host-name cleaner's memo: the bad name
    is still refused in each sheet, naming its own sheet, row and column."""
    wb = Workbook()
    hosts = wb.active
    hosts.title = "主机"
    hosts.append(["单位", "系统名称", "主机名", "IP地址"])
    hosts.append(["第1直属局", "门户", "web_01!", "10.0.0.1"])
    hosts.append(["第1直属局", "门户", "web02", "10.0.0.2"])
    disks = wb.create_sheet("磁盘")
    disks.append(["主机名", "磁盘名称", "容量(GB)"])
    disks.append(["web02", "sda", 100])
    disks.append(["web_01!", "sdb", 100])
    path = tmp_path / "台账.xlsx"
    wb.save(path)
    with pytest.raises(LedgerError) as err:
        import_ledgers([path], tmp_path / "est", reader=read_grids)
    text = str(err.value)
    assert "主机" in text and "磁盘" in text and text.count("web_01!") >= 2, text
    assert not (tmp_path / "est").exists()


def test_system_memo_is_system_ref_per_name() -> None:
    def collector() -> Collector:
        col = Collector("f.xlsx", None)
        for b, name in [("A局", "OA系统"), ("B局", "OA系统"), ("A局", "邮件系统"),
                        ("B局", "Portal")]:
            col.bureau(b)
            col.system(b, name)
        return col

    names: list[Any] = ["OA系统", "邮件系统", " 邮件系统 ", "PORTAL", "无此系统", None, 7,
                        "邮件系统", "ＰＯＲＴＡＬ"]
    by_ref = collector()
    expected = _memo(names, lambda t: by_ref.system_ref("", t))
    col = collector()
    got = _system_memo(col, names)
    assert got == expected
    assert got["OA系统"] is _FAILED and got["无此系统"] is _FAILED  # ambiguous, unknown
    assert got["PORTAL"] == got["ＰＯＲＴＡＬ"] == expected["PORTAL"] != _FAILED
    assert _system_memo(col, names) == expected  # again, from the collector's cache


@pytest.mark.parametrize("bureau,name", [("第1直属局", "OA系统"), ("第1直属局", " ＯＡ系统 "),
                                         ("Bureau A", "Mail System"), ("总部", "Ｍail　系统"),
                                         ("Bureau A ", "mail system")])
def test_a_systems_id_is_its_stable_id(bureau: str, name: str) -> None:
    col = Collector("f.xlsx", None)
    col.bureau(bureau)
    assert col.system(bureau, name) == stable_id("s", bureau, name)
    assert col.system(bureau, name, {"owner": "张三"}) == stable_id("s", bureau, name)


def _clean_column_by_distinct(table: list[tuple[Any, ...]], n: int, c: _Col) -> list[Any]:
    """_clean_column as it was before round 12: always through the distinct values."""
    if c.index >= len(table):
        return [None] * n
    raw = table[c.index]
    distinct = dict.fromkeys(raw)
    if True in distinct or False in distinct:
        return _clean_each(raw, c.memo, c.clean)
    for key in distinct:
        if key not in c.memo:
            c.memo[key] = None if key == "" or key is None else c.clean(key)
    return list(map(c.memo.__getitem__, raw))


_CELL = st.sampled_from([True, False, 1, 0, 1.0, 0.0, 2, "1", "3", "是", "否", "", None, "x",
                         "三级", -1])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["systems.classified", "systems.mlps_level", "hosts.hostname"]),
       st.lists(st.lists(_CELL, min_size=1, max_size=8), min_size=1, max_size=4))
def test_a_column_mapped_through_its_memo_is_the_distinct_path(
        target: str, chunks: list[list[Any]]) -> None:
    """Chunk after chunk through one memo (as a file's columns of one cleaner are): the
    memo shortcut (every value cleaned already, no key equal to a boolean) gives what the
    distinct-value path gives, booleans and the numbers equal to them kept apart."""
    new, old = _Col(0, "h", target, ""), _Col(0, "h", target, "")
    for cells in chunks + chunks:  # (the second pass finds every value in the memo)
        table = _transposed([[v] for v in cells], list(range(len(cells))))
        got = _clean_column(table, len(cells), new)
        want = _clean_column_by_distinct(table, len(cells), old)
        assert [repr(v) for v in got] == [repr(v) for v in want]
        assert [type(v) for v in got] == [type(v) for v in want]


def test_the_sha256_hashed_beside_the_rows_is_the_files(tmp_path: Path) -> None:
    """read_ledger hashes the file on a thread while it reads the rows (round 12)."""
    wb = Workbook()
    ws = wb.active
    ws.append(["单位", "系统名称", "主机名", "IP地址"])
    for i in range(50):
        ws.append(["第1直属局", "OA系统", f"web{i:02d}", f"10.0.0.{i + 1}"])
    path = tmp_path / "a.xlsx"
    wb.save(path)
    read = read_ledger(path, reader=read_grids)
    assert read.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(read.rows["hosts"]) == 50
