"""Reading one ledger file (.xlsx or .csv; RVTools exports and estate exports too) into
estate rows.

The file's grids come from the :class:`~shangyun.ledgers.grid.GridReader` the caller passes
(:func:`connectors.grid.read_grids`); the first format of
:data:`shangyun.ledgers.formats.FORMATS` that recognises them reads them
(:mod:`shangyun.ledgers.formats`).
"""

from __future__ import annotations

import functools
import gc
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar

from shangyun.ledgers.collector import KnownIndex
from shangyun.ledgers.formats import FORMATS, LedgerFormat, LedgerInput, detect_format
from shangyun.ledgers.grid import GridReader
from shangyun.ledgers.model import Known, LedgerRead, Mapping

_P = ParamSpec("_P")
_R = TypeVar("_R")


def gc_paused(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with Python's cyclic garbage collector paused (re-enabled afterwards if it
    was on). Reading a ledger makes a few objects per cell, almost none in reference
    cycles: the collector's repeated passes over the whole grid cost 5–15 % of a large
    import and free nearly nothing. Reference counting still frees memory as usual; any
    cycles left are collected when the collector runs again. (The pause is process-wide.)"""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was_on = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_on:
                gc.enable()

    return wrapper


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@gc_paused
def read_ledger(
    path: str | Path,
    *,
    reader: GridReader,
    mapping: Mapping | None = None,
    bureau: str | None = None,
    known: Known | KnownIndex | None = None,
    advance: Callable[[int], None] | None = None,
    source: str | None = None,
    formats: Sequence[LedgerFormat] = FORMATS,
) -> LedgerRead:
    """Read one ledger file into rows: ``reader`` turns it into grids, the first of
    ``formats`` that recognises them reads them.

    ``mapping`` adds header → column entries (a mapping file:
    :func:`shangyun.ledgers.mapping.load_mapping`); ``bureau`` is the bureau for rows
    without a 单位 column; ``known`` is the current estate, used to resolve system and host
    names in database and dependency sheets; ``advance(n)`` is called as rows are read (for
    a progress bar). Raises :class:`~shangyun.errors.LedgerError`.
    """
    p = Path(path)
    grids = reader(p)
    fmt = detect_format(grids, formats)
    rows, sheets = fmt.read(LedgerInput(str(p), grids, source or p.name, mapping or {},
                                        bureau, known, advance))
    return LedgerRead(file=str(p), sha256=sha256_of(p), rows=rows, sheets=sheets,
                      kind=fmt.name)


__all__ = ["gc_paused", "read_ledger", "sha256_of"]
