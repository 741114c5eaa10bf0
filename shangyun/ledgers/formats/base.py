"""What a ledger format is: a name, a test on the grids, and a reader of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shangyun.ledgers.collector import KnownIndex
from shangyun.ledgers.grid import Grid
from shangyun.ledgers.model import Known, Mapping, Row, SheetReport

#: What a format's reader returns: estate rows per table and a report per sheet read.
FormatRead = tuple[dict[str, list[Row]], list[SheetReport]]


@dataclass
class LedgerInput:
    """One ledger file as a format reads it: its grids and what the caller said about it.

    ``source`` is the name rows are attributed to (their ``source`` column); ``mapping``
    adds header → column entries; ``bureau`` is the bureau for rows without a 单位 column;
    ``known`` is the current estate (to resolve names); ``advance(n)`` reports rows read.
    """

    file: str
    grids: list[Grid]
    source: str
    mapping: Mapping = field(default_factory=dict)
    bureau: str | None = None
    known: Known | KnownIndex | None = None
    advance: Callable[[int], None] | None = None
    #: leave rows naming systems/hosts no file has yet in ``SheetReport.deferred`` (an
    #: import of many files resolves them at the end); else resolve them in this file
    defer: bool = False

    def progress(self, rows: int) -> None:
        """Report ``rows`` more rows read (when someone listens)."""
        if self.advance is not None:
            self.advance(rows)


@dataclass(frozen=True)
class LedgerFormat:
    """One kind of ledger file.

    ``name`` is recorded as the file's ``kind`` (``estate.yaml`` sources, import reports);
    ``detect(grids)`` says whether a file is of this format; ``read(input)`` turns its grids
    into estate rows, raising :class:`~shangyun.errors.LedgerError` naming the file, sheet,
    row and column of what it cannot understand.
    """

    name: str
    detect: Callable[[list[Grid]], bool]
    read: Callable[[LedgerInput], FormatRead]


__all__ = ["FormatRead", "LedgerFormat", "LedgerInput"]
