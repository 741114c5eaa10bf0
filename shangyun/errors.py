"""One exception hierarchy for shangyun.

::

    ShangyunError                 base of everything we raise on purpose
    ├── SchemaVersionError        a file written by another schema version
    ├── EstateError               an estate folder that cannot be read or written
    ├── ValidationFailed          an estate with problems (carries every Problem at once)
    ├── LedgerError               a ledger that cannot be understood (file, sheet, row, column)
    ├── ConnectorError            a failure talking to the outside world
    │   ├── TransientError        worth retrying (timeouts, refused connections, 5xx)
    │   ├── HostKeyError          unknown or changed SSH host key: never retried
    │   └── AuthError             authentication refused: never retried
    ├── Interrupted               a tool stopped by Ctrl-C or a stop signal: never retried
    ├── LockLostError             a system's lock lost while its steps or undo ran
    ├── PlanError                 infeasible constraints (names the constraint and systems)
    └── StepError                 a wave step failed (names the system and the step)
        └── VerificationError     a digest, a row count or a comparison differs
"""

from __future__ import annotations

from dataclasses import dataclass


class ShangyunError(Exception):
    """Base class of every error shangyun raises on purpose; its message is user-facing."""


class SchemaVersionError(ShangyunError):
    """A file was written by a schema version this shangyun cannot read."""


class EstateError(ShangyunError):
    """An estate folder cannot be read or written."""


@dataclass(frozen=True)
class Problem:
    """One validation problem: where it is (file, row, column) and what is wrong.

    ``row`` is the 1-based data row as a spreadsheet shows it (the header is row 1, so the
    first data row is row 2); ``None`` when the problem concerns a whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        """The problem as plain JSON-able data."""
        return {"file": self.file, "row": self.row, "column": self.column, "message": self.message}


class ValidationFailed(ShangyunError):
    """An estate (or an import) has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem], what: str = "estate") -> None:
        self.problems = problems
        lines = [f"{what} has {len(problems)} problem(s):"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class LedgerError(ShangyunError):
    """A ledger file cannot be understood. The message names the file, sheet, row, column."""

    def __init__(
        self,
        file: str,
        message: str,
        *,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file, self.sheet, self.row, self.column = file, sheet, row, column
        where = file
        if sheet:
            where += f", sheet {sheet!r}"
        if row is not None:
            where += f", row {row}"
        if column:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


class ConnectorError(ShangyunError):
    """A failure while talking to the outside world (a host, a hypervisor, a cloud)."""


class TransientError(ConnectorError):
    """A failure worth retrying: timeouts, refused connections, throttling."""


class HostKeyError(ConnectorError):
    """An SSH host key is unknown or has changed. Never retried, never auto-accepted."""


class AuthError(ConnectorError):
    """Authentication was refused. Never retried."""


class Interrupted(ShangyunError):
    """A tool a step ran (qemu-img, rsync, pg_dump …) was stopped by Ctrl-C or a stop signal
    (SIGINT, SIGTERM, SIGHUP, SIGQUIT): the command is being interrupted, the tool did not
    fail on its own. Not a :class:`ConnectorError` (a step that lists a connector's failures
    as problems does not list this one). Never retried; the step's system is rolled back as
    interrupted, not as refused or failed (Ctrl-C reaches the terminal's whole process
    group, so the tool may die before the command hears it)."""


STOP_SIGNALS: frozenset[int] = frozenset({2, 15, 1, 3})
"""SIGINT, SIGTERM, SIGHUP, SIGQUIT: the signals a person (or a service manager) stops a
command with."""


def interruption(returncode: int | None, what: str) -> Interrupted | None:
    """The :class:`Interrupted` naming ``what`` if a child process ended by a stop signal
    (``returncode`` is the negative signal number, as :mod:`subprocess` reports it)."""
    if returncode is None or returncode >= 0 or -returncode not in STOP_SIGNALS:
        return None
    name = {2: "SIGINT", 15: "SIGTERM", 1: "SIGHUP", 3: "SIGQUIT"}[-returncode]
    return Interrupted(f"{what}: interrupted ({name}: Ctrl-C or a stop signal)")


def check_not_interrupted(returncode: int | None, what: str) -> None:
    """Raise :func:`interruption`'s error if a child process ended by a stop signal."""
    if (stop := interruption(returncode, what)) is not None:
        raise stop


class LockLostError(ShangyunError):
    """This worker lost its lock on a system while the system's steps (or their undo) ran:
    another worker may be moving it now, so this one stopped and leaves the system alone.
    Never retried; an undo that meets it stops (the rest is the new holder's)."""


class PlanError(ShangyunError):
    """The constraints cannot all be met; the message names the constraint and the systems."""


class StepError(ShangyunError):
    """A wave step failed on a system."""


class InProductionError(StepError):
    """A system is cut over: its target is production. A run never copies, reloads or
    verifies into it again, and only an explicit fail-back or an audited discard undoes it."""


class AuditRecordError(StepError):
    """A destructive undo refused: its step's audit record is missing or not intact."""


class VerificationError(StepError):
    """What arrived differs from what left: a digest, a row count or an image comparison."""
