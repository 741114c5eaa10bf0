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
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from itertools import compress, zip_longest
from operator import itemgetter, not_
from pathlib import PurePath
from typing import Any

from shangyun.errors import LedgerError
from shangyun.ledgers import headers as H
from shangyun.ledgers.aliases import DR_STANDBY_HEADERS
from shangyun.ledgers.collector import Collector, Unresolved
from shangyun.ledgers.formats.base import FormatRead, LedgerFormat, LedgerInput
from shangyun.ledgers.formats.ledger_rows import COLUMN_READERS, ROW_READERS
from shangyun.ledgers.grid import Grid, LazyRows, column_letter, rows_upto
from shangyun.ledgers.model import Deferred, Mapping, Row, SheetReport
from shangyun.ledgers.values import (
    SPEC,
    SPEC_HEADERS,
    SPEC_TARGETS,
    BadValue,
    Doubtful,
    clean_text,
    cleaner,
    external_targets,
    kind_question,
    value_of,
)
from shangyun.words import counted

HEADER_SCAN_ROWS = 30
#: How far down a header is looked for when the first HEADER_SCAN_ROWS rows hold none
HEADER_SCAN_DEEP = 100
_TOTALS = re.compile(
    r"^(?:(?:合计|总计|小计|共计|总和|汇总|总数|总台数).*|共\s*\d+\s*(?:台|个|套|项|条)?.*"
    r"|(?:grand\s*|sub)?totals?[:：]?|sum[:：]?)$", re.I)
_TOTAL_FIRST = frozenset("合总小共汇tTsSgG")
_NOTE = re.compile(r"^(注|说明|备注|填表|制表|审核|填报|note|remark)", re.I)
# a signature line below the table: 制表人：张三  审核人：李四  填表日期：2026-03-01 (in one
# cell or spread over several, starting in any of the first four columns)
_SIGN = re.compile(
    r"^(?:制表|填表|填报|审核|审批|复核|核对|校对|批准|签字|签发|盖章|单位盖章|负责人|单位负责人|"
    r"部门负责人|分管领导|主管领导|联系人|联系电话|日期)[^:：\d]{0,6}[:：]")
_SIGN_FIRST = frozenset("制填审复核校批签盖负单部分主联日")
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


#: Sheet names and second-column headers of an instruction sheet (field | explanation).
_INSTRUCTIONS = re.compile(r"说明|填表|填报要求|须知|readme|instruction|guide", re.I)
_EXPLAINS = frozenset({"说明", "填写说明", "含义", "要求", "填写要求", "填写示例", "示例",
                       "description", "explanation", "meaning", "example"})


def _is_card(grid: Grid, mapping: Mapping) -> bool:
    """Whether a sheet without a header row is a *card*: field | value pairs down the
    sheet (系统名称 | 不动产登记系统, 负责人 | 王五 …), at least 3 pairs of a known header
    and a value — one system per sheet, as some bureaus fill a 系统信息卡."""
    if _INSTRUCTIONS.search(grid.sheet or ""):
        return False  # 填表说明: a field | explanation table, no card
    known = 0
    for row in grid.rows[:HEADER_SCAN_ROWS * 2]:
        cells = [c for c in row if c is not None and c != ""]
        if len(cells) == 2 and H.normalize_header(cells[1]) in _EXPLAINS:
            return False
        if len(cells) == 2:
            target, _unit = _lookup(cells[0], None, mapping)
            known += target is not None and target != H.IGNORE
        elif len(cells) > 2:
            return False  # a table's row, not a pair
    return known >= 3


def _card_text(cards: list[str], named: bool = True) -> str:
    """How a refusal or warning names card sheets."""
    which = ", ".join(repr(c) for c in cards[:5]) + (" …" if len(cards) > 5 else "")
    return ((f"sheet{'s' if len(cards) > 1 else ''} {which} " if named else "the sheet ")
            + f"{'are cards' if len(cards) > 1 else 'is a card'} of field | value pairs "
            "down the sheet (系统名称 | …, 负责人 | …), one system per sheet")


def find_header(grid: Grid, mapping: Mapping) -> tuple[int, list[Any]] | None:
    """The 0-based index of the last header row and the (possibly combined) header cells.

    The header row is the row among the first :data:`HEADER_SCAN_ROWS` with the most cells
    that are known headers (at least two); when none is, among the first
    :data:`HEADER_SCAN_DEEP` (a template's 填表说明 of many lines above the table). Up to
    three rows below it are header rows too when every text in them is a header: a
    grouped header (配置 over CPU/内存/磁盘: the row below fills the columns), a header
    split over two rows (``IP`` over ``地址``, ``内存`` over ``(GB)``: the texts are
    joined), or a second language row repeating the first (主机名 over hostname). The
    data starts below the last header row.
    """
    best, best_score = -1, 1
    # the first rows; when they hold none, further down (a template's long 填表说明)
    for lo, hi in ((0, HEADER_SCAN_ROWS), (HEADER_SCAN_ROWS, HEADER_SCAN_DEEP)):
        for i, row in enumerate(grid.rows[lo:hi], start=lo):
            targets = {t for t, _u in (_lookup(c, None, mapping) for c in row) if t}
            if len(targets) > best_score:
                best, best_score = i, len(targets)
        if best >= 0:
            break
    if best < 0:
        return None
    header = list(grid.rows[best])
    for start in range(max(0, best - 2), best):  # header rows above the best one
        known = {t for t, _u in (_lookup(c, None, mapping) for c in grid.rows[start]) if t}
        if len(known) < 2:
            continue
        top: list[Any] | None = list(grid.rows[start])
        for i in range(start + 1, best + 1):
            top = _combine(top, grid.rows[i], mapping) if top is not None else None
        if top is not None:
            header = top
            break
    last = best
    for below_idx in range(best + 1, rows_upto(grid.rows, best + 1, best + 4)):
        combined = _combine(header, grid.rows[below_idx], mapping)
        if combined is None:
            break
        header, last = combined, below_idx
    return last, header


_UNIT_ONLY = re.compile(r"^\s*[(（\[]?\s*(?:[kmgtp]i?b?|[kmgtp]|%|核|个|mbps|gbps|小时|h)"
                        r"\s*[)）\]]?\s*$", re.I)


def _combine(header: list[Any], below: list[Any], mapping: Mapping) -> list[Any] | None:
    """``header`` completed by the row ``below`` when that row is a header row too (every
    text in it a header, a unit or the header's second half), else ``None``."""
    combined = list(header)
    used = 0
    for c, cell in enumerate(below):
        if cell is None or cell == "" or not isinstance(cell, str):
            if cell not in (None, ""):
                return None  # a number or a date: a data row
            continue
        here = header[c] if c < len(header) else ""
        here_text = here if isinstance(here, str) else ""
        t_here, _ = _lookup(here_text, None, mapping) if here_text else (None, "")
        t_below, _ = _lookup(cell, None, mapping)
        joined = here_text + cell
        t_joined, _ = _lookup(joined, None, mapping) if here_text else (None, "")
        if _UNIT_ONLY.match(cell) and t_here:
            combined[c] = joined
        elif t_below and not t_here:
            combined[c] = cell
        elif t_below and t_below == t_here:
            pass  # the same header again (a second language)
        elif t_joined:
            combined[c] = joined
        else:
            return None
        if c >= len(combined):
            combined.extend([""] * (c + 1 - len(combined)))
            combined[c] = cell
        used += 1
    return combined if used >= 2 else None


_BUREAU_LINE = re.compile(
    r"^\s*(?:填报单位|单位名称|填报部门|报送单位|所属单位|单位)\s*[:：]\s*(?P<name>\S.*?)\s*$")
_BUREAU_LABEL = re.compile(r"^\s*(?:填报单位|单位名称|填报部门|报送单位|所属单位)\s*[:：]?\s*$")


_NEXT_LABEL = re.compile(r"\s{2,}|\s+\S{1,8}[:：]|[,，;；]")


#: A sheet named like a bureau (a workbook with a sheet per bureau: 湖北局, 武汉海关)
_BUREAU_SHEET = re.compile(r"^\s*[\u4e00-\u9fff]{2,20}(?:局|海关|厅|办事处)\s*$")


def bureau_line(rows: Sequence[list[Any]], header_idx: int) -> str | None:
    """The bureau named above the header (``填报单位：湖北直属局`` in one cell, or
    ``填报单位`` with the name in the next cell), else ``None``."""
    for row in rows[:header_idx]:
        for c, cell in enumerate(row):
            if not isinstance(cell, str):
                continue
            m = _BUREAU_LINE.match(cell)
            if m:
                name = _NEXT_LABEL.split(m.group("name"), maxsplit=1)[0].strip()
                if name:
                    return name
            if _BUREAU_LABEL.match(cell):
                nxt = next((x for x in row[c + 1:] if isinstance(x, str) and x.strip()), None)
                if nxt:
                    return nxt.strip()
    return None


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
    #: more disk columns added up into this one (系统盘 + 数据盘: :data:`_DISK_PART`)
    adds: list[_Col] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.table, self.column = self.target.split(".", 1)
        self.clean = cleaner(self.target, self.unit, doubts=True)
        self.label = f"{self.header} ({column_letter(self.index)})"


#: Problems kept (and listed) per file; the rest are counted.
MAX_PROBLEMS_KEPT = 100
#: Reading a file stops after this many problems (junk cannot exhaust memory or time).
MAX_PROBLEMS = 1000


