"""The audit log's storage: the ``audit_log`` table and its chain head in ``journal_meta``.

The chain itself (canonical content, SHA-256/SM3 hashes, checks) is the core's
:mod:`shangyun.journal.audit`; this module appends records to the table inside a journal
transaction and reads them back for :func:`verify`.

With a :class:`connectors.journal.heads.HeadKeeper`, the head also carries an HMAC under
the audit key (kept outside the journal), and each appended record is queued in the
session (:data:`PENDING`) for the journal to publish to the head log once committed.
The journal's identity (``journal_id``, a random id made with the journal) ties both to
this journal.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.journal.heads import HeadKeeper
from connectors.journal.models import AuditRow, Meta
from shangyun.digest import check_algorithm
from shangyun.journal.audit import (
    GENESIS,
    AuditProblem,
    PublishedHead,
    VerifyReport,
    canonical_json,
    check_chain,
    check_published,
    record_hash,
    redact,
    utc_now_text,
)

META_ALGORITHM = "audit_algorithm"
META_HEAD = "audit_head"
META_JOURNAL_ID = "journal_id"
PENDING = "shangyun_audit_pending"
"""``session.info`` key: the records appended in this transaction, to publish after commit."""


def journal_id(session: Session, *, create: bool = False) -> str | None:
    """This journal's random identity (made on first write for journals older than it)."""
    meta = session.get(Meta, META_JOURNAL_ID)
    if meta is None and create:
        meta = Meta(key=META_JOURNAL_ID, value=uuid.uuid4().hex)
        session.add(meta)
    return meta.value if meta else None


def get_algorithm(session: Session) -> str | None:
    """The audit algorithm recorded in this journal, or None if none is recorded yet."""
    meta = session.get(Meta, META_ALGORITHM)
    return meta.value if meta else None


def set_algorithm(session: Session, algorithm: str) -> None:
    """Record the audit algorithm of a new journal (call once, at creation)."""
    session.add(Meta(key=META_ALGORITHM, value=check_algorithm(algorithm)))
    session.add(Meta(key=META_HEAD, value=canonical_json({"seq": 0, "hash": GENESIS})))
    journal_id(session, create=True)


def append(session: Session, *, action: str, result: str, operator: str,
           system: str | None = None, run_id: str | None = None,
           details: Mapping[str, Any] | None = None,
           algorithm: str | None = None, keeper: HeadKeeper | None = None) -> AuditRow:
    """Append one record to the chain inside ``session``'s transaction.

    The chain head row is locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's write
    transaction is already exclusive), so concurrent writers never fork the chain. The
    caller commits. ``algorithm`` saves a lookup when the caller knows the journal's.
    With ``keeper`` the new head is keyed (``mac``) and the record is queued in
    ``session.info[PENDING]`` to be published after the commit.
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
    new_head: dict[str, Any] = {"seq": row.seq, "hash": row.hash}
    if keeper is not None:
        jid = journal_id(session, create=True)
        assert jid is not None
        new_head["mac"] = keeper.head_mac(algorithm, jid, row.seq, row.hash)
        session.info.setdefault(PENDING, []).append((algorithm, jid, row))
    head.value = canonical_json(new_head)
    return row


def publish_pending(session: Session, keeper: HeadKeeper) -> None:
    """Publish the records committed by ``session``'s transaction to the head log."""
    pending = session.info.pop(PENDING, [])
    by_journal: dict[tuple[str, str], list[AuditRow]] = {}
    for algorithm, jid, row in pending:
        by_journal.setdefault((algorithm, jid), []).append(row)
    for (algorithm, jid), rows in by_journal.items():
        keeper.publish(algorithm, jid, rows)


@dataclass(frozen=True)
class HeadLog:
    """A journal's head log as read *before* the transaction that checks the journal
    against it takes its snapshot.

    Why before: a record is published only after its transaction committed, so every
    record in a head log read before the snapshot is in that snapshot unless it was
    deleted. Read after the snapshot (on PostgreSQL a pure read takes no lock while
    another worker writes), the log can already hold records committed after the
    snapshot, and a check would call them "published but not in the journal (deleted)"
    — a false alarm that refused destructive undos during distributed rollbacks."""

    journal_id: str
    heads: dict[int, PublishedHead] = field(default_factory=dict)
    problems: list[AuditProblem] = field(default_factory=list)
    note: str | None = None


