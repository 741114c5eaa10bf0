"""The estate as one Excel workbook (a sheet per table), and reading such a workbook back.

``export_xlsx`` writes every table of :mod:`shangyun.estate.schema` to its own sheet, named
and headed in Chinese (``zh``) or English (``en``) from the schema; numbers stay numbers,
booleans are Excel booleans, the header row is bold and frozen, and columns are sized to
their content. ``read_export`` recognises such a workbook (every sheet a table whose
headers are exactly the schema's) so ``inventory import`` of an exported workbook gives
back the same estate (same ids, same fingerprint).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.ledgers.grid import Grid
from connectors.ledgers.values import clean_text
from shangyun.errors import LedgerError, Problem
from shangyun.estate.model import Estate, coerce_table
from shangyun.estate.schema import TABLES, Table

LANGS = ("zh", "en")


def sheet_title(table: Table, lang: str) -> str:
    """The sheet name of ``table`` in ``lang``."""
    return table.zh if lang == "zh" else table.name


def headers(table: Table, lang: str) -> list[str]:
    """The column headers of ``table`` in ``lang``."""
    return [(c.zh or c.en) if lang == "zh" else c.en for c in table.columns]


def export_xlsx(estate: Estate, path: str | Path, lang: str = "zh") -> Path:
    """Write ``estate`` to the workbook ``path`` (one sheet per table) and return the path.

    The file is written beside the target and renamed into place, so a failure leaves no
    half-written workbook.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}")
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    out = Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for name, table in TABLES.items():
        ws = wb.create_sheet(sheet_title(table, lang))
        head = headers(table, lang)
        ws.append(head)
        for cell in ws[1]:
            cell.font = bold
        widths = [max(4, _width(h)) for h in head]
        extra = [c for c in estate.tables[name].columns if c not in table.column_names]
        if extra:
            for i, e in enumerate(extra):
                ws.cell(row=1, column=len(head) + i + 1, value=str(e)).font = bold
                widths.append(max(4, _width(str(e))))
        cols = table.column_names + extra
        for row in estate.rows(name):
            values = [_cell(row.get(c)) for c in cols]
            ws.append(values)
            for i, v in enumerate(values):
                if v is not None:
                    widths[i] = max(widths[i], min(60, _width(str(v))))
        ws.freeze_panes = "A2"
        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = w + 2
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        wb.save(tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _cell(v: Any) -> Any:
    if v is None:
        return None
    return v


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
        import pandas as pd

        body = [r for r in grid.rows[1:] if any(c not in ("", None) for c in r)]
        raw = pd.DataFrame([[clean_text(c) for c in r[: len(names)]] for r in body],
                           columns=names[: len(body[0])] if body else names)
        if raw.empty:
            out[table.name] = []
            continue
        typed, problems = coerce_table(table, raw, table.file)
        if problems:
            p: Problem = problems[0]
            col = next((h for c, h in zip(table.columns, headers(table, lang), strict=True)
                        if c.name == p.column), p.column)
            raise LedgerError(file, p.message, sheet=grid.sheet, row=p.row, column=col)
        out[table.name] = Estate(tables={table.name: typed}).rows(table.name)
    return out


__all__ = ["LANGS", "export_xlsx", "headers", "is_export", "read_export", "sheet_title"]