class _Problems:
    """The problems of one file: the first :data:`MAX_PROBLEMS_KEPT` kept, the others
    counted; at :data:`MAX_PROBLEMS` reading stops with the error."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[tuple[str | None, int | None, str | None, str]] = []
        self.count = 0

    def add(self, sheet: str | None, row: int | None, column: str | None, msg: str) -> None:
        self.count += 1
        if len(self.items) < MAX_PROBLEMS_KEPT:
            self.items.append((sheet, row, column, msg))
        if self.count >= MAX_PROBLEMS:
            self.raise_if_any(stopped=True)

    def raise_if_any(self, stopped: bool = False) -> None:
        if not self.items:
            return
        sheet, row, column, msg = self.items[0]
        rest = self.items[1:]
        shown = 30
        if self.count > 1:
            more = [f"{'sheet ' + repr(s) + ', ' if s else ''}row {r}, column {c!r}: {m}"
                    for s, r, c, m in rest[:shown]]
            hidden = self.count - 1 - len(more)
            tail = f"\n  … and {hidden} more" if hidden > 0 else ""
            if stopped:
                tail += f" (reading stopped after {MAX_PROBLEMS} problems)"
            msg += (f"\n  {self.count - 1} more "
                    f"{'problem' if self.count == 2 else 'problems'} in this file:\n  - ")
            msg += "\n  - ".join(
                more) + tail
        raise LedgerError(self.file, msg, sheet=sheet, row=row, column=column)


def read_sheets(inp: LedgerInput) -> FormatRead:
    """Read every sheet of ``inp`` that has a header row of known headers (bureaus first,
    then hosts, systems, disks, databases, dependencies, so names resolve within the
    file). Raises :class:`LedgerError` naming the first bad cell and listing the others."""
    mapping = inp.mapping
    problems = _Problems(inp.file)
    col = Collector(inp.source, inp.known)
    col.defer_unknown = True
    plans = []
    second: dict[int, str] = {}  # id(grid) of a second table on a sheet -> its warning
    cards: list[str] = []  # sheets of field | value pairs (one system per sheet)
    for whole in inp.grids:
        found = find_header(whole, mapping)
        if found is None:
            if _is_card(whole, mapping):
                cards.append(whole.sheet or "")
            continue
        for n, (grid, header_idx, header) in enumerate(_tables(whole, *found, mapping)):
            targets = {t for t, _u in (_lookup(c, None, mapping) for c in header) if t}
            kind = detect_kind(targets, grid.sheet)
            if kind is None:
                continue
            if n:
                second[id(grid)] = (f"a second table below the first, with its own header "
                                    f"(row {header_idx + 1}): read as {kind}")
            plans.append((_KIND_ORDER[kind], grid, header_idx, header, kind))
    summaries = _summary_sheets(plans)
    plans = [p for p in plans if id(p[1]) not in summaries]
    file_line = next((b for b in (bureau_line(g.rows, h) for _o, g, h, _hd, _k in plans) if b),
                     None)
    if not plans and cards:
        raise LedgerError(inp.file, f"no ledger found: {_card_text(cards)}: a card is not "
                                    "read — put the "
                                    "systems in one sheet with a header row (系统名称 | 单位 | "
                                    "负责人 | 等保级别 …) and a row per system, and their "
                                    "servers in a host sheet (主机名 | IP地址 | 系统名称 …)")
    if not plans:
        names = ", ".join(repr(g.sheet) for g in inp.grids if g.sheet) or "the file"
        raise LedgerError(inp.file, "no ledger found: no sheet has a header row with known "
                                    "headers (主机名, IP地址, 系统名称, 单位 …) in its first "
                                    f"{HEADER_SCAN_DEEP} rows ({names}); add a --mapping "
                                    "file for other headers")
    plans.sort(key=lambda x: x[0])
    memos: dict[Callable[[Any], Any], dict[Any, Any]] = {}  # cleaner -> its values, cleaned
    reports = [SheetReport(g.sheet, "summary", h + 1, 0, 0, warnings=[
        f"a summary sheet ({k} totals beside the sheet of hosts): skipped — its rows "
        "count the other sheets' rows (rename the sheet if it lists systems of its own)"])
        for _o, g, h, _hd, k in summaries.values()]
    reports += [SheetReport(c, "card", 0, 0, 0, warnings=[
        f"{_card_text([c], named=False)}: skipped (its facts are not imported) — put them in "
        "the system sheet (a row per system) and its servers in the host sheet"])
        for c in cards]
    for _order, grid, header_idx, header, kind in plans:
        # the sheet's own 填报单位 line, else --bureau, else the file's one bureau so far,
        # else a 填报单位 line on another sheet of the file
        line = bureau_line(grid.rows, header_idx)
        single = next(iter(col.bureaus)) if len(col.bureaus) == 1 else None
        named = (None if line or inp.bureau or not _BUREAU_SHEET.match(grid.sheet or "")
                 else (grid.sheet or "").strip())
        # the last resort: a file named after its bureau (湖北局服务器台账.xlsx)
        # a title row naming it (湖北局2026年服务器台账), nearer the rows than the file's name
        title = (None if line or inp.bureau or named or single or file_line
                 else _bureau_of_title(grid.rows, header_idx))
        by_file = (None if line or inp.bureau or named or single or file_line or title
                   else _bureau_of_file(inp.file))
        hosts_before = len(col.rows["hosts"])
        report = _read_sheet(grid, header_idx, header, kind, mapping,
                             line or inp.bureau or named or single or file_line
                             or (title[0] if title else None) or by_file,
                             col, problems, inp.advance, memos)
        if id(grid) in second:
            report.warnings.insert(0, second[id(grid)])
        if _TEST_SHEET.search(grid.sheet or "") and len(col.rows["hosts"]) > hosts_before:
            report.warnings.append(_test_sheet_warning(col, col.rows["hosts"][hosts_before:]))
        if title and "bureaus.name" not in report.columns.values():
            report.warnings.append(f"no 单位 column, 填报单位 line or --bureau: the title "
                                   f"{title[1]!r} (row {title[2]}) gives the bureau "
                                   f"{title[0]!r}")
        if by_file and "bureaus.name" not in report.columns.values():
            report.warnings.append(f"no 单位 column, 填报单位 line or --bureau: the file's "
                                   f"name gives the bureau {by_file!r}")
        if named and "bureaus.name" not in report.columns.values():
            report.warnings.append(f"no 单位 column or 填报单位 line: the sheet's name "
                                   f"{named!r} is taken as its bureau")
        if line and inp.bureau and _norm(line) != _norm(inp.bureau):
            report.warnings.append(f"the line above the header names the bureau {line!r}; "
                                   f"it is used instead of --bureau {inp.bureau!r}")
        reports.append(report)
    if not inp.defer:
        _resolve_here(col, reports, problems)
    problems.raise_if_any()
    _file_warnings(reports)
    return col.rows, reports


def _tables(grid: Grid, header_idx: int, header: list[Any], mapping: Mapping,
            ) -> list[tuple[Grid, int, list[Any]]]:
    """The tables of a sheet: ``(grid, header index, header)`` of the first, and of each
    table below it with a header of its own (other columns: a list of databases under
    the hosts), found after a blank row (and title rows: 数据库清单). Each table's grid ends
    where the next one's blank and title rows begin; row numbers stay the sheet's. A CSV
    (read lazily) is one table."""
    rows = grid.rows
    if isinstance(rows, LazyRows) or len(rows) < header_idx + 3:
        return [(grid, header_idx, header)]
    own = {t for t, _u in (_lookup(c, None, mapping) for c in header) if t}
    out: list[tuple[int, int, list[Any]]] = []  # (end of the table before, header, cells)
    start = header_idx + 1
    for b in compress(range(start, len(rows)), map(not_, map(any, rows[start:]))):
        if b < start:
            continue  # inside a table found below an earlier blank row
        r = b + 1
        while r < len(rows) and len(list(filter(None, rows[r]))) <= 1:
            r += 1  # blank rows and title rows (数据库清单)
        if r >= len(rows):
            break
        found = find_header(replace(grid, rows=rows[r:r + 4]), mapping)
        if found is None or not _other_header(rows[r + found[0]], None):
            continue
        targets = {t for t, _u in (_lookup(c, None, mapping) for c in found[1]) if t}
        if targets == own:
            continue  # the same table again (a repeated header: read as one)
        out.append((b, r + found[0], found[1]))
        start = r + found[0] + 1
    if not out:
        return [(grid, header_idx, header)]
    tables = []
    first_idx, first_header = header_idx, header
    for end, idx, cells in out:
        tables.append((replace(grid, rows=rows[:end]), first_idx, first_header))
        first_idx, first_header = idx, cells
    tables.append((replace(grid), first_idx, first_header))
    return tables


#: The header of a column saying which environment a host is in (环境: 生产/测试)
_ENV_HEADER = re.compile(r"(?:所属|运行|部署|所在)?环境|环境类型|env|environment")


def _test_rows(grid: Grid, first: int, index: int, label: str) -> list[str]:
    """A warning when the environment column ``index`` (not imported) says test or
    development in some rows (of the first 5,000 of a CSV read lazily)."""
    rows = grid.rows[first:first + 5000] if isinstance(grid.rows, LazyRows) else grid.rows[first:]
    hits = [first + k + 1 for k, row in enumerate(rows) if index < len(row)
            and type(row[index]) is str and _TEST_SHEET.search(row[index])]
    if not hits:
        return []
    shown = ", ".join(map(str, hits[:10])) + (" …" if len(hits) > 10 else "")
    return [f"column {label!r} says a test or development environment in "
            f"{counted(len(hits), 'row')} ({_rows_word(len(hits))} {shown}): they were "
            "imported like production hosts — the estate records no environment; delete "
            "those rows if they are not to move"]


#: The headers of a free-text remarks column (备注, 说明 …) or a status column (使用状态 …),
#: read for :data:`RETIRED_WORDS`
_REMARK_HEADERS = frozenset(H.normalize_header(h) for h in (
    "备注", "备注说明", "说明", "备注信息", "其他说明", "remark", "remarks", "note", "notes",
    "comment", "comments",
    # an asset system's status column (在用/停用/报废): read as the power state too
    "使用状态", "设备状态", "资产状态", "在用状态", "使用情况", "运行状态"))

#: Words in a remark saying the host or system is retired, to be retired, stopped or not to
#: move (docs/ledgers.md). Kept conservative: each says so on its own ("不停机迁移" is none).
RETIRED_WORDS = ("暂不迁移", "不迁移", "无需迁移", "不需迁移", "不上云", "下线", "停用", "停运",
                 "报废", "废弃", "退役", "淘汰", "decommission", "retired", "do not migrate")
_RETIRED = re.compile("|".join(map(re.escape, sorted(RETIRED_WORDS, key=len, reverse=True))),
                      re.I)


def _retired_rows(grid: Grid, first: int, header: list[Any], kind: str) -> list[str]:
    """One warning when the remarks columns (:data:`_REMARK_HEADERS`, imported or not) of a
    host or system sheet say a row's host or system is retired or not to move (of the first
    5,000 rows of a CSV read lazily): naming the columns, the rows and the words."""
    if kind not in ("hosts", "systems"):
        return []
    cols = [(i, f"{clean_text(h)} ({column_letter(i)})") for i, h in enumerate(header)
            if H.normalize_header(clean_text(h)) in _REMARK_HEADERS]
    if not cols:
        return []
    rows = grid.rows[first:first + 5000] if isinstance(grid.rows, LazyRows) else grid.rows[first:]
    hits: list[int] = []
    words: dict[str, None] = {}
    labels: dict[str, None] = {}
    for k, row in enumerate(rows):
        found = [(label, _RETIRED.findall(row[i])) for i, label in cols
                 if i < len(row) and type(row[i]) is str]
        found = [(label, w) for label, w in found if w]
        if found:
            hits.append(first + k + 1)
            for label, w in found:
                labels[label] = None
                words.update(dict.fromkeys(w))
    if not hits:
        return []
    what = "host" if kind == "hosts" else "system"
    shown = ", ".join(map(str, hits[:10])) + (" …" if len(hits) > 10 else "")
    return [f"{'column' if len(labels) == 1 else 'columns'} "
            f"{', '.join(map(repr, labels))} {'says' if len(labels) == 1 else 'say'} the "
            f"{what} is retired or not to move in {counted(len(hits), 'row')} "
            f"({_rows_word(len(hits))} {shown}; {', '.join(words)}): they were imported like "
            f"the others — delete those rows if they are not to move"]


#: A sheet of test or development hosts: 测试环境, 测试, 开发环境, UAT, dev
_TEST_SHEET = re.compile(r"测试|开发|预发|演练|准生产|仿真|(?<![a-z])(?:test|testing|dev|uat|sit|"
                         r"staging|pre-?prod)(?![a-z])", re.I)


def _test_sheet_warning(col: Collector, hosts: list[Row]) -> str:
    """The warning of a sheet named as a test or development environment: its hosts (and
    the systems they joined) named."""
    names = list(dict.fromkeys(str(h.get("hostname")) for h in hosts))
    sids = {h.get("system_id") for h in hosts if h.get("system_id")}
    systems = [str(s["name"]) for s in col.rows["systems"] if s["id"] in sids]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    joined = (f" into their systems ({', '.join(dict.fromkeys(systems))})" if systems else "")
    return (f"the sheet's name says a test or development environment: its "
            f"{counted(len(names), 'host')} ({shown}) "
            f"{'was' if len(names) == 1 else 'were'} imported{joined} like production "
            "hosts — the estate records no environment, so they are assessed, planned and "
            "moved with them; delete them from the sheet (or the estate's hosts.csv) if they "
            "are not to move")


_SUMMARY_NAME = re.compile(r"汇总|统计|合计|总表|summary|overview", re.I)
_DETAIL_NAME = re.compile(r"台账|清单|明细|列表|list|detail", re.I)


#: A file named after its bureau: 湖北局服务器台账.xlsx, 武汉海关-资产清单.csv, and with a
#: number, a year or 附件N before it (a programme numbers its bureaus' files):
#: 01_湖北局_服务器台账.xlsx, 附件3-湖北局资产清单.xlsx, （02）湖北局台账, 【湖北局】台账
_BUREAU_PREFIX = (r"^\s*(?:(?:附件|附表)?\s*[(（【\[]?\s*\d{1,8}\s*(?:年度?)?\s*[)）】\]]?"
                  r"\s*[._\-、，, ]*)?[(（【\[]?\s*")
_BUREAU_FILE = re.compile(_BUREAU_PREFIX + r"([\u4e00-\u9fff]{2,20}(?:局|海关|厅|办事处))")


def _bureau_of_file(file: str) -> str | None:
    """The bureau a file's name begins with (湖北局服务器台账 → 湖北局; after a number, a
    year or 附件N: 01_湖北局_服务器台账 → 湖北局), else ``None``."""
    m = _BUREAU_FILE.match(PurePath(file).stem)
    return m.group(1) if m else None


def _bureau_of_title(rows: Sequence[list[Any]], header_idx: int) -> tuple[str, str, int] | None:
    """The bureau a title row above the header begins with (a row holding one text, often
    merged across the table: ``湖北局2026年信息系统服务器台账`` → 湖北局): (bureau, title,
    row number), else ``None``."""
    for i, row in enumerate(rows[:header_idx]):
        texts = list(dict.fromkeys(c.strip() for c in row if isinstance(c, str) and c.strip()))
        if len(texts) != 1:
            continue
        m = _BUREAU_FILE.match(texts[0])
        if m:
            return m.group(1), texts[0], i + 1
    return None


def _summary_sheets(plans: list[Any]) -> dict[int, Any]:
    """The sheets of a workbook that summarise its host sheet (named 汇总/统计/合计/summary,
    not 台账/清单/明细, without host columns, beside a sheet of hosts): ``id(grid)`` → its
    plan. Read as systems they would add every system again, or a misspelt one as new."""
    if not any(p[4] == "hosts" for p in plans):
        return {}
    return {id(p[1]): p for p in plans if p[4] != "hosts" and p[1].sheet
            and _SUMMARY_NAME.search(p[1].sheet) and not _DETAIL_NAME.search(p[1].sheet)}


def _resolve_here(col: Collector, reports: list[SheetReport], problems: _Problems) -> None:
    """Resolve the deferred rows within this file (a read on its own): a name no bureau
    has is an error without a bureau, else a new system/host of the row's bureau."""
    col.defer_unknown = False
    for rep in reports:
        for d in rep.deferred:
            try:
                ROW_READERS[d.kind](col, d.bureau, d.parts)
            except BadValue as exc:
                problems.add(d.sheet, d.row, _label(d.columns, exc.target), str(exc))
        rep.deferred = []


