"""The ledger format of an estate exported by ``inventory export``
(:func:`shangyun.ledgers.export.export_xlsx`): every sheet one estate table, named and
headed in Chinese or English from the schema. Reading it back gives the same rows (same
ids), so export → edit in Excel → import is a round trip.

A reference column (所属系统, 所属单位, 所属主机, 源系统 …) holds the **name** of the row
it refers to (system name, bureau name, host name); its id is in a separate column at the
end of the sheet headed ``<header>编号`` (``<header> id`` in English). Reading back, a
name that still names the row of the id keeps the id; an edited name is resolved to the
row of that name (the workbook's own rows first, then the estate; within the row's bureau
first, then across bureaus), and a name no row or several rows have is an error naming
the sheet, row and column. A workbook exported before names were written (ids in the
reference columns, no id columns) is still read: its cells are ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from shangyun.errors import LedgerError, Problem
from shangyun.estate.merge import host_key_name, match_key, stable_id
from shangyun.estate.model import Estate, coerce_table
from shangyun.estate.schema import TABLES, Column, Table
from shangyun.ledgers.collector import KnownIndex
from shangyun.ledgers.formats.base import FormatRead, LedgerFormat, LedgerInput
from shangyun.ledgers.grid import Grid, column_letter
from shangyun.ledgers.model import SheetReport
from shangyun.ledgers.values import BadValue, clean_or_doubt, clean_text, value_of

LANGS = ("zh", "en")


def sheet_title(table: Table, lang: str) -> str:
    """The sheet name of ``table`` in ``lang``."""
    return table.zh if lang == "zh" else table.name


#: The table whose rows each reference column's names name, and that table's name column.
NAME_COLUMN = {"bureaus": "name", "systems": "name", "hosts": "hostname"}


def ref_columns(table: Table) -> list[Column]:
    """The reference columns of ``table`` written as names (with an id column)."""
    return [c for c in table.columns if c.ref in NAME_COLUMN]


def _name_header(c: Column, lang: str) -> str:
    if lang == "zh":
        return c.zh or c.en
    return c.en[:-3] if c.ref and c.en.endswith(" id") else c.en


def headers(table: Table, lang: str) -> list[str]:
    """The column headers of ``table`` in ``lang`` (a reference column named for the name
    it holds: ``所属系统`` / ``system``)."""
    return [_name_header(c, lang) for c in table.columns]


def id_headers(table: Table, lang: str) -> list[str]:
    """The headers of the id columns written after the table's columns, one per reference
    column (``所属系统编号`` / ``system id``)."""
    return [f"{_name_header(c, lang)}编号" if lang == "zh" else f"{_name_header(c, lang)} id"
            for c in ref_columns(table)]


def _legacy_headers(table: Table, lang: str) -> list[str]:
    """The headers of a workbook exported with ids in the reference columns."""
    return [(c.zh or c.en) if lang == "zh" else c.en for c in table.columns]


def is_export(grids: list[Grid]) -> bool:
    """``True`` when every sheet of the workbook is an estate table as ``export_xlsx``
    writes it (sheet name and headers in zh or en)."""
    if not grids or any(g.sheet is None for g in grids):
        return False
    return all(_match(g) is not None for g in grids)


def _match(grid: Grid) -> tuple[Table, str, bool] | None:
    """(table, language, names written) of an exported sheet, else ``None``."""
    if not grid.rows:
        return None
    first = [clean_text(h) for h in grid.rows[0]]
    for table in TABLES.values():
        for lang in LANGS:
            if grid.sheet == sheet_title(table, lang):
                head = headers(table, lang) + id_headers(table, lang)
                if first[: len(head)] == head:
                    return table, lang, True
                head = _legacy_headers(table, lang)
                if first[: len(head)] == head:
                    return table, lang, False
    return None


def read_export(file: str, grids: list[Grid],
                known: Mapping[str, list[dict[str, Any]]] | None = None,
                ) -> dict[str, list[dict[str, Any]]]:
    """The rows per table of a workbook written by :func:`export_xlsx`, names in reference
    columns resolved to ids against the workbook's rows and ``known`` (the estate's rows
    of bureaus, systems and hosts).

    Raises :class:`LedgerError` naming the sheet, row and column of the first bad value.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    found_all = []
    for grid in grids:
        found = _match(grid)
        if found is None:  # pragma: no cover - guarded by is_export
            raise LedgerError(file, "not an exported estate sheet", sheet=grid.sheet)
        found_all.append((grid, *found))
    order = list(TABLES)
    found_all.sort(key=lambda f: order.index(f[1].name))  # referenced tables first
    names_of = _Names(known or {})
    for grid, table, lang, named in found_all:
        head = [clean_text(h) for h in grid.rows[0]]
        _refuse_uncalculated(file, grid, head)
        refs = ref_columns(table) if named else []
        id_cols = [f"{c.name}\x00id" for c in refs]
        names = table.column_names + id_cols  # a column the team added after: not read
        body = [(i, r) for i, r in enumerate(grid.rows[1:], start=2)
                if any(c not in ("", None) for c in r)]
        raw = pd.DataFrame([[clean_text(c) for c in r[: len(names)]] for _i, r in body],
                           columns=names[: len(body[0][1])] if body else names)
        if raw.empty:
            out[table.name] = []
            continue
        if refs:
            labels = dict(zip(table.column_names, headers(table, lang), strict=True))
            for c in refs:
                idc = f"{c.name}\x00id"
                if idc not in raw.columns:
                    raw[idc] = ""
            try:
                # a table naming its own rows (a DR standby's 对应主系统): its other
                # references first, then its rows are known by name, then those
                own = [c for c in refs if c.ref == table.name]
                names_of.resolve(table, raw, [i for i, _r in body],
                                 [c for c in refs if c not in own])
                if own:
                    names_of.add_workbook(table.name, raw.to_dict("records"))
                    names_of.resolve(table, raw, [i for i, _r in body], own)
            except _BadRef as exc:
                raise LedgerError(file, exc.message, sheet=grid.sheet, row=exc.row,
                                  column=labels.get(exc.column, exc.column)) from None
            raw = raw.drop(columns=[f"{c.name}\x00id" for c in refs])
        _fill_new_ids(table, raw)
        _ledger_words(table, raw)
        typed, problems = coerce_table(table, raw, table.file)
        if problems:
            p: Problem = problems[0]
            col = next((h for c, h in zip(table.columns, headers(table, lang), strict=True)
                        if c.name == p.column), p.column)
            raise LedgerError(file, p.message, sheet=grid.sheet, row=p.row, column=col)
        out[table.name] = Estate(tables={table.name: typed}).rows(table.name)
        if table.name in NAME_COLUMN:
            names_of.add_workbook(table.name, out[table.name])
    return out


