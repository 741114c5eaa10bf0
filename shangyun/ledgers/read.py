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
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from shangyun.errors import LedgerError
from shangyun.estate.schema import TABLES
from shangyun.ledgers.collector import KnownIndex
from shangyun.ledgers.formats import FORMATS, LedgerFormat, LedgerInput, detect_format
from shangyun.ledgers.grid import GridReader
from shangyun.ledgers.model import Known, LedgerRead, Mapping, Row, SheetReport

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


def sha256_of(path: Path, stop: threading.Event | None = None) -> str:
    """The SHA-256 of a file's bytes (``""`` if ``stop`` is set before the end)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            if stop is not None and stop.is_set():
                return ""
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
    defer: bool = False,
) -> LedgerRead:
    """Read one ledger file into rows: ``reader`` turns it into grids, the first of
    ``formats`` that recognises them reads them.

    ``mapping`` adds header → column entries (a mapping file:
    :func:`shangyun.ledgers.mapping.load_mapping`); ``bureau`` is the bureau for rows
    without a 单位 column; ``known`` is the current estate, used to resolve system and host
    names in database and dependency sheets; ``advance(n)`` is called as rows are read (for
    a progress bar). With ``defer`` rows naming systems or hosts no file has yet are left in
    ``read.deferred`` (see :mod:`shangyun.ledgers.resolve`) instead of being resolved in
    this file alone. Raises :class:`~shangyun.errors.LedgerError`.
    """
    p = Path(path)
    all_grids = reader(p)
    grids = [g for g in all_grids if not g.hidden]
    fmt = detect_format(grids, formats)
    # the file's SHA-256 on a thread while the rows are read (hashing and file reads run
    # with the GIL released: the reader's Python goes on meanwhile); a file refused stops it
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(sha256_of, p, stop)
        try:
            rows, sheets = fmt.read(LedgerInput(str(p), grids, source or p.name,
                                                mapping or {}, bureau, known, advance, defer))
            check_ids(str(p), rows)
        except BaseException:
            stop.set()
            raise
        sha256 = digest.result()
    sheets += [SheetReport(g.sheet, "hidden", 0, 0, 0, warnings=[
        "the sheet is hidden in Excel: skipped (unhide it to import it)"])
        for g in all_grids if g.hidden]
    return LedgerRead(file=str(p), sha256=sha256, rows=rows, sheets=sheets,
                      kind=fmt.name)


#: What an id may be made of (ids become file names and paths further on).
ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")
_ID_COLUMNS = {t: [c.name for c in TABLES[t].columns if c.name == "id" or c.ref]
               for t in TABLES}


#: What an id may be made of, as bytes, with the newline that joins a column's ids.
_ID_BYTES = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-\n")


def _ids_ok(table_rows: list[Row], cols: list[str]) -> bool:
    """``True`` when every id of ``cols`` in ``table_rows`` is well made
    (:data:`ID_PATTERN`, no ``..``): each column's ids are checked at once, joined by
    newlines — nothing left when the allowed bytes are deleted from the joined text
    (``bytes.translate``, a C loop), one ``..`` search, the longest id's length; a column
    with empty cells (``None``) is checked by its distinct ids."""
    for c in cols:
        column: list[Any] = list(map(dict.get, table_rows, repeat(c)))
        types = set(map(type, column))
        if types != {str}:
            if not types <= {str, type(None)}:
                return False
            distinct = set(column)
            distinct.discard(None)
            column = list(distinct)
        if not column:
            continue
        joined = "\n".join(column)
        if (not joined.isascii() or joined.encode("ascii").translate(None, _ID_BYTES)
                or ".." in joined or joined.count("\n") != len(column) - 1  # none inside
                or max(map(len, column)) > 128):
            return False
    return True


def check_ids(file: str, rows: dict[str, list[Row]]) -> None:
    """Refuse ids (and references to ids) that are not ``[A-Za-z0-9._-]`` or hold ``..``:
    ids from an edited export or a mapping file reach file names further on."""
    for table, table_rows in rows.items():
        cols = _ID_COLUMNS.get(table, [])
        if _ids_ok(table_rows, cols):
            continue  # the usual case; otherwise row by row, to name the first bad one
        for n, row in enumerate(table_rows, start=1):
            for c in cols:
                v = row.get(c)
                if v is None or v == "":
                    continue
                if type(v) is not str or not ID_PATTERN.fullmatch(v) or ".." in v:
                    raise LedgerError(file, f"{table} row {n}: id {str(v)[:60]!r} is not "
                                      "made of letters, digits, '.', '_' and '-' (no '..')",
                                      sheet=table, row=n, column=c)


__all__ = ["ID_PATTERN", "check_ids", "gc_paused", "read_ledger", "sha256_of"]