def _norm(text: str) -> str:
    return H.normalize_header(text)


#: Host fields a migration cannot do without: warned when a whole sheet leaves them empty.
REQUIRED_HOST_FIELDS = {"hosts.os": "操作系统 (OS)", "hosts.ip": "IP地址 (IP address)"}


#: The columns of a sheet relating hosts to their systems, and nothing else about them
_RELATION_COLUMNS = frozenset({"hosts.hostname", "hosts.ip", "systems.name", "bureaus.name"})


def _file_warnings(reports: list[SheetReport]) -> None:
    """Warn, on each host sheet, about a required field empty in every row — not on a
    sheet relating hosts to systems (系统-主机对应: only 主机名, IP地址, 系统名称, 单位)
    when another host sheet of the file gives the field."""
    given = {t for rep in reports if rep.kind == "hosts" for t in REQUIRED_HOST_FIELDS
             if rep.filled.get(t, 0)}
    for rep in reports:
        if rep.kind != "hosts" or not rep.rows:
            continue
        relation = set(rep.columns.values()) <= _RELATION_COLUMNS
        for target, label in REQUIRED_HOST_FIELDS.items():
            if rep.filled.get(target, 0) == 0 and not (relation and target in given):
                where = ("no column of this sheet is mapped to it" if target
                         not in rep.columns.values() else "its column is empty in every row")
                rep.warnings.append(f"no host has a {label}: {where}; the assessment needs it "
                                    "(map the column in a --mapping file)")


def _always(_grids: list[Grid]) -> bool:
    return True


#: Any workbook or CSV with header rows: the fallback, tried after the specific formats.
LEDGER = LedgerFormat("ledger", _always, read_sheets)