def _ledger_words(table: Table, raw: pd.DataFrame) -> None:
    """The words a team types in an exported workbook's choice columns (周六 in
    维护窗口(星期), 关机 in 电源状态, 政务外网 in 网络区域) read as a ledger reads them; a
    value neither a choice nor such a word is left for the schema to refuse."""
    for c in table.columns:
        if c.kind != "enum" or c.name not in raw.columns:
            continue
        target = f"{table.name}.{c.name}"

        def word(v: Any, choices: tuple[str, ...] = c.choices, target: str = target) -> Any:
            if not isinstance(v, str) or not v or v.lower() in choices:
                return v
            try:
                got = value_of(clean_or_doubt(target, v))
            except BadValue:
                return v
            return got if got in choices else v

        raw[c.name] = raw[c.name].map(word)


def _refuse_uncalculated(file: str, grid: Grid, head: list[str]) -> None:
    """Refuse a sheet with formula cells saved without their values: in an edited export a
    blank cell is an edit (it empties the value), and a formula's blank is no edit anyone
    made — a workbook saved by a program that does not calculate (a script, some online
    editors; LibreOffice writes 是/否 as =TRUE() formulas) would empty every such cell."""
    if not grid.formula_blanks:
        return
    r, c = min(grid.formula_blanks)
    column = head[c] if c < len(head) else ""
    more = len(grid.formula_blanks) - 1
    raise LedgerError(file, f"a formula cell saved without its value"
                      f"{f' (and {more} more on this sheet)' if more else ''}: read as "
                      "blank it would empty the estate's value — open the workbook in Excel, "
                      "WPS or LibreOffice, save it (which calculates the formulas) and import "
                      "it again", sheet=grid.sheet, row=r + 1, column=column)


