"""The grid reader (a connector): a ledger file into raw grids of cells — .xlsx/.xlsm/.xls
via calamine, .csv with encoding detection. No interpretation happens here beyond filling
merged cells; :mod:`shangyun.ledgers` reads the grids.

Excel: python-calamine (Rust) reads the cells — several times faster than openpyxl — and
reports merged ranges; every cell of a merged range gets the range's top-left value (so a
单位 or 系统名称 merged down over many rows is filled down).

CSV: UTF-8 (with or without BOM), UTF-16 with BOM, otherwise GB18030 (a superset of GBK,
what Chinese Excel saves as "CSV"); the delimiter is sniffed among ``, ; tab |``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook

from shangyun.errors import LedgerError
from shangyun.ledgers.grid import Grid

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")


def read_grids(path: Path) -> list[Grid]:
    """Every sheet of ``path`` as a :class:`~shangyun.ledgers.grid.Grid` (one for a CSV
    file); implements :class:`shangyun.ledgers.grid.GridReader`.

    Raises :class:`LedgerError` naming the file when it cannot be opened or decoded.
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise LedgerError(str(path), "no such file")
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(path)
    if suffix in CSV_SUFFIXES:
        return [_read_csv(path)]
    raise LedgerError(str(path), f"unsupported file type {suffix!r}; use .xlsx or .csv "
                                 "(RVTools exports are .xlsx)")


def _read_excel(path: Path) -> list[Grid]:
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, ValueError, OSError) as exc:
        raise LedgerError(str(path), f"cannot be read as a workbook: {exc}") from exc
    grids = []
    try:
        for meta in wb.sheets_metadata:
            if str(meta.visible).endswith("Hidden") or str(meta.visible).endswith("VeryHidden"):
                continue
            if not str(meta.typ).endswith("WorkSheet"):
                continue
            try:
                sheet = wb.get_sheet_by_name(meta.name)
                rows = sheet.to_python(skip_empty_area=False)
                merged = sheet.merged_cell_ranges or []
            except (CalamineError, ValueError) as exc:
                raise LedgerError(str(path), f"cannot be read: {exc}", sheet=meta.name) from exc
            _fill_merged(rows, merged)
            grids.append(Grid(str(path), meta.name, rows))
    finally:
        wb.close()
    return grids


def _fill_merged(rows: list[list[Any]], merged: list[tuple[tuple[int, int], ...]]) -> None:
    """Give every cell of each merged range the value of its top-left cell."""
    for (r0, c0), (r1, c1) in merged:
        if r0 >= len(rows):
            continue
        top = rows[r0][c0] if c0 < len(rows[r0]) else ""
        for r in range(r0, min(r1, len(rows) - 1) + 1):
            row = rows[r]
            for c in range(c0, min(c1, len(row) - 1) + 1):
                if row[c] == "" or row[c] is None:
                    row[c] = top


def decode(data: bytes, file: str) -> tuple[str, str]:
    """``(text, encoding)`` of a CSV file's bytes: UTF-8(-BOM), UTF-16 BOM, else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LedgerError(file, "is neither UTF-8 nor GBK/GB18030 text", row=line) from exc


def _read_csv(path: Path) -> Grid:
    text, encoding = decode(path.read_bytes(), str(path))
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    try:
        rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""), dialect)]
    except csv.Error as exc:
        raise LedgerError(str(path), f"is not valid CSV: {exc}") from exc
    width = max((len(r) for r in rows), default=0)
    for r in rows:
        if len(r) < width:
            r.extend([""] * (width - len(r)))
    return Grid(str(path), None, rows, encoding=encoding)


__all__ = ["CSV_SUFFIXES", "EXCEL_SUFFIXES", "decode", "read_grids"]