def _columns(header: list[Any], kind: str, mapping: Mapping,
             values: Callable[[int], list[Any]] | None = None,
             ) -> tuple[list[_Col], list[tuple[int, str]], list[str]]:
    """The mapped columns, the unmapped ``(index, header)`` and warnings about duplicates.
    ``values(i)`` gives the first cells of column ``i`` (to decide a header by its values:
    :func:`_system_type`)."""
    cols: list[_Col] = []
    unmapped: list[tuple[int, str]] = []
    seen: dict[str, _Col] = {}
    warnings: list[str] = []
    specs: list[tuple[int, str]] = []
    part: _Col | None = None  # the first disk column of several (系统盘 of 系统盘 + 数据盘)
    for i, cell in enumerate(header):
        text = clean_text(cell)
        if not text:
            continue
        target, unit = _lookup(cell, kind, mapping)
        if target is None and kind == "hosts" and H.normalize_header(text) in SPEC_HEADERS:
            specs.append((i, text))  # 配置 (8C16G500G): fills what other columns leave
            continue
        if target is None and kind == "hosts" and _DISK_PART.fullmatch(
                H.split_unit(H.normalize_header(text))[0]):
            if part is not None:  # 数据盘 after 系统盘: added up into the first
                part.adds.append(_Col(i, text, "hosts.disk_gb", unit))
                continue
            target = "hosts.disk_gb"
        if target is None:
            unmapped.append((i, text))
            continue
        if target == H.IGNORE:
            continue
        if (kind == "hosts" and target == "hosts.os" and values is not None
                and H.normalize_header(text) == _SYSTEM_TYPE
                and H.normalize_header(text) not in mapping):
            other_os = any(j != i and _lookup(h, kind, mapping)[0] == "hosts.os"
                           for j, h in enumerate(header))
            target, note = _system_type(values(i), other_os, f"{text} ({column_letter(i)})")
            if target == "systems.kind" and not any(
                    _lookup(h, kind, mapping)[0] == "systems.name" for h in header):
                target, note = None, (
                    f"column '{text} ({column_letter(i)})' holds system kinds (业务系统/共享服务) "
                    "but the sheet names no system (no 系统名称 column): not imported")
            if note:
                warnings.append(note)
            if target is None:
                continue
        if target == "hosts.kind" and not unit:  # 是否虚拟机 (是/否): which kind 是 means
            unit = kind_question(H.normalize_header(text))
        c = _Col(i, text, target, unit)
        if target == "hosts.disk_gb" and part is None and _DISK_PART.fullmatch(
                H.split_unit(H.normalize_header(text))[0]):
            part = c
        first = seen.get(target)
        if first is not None and target == "hosts.ip" and (
                _MGMT_IP.search(first.header) or _MGMT_IP.search(c.header)):
            biz, mgmt = (c, first) if _MGMT_IP.search(first.header) else (first, c)
            warnings.append(
                f"columns {biz.label!r} and {mgmt.label!r} both give the host's IP: the "
                f"business IP column {biz.label!r} is kept (the address DNS and the cut-over "
                f"use); the management IP column {mgmt.label!r} is used only where "
                f"{biz.label!r} is empty (the estate keeps one IP per host)")
            seen[target] = biz
            cols.insert(cols.index(first) if biz is c else len(cols), c)  # the first wins
            continue
        if first is not None:
            warnings.append(
                f"columns {first.label!r} and {c.label!r} both mean {target}: the first "
                "is used, the second only where the first is empty (map one of them to "
                "another column or to ignore in a --mapping file)")
        else:
            seen[target] = c
        cols.append(c)
    if part is not None and part.adds:
        warnings.append(
            f"columns {', '.join(repr(x.label) for x in [part, *part.adds])} are disks of "
            "the host (系统盘, 数据盘 …): added up into its disk size (hosts.disk_gb)")
    for i, text in specs[:1]:
        for target in SPEC_TARGETS:
            if target not in seen:
                seen[target] = c = _Col(i, text, target, SPEC)
                c.label += "" if target == SPEC_TARGETS[0] else f" {target.split('.')[1]}"
                cols.append(c)
    if kind == "hosts" and values is not None:
        cols, warnings = _display_names(cols, seen, warnings, values)
    if kind == "hosts" and "hosts.os" not in seen and "hosts.os_version" in seen:
        # a sheet whose only OS column is headed OS版本/系统版本: it holds the OS itself
        # ("CentOS 7.9"), not a bare version
        old = seen.pop("hosts.os_version")
        seen["hosts.os"] = new = _Col(old.index, old.header, "hosts.os", old.unit)
        cols = [new if c is old else c for c in cols]
    return cols, unmapped, warnings


_CJK = re.compile(r"[\u4e00-\u9fff]")
#: the header of a management (not business) IP column: 管理IP, 运维地址, BMC IP, mgmt ip
_MGMT_IP = re.compile(r"管理|运维|带外|mgmt|manage|oob|bmc|ipmi|ilo", re.I)


def _display_names(cols: list[_Col], seen: dict[str, _Col], warnings: list[str],
                   values: Callable[[int], list[Any]]) -> tuple[list[_Col], list[str]]:
    """Two host-name columns (服务器名称 and 主机名), one holding names in Chinese (display
    names: 审批应用服务器1), the other host names: the Chinese one is the 用途 (hosts.role)
    when the sheet has none, else it is not used as host names — with a warning."""
    names = [c for c in cols if c.target == "hosts.hostname"]
    if len(names) < 2:
        return cols, warnings

    def chinese(c: _Col) -> bool:
        texts = [str(v) for v in values(c.index) if v is not None and str(v).strip()]
        return bool(texts) and 2 * sum(1 for t in texts if _CJK.search(t)) > len(texts)

    display = [c for c in names if chinese(c)]
    plain = [c for c in names if c not in display]
    if not display or not plain:
        return cols, warnings
    labels = {c.label for c in display}
    warnings = [w for w in warnings if not ("both mean hosts.hostname" in w
                                            and any(repr(x) in w for x in labels))]
    seen["hosts.hostname"] = plain[0]
    out = []
    for c in cols:
        if c not in display:
            out.append(c)
            continue
        if "hosts.role" not in seen:
            seen["hosts.role"] = role = _Col(c.index, c.header, "hosts.role", c.unit)
            out.append(role)
            warnings.append(f"column {c.label!r} holds names in Chinese beside the host "
                            f"names of {plain[0].label!r}: read as 用途 (hosts.role)")
        else:
            warnings.append(f"column {c.label!r} holds names in Chinese beside the host "
                            f"names of {plain[0].label!r}: not imported (the sheet has a "
                            "用途 column)")
    return out, warnings


_SYSTEM_TYPE = H.normalize_header("系统类型")
_KIND_OF_SYSTEM = cleaner("systems.kind", "")


def _system_type(values: list[Any], other_os: bool, label: str) -> tuple[str | None, str]:
    """What a 系统类型 column of a host sheet holds, by its values: ``hosts.os`` when most
    look like operating systems (CentOS 7.9, Windows …) — or when it is empty and the
    sheet has no other OS column —, ``systems.kind`` when each is a system kind (业务系统,
    基础设施, shared-service …); else nothing, with a warning (never dropped silently)."""
    texts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    os_like = _LOOKS_LIKE[1][2]
    if not texts:
        return ("systems.kind" if other_os else "hosts.os"), ""
    if 2 * sum(1 for t in texts if os_like.search(t)) > len(texts):
        return "hosts.os", ""
    kinds = [_KIND_OF_SYSTEM(t) for t in texts]
    if not any(type(k) is BadValue for k in kinds):
        return "systems.kind", ""
    odd = list(dict.fromkeys(t for t, k in zip(texts, kinds, strict=True)
                             if type(k) is BadValue))
    shown = ", ".join(repr(t) for t in odd[:5]) + (" …" if len(odd) > 5 else "")
    return None, (f"column {label!r} is not imported: its values ({shown}) are neither "
                  "operating systems (hosts.os) nor system kinds (业务系统/共享服务, "
                  "systems.kind); if it is one of them, add to a --mapping file the line  "
                  f"{label.rsplit(' (', 1)[0]}: hosts.os  (or systems.kind)")


_LOOKS_LIKE: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("IP addresses", "hosts.ip", re.compile(r"^\s*(?:\d{1,3}\.){3}\d{1,3}")),
    ("operating systems", "hosts.os", re.compile(
        r"centos|red\s*hat|rhel|windows|kylin|麒麟|ubuntu|debian|suse|sles|uos|统信|linux|"
        r"aix|hp-?ux|solaris|euler|anolis|龙蜥|oracle\s*linux|rocky|alma", re.I)),
    ("MLPS levels", "systems.mlps_level", re.compile(r"^(?:等保)?\s*(?:第?[一二三四五1-5]级)$")),
    ("sizes", "hosts.disk_gb", re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:[kmgt]i?b?|[kmgt])\s*$",
                                          re.I)),
)


def _first_values(grid: Grid, first: int, index: int) -> list[Any]:
    """The first (up to 200) cells of column ``index`` below row ``first``."""
    return [row[index] for row in grid.rows[first:first + 200] if index < len(row)]


def suggest(grid: Grid, first: int, index: int, header: str) -> str | None:
    """A warning with a suggested mapping line when the unrecognised column ``index`` holds
    values that look like IPs, operating systems, sizes or MLPS levels."""
    values = []
    for row in grid.rows[first:first + 200]:
        if index < len(row) and isinstance(row[index], str) and row[index].strip():
            values.append(row[index])
        if len(values) >= 50:
            break
    if len(values) < 1:
        return None
    for what, target, pattern in _LOOKS_LIKE:
        hits = sum(1 for v in values if pattern.search(v))
        if hits * 2 > len(values):
            return (f"column {header!r} ({column_letter(index)}) is not recognised but its "
                    f"values look like {what}: if so, add to a --mapping file the line  "
                    f"{header}: {target}")
    return None