class _BadRef(Exception):
    def __init__(self, row: int, column: str, message: str) -> None:
        super().__init__(message)
        self.row, self.column, self.message = row, column, message


class _Names:
    """Names of bureaus, systems and hosts (the workbook's rows, then the estate's) to
    resolve a reference cell's name to an id."""

    def __init__(self, known: Mapping[str, list[dict[str, Any]]]) -> None:
        self.rows: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in NAME_COLUMN}
        self.book: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in NAME_COLUMN}
        for t in NAME_COLUMN:
            for r in known.get(t, []):
                self.rows[t][str(r["id"])] = r
        self._by_name: dict[str, dict[str, list[str]]] | None = None

    def add_workbook(self, table: str, rows: list[dict[str, Any]]) -> None:
        """The workbook's rows of ``table`` (resolved before the tables referring to it)."""
        for r in rows:
            self.book[table][str(r["id"])] = r
        self._by_name = None

    def _keys(self, table: str, r: dict[str, Any]) -> list[str]:
        if table == "hosts":
            return [k for k in (host_key_name(r.get("hostname")), match_key(r.get("ip")))
                    if k]
        return [match_key(r.get("name"))]

    def by_name(self, table: str) -> dict[str, list[str]]:
        if self._by_name is None:
            self._by_name = {t: {} for t in NAME_COLUMN}
            for t in NAME_COLUMN:
                for rows in (self.book[t], self.rows[t]):
                    for i, r in rows.items():
                        for k in self._keys(t, r):
                            ids = self._by_name[t].setdefault(k, [])
                            if i not in ids:
                                ids.append(i)
        return self._by_name[table]

    def row(self, table: str, ident: str) -> dict[str, Any] | None:
        return self.book[table].get(ident) or self.rows[table].get(ident)

    def names(self, table: str, ident: str) -> set[str]:
        """Every key the row ``ident`` answers to, in the workbook and the estate."""
        return {k for rows in (self.book[table], self.rows[table]) if ident in rows
                for k in self._keys(table, rows[ident])}

    def resolve(self, table: Table, raw: pd.DataFrame, rows: list[int],
                columns: list[Column] | None = None) -> None:
        """Replace each reference column's names in ``raw`` by ids (see module doc); only
        those of ``columns`` when given (the bureau, when one of them, first)."""
        refs = ref_columns(table)
        bureau_col = "bureau_id" if any(c.name == "bureau_id" for c in refs) else None
        order = sorted(refs if columns is None else columns,
                       key=lambda c: c.name != "bureau_id")  # the bureau first
        for i in raw.index:
            for c in order:
                name = str(raw.at[i, c.name] or "").strip()
                ident = str(raw.at[i, f"{c.name}\x00id"] or "").strip()
                scope = str(raw.at[i, bureau_col] or "") if bureau_col and c.name != bureau_col \
                    else ""
                raw.at[i, c.name] = self.one(str(c.ref), name, ident, scope, rows[i], c.name)

    def one(self, table: str, name: str, ident: str, scope: str, row: int, col: str) -> str:
        """The id meant by the cell ``name`` (with the id column ``ident``)."""
        if not name:
            return ""
        if ident and self.row(table, ident) is not None and (
                name == ident or self._key(table, name) in self.names(table, ident)):
            return ident
        if self.row(table, name) is not None:  # an id typed or left (an older export)
            return name
        found = self.by_name(table).get(self._key(table, name), [])
        if scope and len(found) > 1:
            here = [i for i in found if (self.row(table, i) or {}).get("bureau_id") == scope]
            found = here or found
        if len(found) == 1:
            return found[0]
        what = table[:-1]
        if not found:
            raise _BadRef(row, col, f"no {what} named {name!r} in the workbook or the "
                                    "estate (names are matched ignoring case and width)")
        cands = "; ".join(self._label(table, i) for i in found[:10])
        raise _BadRef(row, col, f"{len(found)} {what}s are named {name!r} ({cands}): put "
                                "the id of the one you mean in the id column beside it")

    def _key(self, table: str, name: str) -> str:
        return host_key_name(name) if table == "hosts" else match_key(name)

    def _label(self, table: str, ident: str) -> str:
        r = self.row(table, ident) or {}
        bureau = self.row("bureaus", str(r.get("bureau_id") or "")) or {}
        where = f"{bureau.get('name')} / " if bureau.get("name") else ""
        return f"{where}{r.get(NAME_COLUMN[table]) or ''} ({ident})"