def read_head_log(session: Session, keeper: HeadKeeper) -> HeadLog | None:
    """The head log of ``session``'s journal, read now (None: the journal has no id yet).

    Give ``session`` a transaction of its own that has ended before the checking one
    begins (see :class:`HeadLog`); the journal's id and algorithm never change."""
    jid = journal_id(session)
    if jid is None:
        return None
    heads, problems, note = keeper.published(get_algorithm(session) or "sha256", jid)
    return HeadLog(jid, heads, problems, note)


def _head_log(keeper: HeadKeeper, algorithm: str, jid: str, log: HeadLog | None) -> HeadLog:
    """``log`` when it is this journal's; otherwise the head log read now (only for a
    journal that got its id between the two reads, once in its life)."""
    if log is not None and log.journal_id == jid:
        return log
    heads, problems, note = keeper.published(algorithm, jid)
    return HeadLog(jid, heads, problems, note)


def _head_state(session: Session) -> dict[str, Any]:
    head = session.get(Meta, META_HEAD)
    return json.loads(head.value) if head else {"seq": 0, "hash": GENESIS}


def check_head_key(session: Session, algorithm: str, state: Mapping[str, Any],
                   keeper: HeadKeeper, published: bool) -> tuple[list[AuditProblem], list[str]]:
    """Problems and notes of the journal's head against the audit key."""
    jid = journal_id(session)
    seq, digest, mac = int(state["seq"]), str(state["hash"]), state.get("mac")
    if mac is None:
        if seq and published:
            return [AuditProblem(seq, None, None, "unkeyed-head",
                                 f"the chain head (record {seq}) carries no MAC but heads "
                                 f"of this journal were published: the head was rewritten "
                                 f"without the key")], []
        return [], ["the chain head carries no MAC (written before keyed heads, or empty)"]
    if jid is None:
        return [AuditProblem(seq, None, None, "forged-head",
                             "the chain head carries a MAC but the journal's id is gone: "
                             "the journal's metadata was rewritten")], []
    want = keeper.head_mac(algorithm, jid, seq, digest, create=False)
    if want is None:
        return [AuditProblem(seq, None, None, "no-key",
                             f"the chain head is keyed but the audit key "
                             f"{keeper.key_path} does not exist here: point "
                             f"$SHANGYUN_AUDIT_KEY at the key that wrote it")], []
    if want != mac:
        return [AuditProblem(seq, None, None, "forged-head",
                             f"the chain head (record {seq}) does not carry the audit key's "
                             f"MAC: the head was rewritten without the key (a cut tail, or "
                             f"records forged after it)")], []
    return [], []