def _read_sheet(
    grid: Grid, header_idx: int, header: list[Any], kind: str, mapping: Mapping,
    default_bureau: str | None, col: Collector, problems: _Problems,
    advance: Callable[[int], None] | None,
    memos: dict[Callable[[Any], Any], dict[Any, Any]] | None = None,
) -> SheetReport:
    cols, unmapped, dup_warnings = _columns(
        header, kind, mapping, lambda i: _first_values(grid, header_idx + 1, i))
    if memos is not None:  # columns of one cleaner share what it made (the file's sheets
        for c in cols:     # name the same hosts and systems again)
            c.memo = memos.setdefault(c.clean, c.memo)
    report = SheetReport(grid.sheet, kind, header_idx + 1, 0, 0,
                         columns={x.label: x.target for c in cols for x in [c, *c.adds]},
                         unmapped=[h for _i, h in unmapped], warnings=dup_warnings)
    for i, h in unmapped:
        hint = suggest(grid, header_idx + 1, i, h)
        if hint:
            report.warnings.append(hint)
        if kind == "hosts" and _ENV_HEADER.fullmatch(H.normalize_header(h)):
            report.warnings += _test_rows(grid, header_idx + 1, i, f"{h} ({column_letter(i)})")
    report.warnings += _retired_rows(grid, header_idx + 1, header, kind)
    labels = {c.target: c.label for c in reversed(cols)}
    has_bureau = "bureaus.name" in labels
    file_bureau = default_bureau or (next(iter(col.bureaus)) if len(col.bureaus) == 1 else None)
    by_name = kind in ("dependencies", "databases", "disks")  # names resolve across bureaus
    if not has_bureau and not file_bureau and not by_name:
        problems.add(grid.sheet, header_idx + 1, H.canonical_header("bureaus.name"),
                     "no bureau: the sheet has no 单位/所属单位 column and no 填报单位 line "
                     "above the header; pass --bureau NAME")
        return report
    for r, c in grid.formula_blanks:
        # a row past the last one read holds nothing but formulas without values (an
        # Excel table's totals row of SUBTOTALs, no label): blank, nothing to warn of
        if (header_idx < r < len(grid.rows) and any(x.index == c for x in cols)
                and not _totals_row(grid.rows[r])):
            report.warnings.append(
                f"row {r + 1}, column {labels.get(next(x.target for x in cols if x.index == c))!r}"
                ": a formula saved without its value reads as blank (open and save the file "
                "in Excel to calculate it)")
    reader = ROW_READERS[kind]
    dr_standby_named = any(c.target == "systems.dr_primary" and H.normalize_header(c.header)
                           in _DR_STANDBY for c in cols)
    layout = [(c.table, c.column, c.target == "databases.engine", c) for c in cols]
    # a sheet whose columns a column reader knows (for dependencies and disks: naming no
    # bureau, so each name resolves once across the bureaus): chunks of plain cells are
    # read column by column, the rows the reader leaves (False) row by row
    column_reader = None
    if kind in COLUMN_READERS:
        tables, fn, anywhere = COLUMN_READERS[kind]
        if {c.table for c in cols} <= tables and not (anywhere and (has_bureau or file_bureau)):
            column_reader = fn
    outside_cols = [k for k, c in enumerate(cols) if c.target == "dependencies.target_system"]
    bureau_cols = [k for k, c in enumerate(cols) if c.target == "bureaus.name"]
    bureau_notes: dict[str, Any] = {}  # a 单位 cell -> itself, or the bureau with a doubt
    doubts: dict[tuple[str, str], list[int | str]] = {}
    filled = report.filled
    # a host sheet's 系统名称 written once per group, blank below ("same as above")
    system_cols = [k for k, c in enumerate(cols) if c.target == "systems.name"]
    added_cols = [k for k, c in enumerate(cols) if c.adds]
    sheet_system = _sheet_system(grid.sheet) if kind == "hosts" and not system_cols else None
    above = system_cols[0] if kind == "hosts" and len(system_cols) == 1 else None
    host_keys = [k for k, c in enumerate(cols) if c.target in ("hosts.hostname", "hosts.ip")]
    last_system: Any = None
    same_rows: list[int] = []
    hidden = set(grid.hidden_rows) if grid.hidden_rows and not grid.filtered else set()
    hidden_skipped: list[int] = []
    device_at = next((c.index for c in cols if c.target == "hosts.kind"), None) \
        if kind == "hosts" else None
    devices: dict[int, str] = {}  # row number -> the device a 设备类型 cell names
    os_at = next((c.index for c in cols if c.target == "hosts.os"), None) \
        if kind == "hosts" else None
    hypervisors: dict[int, str] = {}  # row number -> the hypervisor its 操作系统 names
    several_rows: dict[int, str] = {}  # row number -> a 系统名称 naming several systems
    lazy = isinstance(grid.rows, LazyRows)
    # the rows above the header (a group row 基本信息 | 配置信息 over the names), to know
    # their copies above a repeated header (a ledger printed with its header on every page)
    above_header = [list(grid.rows[i]) for i in range(max(0, header_idx - 3), header_idx)]
    # section rows (一、OA系统 alone in its row): (row number, name); the rows below each
    # (by absolute index) get its name as their system when the sheet has no 系统名称
    section: str | None = None
    section_rows: list[tuple[int, str]] = []
    section_of: dict[int, str] = {}
    headings: list[int] = []  # of those, the rows naming no system (二、测试环境)
    pos = header_idx + 1
    while True:  # block by block: a lazily read CSV is read only as far as it is used
        stop = rows_upto(grid.rows, pos, pos + _CHUNK)
        if stop <= pos:
            break
        # rows: the grid's rows (base 0), or this block of a lazy grid (base = pos)
        base = pos if lazy else 0
        rows: Sequence[list[Any]] = grid.rows[pos:stop] if lazy else grid.rows
        chunk, skipped = _data_rows(rows, pos - base, grid.merged, stop - base)
        report.skipped += skipped
        if chunk and len(cols) >= 2:
            repeats = _header_repeats(rows, chunk, header, cols, kind)
            if repeats:  # a second table of the same columns lower in the sheet
                repeats |= _group_rows_above(rows, chunk, repeats, above_header)
                report.skipped += len(repeats)
                chunk = [r for r in chunk if r not in repeats]
        pos = stop
        if kind == "hosts" and chunk:  # 一、OA系统: a section row naming the system below
            found = _section_rows(rows, chunk)
            if found or section is not None:
                for r in chunk:
                    if r in found:
                        name, is_system = found[r]
                        section_rows.append((r + base + 1, name))
                        section = name if is_system else None
                        if not is_system:  # 二、测试环境: a heading, no system
                            headings.append(r + base + 1)
                    elif section is not None:
                        section_of[r + base] = section
                if found:
                    report.skipped += len(found)
                    chunk = [r for r in chunk if r not in found]
        if hidden:
            hidden_skipped += [r + 1 for r in chunk if r in hidden]
            chunk = [r for r in chunk if r not in hidden]
        if device_at is not None:  # 设备类型 存储/网络设备: an asset list's other devices
            others = _devices(rows, chunk, device_at, base, devices)
            if others:
                report.skipped += len(others)
                chunk = [r for r in chunk if r not in others]
        if os_at is not None:  # 操作系统 VMware ESXi: a virtualisation host, not moved
            others = _hypervisors(rows, chunk, os_at, base, hypervisors)
            if others:
                report.skipped += len(others)
                chunk = [r for r in chunk if r not in others]
        table = _transposed(rows, chunk)
        cells = [_clean_column(table, len(chunk), c) for c in cols]
        for k in added_cols:  # 系统盘 + 数据盘: one disk size
            for extra in cols[k].adds:
                cells[k] = _add_sizes(cells[k], _clean_column(table, len(chunk), extra),
                                      extra.label)
        for k in bureau_cols:  # 湖北局（信息中心）: the bureau, its department dropped
            values = cells[k]
            for i, v in enumerate(values):
                if type(v) is str:
                    got = bureau_notes.get(v)
                    if got is None:
                        got = bureau_notes[v] = _bureau_with_note(v)
                    if got is not v:
                        values[i] = got
        for k in outside_cols:  # 外部:税务总局: an external endpoint, not a system
            external_targets(cells[k])
        if above is not None:
            if not _NO_SYSTEM.isdisjoint(cells[above]):  # 无: no system, not one named 无
                cells[above] = [None if v in _NO_SYSTEM else v for v in cells[above]]
            last_system = _same_as_above(table, cells[above], cols[above].index,
                                         [cells[k] for k in host_keys], chunk, base,
                                         last_system, same_rows)
            served = _several_systems(cells[above], chunk, base, several_rows)
        else:
            served = {}
        status = None
        if column_reader is not None and _plain(layout, cells) and sheet_system is None and \
                not (section_of and not system_cols):  # (they give systems row by row)
            status = column_reader(col, {(t, c): v for (t, c, _e, _x), v
                                         in zip(layout, cells, strict=True)}, len(chunk),
                                   file_bureau)
        fast = _fast_parts(layout, cells, len(chunk)) if status is None else None
        for j, r in enumerate(chunk):
            row_no = r + base + 1
            if status is not None:  # the chunk was read column by column
                done = status[j]
                if done is None:
                    report.skipped += 1
                    continue
                if done:
                    report.rows += 1
                    continue
                parts, bad = _row_parts(layout, cells, j), False  # for the row reader
            elif fast is not None:
                parts = fast[j]
                bad = False
            else:
                first_bad = next((c for c, values in zip(cols, cells, strict=True)
                                  if type(values[j]) is BadValue), None)
                if first_bad is not None and _other_header(rows[r], kind):
                    problems.add(grid.sheet, row_no, first_bad.label, _OTHER_HEADER)
                    continue
                if first_bad is not None and _signature(rows[r]):
                    report.skipped += 1  # 制表人：… in a column right of the first four
                    continue
                parts, bad = _slow_parts(layout, cells, j, rows[r], grid.sheet, row_no,
                                         problems, doubts)
            if bad:
                continue
            if not parts:
                report.skipped += 1
                continue
            if section_of and not system_cols and (r + base) in section_of:
                parts.setdefault("systems", {})["name"] = section_of[r + base]
            elif sheet_system is not None:  # a sheet per system, named after it
                parts.setdefault("systems", {})["name"] = sheet_system
            bname = parts.get("bureaus", {}).pop("name", None) or file_bureau
            if not bname and not by_name:
                problems.add(grid.sheet, row_no, labels.get("bureaus.name", "单位"),
                             "no bureau for this row: the 单位 cell is empty; pass --bureau NAME")
                continue
            partner = parts.get("systems", {}).pop("dr_primary", None)
            if partner is not None:  # resolved once every file is read (any order works)
                own = parts["systems"].get("name")
                if not own:
                    problems.add(grid.sheet, row_no, labels["systems.dr_primary"],
                                 f"a DR partner ({partner!r}) needs the row's 系统名称 "
                                 "(system name)")
                    continue
                report.deferred.append(Deferred(
                    grid.sheet, row_no, "dr_pairs", str(bname or ""),
                    {"systems": {"name": own, "partner": partner,
                                 "names_standby": dr_standby_named}}, labels))
            try:
                reader(col, str(bname or ""), parts)
            except Unresolved:
                report.deferred.append(Deferred(grid.sheet, row_no, kind, str(bname or ""),
                                                parts, labels))
            except BadValue as exc:
                if _signature(rows[r]):
                    report.skipped += 1
                    continue
                problems.add(grid.sheet, row_no, _label(labels, exc.target), str(exc))
                continue
            report.rows += 1
        for j, others in served.items():  # 系统A、系统B: the host serves B too (shared use)
            if any(type(values[j]) is BadValue for values in cells):
                continue  # a bad row: refused above
            parts = _row_parts(layout, cells, j)
            bname = parts.get("bureaus", {}).pop("name", None) or file_bureau
            for other in others:
                again = {t: {k: v.value if type(v) is Doubtful else v for k, v in p.items()}
                         for t, p in parts.items()}
                again["systems"] = {"name": other}
                with suppress(Unresolved, BadValue):  # (the row itself says what is wrong)
                    reader(col, str(bname or ""), again)
        for c, values in zip(cols, cells, strict=True):  # rows giving each field a value
            n = len(values) - values.count(None)
            if fast is None and status is None:
                n -= sum(1 for v in values if type(v) is BadValue)
            filled[c.target] = filled.get(c.target, 0) + n
        if advance is not None:
            advance(len(chunk))
        if lazy:
            grid.rows.forget_before(pos)  # type: ignore[attr-defined]
    if hidden_skipped:
        report.skipped += len(hidden_skipped)
        shown = ", ".join(str(x) for x in hidden_skipped[:10])
        more = f" and {len(hidden_skipped) - 10} more" if len(hidden_skipped) > 10 else ""
        report.warnings.append(
            f"{counted(len(hidden_skipped), 'hidden row')} skipped "
            f"({_rows_word(len(hidden_skipped))} {shown}{more}): rows hidden in "
            "Excel are usually retired entries; unhide them to import them")
    if grid.filtered and grid.hidden_rows:
        n = sum(1 for r in grid.hidden_rows if r > header_idx)
        if n:
            report.warnings.append(
                f"{counted(n, 'row')} hidden by the sheet's filter "
                f"{'was' if n == 1 else 'were'} read like the others (a "
                "filter hides data from view; it does not retire it)")
    if several_rows and above is not None:
        shown = ", ".join(map(str, list(several_rows)[:10])) + (
            " …" if len(several_rows) > 10 else "")
        first = next(iter(several_rows.values()))
        report.warnings.append(
            f"column {cols[above].label!r}: {counted(len(several_rows), 'cell')} "
            f"{'names' if len(several_rows) == 1 else 'name'} several systems "
            f"({_rows_word(len(several_rows))} {shown}; {first!r}): each host joins the "
            "first system named and the others get a declared dependency on it (shared "
            "use), so a plan moves them together or in order")
    named = [(n, name) for n, name in section_rows if n not in headings]
    if named:
        shown = ", ".join(f"{n} {name!r}" for n, name in named[:10]) + (
            " …" if len(named) > 10 else "")
        report.warnings.append(
            f"{counted(len(named), 'section row')} naming a group of hosts (rows "
            f"{shown}): " + (
                "skipped — the 系统名称 column names each host's system"
                if system_cols else
                "the sheet has no 系统名称 column, so each host below a section row was "
                "given the section's name as its system (the numbering 一、 dropped); check "
                "the names, or add a 系统名称 column"))
    if headings:
        shown = ", ".join([f"{n} {name!r}" for n, name in section_rows
                           if n in headings][:10])
        report.warnings.append(
            f"{counted(len(headings), 'heading row')} ({_rows_word(len(headings))} {shown}) "
            "naming a kind of host or an environment, not a system: skipped (the hosts "
            "below were imported like the others, without a system from the heading)")
    if devices:
        shown = ", ".join(map(str, list(devices)[:10])) + (" …" if len(devices) > 10 else "")
        report.warnings.append(
            f"column {labels['hosts.kind']!r}: {counted(len(devices), 'row')} "
            f"{'is' if len(devices) == 1 else 'are'} not servers "
            f"({', '.join(dict.fromkeys(devices.values()))}; {_rows_word(len(devices))} "
            f"{shown}): skipped — only servers and virtual machines are hosts to move")
    if sheet_system is not None and report.rows:
        report.warnings.append(
            f"no 系统名称 column: the sheet's name gives the system of its "
            f"{counted(report.rows, 'host')}: '{sheet_system}' (a workbook with a sheet per "
            "system; rename the sheet, or add a 系统名称 column, if that is not the system)")
    if hypervisors:
        shown = ", ".join(map(str, list(hypervisors)[:10])) + (
            " …" if len(hypervisors) > 10 else "")
        report.warnings.append(
            f"column {labels['hosts.os']!r}: {counted(len(hypervisors), 'row')} "
            f"{'names' if len(hypervisors) == 1 else 'name'} a hypervisor "
            f"({', '.join(dict.fromkeys(hypervisors.values()))}; {_rows_word(len(hypervisors))}"
            f" {shown}): skipped — a virtualisation host is not moved, its virtual machines "
            "are (list them as hosts; an RVTools export of its vCenter lists them all)")
    if same_rows and above is not None:
        shown = ", ".join(str(x) for x in same_rows[:10])
        more = f" and {len(same_rows) - 10} more" if len(same_rows) > 10 else ""
        report.warnings.append(
            f"column {cols[above].label!r}: {counted(len(same_rows), 'empty cell')} read as "
            f"the system named above (same as above; {_rows_word(len(same_rows))} {shown}"
            f"{more}): a grouped ledger writes a system's name once over its hosts — if a "
            "host belongs to no system, write - in its cell")
    for (label, what), at in doubts.items():
        rows_text = ("; " if type(at[0]) is str else ", ").join(
            str(x) for x in at[:5]) + (" …" if len(at) > 5 else "")
        report.warnings.append(f"column {label!r}: {counted(len(at), 'cell')} "
                               f"{_agree(what, len(at))} ({_rows_word(len(at))} {rows_text})")
    return report


