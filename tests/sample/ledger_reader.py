"""A small reader of the written ledgers for the tests (not the importer): finds the header
row, resolves headers with the alias table, drops title/blank/合计 rows, fills merged cells."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd

from shangyun.ledgers.headers import IGNORE, lookup

KIND_MARKERS = (
    ("dependencies", "dependencies.source_system"), ("databases", "databases.engine"),
    ("disks", "disks.name"), ("hosts", "hosts.ip"), ("systems", "systems.owner"),
    ("bureaus", "bureaus.region"),
)
RVTOOLS = ("vInfo", "vDisk", "vNetwork")


def sheets(path: Path) -> dict[str, list[list[Any]]]:
    """Every sheet of a ledger file as rows of cell values (merged cells: top-left only)."""
    if path.suffix == ".csv":
        text = path.read_bytes().decode("gbk")
        return {path.stem: [list(r) for r in csv.reader(io.StringIO(text))]}
    wb = openpyxl.load_workbook(path, data_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb}


def table(rows: list[list[Any]]) -> tuple[str, pd.DataFrame] | None:
    """``(kind, frame with target columns)`` of one ledger sheet, or ``None``."""
    for i, row in enumerate(rows[:6]):
        targets = [lookup(c)[0] for c in row]
        known = [t for t in targets if t and t != IGNORE]
        if len(known) < 3:
            continue
        kind = next((k for k, marker in KIND_MARKERS if marker in known), None)
        if kind is None:
            continue
        row, start = _two_row_header(rows, i)
        cols = [lookup(c, kind)[0] for c in row]
        body = [r for r in rows[start:] if any(v not in (None, "") for v in r)]
        body = [r for r in body if str(r[0]).strip() != "合计"]
        df = pd.DataFrame(body, columns=[c or f"?{j}" for j, c in enumerate(cols)])
        for c in ("bureaus.name", "systems.name"):
            if c in df.columns and kind in ("hosts", "systems"):
                df[c] = df[c].replace("", None).ffill()
        return kind, df
    return None


def _two_row_header(rows: list[list[Any]], i: int) -> tuple[list[Any], int]:
    """The header (row ``i``, combined with the row below when that one holds the headers
    under a group cell such as 配置) and the index of the first data row."""
    head = list(rows[i])
    if i + 1 >= len(rows):
        return head, i + 1
    below = rows[i + 1]
    filled = [c for c, v in enumerate(below) if v is not None and lookup(v)[0]
              and not (head[c] and lookup(head[c])[0])]
    if len(filled) < 2:
        return head, i + 1
    for c in filled:
        head[c] = below[c]
    return head, i + 2


def read_all(ledger_dir: Path) -> dict[str, pd.DataFrame]:
    """Every ledger sheet under ``ledger_dir`` concatenated per kind (RVTools kept apart)."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for path in sorted(ledger_dir.rglob("*")):
        if path.suffix not in (".xlsx", ".csv"):
            continue
        for name, rows in sheets(path).items():
            if name in RVTOOLS:
                df = pd.DataFrame(rows[1:], columns=rows[0])
                parts.setdefault(name, []).append(df)
                continue
            found = table(rows)
            if found:
                parts.setdefault(found[0], []).append(found[1])
    return {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}


def size_gb(value: Any) -> float:
    """A size cell ("16G", "2 TB", "16 GB", 16) in GB."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().upper().replace(" ", "")
    for unit, factor in (("TB", 1024.0), ("GB", 1.0), ("T", 1024.0), ("G", 1.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)
