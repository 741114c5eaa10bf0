"""Open an estate's journal for reading only (the runbook's and the report's history).

::

    with open_reader(estate_dir) as journal:        # None when the estate has no journal
        ctx = runbook_context(estate_dir, 1, "en", journal=journal)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from connectors.journal.journal import Journal, open_journal
from connectors.journal.store import JOURNAL_FILE
from shangyun.journal.records import NoJournal


def journal_target(estate_dir: str | Path) -> str | None:
    """The journal to read: ``$SHANGYUN_JOURNAL`` or ``<estate>/journal.db`` (None: none)."""
    url = os.environ.get("SHANGYUN_JOURNAL")
    if url:
        return url
    path = Path(estate_dir) / JOURNAL_FILE
    return str(estate_dir) if path.is_file() else None


@contextmanager
def open_reader(estate_dir: str | Path) -> Iterator[Journal | None]:
    """The estate's journal opened without creating it, or None when there is none yet: no
    ``<estate>/journal.db``, or a ``$SHANGYUN_JOURNAL`` database no run has written to (no
    journal tables). A journal that cannot be opened (damaged, a bad URL) is an error.

    Only reads are made through it (no ``reconcile``), so a runbook can be rendered while a
    wave runs."""
    target = journal_target(estate_dir)
    if target is None:
        yield None
        return
    with ExitStack() as stack:
        try:
            journal = stack.enter_context(open_journal(target, create=False))
        except NoJournal:
            journal = None
        yield journal


__all__ = ["journal_target", "open_reader"]