#: The verbs a doubt's text starts with (``Doubtful.kind``: "holds several IP addresses
#: …"), as they read after several cells.
_PLURAL_VERBS = {"holds": "hold", "has": "have", "gives": "give", "is": "are",
                 "names": "name"}


def _rows_word(n: int) -> str:
    """``row`` before one row number, ``rows`` before several."""
    return "row" if n == 1 else "rows"


def _agree(what: str, n: int) -> str:
    """A doubt's text (written for one cell: "holds …") with its first verb agreeing with
    ``n`` cells ("hold …")."""
    first, sep, rest = what.partition(" ")
    if n == 1 or first not in _PLURAL_VERBS:
        return what
    return _PLURAL_VERBS[first] + sep + rest


def _is_header_cell(value: Any, col: _Col, header: list[Any], kind: str) -> bool:
    """Whether ``value`` heads the column ``col``: the sheet's own header text for it, or
    another alias of the same field."""
    if type(value) is not str or not value.strip():
        return False
    own = header[col.index] if col.index < len(header) else None
    if H.normalize_header(value) == H.normalize_header(own):
        return True
    return H.lookup(value, kind)[0] == col.target


def _header_repeats(rows: Sequence[list[Any]], chunk: list[int], header: list[Any],
                    cols: list[_Col], kind: str) -> set[int]:
    """The rows of ``chunk`` that repeat the header (a second block of the same table lower
    in the sheet, under its own header row): at least two and at least half of the mapped
    columns hold a header of their own field. Only rows whose first mapped cell is the
    header's own text are looked at (a copied header block), so data costs one comparison
    per row."""
    idx = cols[0].index
    own = header[idx] if idx < len(header) else None
    if type(own) is not str or not own.strip():
        return set()
    firsts = {own, own.strip()}
    out: set[int] = set()
    for r in chunk:
        row = rows[r]
        if idx >= len(row) or row[idx] not in firsts:
            continue
        hits = sum(1 for c in cols
                   if c.index < len(row) and _is_header_cell(row[c.index], c, header, kind))
        if hits >= 2 and 2 * hits >= len(cols):
            out.add(r)
    return out


#: Systems named in one cell: 行政审批系统、电子证照系统 (split only where each part ends
#: like a system's name, so 人事、工资管理系统 stays one name)
_SYSTEM_LIST = re.compile(r"\s*[、;；,，\n]\s*")
_SYSTEM_END = re.compile(r"(?:系统|平台|网站|门户|网|库|中心|应用|服务|app|system|platform)$",
                         re.I)


def _sheet_system(sheet: str | None) -> str | None:
    """The system a host sheet's name gives (a workbook with a sheet per system: ``OA系统``,
    ``门户网站``): a name ending like a system's, not naming a kind of row or an
    environment (服务器清单, 测试环境), nor a header (业务系统, 数据库)."""
    name = (sheet or "").strip()
    if (not name or not _SYSTEM_END.search(name) or _SECTION_NOT_SYSTEM.search(name)
            or _TEST_SHEET.search(name) or H.lookup(name)[0] is not None):
        return None
    return name


def _several_systems(names: list[Any], chunk: list[int], base: int,
                     several_rows: dict[int, str]) -> dict[int, list[str]]:
    """The cells of a host sheet's 系统名称 column naming several systems (``A、B``,
    ``A；B``): each replaced by the first, the others returned per row index (recorded
    in ``several_rows`` by row number)."""
    out: dict[int, list[str]] = {}
    for j, v in enumerate(names):
        if type(v) is not str or not _SYSTEM_LIST.search(v):
            continue
        parts = [p for p in _SYSTEM_LIST.split(v.strip()) if p]
        if len(parts) < 2 or not all(_SYSTEM_END.search(p) for p in parts):
            continue
        names[j] = parts[0]
        out[j] = list(dict.fromkeys(p for p in parts[1:] if p != parts[0]))
        several_rows[chunk[j] + base + 1] = v
    return out


#: A 设备类型 naming a device that is no server (an asset list's storage, network and
#: security devices) — unless it names a server too (存储服务器, 网络服务器)
_NOT_HOST = re.compile(r"存储|阵列|网络设备|交换机|路由器|防火墙|安全设备|网闸|磁带|带库|光纤"
                       r"|打印机|ups|(?<![a-z])(?:storage|switch|router|firewall|san|nas)"
                       r"(?![a-z])", re.I)
_SERVER_WORD = re.compile(r"服务器|主机|虚拟|虚机|server|host|(?<![a-z])vm(?![a-z])", re.I)


