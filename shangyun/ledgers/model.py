"""The ledger reader's plain data: rows, mappings, and what reading one file gave."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shangyun.estate.model import Estate

Row = dict[str, Any]
#: A mapping file, normalized: header (normalized) -> (target or "ignore", unit).
Mapping = dict[str, tuple[str, str]]
#: What names are resolved against: an estate, or its rows per table.
Known = Estate | dict[str, list[Row]]


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


__all__ = ["Known", "LedgerRead", "Mapping", "Row", "SheetReport"]
