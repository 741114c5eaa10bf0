"""The ledger format of an estate exported by ``inventory export``
(:func:`shangyun.ledgers.export.export_xlsx`): every sheet one estate table, named and
headed in Chinese or English from the schema. Reading it back gives the same rows (same
ids), so export → edit in Excel → import is a round trip.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from shangyun.errors import LedgerError, Problem
from shangyun.estate.merge import stable_id
from shangyun.estate.model import Estate, coerce_table
from shangyun.estate.schema import TABLES, Table
from shangyun.ledgers.formats.base import FormatRead, LedgerFormat, LedgerInput
from shangyun.ledgers.grid import Grid
from shangyun.ledgers.model import SheetReport
from shangyun.ledgers.values import clean_text

LANGS = ("zh", "en")


def sheet_title(table: Table, lang: str) -> str:
    """The sheet name of ``table`` in ``lang``."""
    return table.zh if lang == "zh" else table.name


def headers(table: Table, lang: str) -> list[str]:
    """The column headers of ``table`` in ``lang``."""
    return [(c.zh or c.en) if lang == "zh" else c.en for c in table.columns]


def is_export(grids: list[Grid]) -> bool:
    """``True`` when every sheet of the workbook is an estate table as ``export_xlsx``
    writes it (sheet name and headers in zh or en)."""
    if not grids or any(g.sheet is None for g in grids):
        return False
    return all(_match(g) is not None for g in grids)


def _match(grid: Grid) -> tuple[Table, str] | None:
    if not grid.rows:
        return None
    first = [clean_text(h) for h in grid.rows[0]]
    for table in TABLES.values():
        for lang in LANGS:
            if grid.sheet == sheet_title(table, lang):
                head = headers(table, lang)
                if first[: len(head)] == head:
                    return table, lang
    return None


def read_export(file: str, grids: list[Grid]) -> dict[str, list[dict[str, Any]]]:
    """The rows per table of a workbook written by :func:`export_xlsx`.

    Raises :class:`LedgerError` naming the sheet, row and column of the first bad value.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for grid in grids:
        found = _match(grid)
        if found is None:  # pragma: no cover - guarded by is_export
            raise LedgerError(file, "not an exported estate sheet", sheet=grid.sheet)
        table, lang = found
        head = [clean_text(h) for h in grid.rows[0]]
        names = table.column_names + head[len(table.columns):]
        body = [r for r in grid.rows[1:] if any(c not in ("", None) for c in r)]
        raw = pd.DataFrame([[clean_text(c) for c in r[: len(names)]] for r in body],
                           columns=names[: len(body[0])] if body else names)
        if raw.empty:
            out[table.name] = []
            continue
        _fill_new_ids(table, raw)
        typed, problems = coerce_table(table, raw, table.file)
        if problems:
            p: Problem = problems[0]
            col = next((h for c, h in zip(table.columns, headers(table, lang), strict=True)
                        if c.name == p.column), p.column)
            raise LedgerError(file, p.message, sheet=grid.sheet, row=p.row, column=col)
        out[table.name] = Estate(tables={table.name: typed}).rows(table.name)
    return out


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
    rows = read_export(inp.file, inp.grids)
    sheets = [SheetReport(g.sheet, t, 1, len(rows.get(t, [])), 0)
              for g, t in zip(inp.grids, rows, strict=False)]
    inp.progress(sum(len(r) for r in rows.values()))
    return rows, sheets


#: A workbook written by ``inventory export``.
EXPORT = LedgerFormat("export", is_export, _read)

__all__ = ["EXPORT", "LANGS", "headers", "is_export", "read_export", "sheet_title"]
