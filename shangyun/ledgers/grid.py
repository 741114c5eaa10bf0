"""A sheet as a grid of cells, and the port that reads files into grids.

The ledger reader works on grids only; reading a file into grids (python-calamine for
workbooks, encoding detection for CSV) is the job of a :class:`GridReader` it is given —
:func:`connectors.grid.read_grids` in the CLI, the benchmarks and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class Grid:
    """One sheet as rows of cells; ``rows[i]`` is spreadsheet row ``i + 1``.

    ``sheet`` is ``None`` for a CSV file; ``encoding`` is set for CSV files. Every cell of a
    merged range holds the range's top-left value; ``merged`` lists the ranges as 0-based
    ``((first_row, first_col), (last_row, last_col))`` (so a row holding nothing but filled
    cells is known to be blank). A ``hidden`` sheet is listed without its rows.
    ``formula_blanks`` are the 0-based ``(row, col)`` of formula cells saved without a
    value (Excel did not calculate them): they read as blank.
    """

    file: str
    sheet: str | None
    rows: list[list[Any]]
    encoding: str | None = None
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    hidden: bool = False
    formula_blanks: list[tuple[int, int]] = field(default_factory=list)


class GridReader(Protocol):
    """Reads every (visible) sheet of a ledger file into a :class:`Grid` (one for a CSV).

    Raises :class:`~shangyun.errors.LedgerError` naming the file when it cannot be read.
    """

    def __call__(self, path: Path, /) -> list[Grid]:
        """The grids of the file at ``path``."""
        ...


def column_letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column index (0 → A, 27 → AB)."""
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


__all__ = ["Grid", "GridReader", "column_letter"]