#: The id prefix of rows added by hand to an exported workbook (as the ledger reader's).
_PREFIX = {"bureaus": "b", "systems": "s", "hosts": "h", "disks": "d", "databases": "db",
           "dependencies": "dep", "conflicts": "c"}


def _fill_new_ids(table: Table, raw: pd.DataFrame) -> None:
    """Give a row added in the workbook with its id cell left blank a stable id from its
    values (a team adding a host types its name and IP, not an id); the merge still matches
    it to an existing row by its natural keys (name, IP, MAC …)."""
    if "id" not in raw.columns:
        return
    blank = raw["id"].isna() | (raw["id"].astype(str).str.strip() == "")
    for i in raw.index[blank]:
        parts = [str(v) for c, v in raw.loc[i].items()
                 if c != "id" and v is not None and str(v).strip() not in ("", "nan")]
        if parts:
            raw.at[i, "id"] = stable_id(_PREFIX.get(table.name, table.name[:1]),
                                        table.name, *parts)


def _read(inp: LedgerInput) -> FormatRead:
    known = inp.known
    if isinstance(known, KnownIndex):
        tables: Mapping[str, list[dict[str, Any]]] = known.tables
    elif isinstance(known, Estate):
        tables = {t: known.rows(t) for t in NAME_COLUMN}
    else:
        tables = known or {}
    rows = read_export(inp.file, inp.grids, tables)
    sheets = []
    for g in inp.grids:  # each sheet with its table and the headers it has (zh or en)
        found = _match(g)
        if found is None:  # pragma: no cover - read_export refused it
            continue
        table, lang, named = found
        report = SheetReport(g.sheet, table.name, 1, len(rows.get(table.name, [])), 0,
                             columns={h: f"{table.name}.{c}" for h, c in zip(
                                 headers(table, lang), table.column_names, strict=True)})
        own = len(table.columns) + (len(ref_columns(table)) if named else 0)
        extra = [(i, clean_text(h)) for i, h in enumerate(g.rows[0]) if i >= own
                 and clean_text(h) and any(i < len(r) and r[i] not in (None, "")
                                           for r in g.rows[1:])]
        if extra:
            report.unmapped = [h for _i, h in extra]
            report.warnings.append(
                f"{'column' if len(extra) == 1 else 'columns'} "
                f"{', '.join(f'{h!r} ({column_letter(i)})' for i, h in extra)} "
                f"{'is' if len(extra) == 1 else 'are'} not the estate's: not imported (the "
                "estate keeps its own columns only; keep such notes in a workbook of your own)")
        sheets.append(report)
    inp.progress(sum(len(r) for r in rows.values()))
    return rows, sheets


#: A workbook written by ``inventory export``.
EXPORT = LedgerFormat("export", is_export, _read)

__all__ = ["EXPORT", "LANGS", "NAME_COLUMN", "headers", "id_headers", "is_export",
           "read_export", "ref_columns", "sheet_title"]
