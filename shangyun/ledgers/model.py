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
    #: doubtful things read anyway, one line each (several IPs in a cell, duplicate headers,
    #: an unknown column whose values look like IPs, a hidden sheet skipped …)
    warnings: list[str] = field(default_factory=list)
    #: rows naming systems or hosts not known yet (dependencies without a 单位 column),
    #: resolved once every file of the import is read (:mod:`shangyun.ledgers.resolve`)
    deferred: list[Deferred] = field(default_factory=list)
    #: how many rows gave a value, per target ("hosts.os": 120)
    filled: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"sheet": self.sheet, "kind": self.kind, "header_row": self.header_row,
                "rows": self.rows, "skipped": self.skipped, "columns": self.columns,
                "unmapped": self.unmapped, "warnings": self.warnings}


@dataclass
class Deferred:
    """A row whose names could not be resolved yet: where it is and its cleaned values."""

    sheet: str | None
    row: int
    kind: str  # the sheet kind: dependencies, databases or disks
    bureau: str  # the row's bureau ("" when the sheet names none: any bureau)
    parts: dict[str, Row]
    columns: dict[str, str]  # target -> header label (for the error's column)


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

    @property
    def warnings(self) -> list[str]:
        """Every warning of the file, each prefixed with its sheet."""
        return [f"sheet {s.sheet!r}: {w}" if s.sheet else w for s in self.sheets
                for w in s.warnings]

    @property
    def deferred(self) -> list[Deferred]:
        """The rows of the file waiting for names (see :class:`Deferred`)."""
        return [d for s in self.sheets for d in s.deferred]

    def counts(self) -> dict[str, int]:
        """Rows per estate table."""
        return {name: len(rows) for name, rows in self.rows.items() if rows}


__all__ = ["Deferred", "Known", "LedgerRead", "Mapping", "Row", "SheetReport"]
