"""What the runbook and the CLI need from a journal (the wave engine's ports are in
:mod:`shangyun.wave.engine` and :mod:`shangyun.wave.journal_port`).

``connectors.journal.Journal`` implements both; the CLI opens it and passes it in, so the
core never opens a database itself.
"""

from __future__ import annotations

from typing import Protocol

from shangyun.journal.audit import AuditEntry, VerifyReport
from shangyun.journal.records import Run, StepEntry


class JournalReader(Protocol):
    """Read access to runs and steps (the runbook's and the report's history)."""

    @property
    def target(self) -> str:
        """Where the journal was opened: an estate folder, a ``.db`` file or a URL."""
        ...

    def runs(self, wave: int | None = None, status: str | None = None) -> list[Run]:
        """Runs, oldest first, optionally of one wave and/or one status."""
        ...

    def wave_steps(self, wave: int, system: str | None = None) -> list[StepEntry]:
        """Every step record of every run of ``wave`` (optionally one system), oldest first."""
        ...


class AuditLog(Protocol):
    """Read access to the audit log (``shangyun audit``)."""

    @property
    def url(self) -> str:
        """Where the journal lives, with any password hidden."""
        ...

    def audit_entries(self, *, system: str | None = None, run: Run | str | None = None,
                      limit: int | None = None) -> list[AuditEntry]:
        """Audit records in chain order (the last ``limit`` ones when given)."""
        ...

    def verify_audit(self, anchor: tuple[int, str] | None = None) -> VerifyReport:
        """Recompute the audit chain; the report names the first broken record, if any."""
        ...


__all__ = ["AuditLog", "JournalReader"]
