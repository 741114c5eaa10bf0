"""Upgrade a journal written by an older shangyun to :data:`models.SCHEMA_VERSION`.

:meth:`connectors.journal.Journal.open` calls :func:`migrate` inside its first write
transaction (with the journal's write lock held), so a migration is all-or-nothing (SQLite
and PostgreSQL both roll DDL back) and runs once: a second process opening the same old
journal waits for the lock, then finds the new version and does nothing. A journal of a
*newer* version than this code is refused before anything is touched.

Version 1 → 2: a run's kind, bureau, options, ``only`` and flow run id were JSON in the
free-text ``note`` column (and, since ``note`` was once rewritten, re-read from the run's
``run begin`` audit record). Version 2 gives them columns; the migration adds the columns
and fills them from each run's ``run begin`` audit record (or its note), leaving the note
and the audit chain as they were.

Version 2 → 3: the ``fences`` table (the newest fencing token per system) is created empty.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import inspect, select, text, update
from sqlalchemy.orm import Session

from connectors.journal.models import SCHEMA_VERSION, AuditRow, FenceRow, RunRow
from shangyun.journal.records import JournalError
from shangyun.wave.journal_port import run_kind

RUN_COLUMNS_V2 = ("kind", "bureau", "options", "only", "flow_run_id", "params")
"""The columns version 2 added to ``runs``."""
_NAMED = ("bureau", "options", "only", "flow_run_id", "kind")


def migrate(session: Session, found: int) -> None:
    """Bring the journal in ``session`` from schema version ``found`` to the current one
    (the caller records the new version and commits)."""
    if found < 1 or found > SCHEMA_VERSION:
        raise JournalError(f"cannot migrate a journal of schema version {found}")
    if found < 2:
        _v1_to_v2(session)
    if found < 3:
        FenceRow.__table__.create(session.connection(), checkfirst=True)


def _v1_to_v2(session: Session) -> None:
    conn = session.connection()
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    have = {c["name"] for c in inspect(conn).get_columns(RunRow.__tablename__)}
    table = RunRow.__table__
    for name in RUN_COLUMNS_V2:
        if name in have:
            continue
        col = table.c[name]
        ddl = f"ALTER TABLE {RunRow.__tablename__} ADD COLUMN {quote(name)} " \
              f"{col.type.compile(dialect=dialect)}"
        if name == "kind":
            ddl += " NOT NULL DEFAULT 'run'"
        session.execute(text(ddl))
    begun = {rid: details for rid, details in session.execute(
        select(AuditRow.run_id, AuditRow.details).where(AuditRow.action == "run begin"))}
    for rid, note in session.execute(select(table.c.id, table.c.note)).all():
        params = _legacy_params(begun.get(rid), note)
        session.execute(update(table).where(table.c.id == rid).values(**v1_columns(params)))


def _legacy_params(audit_details: str | None, note: str | None) -> dict[str, Any]:
    """What a version-1 run was begun with: the JSON note of its ``run begin`` audit
    record, else its own note; {} when neither is a JSON object (a free-text note)."""
    for source in (_begin_note(audit_details), note):
        try:
            value = json.loads(source) if source else None
        except (TypeError, ValueError):
            continue
        if isinstance(value, dict):
            return value
    return {}


def _begin_note(details: str | None) -> str | None:
    try:
        value = json.loads(details) if details else None
    except ValueError:
        return None
    note = value.get("note") if isinstance(value, dict) else None
    return note if isinstance(note, str) else None


def v1_columns(params: dict[str, Any]) -> dict[str, Any]:
    """Version-2 column values from version-1 params."""
    bureau, only, flow = params.get("bureau"), params.get("only"), params.get("flow_run_id")
    options = params.get("options")
    return {"kind": run_kind(params),
            "bureau": str(bureau) if bureau not in (None, "") else None,
            "options": dict(options) if isinstance(options, dict) else None,
            "only": str(only) if only is not None else None,
            "flow_run_id": str(flow) if flow is not None else None,
            "params": {k: v for k, v in params.items() if k not in _NAMED}}


__all__ = ["RUN_COLUMNS_V2", "migrate", "v1_columns"]
