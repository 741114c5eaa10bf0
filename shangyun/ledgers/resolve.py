"""Rows that wait for names: dependencies, databases and disks naming systems (or hosts)
by name only.

A dependency sheet without a 单位 column (a cross-bureau dependency workbook), or a
database or disk list beside a bureau's main ledger, names systems and hosts that may be
defined in another file of the same import. Such rows are kept aside while the
files are read (:class:`~shangyun.ledgers.model.Deferred`) and resolved here once every
file is merged, so files can be given in any order. Each lookup is a dict access (the
:class:`~shangyun.ledgers.collector.KnownIndex` by name): linear in rows.
"""

from __future__ import annotations

from pathlib import Path

from shangyun.errors import LedgerError
from shangyun.ledgers.collector import Collector, KnownIndex
from shangyun.ledgers.formats.ledger import MAX_PROBLEMS_KEPT
from shangyun.ledgers.formats.ledger_rows import ROW_READERS
from shangyun.ledgers.headers import canonical_header
from shangyun.ledgers.model import LedgerRead, Row
from shangyun.ledgers.values import BadValue


def resolve_deferred(read: LedgerRead, known: KnownIndex, source: str | None = None,
                     ) -> tuple[dict[str, list[Row]], dict[str, str]]:
    """The estate rows of ``read``'s deferred rows, names resolved against
    ``known`` (every system and host of the import by now), and the *placeholders*: the
    systems added because a row names them and no bureau has them (id -> the file, sheet
    and row that named it first).

    A name no bureau has is an error for a row without a bureau; a row with a bureau adds
    it as a new system (or host) of its bureau, as a one-file read does; such a system is
    a placeholder that a later import defining the name takes over
    (:class:`~shangyun.estate.merge.Merger`). Raises
    :class:`LedgerError` naming the file, sheet, row and column of each name that no bureau
    has, or that several have (listing the candidates)."""
    col = Collector(source or Path(read.file).name, known)
    problems: list[tuple[str | None, int, str, str]] = []
    count = 0
    for d in read.deferred:
        parts = {t: dict(v) for t, v in d.parts.items()}
        col.where = (f"{col.source}, " + (f"sheet {d.sheet!r}, " if d.sheet else "")
                     + f"row {d.row}")
        try:
            ROW_READERS[d.kind](col, d.bureau, parts)
        except BadValue as exc:
            count += 1
            if len(problems) < MAX_PROBLEMS_KEPT:
                target = exc.target or "dependencies.source_system"
                problems.append((d.sheet, d.row, d.columns.get(target)
                                 or canonical_header(target), str(exc)))
    if problems:
        sheet, row, column, msg = problems[0]
        if count > 1:
            msg += f"\n  {count - 1} more problem(s) in this file:\n  - " + "\n  - ".join(
                f"sheet {s!r}, row {r}, column {c!r}: {m}" for s, r, c, m in problems[1:31])
            if count - 1 > 30:
                msg += f"\n  … and {count - 31} more"
        raise LedgerError(read.file, msg, sheet=sheet, row=row, column=column)
    return col.rows, col.placeholders


__all__ = ["resolve_deferred"]
