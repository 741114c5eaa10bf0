"""The journal's port: what a journal records and what its readers and writers need.

The journal is the durable record of every run and step, and the tamper-evident audit log
(see ``docs/journal.md``). The core defines here, once, the statuses
(:mod:`shangyun.journal.status`), the records (:mod:`shangyun.journal.records`), the audit
chain's pure computation (:mod:`shangyun.journal.audit`), the fencing tokens writes
carry (:mod:`shangyun.journal.fence`) and the Protocols that the
runbook and the CLI read through (:mod:`shangyun.journal.ports`; the wave engine's are in
:mod:`shangyun.wave.engine` and :mod:`shangyun.wave.journal_port`). The SQL store that
implements them is ``connectors/journal``.
"""

from shangyun.journal.audit import AuditEntry, AuditProblem, VerifyReport, operator_name, redact
from shangyun.journal.fence import FencedWriteError, fence_of, fenced
from shangyun.journal.ports import AuditLog, JournalReader
from shangyun.journal.records import JournalError, Run, StepEntry, StepStart
from shangyun.journal.status import (
    DONE,
    FAILED,
    NEEDS_UNDO,
    RUN_ABORTED,
    RUN_CRASHED,
    RUN_DONE,
    RUN_FAILED,
    RUN_KINDS,
    RUN_RUNNING,
    RUN_STATUSES,
    STARTED,
    STEP_STATUSES,
    UNDO_FAILED,
    UNDOING,
    UNDONE,
)

__all__ = [
    "DONE",
    "FAILED",
    "NEEDS_UNDO",
    "RUN_ABORTED",
    "RUN_CRASHED",
    "RUN_DONE",
    "RUN_FAILED",
    "RUN_KINDS",
    "RUN_RUNNING",
    "RUN_STATUSES",
    "STARTED",
    "STEP_STATUSES",
    "UNDOING",
    "UNDONE",
    "UNDO_FAILED",
    "AuditEntry",
    "AuditLog",
    "AuditProblem",
    "FencedWriteError",
    "JournalError",
    "JournalReader",
    "Run",
    "StepEntry",
    "StepStart",
    "VerifyReport",
    "fence_of",
    "fenced",
    "operator_name",
    "redact",
]
