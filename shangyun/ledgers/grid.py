"""A sheet as a grid of cells, and the port that reads files into grids.

The ledger reader works on grids only; reading a file into grids (python-calamine for
workbooks, encoding detection for CSV) is the job of a :class:`GridReader` it is given —
:func:`connectors.grid.read_grids` in the CLI, the benchmarks and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, overload


class LazyRows(Sequence[list[Any]]):
    """Rows pulled from an iterator only as far as they are asked for (a CSV file read as
    it is used): ``rows[i]`` and ``rows[a:b]`` read up to that row, ``len(rows)`` reads
    to the end. A reader going forward through a huge file calls :meth:`forget_before`
    for the rows it is done with, so memory holds one stretch of the file, not all of it;
    a reader that stops early (too many problems) never reads the rest.

    Each row is padded with ``""`` to the widest row seen before it.
    """

    def __init__(self, source: Iterable[list[Any]]) -> None:
        self._source: Iterator[list[Any]] | None = iter(source)
        self._rows: list[list[Any]] = []
        self._base = 0  # index of self._rows[0]; rows before it were forgotten
        self._width = 0

    def _fill(self, upto: int | None) -> None:
        """Read rows until ``upto`` rows exist (all of them for ``None``)."""
        src = self._source
        if src is None:
            return
        rows, width = self._rows, self._width
        need = None if upto is None else upto - self._base
        while need is None or len(rows) < need:
            row = next(src, None)
            if row is None:
                self._source = None
                break
            n = len(row)
            if n < width:
                row.extend([""] * (width - n))
            elif n > width:
                width = n
            rows.append(row)
        self._width = width

    def __len__(self) -> int:
        self._fill(None)
        return self._base + len(self._rows)

    def __bool__(self) -> bool:
        self._fill(self._base + 1)
        return bool(self._rows) or self._base > 0

    @overload
    def __getitem__(self, i: int) -> list[Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[list[Any]]: ...

    def __getitem__(self, i: int | slice) -> list[Any] | list[list[Any]]:
        if isinstance(i, slice):
            if i.step not in (None, 1) or (i.start or 0) < 0 or (i.stop or 0) < 0:
                self._fill(None)
            else:
                self._fill(i.stop)
            start, stop, _ = i.indices(self._base + len(self._rows))
            if start < self._base and start < stop:
                raise IndexError(f"row {start} was already forgotten")
            return self._rows[max(0, start - self._base):max(0, stop - self._base)]
        if i < 0:
            self._fill(None)
            i += self._base + len(self._rows)
        else:
            self._fill(i + 1)
        if i < self._base:
            raise IndexError(f"row {i} was already forgotten")
        return self._rows[i - self._base]

    def __iter__(self) -> Iterator[list[Any]]:
        i = self._base
        while True:
            self._fill(i + 1)
            if i - self._base >= len(self._rows):
                return
            yield self._rows[i - self._base]
            i += 1

    @property
    def held(self) -> int:
        """How many rows are in memory now (read and not forgotten)."""
        return len(self._rows)

    def forget_before(self, index: int) -> None:
        """Drop the rows before ``index`` (they were read; they are not needed again)."""
        drop = min(index - self._base, len(self._rows))
        if drop > 0:
            del self._rows[:drop]
            self._base += drop


def rows_upto(rows: Sequence[list[Any]], start: int, stop: int) -> int:
    """``min(stop, len(rows))`` without reading a :class:`LazyRows` past ``stop``."""
    if isinstance(rows, LazyRows):
        return start + len(rows[start:stop]) if stop > start else start
    return min(stop, len(rows))


@dataclass
class Grid:
    """One sheet as rows of cells; ``rows[i]`` is spreadsheet row ``i + 1``.

    ``sheet`` is ``None`` for a CSV file; ``encoding`` is set for CSV files. Every cell of a
    merged range holds the range's top-left value; ``merged`` lists the ranges as 0-based
    ``((first_row, first_col), (last_row, last_col))`` (so a row holding nothing but filled
    cells is known to be blank). A ``hidden`` sheet is listed without its rows.
    ``formula_blanks`` are the 0-based ``(row, col)`` of formula cells saved without a
    value (Excel did not calculate them): they read as blank. ``hidden_rows`` are the
    0-based rows hidden in Excel; ``filtered`` tells that the sheet has an AutoFilter
    (rows it hides are data out of view, read like the others; rows hidden by hand are
    skipped with a warning).
    """

    file: str
    sheet: str | None
    rows: Sequence[list[Any]]
    encoding: str | None = None
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    hidden: bool = False
    formula_blanks: list[tuple[int, int]] = field(default_factory=list)
    hidden_rows: list[int] = field(default_factory=list)
    filtered: bool = False


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


__all__ = ["Grid", "GridReader", "LazyRows", "column_letter", "rows_upto"]
