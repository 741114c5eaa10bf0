"""The journal (durable record of runs and steps) and the tamper-evident audit log.

::

    from shangyun.journal import open_journal

    with open_journal(estate_dir) as j:          # or a postgresql:// URL
        run = j.begin_run(wave=3, operator="zhang.wei")
        start = j.step_started(run, "sys-001", "convert", undo={"path": "/staging/a.qcow2"})
        if not start.skip:
            ...                                   # do the step
            j.step_done(run, "sys-001", "convert", result={"digest": "sm3:…"})

See ``docs/journal.md`` for the whole API and how resume and rollback use it.
"""

from shangyun.journal.audit import AuditEntry, AuditProblem, VerifyReport, operator_name, redact
from shangyun.journal.journal import Journal, Run, StepEntry, StepStart, open_journal
from shangyun.journal.models import (
    DONE,
    FAILED,
    NEEDS_UNDO,
    RUN_ABORTED,
    RUN_CRASHED,
    RUN_DONE,
    RUN_FAILED,
    RUN_RUNNING,
    STARTED,
    STEP_STATUSES,
    UNDO_FAILED,
    UNDOING,
    UNDONE,
)
from shangyun.journal.store import JOURNAL_FILE, JournalError

__all__ = [
    "DONE",
    "FAILED",
    "JOURNAL_FILE",
    "NEEDS_UNDO",
    "RUN_ABORTED",
    "RUN_CRASHED",
    "RUN_DONE",
    "RUN_FAILED",
    "RUN_RUNNING",
    "STARTED",
    "STEP_STATUSES",
    "UNDOING",
    "UNDONE",
    "UNDO_FAILED",
    "AuditEntry",
    "AuditProblem",
    "Journal",
    "JournalError",
    "Run",
    "StepEntry",
    "StepStart",
    "VerifyReport",
    "open_journal",
    "operator_name",
    "redact",
]
