"""The estate as one Excel workbook (``inventory export``), a sheet per table.

``export_xlsx`` writes every table of :mod:`shangyun.estate.schema` to its own sheet, named
and headed in Chinese (``zh``) or English (``en``) from the schema; a reference column
(所属系统, 所属单位, 所属主机, 源系统 …) holds the name of the row it refers to, and its id
is in a grey column at the end of the sheet (``所属系统编号`` / ``system id``); numbers stay
numbers, booleans are Excel booleans, the header row is bold and frozen, and columns are sized to
their content. The ledger format :data:`shangyun.ledgers.formats.export.EXPORT` recognises
such a workbook, so ``inventory import`` of an exported workbook gives back the same estate
(same ids, same fingerprint).

The estate's own file, written with openpyxl: this is part of the core, not a connector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from shangyun.estate.model import Estate
from shangyun.estate.schema import TABLES
from shangyun.ledgers.formats.export import (
    LANGS,
    NAME_COLUMN,
    headers,
    id_headers,
    ref_columns,
    sheet_title,
)


def export_xlsx(estate: Estate, path: str | Path, lang: str = "zh") -> Path:
    """Write ``estate`` to the workbook ``path`` (one sheet per table) and return the path.

    The file is written beside the target and renamed into place, so a failure leaves no
    half-written workbook.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}")
    out = Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    grey = Font(bold=True, color="808080")
    names = {t: {str(r["id"]): r.get(col) for r in estate.rows(t)}
             for t, col in NAME_COLUMN.items()}
    for name, table in TABLES.items():
        ws = wb.create_sheet(sheet_title(table, lang))
        refs = ref_columns(table)
        head = headers(table, lang) + id_headers(table, lang)
        ws.append(head)
        for i, cell in enumerate(ws[1]):
            cell.font = grey if i >= len(table.columns) else bold
        widths = [max(4, _width(h)) for h in head]
        extra = [c for c in estate.tables[name].columns if c not in table.column_names]
        if extra:
            for i, e in enumerate(extra):
                ws.cell(row=1, column=len(head) + i + 1, value=str(e)).font = bold
                widths.append(max(4, _width(str(e))))
        cols = table.column_names + [f"\x00{c.name}" for c in refs] + extra
        shown = {c.name: names[str(c.ref)] for c in refs}
        for row in estate.rows(name):
            values = [_cell(row.get(c.lstrip("\x00"))) if c not in shown
                      else _name(shown[c], row.get(c)) for c in cols]
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


def _name(names: dict[str, Any], ident: Any) -> Any:
    """The name of the row ``ident`` refers to (the id itself when it has none)."""
    if ident is None or ident == "":
        return None
    name = names.get(str(ident))
    return name if name not in (None, "") else ident


def _cell(v: Any) -> Any:
    if v is None:
        return None
    return v


__all__ = ["export_xlsx"]
