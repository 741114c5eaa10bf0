"""Reading one ledger file (.xlsx or .csv) into estate rows.

For every sheet: find the header row (title rows above it are skipped; a second header row
under a grouped header is combined), decide what the sheet lists (hosts, systems,
databases, dependencies or bureaus) from its headers and name, map each header to an
estate column (:mod:`connectors.ledgers.headers`, then the mapping file), and turn each data
row into rows of the estate tables, cleaning every value (:mod:`connectors.ledgers.values`).
Blank rows, note rows (注：…) and totals rows (合计/总计) are skipped.

A ledger row usually describes one host together with its system and bureau, so one row
may give a bureau, a system, a host and a database. Ids are stable: derived from the bureau
name and the system name / host name (or IP), so the same row always gets the same id.
Databases and dependencies refer to systems and hosts by name; names are resolved within
the file first, then against the ``known`` estate, and otherwise create a minimal row that
the merge can match later.

Every bad cell of a file is collected; the file is then rejected with one
:class:`LedgerError` naming the first bad cell (file, sheet, row, column) and listing the
others.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import yaml

from connectors.ledgers import headers as H
from connectors.ledgers.grid import Grid, column_letter, read_grids
from connectors.ledgers.values import BadValue, clean, clean_text, cleaner, parse_engine
from connectors.ledgers.values import parse_ports as _parse_ports
from shangyun.errors import LedgerError
from shangyun.estate.merge import host_key_name, stable_id
from shangyun.estate.merge import match_key as _key
from shangyun.estate.model import Estate
from shangyun.estate.schema import TABLES

Row = dict[str, Any]
#: A mapping file, normalized: header (normalized) -> (target or "ignore", unit).
Mapping = dict[str, tuple[str, str]]
#: What names are resolved against: an estate, or its rows per table.
Known = Estate | dict[str, list[Row]]

HEADER_SCAN_ROWS = 30
#: libyaml's safe loader when PyYAML was built with it (same documents, ~10x faster).
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TOTALS = re.compile(
    r"^(?:(?:合计|总计|小计|共计|总和|汇总).*|(?:grand |sub)?totals?[:：]?|sum[:：]?)$", re.I)
_TOTAL_FIRST = frozenset("合总小共汇tTsSgG")
_NOTE = re.compile(r"^(注|说明|备注|填表|制表|审核|填报|note|remark)", re.I)
_HQ = re.compile(r"总部|机关|本部|总局|headquarter|\bhq\b", re.I)
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


@dataclass
class SheetReport:
    """What was understood of one sheet."""

    sheet: str | None
    kind: str
    header_row: int
    rows: int
    skipped: int
    columns: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"sheet": self.sheet, "kind": self.kind, "header_row": self.header_row,
                "rows": self.rows, "skipped": self.skipped, "columns": self.columns,
                "unmapped": self.unmapped}


@dataclass
class LedgerRead:
    """The result of reading one ledger: estate rows per table, and what was read."""

    file: str
    sha256: str
    rows: dict[str, list[Row]]
    sheets: list[SheetReport]
    kind: str = "ledger"

    @property
    def data_rows(self) -> int:
        """How many data rows of the file were read (without headers, blanks, totals)."""
        return sum(s.rows for s in self.sheets)

    def counts(self) -> dict[str, int]:
        """Rows per estate table."""
        return {name: len(rows) for name, rows in self.rows.items() if rows}


_P = ParamSpec("_P")
_R = TypeVar("_R")


def gc_paused(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with Python's cyclic garbage collector paused (re-enabled afterwards if it
    was on). Reading a ledger makes a few objects per cell, almost none in reference
    cycles: the collector's repeated passes over the whole grid cost 5–15 % of a large
    import and free nearly nothing. Reference counting still frees memory as usual; any
    cycles left are collected when the collector runs again. (The pause is process-wide.)"""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was_on = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_on:
                gc.enable()

    return wrapper


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_mapping(path: str | Path) -> Mapping:
    """Read a mapping file: YAML ``header: table.column`` (or ``column``, ``ignore``/null,
    or ``{column: table.column, unit: MB}``). Raises :class:`LedgerError` for a bad entry."""
    p = Path(path)
    try:
        data = yaml.load(p.read_text(encoding="utf-8-sig"), Loader=SAFE_LOADER) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LedgerError(str(p), f"cannot read the mapping file: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("columns"), dict):
        data = data["columns"]
    if not isinstance(data, dict):
        raise LedgerError(str(p), "a mapping file is a YAML mapping of header: table.column")
    out: Mapping = {}
    for i, (header, spec) in enumerate(data.items(), start=1):
        unit = ""
        if isinstance(spec, dict):
            unit = H.normalize_header(spec.get("unit") or "")
            spec = spec.get("column")
        target = _resolve_target(spec)
        if target is None:
            raise LedgerError(str(p), f"{spec!r} is not an estate column (write table.column, "
                                      "e.g. hosts.memory_gb, or ignore)", row=i,
                              column=str(header))
        out[H.normalize_header(header)] = (target, unit)
    return out


def _resolve_target(spec: object) -> str | None:
    if spec is None or str(spec).strip().lower() in ("ignore", "skip", "-", ""):
        return H.IGNORE
    s = str(spec).strip()
    if "." in s:
        table, column = s.split(".", 1)
        table = {"host": "hosts", "system": "systems", "bureau": "bureaus",
                 "database": "databases", "dependency": "dependencies",
                 "disk": "disks"}.get(table, table)
        if table in TABLES and column in TABLES[table].column_names and column != "id":
            return f"{table}.{column}"
        return None
    for table in ("hosts", "systems", "bureaus", "databases", "dependencies", "disks"):
        if s in TABLES[table].column_names and s != "id":
            return f"{table}.{s}"
    return None


# --------------------------------------------------------------------------- sheets
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


def _add_any(index: dict[str, str], key: str, hid: str) -> None:
    prev = index.get(key)
    if prev is None:
        index[key] = hid
    elif prev != hid:
        index[key] = ""


def _sid(prefix: str, *keys: str) -> str:
    """:func:`stable_id` of parts that are already match keys (skips re-normalising)."""
    text = "\x1f".join(keys)
    return f"{prefix}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:10]}"


class KnownIndex:
    """Names of the current estate (bureaus, systems, hosts) indexed for lookups.

    Built over rows per table that may grow (a :class:`~shangyun.estate.merge.Merger`'s
    ``rows``): :meth:`refresh` indexes only the rows added since the last call, so an
    import of many files indexes each row once.
    """

    def __init__(self, known: Known) -> None:
        self.tables = ({n: known.rows(n) for n in ("bureaus", "systems", "hosts")}
                       if isinstance(known, Estate) else known)
        self.done = {"bureaus": 0, "systems": 0, "hosts": 0}
        self.bureaus: dict[str, str] = {}
        self.systems: dict[tuple[str, str], str] = {}
        self.system_names: dict[str, set[str]] = {}
        self.hosts: dict[tuple[str, str], str] = {}
        self.hosts_any: dict[str, str] = {}  # name or IP -> id ("" when several)

    def refresh(self) -> KnownIndex:
        """Index the rows added since the last refresh; returns ``self``."""
        bureaus = self.tables.get("bureaus", [])
        for b in bureaus[self.done["bureaus"]:]:
            self.bureaus[str(b["id"])] = str(b["name"] or "")
        self.done["bureaus"] = len(bureaus)
        systems = self.tables.get("systems", [])
        for s in systems[self.done["systems"]:]:
            key = (_key(self.bureaus.get(s["bureau_id"] or "", "")), _key(s["name"]))
            self.systems.setdefault(key, s["id"])
            self.system_names.setdefault(key[1], set()).add(s["id"])
        self.done["systems"] = len(systems)
        hosts = self.tables.get("hosts", [])
        for h in hosts[self.done["hosts"]:]:
            bname = _key(self.bureaus.get(h["bureau_id"] or "", ""))
            for key in (host_key_name(h.get("hostname")), str(h.get("ip") or "")):
                if key:
                    self.hosts.setdefault((bname, key), h["id"])
                    _add_any(self.hosts_any, key, h["id"])
        self.done["hosts"] = len(hosts)
        return self


class _Collector:
    """Estate rows of one file, with indexes to resolve names to ids."""

    def __init__(self, source: str, known: Known | KnownIndex | None) -> None:
        self.source = source
        self.rows: dict[str, list[Row]] = {name: [] for name in TABLES}
        self.bureaus: dict[str, str] = {}
        self.systems: dict[tuple[str, str], str] = {}
        self.system_fields: dict[tuple[str, str], Row] = {}
        self.system_raw: dict[tuple[str, str], tuple[str, Row]] = {}
        self.bureau_keys: dict[str, str] = {}
        self.hosts: dict[tuple[str, str], str] = {}
        self.hosts_any: dict[str, str] = {}  # name or IP -> id ("" when several)
        self._known_source = known
        self._known: KnownIndex | None = None

    @property
    def known(self) -> KnownIndex:
        """The index of the current estate, refreshed on first use by this file."""
        if self._known is None:
            src = self._known_source
            if isinstance(src, KnownIndex):
                self._known = src.refresh()
            else:
                self._known = KnownIndex(src if src is not None else {}).refresh()
        return self._known

    def bureau(self, name: str) -> str:
        bid = self.bureaus.get(name)
        if bid is None:
            bid = stable_id("b", name)
            self.bureaus[name] = bid
            self.rows["bureaus"].append({"id": bid, "name": name,
                                         "kind": "hq" if _HQ.search(name) else "bureau"})
        return bid

    def system(self, bureau: str, name: str, fields: Row | None = None) -> str:
        seen = self.system_raw.get((bureau, name))
        if seen is not None and (not fields or seen[1] == fields):
            return seen[0]
        key = (_key(bureau), _key(name))
        sid = self.systems.get(key)
        if sid is not None and (not fields or self.system_fields.get(key) == fields):
            return sid
        row: Row = {"id": sid or stable_id("s", bureau, name), "name": name,
                    "bureau_id": self.bureau(bureau), "source": self.source}
        if fields:
            row.update(fields)
        if sid is None or (fields and self.system_fields.get(key) != fields):
            self.rows["systems"].append(row)
            if fields:
                self.system_fields[key] = dict(fields)
        self.systems[key] = row["id"]
        self.system_raw[(bureau, name)] = (row["id"], dict(fields or {}))
        return row["id"]

    def system_ref(self, bureau: str, name: str) -> str:
        """The id of system ``name`` seen from ``bureau``: this file, the estate, or new."""
        key = (_key(bureau), _key(name))
        if key in self.systems:
            return self.systems[key]
        if key in self.known.systems:
            return self.known.systems[key]
        here = {sid for (b, n), sid in self.systems.items() if n == key[1]}
        if len(here) == 1:
            return here.pop()
        there = self.known.system_names.get(key[1], set())
        if len(there) == 1:
            return next(iter(there))
        return self.system(bureau, name)

    def host(self, bureau: str, row: Row) -> str:
        b = self.bureau_keys.get(bureau)
        if b is None:
            b = self.bureau_keys[bureau] = _key(bureau)
        name = host_key_name(row.get("hostname"))
        ip = str(row.get("ip") or "")
        hid = _sid("h", b, name or ip)
        row["id"] = hid
        row["bureau_id"] = self.bureau(bureau)
        row.setdefault("source", self.source)
        self.rows["hosts"].append(row)
        for key in (name, ip):
            if key:
                self.hosts[(b, key)] = hid
                _add_any(self.hosts_any, key, hid)
        return hid

    def host_ref(self, bureau: str, text: str) -> str:
        """The id of the host named (or addressed) ``text`` in ``bureau``."""
        b = _key(bureau)
        ip = ""
        try:
            ip = clean("hosts.ip", text) or ""
        except BadValue:
            ip = ""
        key = (b, ip) if ip and ip == text.strip() else (b, host_key_name(text))
        for index in (self.hosts, self.known.hosts):
            if key in index:
                return index[key]
        for any_index in (self.hosts_any, self.known.hosts_any):
            hid = any_index.get(key[1])
            if hid:  # the one host of that name in another bureau (such as headquarters)
                return hid
        row: Row = {"hostname": text.strip()}
        if ip and ip == text.strip():
            row["ip"] = ip
        return self.host(bureau, row)


@gc_paused
def read_ledger(
    path: str | Path,
    *,
    mapping: Mapping | None = None,
    bureau: str | None = None,
    known: Known | KnownIndex | None = None,
    advance: Callable[[int], None] | None = None,
    source: str | None = None,
) -> LedgerRead:
    """Read one ledger file (.xlsx or .csv; RVTools exports are recognised) into rows.

    ``mapping`` adds header → column entries (see :func:`load_mapping`); ``bureau`` is the
    bureau for rows without a 单位 column; ``known`` is the current estate, used to resolve
    system and host names in database and dependency sheets; ``advance(n)`` is called as
    rows are read (for a progress bar). Raises :class:`LedgerError`.
    """
    p = Path(path)
    grids = read_grids(p)
    src = source or p.name
    from connectors.ledgers import rvtools

    if rvtools.is_rvtools(grids):
        return rvtools.read_rvtools(p, grids, bureau=bureau, advance=advance, source=src)
    from connectors.ledgers import export

    if export.is_export(grids):
        rows = export.read_export(str(p), grids)
        sheets = [SheetReport(g.sheet, t, 1, len(rows.get(t, [])), 0)
                  for g, t in zip(grids, rows, strict=False)]
        if advance is not None:
            advance(sum(len(r) for r in rows.values()))
        return LedgerRead(file=str(p), sha256=sha256_of(p), rows=rows, sheets=sheets,
                          kind="export")
    mapping = mapping or {}
    problems = _Problems(str(p))
    col = _Collector(src, known)
    plans = []
    for grid in grids:
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
        names = ", ".join(repr(g.sheet) for g in grids if g.sheet) or "the file"
        raise LedgerError(str(p), "no ledger found: no sheet has a header row with known "
                                  "headers (主机名, IP地址, 系统名称, 单位 …) in its first "
                                  f"{HEADER_SCAN_ROWS} rows ({names}); add a --mapping file "
                                  "for other headers")
    plans.sort(key=lambda x: x[0])
    reports = []
    for _order, grid, header_idx, header, kind in plans:
        reports.append(_read_sheet(grid, header_idx, header, kind, mapping, bureau, col,
                                   problems, advance))
    problems.raise_if_any()
    return LedgerRead(file=str(p), sha256=sha256_of(p), rows=col.rows, sheets=reports)


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
    default_bureau: str | None, col: _Collector, problems: _Problems,
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
    reader = _ROW_READERS[kind]
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


def _engine_text(parts: dict[str, Row]) -> str:
    return str(parts.get("_", {}).get("engine_text", ""))


def _host_row(col: _Collector, bureau: str, parts: dict[str, Row]) -> None:
    if parts.get("bureaus"):
        _bureau_row(col, bureau, parts)
    sys_fields = parts.get("systems", {})
    sid = None
    if sys_fields.get("name"):
        name = str(sys_fields.pop("name"))
        sid = col.system(bureau, name, sys_fields or None)
    elif sys_fields:
        raise BadValue("system details (等保级别, 负责人 …) without a 系统名称")
    host = parts.get("hosts", {})
    if not host.get("hostname") and not host.get("ip"):
        if sid is not None and not host:
            return
        raise BadValue("a host row needs a 主机名 (hostname) or an IP地址 (IP address)")
    host.setdefault("hostname", host.get("ip"))
    host["hostname"] = str(host["hostname"])
    if sid:
        host["system_id"] = sid
    hid = col.host(bureau, host)
    db = parts.get("databases")
    if db and db.get("engine"):
        if sid is None:
            raise BadValue("a database (数据库类型) needs a 系统名称 on the same row")
        _add_database(col, sid, hid, db, _engine_text(parts))


def _add_database(col: _Collector, sid: str, hid: str | None, db: Row, text: str) -> None:
    if not db.get("version") and text:
        _engine, version = parse_engine(text)
        if version:
            db["version"] = version
    db["id"] = stable_id("db", sid, db.get("engine"), db.get("name") or "", hid or "")
    db["system_id"] = sid
    if hid:
        db["host_id"] = hid
    db["source"] = col.source
    col.rows["databases"].append(db)


def _system_row(col: _Collector, bureau: str, parts: dict[str, Row]) -> None:
    fields = parts.get("systems", {})
    if not fields.get("name"):
        raise BadValue("a system row needs a 系统名称 (system name)")
    name = str(fields.pop("name"))
    col.system(bureau, name, fields or {})


def _database_row(col: _Collector, bureau: str, parts: dict[str, Row]) -> None:
    sys_fields = parts.get("systems", {})
    if not sys_fields.get("name"):
        raise BadValue("a database row needs the 系统名称 (system) it belongs to")
    sid = col.system_ref(bureau, str(sys_fields["name"]))
    host = parts.get("hosts", {})
    hid = None
    if host.get("hostname") or host.get("ip"):
        hid = col.host_ref(bureau, str(host.get("hostname") or host.get("ip")))
    _add_database(col, sid, hid, parts.get("databases", {}), _engine_text(parts))


def _dependency_row(col: _Collector, bureau: str, parts: dict[str, Row]) -> None:
    dep = parts.get("dependencies", {})
    out: Row = {"origin": "declared", "source": col.source}
    for end in ("source", "target"):
        if dep.get(f"{end}_system"):
            out[f"{end}_system"] = col.system_ref(bureau, str(dep[f"{end}_system"]))
        if dep.get(f"{end}_host"):
            out[f"{end}_host"] = col.host_ref(bureau, str(dep[f"{end}_host"]))
    for k in ("external", "service", "type", "process"):
        if dep.get(k):
            out[k] = dep[k]
    ports = _parse_ports(str(dep["port"])) if dep.get("port") is not None else [None]
    for port in ports:
        if port is not None and not 0 <= port <= 65535:
            raise BadValue(f"port {port} is not between 0 and 65535")
        row = dict(out)
        if port is not None:
            row["port"] = port
        row["id"] = stable_id("dep", *(row.get(k) or "" for k in (
            "source_system", "target_system", "source_host", "target_host", "external")),
            port if port is not None else "")
        col.rows["dependencies"].append(row)


def _disk_row(col: _Collector, bureau: str, parts: dict[str, Row]) -> None:
    host = parts.get("hosts", {})
    if not host.get("hostname") and not host.get("ip"):
        raise BadValue("a disk row needs the 主机名 (hostname) or IP地址 of its host")
    disk = parts.get("disks", {})
    if disk.get("size_gb") is None:
        raise BadValue("a disk row needs a 容量 (size)")
    hid = col.host_ref(bureau, str(host.get("hostname") or host.get("ip")))
    disk["host_id"] = hid
    disk["id"] = stable_id("d", hid, disk.get("name") or "")
    disk["source"] = col.source
    if not disk.get("datastore") and str(disk.get("path", "")).startswith("["):
        path = str(disk["path"])
        if "]" in path:
            disk["datastore"] = path[1:path.index("]")]
    if not disk.get("format") and str(disk.get("path", "")).lower().endswith(".vmdk"):
        disk["format"] = "vmdk"
    col.rows["disks"].append(disk)


def _bureau_row(col: _Collector, bureau: str, parts: dict[str, Row]) -> None:
    fields = dict(parts.get("bureaus", {}))
    fields.pop("name", None)
    bid = col.bureau(bureau)
    if fields:
        col.rows["bureaus"].append({"id": bid, "name": bureau, **fields})


_ROW_READERS: dict[str, Callable[[_Collector, str, dict[str, Row]], None]] = {
    "hosts": _host_row, "systems": _system_row, "databases": _database_row,
    "disks": _disk_row,
    "dependencies": _dependency_row, "bureaus": _bureau_row,
}

__all__ = [
    "KnownIndex", "LedgerRead", "Mapping", "SheetReport", "detect_kind", "find_header",
    "gc_paused",
    "load_mapping", "read_ledger", "sha256_of",
]