#: An operating system that is a hypervisor (a virtualisation host's row on a host sheet:
#: VMware ESXi 6.7, FusionCompute CNA, XenServer, Proxmox VE, H3C CAS, Hyper-V Server)
_HYPERVISOR_OS = re.compile(
    r"esxi|vsphere|fusioncompute|xenserver|citrix\s*hypervisor|proxmox|hyper-?v\s*server"
    r"|(?<![a-z])(?:cna|cvk|h3c\s*cas)(?![a-z])|^\s*vmware\s*[\d.]*\s*$", re.I)


def _hypervisors(rows: Sequence[list[Any]], chunk: list[int], at: int, base: int,
                 found: dict[int, str]) -> set[int]:
    """The rows of ``chunk`` whose 操作系统 cell (column ``at``) names a hypervisor (VMware
    ESXi …): virtualisation hosts, recorded in ``found`` by row number."""
    out: set[int] = set()
    for r in chunk:
        row = rows[r]
        v = row[at] if at < len(row) else None
        if type(v) is str and _HYPERVISOR_OS.search(v):
            out.add(r)
            found[r + base + 1] = v.strip()
    return out


def _devices(rows: Sequence[list[Any]], chunk: list[int], at: int, base: int,
             devices: dict[int, str]) -> set[int]:
    """The rows of ``chunk`` whose 设备类型 cell (column ``at``) names a device that is no
    server (存储, 网络设备, 交换机, 防火墙 …), recorded in ``devices`` by row number."""
    out: set[int] = set()
    for r in chunk:
        row = rows[r]
        v = row[at] if at < len(row) else None
        if type(v) is str and _NOT_HOST.search(v) and not _SERVER_WORD.search(v):
            out.add(r)
            devices[r + base + 1] = v.strip()
    return out


def _group_rows_above(rows: Sequence[list[Any]], chunk: list[int], repeats: set[int],
                      above_header: list[list[Any]]) -> set[int]:
    """The rows just above a repeated header row that copy a row above the sheet's header
    (the group row 基本信息 | 配置信息 | 网络信息 of a two-row header printed on every
    page): each text cell of the row is the same as that header row's in that column, with
    at least two."""
    def text(v: Any) -> str:
        return v.strip() if isinstance(v, str) else ""

    out: set[int] = set()
    in_chunk = set(chunk)
    for r in repeats:
        for nb in (r - 1, r - 2):
            if nb not in in_chunk or nb in repeats:
                break
            row = rows[nb]
            cells = [(i, text(v)) for i, v in enumerate(row) if v not in (None, "")]
            if len(cells) < 2 or any(not t for _i, t in cells):
                break  # a number or a date: data
            if not any(all(i < len(b) and text(b[i]) == t for i, t in cells)
                       for b in above_header):
                break
            out.add(nb)
    return out


_OTHER_HEADER = ("this row is the header of another table (its cells are column names, in "
                 "other columns than the header above): a second table in a sheet must have "
                 "the header's columns, or go to a sheet of its own")


#: a bureau with a note in brackets: 湖北局（信息中心）, 武汉海关(科技处), 湖北局（筹）
_BUREAU_NOTE = re.compile(r"^(?P<name>\S{2,30}?(?:局|海关|厅|办事处))\s*[(（][^()（）]{1,20}[)）]$")


def _bureau_with_note(text: str) -> Any:
    """A 单位 cell naming a bureau and, in brackets, a department of it
    (``湖北局（信息中心）``): the bureau, with a doubt saying the note is dropped (else one
    ledger made two bureaus, 湖北局 and 湖北局（信息中心）, each with its own systems);
    any other text as it is."""
    m = _BUREAU_NOTE.match(text)
    if m is None:
        return text
    return Doubtful(m.group("name"), "names a bureau with a note in brackets (a department: "
                                     "湖北局（信息中心）): the bureau is used and the note "
                                     "dropped")


#: a section row's text: 一、OA系统, （二）审批系统, 3、门户网站 — the numbering, then the name
_SECTION = re.compile(r"^\s*(?:[一二三四五六七八九十]{1,3}\s*[、.．]"
                      r"|[(（]\s*[一二三四五六七八九十]{1,3}\s*[)）]|\d{1,2}\s*、)"
                      r"\s*(?P<name>[^\s:：].*?)\s*$")
_SECTION_FIRST = frozenset("一二三四五六七八九十(（0123456789 \u3000")
#: a section naming an environment or a kind of row, not a system (二、测试环境)
_SECTION_NOT_SYSTEM = re.compile(r"环境|服务器|主机|虚拟机|物理机|设备|清单|台账|明细|列表")


def _section_rows(rows: Sequence[list[Any]], chunk: list[int]) -> dict[int, tuple[str, bool]]:
    """The rows of ``chunk`` that are section rows of a host sheet grouped by system: one
    text in the row (typed in its first or second cell, or merged across the table),
    numbered like a heading (``一、OA系统``, ``（二）审批系统``) → (the name after the
    numbering, whether it names a system). A section naming an environment or a kind of
    row (``二、测试环境``, ``一、物理服务器``) names no system."""
    out: dict[int, tuple[str, bool]] = {}
    for r in chunk:
        row = rows[r]
        head = row[0] if row else None
        if head is None or head == "":
            head = row[1] if len(row) > 1 else None
        if type(head) is not str or head[:1] not in _SECTION_FIRST:
            continue
        m = _SECTION.match(head)
        if m is None or any(c is not None and c != "" and c != head for c in row):
            continue
        name = m.group("name")
        out[r] = (name, not _SECTION_NOT_SYSTEM.search(name))
    return out


def _signature(row: list[Any]) -> bool:
    """Whether a row that did not read as data is a signature line in any columns (制表人：
    张三 … 审核人：李四, 填报日期：…): every non-empty cell a signature label. (Asked only
    of rows that did not read, so data costs nothing.)"""
    cells = [v for v in row if v is not None and v != ""]
    return bool(cells) and all(type(v) is str and _SIGN.match(_squeeze(v)) for v in cells)


def _other_header(row: list[Any], kind: str | None) -> bool:
    """Whether a row that did not read as data is a header row of its own: at least two
    known headers, and they are most of its text cells. (Asked only of rows with a bad
    cell, so data costs nothing.)"""
    texts = [v for v in row if type(v) is str and v.strip()]
    known = sum(1 for v in texts if H.lookup(v, kind)[0] not in (None, H.IGNORE))
    return known >= 2 and 2 * known > len(texts)


#: The headers whose DR cell names the row's standby, in comparable form.
_DR_STANDBY = frozenset(H.normalize_header(h) for h in DR_STANDBY_HEADERS)


def _label(labels: dict[str, str], target: str | None) -> str:
    """The sheet's header for ``target`` (its canonical header when the sheet lacks it)."""
    if not target:
        return "?"
    return labels.get(target) or H.canonical_header(target)


_Layout = list[tuple[str, str, bool, _Col]]


#: A column of one of a host's disks (系统盘, 数据盘, 数据盘2, 本地盘容量, data disk …):
#: several of them are added up into the host's disk size
_DISK_PART = re.compile(r"(?:系统|数据|本地|附加|共享)盘\d*(?:容量|大小|空间)?"
                        r"|(?:system|os|data)disk\d*(?:size|capacity)?")


def _add_sizes(into: list[Any], extra: list[Any], label: str) -> list[Any]:
    """The sizes of ``into`` plus those of ``extra`` (another disk column, ``label``), cell
    by cell: a blank adds nothing; a bad cell of ``extra`` is the row's problem, named by
    its own column; a doubt is kept."""
    out: list[Any] = []
    for a, b in zip(into, extra, strict=True):
        if b is None or type(a) is BadValue:
            out.append(a)
        elif type(b) is BadValue:
            out.append(BadValue(f"{b} (in column {label!r}, added to this one)"))
        elif a is None:
            out.append(b)
        else:
            doubt = a if type(a) is Doubtful else b if type(b) is Doubtful else None
            total = value_of(a) + value_of(b)
            out.append(total if doubt is None else Doubtful(total, doubt.kind, doubt.detail))
    return out


def _fast_parts(layout: _Layout, cells: list[list[Any]], n: int) -> list[dict[str, Row]] | None:
    """Each row's values grouped by table (``{"hosts": {...}, "systems": {...}}``, blank
    cells left out, tables with no value left out), built column-wise; ``None`` when a
    cell needs the row-by-row path (:func:`_slow_parts`): a bad or doubtful value, a
    database engine (its text is kept), or two columns meaning the same field."""
    if not _plain(layout, cells):
        return None
    by_table: dict[str, tuple[list[str], list[list[Any]]]] = {}
    for (table, column, _e, _c), values in zip(layout, cells, strict=True):
        names, lists = by_table.setdefault(table, ([], []))
        names.append(column)
        lists.append(values)
    if not by_table:
        return [{} for _ in range(n)]
    tables = []
    for table, (names, lists) in by_table.items():
        tables.append((table, [{k: v for k, v in zip(names, vs, strict=True) if v is not None}
                               for vs in zip(*lists, strict=True)]))
    if len(tables) == 1:
        (table, dicts), = tables
        return [{table: d} if d else {} for d in dicts]
    order = [t for t, _ in tables]
    return [{t: d for t, d in zip(order, row, strict=True) if d}
            for row in zip(*(dicts for _, dicts in tables), strict=True)]


def _plain(layout: _Layout, cells: list[list[Any]]) -> bool:
    """Whether a chunk's cells can be read column-wise: no bad or doubtful value, no
    database engine (its text is kept), no two columns meaning the same field."""
    targets = [(table, column) for table, column, _e, _c in layout]
    if len(set(targets)) < len(targets) or any(e for _t, _c, e, _x in layout):
        return False
    for values in cells:
        types = set(map(type, values))
        if BadValue in types or Doubtful in types:
            return False
    return True


def _row_parts(layout: _Layout, cells: list[list[Any]], j: int) -> dict[str, Row]:
    """Row ``j``'s values grouped by table, as :func:`_fast_parts` gives them (plain
    cells: none bad or doubtful)."""
    parts: dict[str, Row] = {}
    for (table, column, _e, _c), values in zip(layout, cells, strict=True):
        v = values[j]
        if v is not None:
            part = parts.get(table)
            if part is None:
                part = parts[table] = {}
            part[column] = v
    return parts