def verify(session: Session, anchor: tuple[int, str] | None = None,
           keeper: HeadKeeper | None = None, log: HeadLog | None = None) -> VerifyReport:
    """Recompute the whole chain and report every record whose content or link is broken.

    ``anchor`` = ``(seq, hash)`` noted earlier outside the journal (e.g. in a signed
    runbook): record ``seq`` must still have that hash, which a rewrite of the whole chain
    from there on cannot fake. With ``keeper``, the head's MAC is checked under the audit
    key and the journal is compared with the heads published to this host's head log
    (``log``, read by :func:`read_head_log` before this transaction: see
    :class:`HeadLog`): published records that are gone are named, rewritten ones too.
    """
    algorithm = get_algorithm(session) or "sha256"
    state = _head_state(session)
    jid = journal_id(session)
    published: dict[int, Any] = {}
    log_problems: list[AuditProblem] = []
    notes: list[str] = []
    where = ""
    if keeper is not None and jid is not None:
        read = _head_log(keeper, algorithm, jid, log)
        published, log_problems = read.heads, read.problems
        where = str(keeper.head_log(jid))
        notes += [read.note] if read.note else []
    stored: dict[int, str] = {}

    def rows() -> Any:
        for row in session.scalars(select(AuditRow).order_by(AuditRow.seq)
                                   .execution_options(yield_per=2000)):  # streamed
            if row.seq in published:
                stored[row.seq] = row.hash
            yield row

    problems, count = check_chain(algorithm, rows(), int(state["seq"]), state["hash"])
    keyed = False
    if keeper is not None:
        key_problems, key_notes = check_head_key(session, algorithm, state, keeper,
                                                 bool(published))
        keyed = state.get("mac") is not None and not key_problems
        problems += key_problems + log_problems + check_published(published, stored, where)
        notes += key_notes
    if anchor is not None:
        seq, want = anchor
        row = session.get(AuditRow, seq)
        if row is None or row.hash != want:
            got = "is missing" if row is None else f"has hash {row.hash}"
            problems.append(AuditProblem(
                seq, row.ts if row else None, row.action if row else None, "anchor",
                f"record {seq} {got}, but {want} was noted for it: the chain was rewritten"))
    return VerifyReport(algorithm, count, int(state["seq"]), state["hash"], problems,
                        notes, keyed, len(published))


def step_record_problem(session: Session, keeper: HeadKeeper | None, *, run_id: str,
                        system: str, step: str, status: str,
                        log: HeadLog | None = None) -> str | None:
    """Why the audit record of ``step`` of ``system`` in ``run_id`` cannot be trusted, or
    None when it is present and intact. Called before a destructive undo.

    The newest audit record ``step <step>`` of that system and run must say ``status`` (the
    step's journaled status), recompute to its hash, link to the record before it and be
    linked by the one after it, match the head published for it (if any), and the chain
    head must carry the audit key's MAC (when the head is keyed). ``log``: the head log
    read by :func:`read_head_log` before this transaction (see :class:`HeadLog`).
    """
    algorithm = get_algorithm(session) or "sha256"
    what = f"step {step} of system {system} (run {run_id})"
    row = session.scalars(
        select(AuditRow).where(AuditRow.action == f"step {step}", AuditRow.system == system,
                               AuditRow.run_id == run_id)
        .order_by(AuditRow.seq.desc()).limit(1)).first()
    if row is None:
        return f"the audit log has no record of {what}: records were deleted"
    where = f"audit record {row.seq} of {what}"
    if row.result != status:
        return (f"{where} says {row.result!r} but the journal says {status!r}: the newest "
                f"audit records of the step were deleted")
    if record_hash(algorithm, row, row.prev_hash) != row.hash:
        return f"{where} does not match its hash: it was altered"
    prev = session.get(AuditRow, row.seq - 1) if row.seq > 1 else None
    if (prev.hash if prev is not None else GENESIS) != row.prev_hash:
        return f"{where} does not link to the record before it: records were deleted or altered"
    after = session.get(AuditRow, row.seq + 1)
    state = _head_state(session)
    if after is not None and after.prev_hash != row.hash:
        return f"{where} is not linked by the record after it: the chain was rewritten"
    if after is None and int(state["seq"]) != row.seq:
        return f"{where} is followed by no record, but the chain head is {state['seq']}: " \
               f"records were deleted"
    if keeper is None:
        return None
    jid = journal_id(session)
    if jid is not None:
        read = _head_log(keeper, algorithm, jid, log)
        published, log_problems = read.heads, read.problems
        if log_problems:
            return log_problems[0].message
        if published:
            stored = {seq: digest for seq, digest in session.execute(
                select(AuditRow.seq, AuditRow.hash).where(AuditRow.seq >= min(published))
                .execution_options(yield_per=5000)) if seq in published}
            cut = check_published(published, stored, str(keeper.head_log(jid)), shown=5)
            if cut:
                return cut[0].message
    problems, _ = check_head_key(session, algorithm, state, keeper, False)
    bad = [p for p in problems if p.kind != "no-key"]
    return bad[0].message if bad else None
