"""The journal's tables (SQLAlchemy 2 declarative models).

::

    journal_meta   key/value: schema version, audit algorithm, audit chain head
    runs           one row per run of a wave (who, where, heartbeat, status: see
                   :mod:`shangyun.journal.status`)
    steps          one row per step per system per run (status, attempt, undo, result)
    fences         the newest fencing token seen per system (distributed runs)
    audit_log      append-only, hash-chained record of every action

Times of runs and steps are naive UTC ``DateTime`` columns (SQLite has no time zones);
:mod:`connectors.journal.journal` turns them into aware UTC datetimes. The audit log keeps its
time as ISO-8601 text, because the text itself is hashed into the chain.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 3
"""1: a run's kind, bureau, options, ``only`` and flow run id were JSON in ``note``;
2: they are columns of ``runs`` (:mod:`connectors.journal.migrate` upgrades 1 → 2);
3: the ``fences`` table (the newest fencing token per system; 2 → 3 creates it)."""


class Base(DeclarativeBase):
    """Declarative base of the journal tables."""

    type_annotation_map = {dict[str, Any]: JSON}  # noqa: RUF012


class Meta(Base):
    """One setting of the journal (schema version, audit algorithm, chain head)."""

    __tablename__ = "journal_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunRow(Base):
    """One run of a wave."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    operator: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    #: the process start time (clock ticks since boot) so a reused pid is not taken as alive
    pid_start: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    resumes: Mapped[int] = mapped_column(Integer, default=0)
    #: what it did: ``run``, ``rollback`` or ``finalize`` (:data:`shangyun.journal.RUN_KINDS`)
    kind: Mapped[str] = mapped_column(String(16), default="run", server_default="run")
    #: the bureau a distributed run was scoped to (None: the whole wave)
    bureau: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: the run options (``RunOptions.to_dict()``) it was begun with
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: the system(s) it was limited to (``wave run --only``)
    only: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the Prefect flow run that ran it
    flow_run_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: any other parameter it was begun with (e.g. a rollback's ``system``)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: free text it was begun with (``begin_run(note=…)``); never rewritten
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: why it ended: the crash found by ``reconcile``, or ``finish_run(note=…)``
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class StepRow(Base):
    """One step of one system in one run."""

    __tablename__ = "steps"
    __table_args__ = (
        UniqueConstraint("run_id", "system", "step", name="uq_step_per_run"),
        Index("ix_steps_wave_system", "wave", "system"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    wave: Mapped[int] = mapped_column(Integer)
    system: Mapped[str] = mapped_column(String(255))
    step: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    undo: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditRow(Base):
    """One audit record; ``hash`` covers its content and ``prev_hash`` (the chain)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))
    operator: Mapped[str] = mapped_column(String(128))
    system: Mapped[str | None] = mapped_column(String(255), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(255))
    result: Mapped[str] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class FenceRow(Base):
    """The newest fencing token a journal write for ``system``'s steps carried."""

    __tablename__ = "fences"

    system: Mapped[str] = mapped_column(String(255), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)
