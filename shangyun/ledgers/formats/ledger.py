"""The ledger format (台账): sheets with a header row, read into estate rows.

For every sheet: find the header row (title rows above it are skipped; a second header row
under a grouped header is combined), decide what the sheet lists (hosts, systems,
databases, disks, dependencies or bureaus) from its headers and name, map each header to an
estate column (:mod:`shangyun.ledgers.headers`, then the mapping file), and turn each data
row into rows of the estate tables (:mod:`shangyun.ledgers.formats.ledger_rows`), cleaning
every value (:mod:`shangyun.ledgers.values`). Blank rows, note rows (注：…) and totals rows
(合计/总计) are skipped.

Every bad cell of a file is collected; the file is then rejected with one
:class:`LedgerError` naming the first bad cell (file, sheet, row, column) and listing the
others.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shangyun.errors import LedgerError
from shangyun.ledgers import headers as H
from shangyun.ledgers.collector import Collector
from shangyun.ledgers.formats.base import FormatRead, LedgerFormat, LedgerInput
from shangyun.ledgers.formats.ledger_rows import ROW_READERS
from shangyun.ledgers.grid import Grid, column_letter
from shangyun.ledgers.model import Mapping, Row, SheetReport
from shangyun.ledgers.values import BadValue, clean_text, cleaner

HEADER_SCAN_ROWS = 30
_TOTALS = re.compile(
    r"^(?:(?:合计|总计|小计|共计|总和|汇总).*|(?:grand |sub)?totals?[:：]?|sum[:：]?)$", re.I)
_TOTAL_FIRST = frozenset("合总小共汇tTsSgG")
_NOTE = re.compile(r"^(注|说明|备注|填表|制表|审核|填报|note|remark)", re.I)
_KIND_ORDER = {"bureaus": 0, "hosts": 1, "systems": 2, "disks": 3, "databases": 4,
               "dependencies": 5}
_NAME_HINTS = (
    ("dependencies", ("依赖", "调用", "接口关系", "关联", "dependenc", "depend", "link")),
    ("databases", ("数据库", "database", "db")),
    ("disks", ("磁盘", "硬盘", "disk", "存储卷", "volume")),
    ("bureaus", ("单位", "bureau", "站点", "site")),
    ("hosts", ("主机", "服务器", "设备", "虚拟机", "资产", "host", "server", "vm", "machine")),
    ("systems", ("系统", "应用", "system", "application", "app")),
)


def _lookup(cell: Any, kind: str | None, mapping: Mapping) -> tuple[str | None, str]:
    if type(cell) is not str or not cell or len(cell) > 60:
        return None, ""  # numbers, dates and long texts are never headers
    if mapping:
        norm = H.normalize_header(cell)
        if norm in mapping:
            return mapping[norm]
    return H.lookup(cell, kind)


def find_header(grid: Grid, mapping: Mapping) -> tuple[int, list[Any]] | None:
    """The 0-based index of the header row and its (possibly combined) header cells.

    The header row is the row among the first :data:`HEADER_SCAN_ROWS` with the most cells
    that are known headers (at least two). When the row below holds known headers where the
    header row has none (a grouped header such as 配置 over CPU/内存/磁盘), the two rows are
    combined and the data starts one row lower.
    """
    best, best_score = -1, 1
    for i, row in enumerate(grid.rows[:HEADER_SCAN_ROWS]):
        targets = {t for t, _u in (_lookup(c, None, mapping) for c in row) if t}
        if len(targets) > best_score:
            best, best_score = i, len(targets)
    if best < 0:
        return None
    header = list(grid.rows[best])
    if best + 1 < len(grid.rows):
        below = grid.rows[best + 1]
        extra = 0
        combined = list(header)
        for c, cell in enumerate(below):
            t_below, _ = _lookup(cell, None, mapping)
            t_here, _ = _lookup(header[c] if c < len(header) else "", None, mapping)
            if t_below and t_below != H.IGNORE and not t_here:
                combined[c] = cell
                extra += 1
            elif t_below and t_here and t_below != t_here:
                return best, header
        if extra >= 2:
            return best + 1, combined
    return best, header


def detect_kind(targets: Iterable[str], sheet: str | None) -> str | None:
    """What a sheet lists, from the targets of its headers and its name."""
    t = set(targets)
    tables = {x.split(".", 1)[0] for x in t if x != H.IGNORE}
    src = t & {"dependencies.source_system", "dependencies.source_host"}
    dst = t & {"dependencies.target_system", "dependencies.target_host",
               "dependencies.external"}
    if src and dst:
        return "dependencies"
    name = (sheet or "").lower().replace("操作系统", "")
    hint = next((k for k, words in _NAME_HINTS if any(w in name for w in words)), None)
    has_host = bool(t & {"hosts.hostname", "hosts.ip", "hosts.mac"})
    if "databases.engine" in t and (hint == "databases" or not has_host):
        return "databases"
    host_details = {x for x in t if x.startswith("hosts.")} - {
        "hosts.hostname", "hosts.ip", "hosts.mac"}
    if has_host and t & {"disks.size_gb", "disks.name"} and (
            hint == "disks" or not host_details):
        return "disks"
    if has_host:
        return "hosts"
    if "systems.name" in t:
        return "systems"
    if "bureaus.name" in t and tables <= {"bureaus"} | ({"systems"} if hint == "bureaus"
                                                        else set()):
        return "bureaus"
    return None


@dataclass
class _Col:
    index: int
    header: str
    target: str
    unit: str
    memo: dict[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.table, self.column = self.target.split(".", 1)
        self.clean = cleaner(self.target, self.unit)


class _Problems:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[tuple[str | None, int | None, str | None, str]] = []

    def add(self, sheet: str | None, row: int | None, column: str | None, msg: str) -> None:
        self.items.append((sheet, row, column, msg))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        sheet, row, column, msg = self.items[0]
        rest = self.items[1:]
        if rest:
            more = [f"{'sheet ' + repr(s) + ', ' if s else ''}row {r}, column {c!r}: {m}"
                    for s, r, c, m in rest[:30]]
            tail = f"\n  … and {len(rest) - 30} more" if len(rest) > 30 else ""
            msg += f"\n  {len(rest)} more problem(s) in this file:\n  - " + "\n  - ".join(
                more) + tail
        raise LedgerError(self.file, msg, sheet=sheet, row=row, column=column)


def read_sheets(inp: LedgerInput) -> FormatRead:
    """Read every sheet of ``inp`` that has a header row of known headers (bureaus first,
    then hosts, systems, disks, databases, dependencies, so names resolve within the
    file). Raises :class:`LedgerError` naming the first bad cell and listing the others."""
    mapping = inp.mapping
    problems = _Problems(inp.file)
    col = Collector(inp.source, inp.known)
    plans = []
    for grid in inp.grids:
        found = find_header(grid, mapping)
        if found is None:
            continue
        header_idx, header = found
        targets = {t for t, _u in (_lookup(c, None, mapping) for c in header) if t}
        kind = detect_kind(targets, grid.sheet)
        if kind is None:
            continue
        plans.append((_KIND_ORDER[kind], grid, header_idx, header, kind))
    if not plans:
        names = ", ".join(repr(g.sheet) for g in inp.grids if g.sheet) or "the file"
        raise LedgerError(inp.file, "no ledger found: no sheet has a header row with known "
                                    "headers (主机名, IP地址, 系统名称, 单位 …) in its first "
                                    f"{HEADER_SCAN_ROWS} rows ({names}); add a --mapping "
                                    "file for other headers")
    plans.sort(key=lambda x: x[0])
    reports = []
    for _order, grid, header_idx, header, kind in plans:
        reports.append(_read_sheet(grid, header_idx, header, kind, mapping, inp.bureau, col,
                                   problems, inp.advance))
    problems.raise_if_any()
    return col.rows, reports


def _always(_grids: list[Grid]) -> bool:
    return True


#: Any workbook or CSV with header rows: the fallback, tried after the specific formats.
LEDGER = LedgerFormat("ledger", _always, read_sheets)


def _columns(header: list[Any], kind: str, mapping: Mapping) -> tuple[list[_Col], list[str]]:
    cols: list[_Col] = []
    unmapped: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(header):
        text = clean_text(cell)
        if not text:
            continue
        target, unit = _lookup(cell, kind, mapping)
        if target is None:
            unmapped.append(text)
            continue
        if target == H.IGNORE:
            continue
        cols.append(_Col(i, str(cell).strip(), target, unit))
        seen.add(target)
    # a second column for the same target fills in only where the first is empty
    return cols, unmapped


def _read_sheet(
    grid: Grid, header_idx: int, header: list[Any], kind: str, mapping: Mapping,
    default_bureau: str | None, col: Collector, problems: _Problems,
    advance: Callable[[int], None] | None,
) -> SheetReport:
    cols, unmapped = _columns(header, kind, mapping)
    report = SheetReport(grid.sheet, kind, header_idx + 1, 0, 0,
                         columns={c.header: c.target for c in cols}, unmapped=unmapped)
    has_bureau = any(c.target == "bureaus.name" for c in cols)
    file_bureau = default_bureau or (next(iter(col.bureaus)) if len(col.bureaus) == 1 else None)
    if not has_bureau and not file_bureau:
        problems.add(grid.sheet, header_idx + 1, None,
                     "no bureau: the sheet has no 单位/所属单位 column; pass --bureau NAME")
        return report
    rows = grid.rows
    keep, report.skipped = _data_rows(rows, header_idx + 1)
    reader = ROW_READERS[kind]
    layout = [(c.table, c.column, c.target == "databases.engine", c) for c in cols]
    for start in range(0, len(keep), _CHUNK):
        chunk = keep[start:start + _CHUNK]
        cells = [_clean_column(rows, chunk, c) for c in cols]
        for j, r in enumerate(chunk):
            parts: dict[str, Row] = {}
            bad = False
            for (table, column, is_engine, c), values in zip(layout, cells, strict=True):
                v = values[j]
                if v is None:
                    continue
                if type(v) is BadValue:
                    problems.add(grid.sheet, r + 1, f"{c.header} ({column_letter(c.index)})",
                                 str(v))
                    bad = True
                    continue
                part = parts.get(table)
                if part is None:
                    part = parts[table] = {}
                if column not in part:
                    part[column] = v
                    if is_engine:
                        parts["_"] = {"engine_text": clean_text(rows[r][c.index])}
            if bad:
                continue
            if not parts:
                report.skipped += 1
                continue
            bname = parts.get("bureaus", {}).pop("name", None) or file_bureau
            if not bname:
                problems.add(grid.sheet, r + 1, None,
                             "no bureau for this row: the 单位 cell is empty; pass --bureau NAME")
                continue
            try:
                reader(col, str(bname), parts)
            except BadValue as exc:
                problems.add(grid.sheet, r + 1, None, str(exc))
                continue
            report.rows += 1
        if advance is not None:
            advance(len(chunk))
    return report


_CHUNK = 5000


def _data_rows(rows: list[list[Any]], first: int) -> tuple[list[int], int]:
    """The indexes of the data rows from ``first`` on, and how many rows were skipped as
    totals (合计 …) or notes (注：…). Blank rows are dropped without counting.

    Each distinct value of the first four columns is tested once (a totals row has its
    label there; a note row its text in the first cell and nothing else).
    """
    data = [r for r in range(first, len(rows))
            if any(rows[r]) or any(c is not None and c != "" for c in rows[r])]
    skip: set[int] = set()
    for j in range(4):
        try:
            values = [rows[r][j] for r in data]
        except IndexError:
            values = [rows[r][j] if j < len(rows[r]) else "" for r in data]
        totals = {v for v in dict.fromkeys(values) if type(v) is str
                  and v.lstrip()[:1] in _TOTAL_FIRST and _TOTALS.match(v.strip())}
        if totals:
            skip.update(r for r, v in zip(data, values, strict=True) if v in totals)
        if j == 0:
            notes = {v for v in dict.fromkeys(values)
                     if type(v) is str and _NOTE.match(v.strip())}
            if notes:
                skip.update(r for r, v in zip(data, values, strict=True) if v in notes
                            and sum(1 for c in rows[r] if c is not None and c != "") == 1)
    if not skip:
        return data, 0
    return [r for r in data if r not in skip], len(skip)


def _clean_column(rows: list[list[Any]], chunk: list[int], c: _Col) -> list[Any]:
    """The cleaned values of column ``c`` for the rows ``chunk`` (``None`` when blank; a
    :class:`BadValue` when bad), each distinct raw value cleaned once.

    The column is gathered in one pass, its distinct values cleaned (through the column's
    memo), then mapped back. A column holding booleans (or values equal to them: 0, 1,
    0.0, 1.0) takes the value-by-value path, since ``True == 1`` would share a memo key.
    """
    idx, memo, fn = c.index, c.memo, c.clean
    try:
        raw = [rows[r][idx] for r in chunk]
    except IndexError:  # a short row: its missing cells are blank
        raw = [rows[r][idx] if idx < len(rows[r]) else "" for r in chunk]
    distinct = dict.fromkeys(raw)
    if True in distinct or False in distinct:
        return _clean_each(raw, memo, fn)
    for key in distinct:
        if key not in memo:
            memo[key] = None if key == "" or key is None else fn(key)
    return [memo[v] for v in raw]


def _clean_each(raw: list[Any], memo: dict[Any, Any], fn: Callable[[Any], Any]) -> list[Any]:
    """Value by value, with booleans keyed apart from the numbers equal to them."""
    out: list[Any] = []
    append = out.append
    for v in raw:
        if v == "" or v is None:
            append(None)
            continue
        key = v if type(v) is not bool else (bool, v)
        got = memo.get(key, _MISSING)
        if got is _MISSING:
            got = memo[key] = fn(v)
        append(got)
    return out


_MISSING = object()


__all__ = ["HEADER_SCAN_ROWS", "LEDGER", "detect_kind", "find_header", "read_sheets"]
