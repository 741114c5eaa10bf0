"""What a journal records, as plain data: runs, step records, and the journal's error.

A journal store (``connectors/journal``) returns these; the wave engine, the runbook and
the CLI read them. Times are aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from shangyun.errors import ShangyunError


class JournalError(ShangyunError):
    """The journal cannot be opened, or a step/run transition is not allowed."""


class NoJournal(JournalError):
    """Opened for reading only, the target holds no journal yet (no file, or a reachable
    database without the journal's tables): nothing has run there."""


class RunBusyError(JournalError):
    """A live process already runs the wave in an overlapping scope (named in the text)."""


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in d.items()}


@dataclass(frozen=True)
class Run:
    """One run of a wave, as recorded."""

    id: str
    wave: int
    status: str
    operator: str
    host: str
    pid: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    ended_at: dt.datetime | None
    resumes: int
    note: str | None = None
    reason: str | None = None
    kind: str = "run"
    bureau: str | None = None
    options: dict[str, Any] | None = None
    only: str | None = None
    flow_run_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def begun_with(self) -> dict[str, Any]:
        """What the run was begun with, as one mapping: its other ``params``, then
        ``options``, ``only``, ``bureau`` and ``flow_run_id`` when set, and its ``kind``."""
        given = {"options": self.options, "only": self.only, "bureau": self.bureau,
                 "flow_run_id": self.flow_run_id}
        return {**self.params, **{k: v for k, v in given.items() if v is not None},
                "kind": self.kind}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class StepEntry:
    """One step of one system in one run, as recorded."""

    id: int
    run_id: str
    wave: int
    system: str
    step: str
    status: str
    attempt: int
    started_at: dt.datetime
    ended_at: dt.datetime | None
    updated_at: dt.datetime
    error: str | None
    undo: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        """How long the last attempt took (None while it runs)."""
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data."""
        return {**_jsonable(asdict(self)), "seconds": self.seconds}


@dataclass(frozen=True)
class StepStart:
    """What a journal's ``step_started`` found: ``skip`` is True when the step is done."""

    entry: StepEntry
    skip: bool

    @property
    def result(self) -> dict[str, Any]:
        """The recorded result of a step that is already done (empty otherwise)."""
        return self.entry.result


__all__ = ["JournalError", "NoJournal", "Run", "StepEntry", "StepStart"]
