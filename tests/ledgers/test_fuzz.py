"""Fuzzing the ledger reader (hypothesis) over generated sheets with random quirks.

Each example writes a real .xlsx (openpyxl: merged cells, hidden rows, formulas without a
value, dates, a hidden sheet) or .csv (UTF-8, UTF-8-BOM or GBK) file in a temp folder with
random headers (aliases with full-width letters, spaces and units), title and 填报单位
lines, and rows mixing good values with every kind of bad one, then reads it.

Properties: the reader never crashes (it returns rows or raises ``LedgerError``), and every
refusal of a cell or row names the file, the sheet (workbooks), the row and the column.
Examples: ``FUZZ_EXAMPLES`` (200) per test run.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import openpyxl
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connectors.grid import read_grids
from shangyun.errors import LedgerError
from shangyun.ledgers.aliases import ALIASES
from shangyun.ledgers.read import read_ledger

from .conftest import write_csv

FUZZ_EXAMPLES = 200

TARGETS = ["bureaus.name", "systems.name", "hosts.hostname", "hosts.ip", "hosts.os",
           "hosts.cpu_cores", "hosts.memory_gb", "hosts.disk_gb", "systems.mlps_level",
           "systems.classified", "systems.network_zone", "hosts.mac", "hosts.kind",
           "dependencies.source_system", "dependencies.target_system", "dependencies.port",
           "databases.engine", "bureaus.blackout_dates", "hosts.cpu_util_pct"]

VALUES: list[Any] = [
    None, "", "-", "待定", "  ", "北京局", "湖北出入境检验检疫局", "门户网站", "审批系统",
    "web-01", "db_02", "../../etc/passwd", "a" * 300, "主机一", "10.1.2.3", "10.1.2.3；10.1.2.4",
    "１０．１．２．５", "0.0.0.0", "255.255.255.255", "224.0.0.1", "10.1.2.300", "CentOS 7.9",
    "麒麟V10", 8, 8.0, -4, "-4", "4-8", "abc8", "8核", "2路8核", "16G", "2 TB", "2*300G",
    "512MB", "三级", "二级/三级", "等保2.0三级", "III", 3, "是", "否", "Y", "政务外网", "DMZ",
    "虚拟机", "物理机", "00:50:56:aa:bb:cc", "zz:zz", "80,443", "70000", "Oracle 11g", "达梦DM8",
    45292, "2024/10/01", dt.datetime(2026, 1, 4), dt.date(2025, 5, 6), 1e300, "合计",
    "注：本表由信息中心填报", "=SUM(A1:A2)", "15%", "150%", "\u3000", "\t", "x" * 70,
]


def _headers(target: str) -> list[str]:
    return list(ALIASES[target][:6])


@st.composite
def header_cell(draw: st.DrawFn, target: str) -> str:
    text = draw(st.sampled_from(_headers(target)))
    quirk = draw(st.sampled_from(["", "wide", "space", "unit", "upper"]))
    if quirk == "wide":
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    elif quirk == "space":
        text = " ".join(text)
    elif quirk == "unit" and target.endswith("_gb"):
        text += draw(st.sampled_from(["(GB)", "（G）", "(MB)", "[TB]"]))
    elif quirk == "upper":
        text = text.upper()
    return text


@st.composite
def ledger(draw: st.DrawFn) -> dict[str, Any]:
    targets = draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=8))
    header: list[Any] = [draw(header_cell(t)) for t in targets]
    if draw(st.booleans()):
        header.append(draw(st.sampled_from(["备注", "OS版本", "服务器地址", "机房", "IP地址"])))
    width = len(header)
    rows = draw(st.lists(st.lists(st.sampled_from(VALUES), min_size=width, max_size=width),
                         max_size=12))
    above: list[list[Any]] = []
    if draw(st.booleans()):
        above.append(["某局信息系统资产台账"])
    if draw(st.booleans()):
        above.append([draw(st.sampled_from(["填报单位：湖北局", "单位名称", "填报单位"])),
                      "湖北局"])
    return {"rows": [*above, header, *rows], "header_at": len(above),
            "csv": draw(st.booleans()),
            "encoding": draw(st.sampled_from(["utf-8", "utf-8-sig", "gbk"])),
            "merge": draw(st.booleans()), "hide_row": draw(st.booleans()),
            "hidden_sheet": draw(st.booleans()),
            "second_sheet": draw(st.sampled_from([None, "依赖关系", "数据库", "磁盘"])),
            "bureau": draw(st.sampled_from([None, "北京局"]))}


def _gbk_safe(v: Any) -> Any:
    if isinstance(v, str):
        return "".join(c for c in v if _encodable(c))
    return v


def _encodable(c: str) -> bool:
    try:
        c.encode("gbk")
    except UnicodeEncodeError:
        return False
    return unicodedata.category(c) != "Cs"


def _write(folder: Path, spec: dict[str, Any]) -> Path:
    rows = spec["rows"]
    if spec["csv"]:
        cells = [[_gbk_safe(c) if spec["encoding"] == "gbk" else c for c in r] for r in rows]
        cells = [["" if c is None else c for c in r] for r in cells]
        return write_csv(folder / "fuzz.csv", cells, spec["encoding"])
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "台账"
    for r in rows:
        ws.append(list(r))
    first = spec["header_at"] + 2
    if spec["merge"] and ws.max_row >= first + 2:
        ws.merge_cells(start_row=first, start_column=1, end_row=ws.max_row, end_column=1)
    if spec["hide_row"] and ws.max_row >= first:
        ws.row_dimensions[first].hidden = True
    if spec["second_sheet"]:
        extra = wb.create_sheet(spec["second_sheet"])
        extra.append(["源系统", "目标系统", "端口", "系统名称", "数据库类型", "主机名", "容量(GB)"])
        extra.append(["门户网站", "审批系统", "443", "门户网站", "MySQL", "web-01", "100"])
    if spec["hidden_sheet"]:
        wb.create_sheet("旧表").sheet_state = "hidden"
    path = folder / "fuzz.xlsx"
    wb.save(path)
    return path


@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ledger())
def test_reader_never_crashes_and_refusals_name_the_cell(spec: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), spec)
        try:
            read = read_ledger(path, reader=read_grids, bureau=spec["bureau"])
        except LedgerError as err:
            assert err.file == str(path)
            if "no ledger found" in str(err):
                event("refused: no ledger found")
                return  # a file-level refusal: no sheet has a header row
            assert err.row is not None and err.column, str(err)
            if not spec["csv"]:
                assert err.sheet, str(err)
            event("refused naming the cell")
            return
        event("read" + (" with warnings" if read.warnings else ""))
        for table, rows in read.rows.items():
            for row in rows:
                assert row.get("id") or table == "conflicts", (table, row)