def _slow_parts(layout: _Layout, cells: list[list[Any]], j: int, raw: list[Any],
                sheet: str | None, row_no: int, problems: _Problems,
                doubts: dict[tuple[str, str], list[int | str]]) -> tuple[dict[str, Row], bool]:
    """Row ``j``'s values grouped by table, cell by cell: a bad value is a problem naming
    the cell (the row is then left out: ``True``), a doubtful one a warning; the first
    column of two meaning the same field wins."""
    parts: dict[str, Row] = {}
    bad = False
    for (table, column, is_engine, c), values in zip(layout, cells, strict=True):
        v = values[j]
        if v is None:
            continue
        tv = type(v)
        if tv is BadValue:
            problems.add(sheet, row_no, c.label, str(v))
            bad = True
            continue
        if tv is Doubtful:
            doubts.setdefault((c.label, v.kind), []).append(
                row_no if v.detail is None else f"{row_no}: {v.detail}")
            v = v.value
        part = parts.get(table)
        if part is None:
            part = parts[table] = {}
        if column not in part:
            part[column] = v
            if is_engine:
                parts["_"] = {"engine_text": clean_text(raw[c.index])}
    return parts, bad


_CHUNK = 5000


def _data_rows(rows: Sequence[list[Any]], first: int,
               merged: list[tuple[tuple[int, int], tuple[int, int]]] | None = None,
               stop: int | None = None) -> tuple[list[int], int]:
    """The indexes of the data rows from ``first`` up to ``stop`` (the end), and how many
    rows were skipped as totals (合计 …) or notes (注：…). Blank rows are dropped without
    counting — including a row whose only values were filled in from merged cells (a
    separator row inside a 单位 or 系统名称 merged over the table is not a host).

    Each distinct text of the first four columns whose first character can start a totals
    label, a note or a signature is tested (a totals row has its label there; a note row its
    text in the first cell and nothing else); the rows and columns are walked by C loops
    (``map``, ``compress``), Python only looks at those few texts.
    """
    end = len(rows) if stop is None else stop
    span = rows[first:end]
    truthy = list(map(any, span))
    data = list(compress(range(first, end), truthy))
    if len(data) < len(truthy):  # rows without a truthy cell: blank unless they hold 0/False
        zeros = [r for r in compress(range(first, end), map(not_, truthy))
                 if any(c is not None and c != "" for c in rows[r])]
        if zeros:
            data = sorted(data + zeros)
    if merged and data:
        data = _drop_fill_only(rows, data, merged)
    picked = list(map(rows.__getitem__, data))
    skip: set[int] = set()
    for j in range(4):
        try:
            values = list(map(itemgetter(j), picked))
        except IndexError:
            values = [row[j] if j < len(row) else "" for row in picked]
        distinct = dict.fromkeys(values)
        if set(map(type, distinct)) != {str}:
            distinct = dict.fromkeys(v for v in distinct if type(v) is str)
        labels = list(filter((_LABEL_START if j == 0 else _LABEL_START_LATER).match, distinct))
        if not labels:
            continue
        totals = {v for v in labels
                  if v.lstrip()[:1] in _TOTAL_FIRST and _TOTALS.match(_squeeze(v))}
        if totals:
            skip.update(r for r, v in zip(data, values, strict=True) if v in totals)
        if j == 0:
            notes = {v for v in labels if _NOTE.match(_squeeze(v))}
            if notes:  # the note alone in its row (or filled over it from a merged range)
                skip.update(r for r, v in zip(data, values, strict=True) if v in notes
                            and all(c == v for c in rows[r] if c is not None and c != ""))
        signs = {v for v in labels
                 if v.lstrip()[:1] in _SIGN_FIRST and _SIGN.match(_squeeze(v))}
        if signs:  # a signature line: the first non-empty cell of its row is 制表人：…
            skip.update(r for r, v in zip(data, values, strict=True) if v in signs
                        and all(c is None or c == "" for c in rows[r][:j]))
    if not skip:
        return data, 0
    return [r for r in data if r not in skip], len(skip)


#: A text whose first non-blank character can start a totals label (:data:`_TOTALS`), a
#: signature (:data:`_SIGN`) or, in the first column, a note (:data:`_NOTE`, ``re.I``):
#: the only texts :func:`_data_rows` looks at closer. (``\s`` is what ``str.lstrip``
#: strips, and :func:`_squeeze` keeps the first non-blank character first.)
_LABEL_START_LATER = re.compile(
    r"\s*[" + "".join(sorted(_TOTAL_FIRST | _SIGN_FIRST)) + "]")
_LABEL_START = re.compile(
    r"\s*[" + "".join(sorted(_TOTAL_FIRST | _SIGN_FIRST | set("注说备填制审nNrR"))) + "]")


def _squeeze(text: str) -> str:
    """``text`` without the spaces people type to spread a short label (合  计, 备 注：)."""
    return _SPACES.sub("", text) if " " in text or "\u3000" in text else text.strip()


_SPACES = re.compile(r"[\s\u3000]+")


def _drop_fill_only(rows: Sequence[list[Any]], data: list[int],
                    merged: list[tuple[tuple[int, int], tuple[int, int]]]) -> list[int]:
    """``data`` (ascending) without the rows whose every non-empty cell was filled from a
    merged range."""
    filled: dict[int, set[int]] = {}
    lo, hi = data[0], data[-1]
    for (r0, c0), (r1, c1) in merged:
        if r1 == r0 or r1 < lo or r0 >= hi:
            continue  # merged across one row only (that row holds the value), or elsewhere
        cols = set(range(c0, c1 + 1))
        for r in range(max(r0 + 1, lo), min(r1, hi) + 1):
            got = filled.get(r)
            if got is None:
                filled[r] = set(cols)
            else:
                got |= cols
    if not filled:
        return data
    out = []
    for r in data:
        f = filled.get(r)
        if f is not None and all(c in f for c, v in enumerate(rows[r])
                                 if v is not None and v != ""):
            continue
        out.append(r)
    return out


#: A host sheet's 系统名称 cell saying the host belongs to no system (not a system named 无).
_NO_SYSTEM = frozenset({"无", "没有", "不涉及", "无系统", "未分配", "不属于任何系统"})


def _totals_row(row: list[Any]) -> bool:
    """Whether a row is a totals row (合计 … in one of its first four cells): skipped, so a
    formula in it (=SUM(…) saved without its value) is no concern."""
    return any(type(v) is str and _TOTALS.match(_squeeze(v)) for v in row[:4])


def _same_as_above(table: list[tuple[Any, ...]], values: list[Any], index: int,
                   keys: list[list[Any]], chunk: list[int], base: int, last: Any,
                   at: list[int]) -> Any:
    """Fill the empty cells of a host sheet's 系统名称 column (``values``, cleaned; raw
    cells in ``table[index]``) with the system named above them — a grouped ledger
    writes the name once over its hosts and leaves the cells below blank, unmerged — and
    note their sheet rows in ``at``. Only a truly empty cell is filled (a placeholder such
    as ``-`` says no system, for the blanks below it too), only below a named one
    (``last`` carries over from the previous chunk), and only in a row naming a host (a
    value in one of ``keys``, the host name and IP columns: a signature line is no host).
    Returns the last system name seen."""
    if None not in values:
        return values[-1] if values and type(values[-1]) is str else last
    raw = table[index] if index < len(table) else ("",) * len(values)
    for j, v in enumerate(values):
        if v is None:
            if raw[j] != "" and raw[j] is not None:
                last = None  # '-': no system, nor for the blanks below it
            elif last is not None and any(k[j] is not None for k in keys):
                values[j] = last
                at.append(chunk[j] + base + 1)
        elif type(v) is str:
            last = v
    return last


def _transposed(rows: Sequence[list[Any]], chunk: list[int]) -> list[tuple[Any, ...]]:
    """The columns of the rows ``chunk`` (a short row's missing cells blank: ``""``),
    transposed in C (``zip_longest``) rather than gathered cell by cell."""
    return list(zip_longest(*map(rows.__getitem__, chunk), fillvalue=""))


def _clean_column(table: list[tuple[Any, ...]], n: int, c: _Col) -> list[Any]:
    """The cleaned values of column ``c`` of a chunk of ``n`` rows whose columns are
    ``table`` (:func:`_transposed`): ``None`` when blank, a :class:`BadValue` when bad,
    each distinct raw value cleaned once.

    The column's distinct values are cleaned (through the column's memo), then mapped
    back. A column holding booleans (or values equal to them: 0, 1, 0.0, 1.0) takes the
    value-by-value path, since ``True == 1`` would share a memo key. A column whose every
    value the memo holds already (a disk sheet's host names, cleaned on the host sheet)
    is mapped at once: the memo holds no key equal to a boolean then, so no cell was one.
    """
    idx, memo, fn = c.index, c.memo, c.clean
    if idx >= len(table):  # no row of the chunk reaches the column: all blank
        return [None] * n
    raw = table[idx]
    if memo and True not in memo and False not in memo:
        try:
            return list(map(memo.__getitem__, raw))
        except KeyError:
            pass  # a value not cleaned yet
    distinct = dict.fromkeys(raw)
    if True in distinct or False in distinct:
        return _clean_each(raw, memo, fn)
    for key in distinct:
        if key not in memo:
            memo[key] = None if key == "" or key is None else fn(key)
    return list(map(memo.__getitem__, raw))


def _clean_each(raw: Sequence[Any], memo: dict[Any, Any], fn: Callable[[Any], Any]) -> list[Any]:
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


__all__ = ["HEADER_SCAN_ROWS", "LEDGER", "MAX_PROBLEMS", "MAX_PROBLEMS_KEPT",
           "REQUIRED_HOST_FIELDS", "bureau_line", "detect_kind", "find_header", "read_sheets",
           "suggest"]
