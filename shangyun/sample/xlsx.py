"""Writing workbooks the way people lay out ledgers, and byte for byte reproducibly.

openpyxl stamps the save time into ``docProps/core.xml`` and into every zip entry; the
sample must be byte-identical for the same seed, so :func:`save_workbook` rewrites the
archive with fixed times.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
FIXED_STAMP = "2026-01-01T00:00:00Z"
_STAMP = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


@dataclass
class SheetLayout:
    """How one ledger sheet looks: titles above the header, merges, blank rows, totals.

    ``merge_down`` lists column positions whose equal consecutive values are merged into one
    cell (单位, 系统名称); ``group_by`` is the column position whose change starts a new group
    (a blank row between groups when ``blank_between``); ``totals`` maps column positions
    to the value of a last 合计 row (position 0 holds the label). ``groups`` makes a two-row
    header: ``(label, first, last)`` column positions under one merged group cell (配置 over
    CPU/内存/磁盘); the other headers are merged down over both rows.
    """

    title: str | None = None
    subtitle: str | None = None
    groups: Sequence[tuple[str, int, int]] = ()
    merge_down: Sequence[int] = ()
    group_by: int | None = None
    blank_between: bool = False
    totals: dict[int, Any] = field(default_factory=dict)


def new_workbook() -> Workbook:
    """An empty workbook (no default sheet) with fixed document properties."""
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "shangyun sample"
    return wb


def write_sheet(wb: Workbook, name: str, headers: Sequence[str],
                rows: Sequence[Sequence[Any]], layout: SheetLayout | None = None) -> Worksheet:
    """Add sheet ``name``: optional title rows, the header, the rows, an optional totals row."""
    lay = layout or SheetLayout()
    ws = wb.create_sheet(name)
    width = len(headers)
    r = 1
    for text, size in ((lay.title, 14), (lay.subtitle, 10)):
        if text is None:
            continue
        ws.cell(row=r, column=1, value=text).font = Font(bold=size > 10, size=size)
        if width > 1:
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
        ws.cell(row=r, column=1).alignment = Alignment(horizontal="center")
        r += 1
    if lay.groups:
        grouped = {c for _label, a, b in lay.groups for c in range(a, b + 1)}
        for label, a, b in lay.groups:
            ws.cell(row=r, column=a + 1, value=label).font = Font(bold=True)
            ws.cell(row=r, column=a + 1).alignment = Alignment(horizontal="center")
            if b > a:
                ws.merge_cells(start_row=r, start_column=a + 1, end_row=r, end_column=b + 1)
        for c, h in enumerate(headers):
            if c in grouped:
                ws.cell(row=r + 1, column=c + 1, value=h).font = Font(bold=True)
            else:
                ws.cell(row=r, column=c + 1, value=h).font = Font(bold=True)
                ws.merge_cells(start_row=r, start_column=c + 1, end_row=r + 1, end_column=c + 1)
        r += 1
    else:
        for c, h in enumerate(headers, start=1):
            ws.cell(row=r, column=c, value=h).font = Font(bold=True)
    r += 1
    runs: dict[int, tuple[Any, int]] = {}
    previous_group: Any = None
    for i, row in enumerate(rows):
        group = row[lay.group_by] if lay.group_by is not None else None
        if lay.blank_between and i > 0 and group != previous_group:
            _close_runs(ws, runs, r - 1)
            runs = {}
            r += 1  # a blank row between groups
        previous_group = group
        for c, v in enumerate(row, start=1):
            if c - 1 in lay.merge_down:
                start = runs.get(c - 1)
                if start is not None and start[0] == v and v not in (None, ""):
                    continue  # covered by the merge of this run
                _close_run(ws, c, start, r - 1)
                runs[c - 1] = (v, r)
            if v is not None and v != "":
                ws.cell(row=r, column=c, value=v)
        r += 1
    _close_runs(ws, runs, r - 1)
    if lay.totals:
        for c, v in lay.totals.items():
            ws.cell(row=r, column=c + 1, value=v).font = Font(bold=True)
    for c, h in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(c)].width = max(8, min(40, 2 * len(str(h)) + 4))
    return ws


def _close_runs(ws: Worksheet, runs: dict[int, tuple[Any, int]], last: int) -> None:
    for pos, start in runs.items():
        _close_run(ws, pos + 1, start, last)


def _close_run(ws: Worksheet, column: int, start: tuple[Any, int] | None, last: int) -> None:
    if start is not None and last > start[1]:
        ws.merge_cells(start_row=start[1], start_column=column, end_row=last, end_column=column)
        ws.cell(row=start[1], column=column).alignment = Alignment(vertical="center")


def save_workbook(wb: Workbook, path: Path) -> None:
    """Save ``wb`` to ``path`` with fixed timestamps, so the same content gives the same bytes."""
    raw = io.BytesIO()
    wb.save(raw)
    raw.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _STAMP.sub(rb"\g<1>" + FIXED_STAMP.encode() + rb"\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            zout.writestr(fixed, data)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(out.getvalue())
    os.replace(tmp, path)
