"""The audit log's storage: the ``audit_log`` table and its chain head in ``journal_meta``.

The chain itself (canonical content, SHA-256/SM3 hashes, checks) is the core's
:mod:`shangyun.journal.audit`; this module appends records to the table inside a journal
transaction and reads them back for :func:`verify`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.journal.models import AuditRow, Meta
from shangyun.digest import check_algorithm
from shangyun.journal.audit import (
    GENESIS,
    AuditProblem,
    VerifyReport,
    canonical_json,
    check_chain,
    record_hash,
    redact,
    utc_now_text,
)

META_ALGORITHM = "audit_algorithm"
META_HEAD = "audit_head"


def get_algorithm(session: Session) -> str | None:
    """The audit algorithm recorded in this journal, or None if none is recorded yet."""
    meta = session.get(Meta, META_ALGORITHM)
    return meta.value if meta else None


def set_algorithm(session: Session, algorithm: str) -> None:
    """Record the audit algorithm of a new journal (call once, at creation)."""
    session.add(Meta(key=META_ALGORITHM, value=check_algorithm(algorithm)))
    session.add(Meta(key=META_HEAD, value=canonical_json({"seq": 0, "hash": GENESIS})))


def append(session: Session, *, action: str, result: str, operator: str,
           system: str | None = None, run_id: str | None = None,
           details: Mapping[str, Any] | None = None,
           algorithm: str | None = None) -> AuditRow:
    """Append one record to the chain inside ``session``'s transaction.

    The chain head row is locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's write
    transaction is already exclusive), so concurrent writers never fork the chain. The
    caller commits. ``algorithm`` saves a lookup when the caller knows the journal's.
    """
    algorithm = algorithm or get_algorithm(session)
    if algorithm is None:
        raise RuntimeError("journal has no audit algorithm recorded")
    head = session.execute(
        select(Meta).where(Meta.key == META_HEAD).with_for_update()).scalar_one()
    state = json.loads(head.value)
    row = AuditRow(seq=int(state["seq"]) + 1, ts=utc_now_text(), operator=operator,
                   system=system, run_id=run_id, action=action, result=result,
                   details=canonical_json(redact(dict(details or {}))),
                   prev_hash=state["hash"], hash="")
    row.hash = record_hash(algorithm, row, state["hash"])
    session.add(row)
    head.value = canonical_json({"seq": row.seq, "hash": row.hash})
    return row


def verify(session: Session, anchor: tuple[int, str] | None = None) -> VerifyReport:
    """Recompute the whole chain and report every record whose content or link is broken.

    ``anchor`` = ``(seq, hash)`` noted earlier outside the journal (e.g. in a signed
    runbook): record ``seq`` must still have that hash, which a rewrite of the whole chain
    from there on cannot fake.
    """
    algorithm = get_algorithm(session) or "sha256"
    head = session.get(Meta, META_HEAD)
    state = json.loads(head.value) if head else {"seq": 0, "hash": GENESIS}
    rows = session.scalars(select(AuditRow).order_by(AuditRow.seq)
                           .execution_options(yield_per=2000))  # streamed, not all in memory
    problems, count = check_chain(algorithm, rows, int(state["seq"]), state["hash"])
    if anchor is not None:
        seq, want = anchor
        row = session.get(AuditRow, seq)
        if row is None or row.hash != want:
            got = "is missing" if row is None else f"has hash {row.hash}"
            problems.append(AuditProblem(
                seq, row.ts if row else None, row.action if row else None, "anchor",
                f"record {seq} {got}, but {want} was noted for it: the chain was rewritten"))
    return VerifyReport(algorithm, count, int(state["seq"]), state["hash"], problems)
