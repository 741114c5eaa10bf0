"""Ledger formats: each knows how to recognise its files and read their grids.

A format is a :class:`~shangyun.ledgers.formats.base.LedgerFormat` (``name``,
``detect(grids)``, ``read(input)``). :func:`shangyun.ledgers.read.read_ledger` gives a
file's grids to the first format of :data:`FORMATS` whose ``detect`` says yes; the generic
:data:`~shangyun.ledgers.formats.ledger.LEDGER` (sheets with header rows) comes last and
takes everything else.

**To add a format**: write ``shangyun/ledgers/formats/<name>.py`` with a ``detect`` and a
``read`` that adds rows through a :class:`~shangyun.ledgers.collector.Collector` (so ids
stay stable across formats), define ``<NAME> = LedgerFormat(...)`` there, and list it in
:data:`FORMATS` before ``LEDGER``.
"""

from __future__ import annotations

from collections.abc import Sequence

from shangyun.ledgers.formats.base import FormatRead, LedgerFormat, LedgerInput
from shangyun.ledgers.formats.export import EXPORT
from shangyun.ledgers.formats.ledger import LEDGER
from shangyun.ledgers.formats.rvtools import RVTOOLS
from shangyun.ledgers.grid import Grid

#: The formats in the order they are tried; the generic ledger last.
FORMATS: tuple[LedgerFormat, ...] = (RVTOOLS, EXPORT, LEDGER)


def detect_format(grids: list[Grid], formats: Sequence[LedgerFormat] = FORMATS) -> LedgerFormat:
    """The first of ``formats`` that recognises ``grids`` (the last one when none does)."""
    return next((f for f in formats if f.detect(grids)), formats[-1])


__all__ = ["EXPORT", "FORMATS", "LEDGER", "RVTOOLS", "FormatRead", "LedgerFormat",
           "LedgerInput", "detect_format"]
