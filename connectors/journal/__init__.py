"""The journal's SQL store: SQLite (``<estate>/journal.db``) or PostgreSQL (SERIALIZABLE).

::

    from connectors.journal import open_journal

    with open_journal(estate_dir) as j:          # or a postgresql:// URL
        run = j.begin_run(wave=3, operator="zhang.wei")
        start = j.step_started(run, "sys-001", "convert", undo={"path": "/staging/a.qcow2"})
        if not start.skip:
            ...                                   # do the step
            j.step_done(run, "sys-001", "convert", result={"digest": "sm3:…"})

The records, statuses and ports it implements are the core's :mod:`shangyun.journal`; the
wave's adapter is :mod:`connectors.journal.wave`. See ``docs/journal.md``.
"""

from connectors.journal.journal import Journal, open_journal
from connectors.journal.store import JOURNAL_FILE

__all__ = ["JOURNAL_FILE", "Journal", "open_journal"]
