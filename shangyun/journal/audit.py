"""The tamper-evident audit log: an append-only, hash-chained record (the pure part).

Each record's ``hash`` is the digest (SHA-256 or SM3, chosen once per journal and recorded
by the journal) of its canonical content — sequence number, time, operator, system,
run, action, result, details — followed by the previous record's hash::

    hash[n] = H( canonical_json(content[n]) || "\\n" || hash[n-1] )      hash[0] = "0" * 64

The chain head (last sequence number and hash) is also kept by the journal, so that a
deleted *last* record is caught too. :func:`check_chain` recomputes the chain and names the
first record whose content or link does not match: an edited, deleted or reordered record
breaks either its own hash or the next record's link.

A hash chain proves that nothing was changed *unless everything after the change was
recomputed, head included*; to defend against that, copy the head hash (``shangyun audit
verify`` prints it) somewhere the journal's writers cannot change (a signed runbook).

This module computes and checks the chain; a journal store (``connectors/journal/audit.py``)
persists it.

Details never hold secrets: values under keys named like password, secret, token, api key,
private key or credential are replaced by ``"***"`` before they are hashed and stored.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from shangyun.digest import Digest

GENESIS = "0" * 64
REDACTED = "***"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?$|pwd|secret|token|api[-_]?key|private[-_]?key|credential|"
    r"^auth(orization)?$|session[-_]?key|access[-_]?key[-_]?secret",
    re.IGNORECASE)


class AuditRecord(Protocol):
    """One stored audit record, as a journal store holds it (``details`` is the canonical
    JSON text that was hashed)."""

    seq: int
    ts: str
    operator: str
    system: str | None
    run_id: str | None
    action: str
    result: str
    details: str
    prev_hash: str
    hash: str


def operator_name(explicit: str | None = None) -> str:
    """Who acts: ``explicit``, else ``$SHANGYUN_OPERATOR``, else the login name."""
    if explicit:
        return explicit
    env = os.environ.get("SHANGYUN_OPERATOR", "").strip()
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret-looking key's value replaced by ``"***"``."""
    if isinstance(value, Mapping):
        return {str(k): (REDACTED if _SECRET_KEY.search(str(k)) else redact(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces, UTF-8 kept) for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def utc_now_text() -> str:
    """The current UTC time as ISO-8601 text with microseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def record_hash(algorithm: str, row: AuditRecord | Mapping[str, Any], prev_hash: str) -> str:
    """The chain hash of one audit record's content linked to ``prev_hash``."""
    get = row.get if isinstance(row, Mapping) else lambda k: getattr(row, k)
    content = {k: get(k) for k in ("seq", "ts", "operator", "system", "run_id", "action",
                                   "result", "details")}
    d = Digest(algorithm)
    d.update(canonical_json(content).encode("utf-8"))
    d.update(b"\n")
    d.update(prev_hash.encode("ascii"))
    return d.hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One audit record as plain data."""

    seq: int
    ts: str
    operator: str
    system: str | None
    run_id: str | None
    action: str
    result: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: AuditRecord) -> AuditEntry:
        """Build an entry from a stored record."""
        try:
            details = json.loads(row.details)
        except ValueError:
            details = {"unparsable": row.details}
        return cls(row.seq, row.ts, row.operator, row.system, row.run_id, row.action,
                   row.result, details, row.prev_hash, row.hash)

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-able data."""
        return asdict(self)


@dataclass(frozen=True)
class AuditProblem:
    """The first place where the chain does not hold."""

    seq: int | None
    ts: str | None
    action: str | None
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The problem as JSON-able data."""
        return asdict(self)


@dataclass
class VerifyReport:
    """A journal's ``verify_audit``: ok, or the first broken record (and all problems)."""

    algorithm: str
    records: int
    head_seq: int
    head_hash: str
    problems: list[AuditProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the whole chain holds."""
        return not self.problems

    @property
    def first(self) -> AuditProblem | None:
        """The first problem found, in chain order."""
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {"ok": self.ok, "algorithm": self.algorithm, "records": self.records,
                "head_seq": self.head_seq, "head_hash": self.head_hash,
                "first_problem": self.first.to_dict() if self.first else None,
                "problems": [p.to_dict() for p in self.problems]}


def _where(row: AuditRecord) -> str:
    return f"record {row.seq} ({row.ts}, {row.action})"


def check_chain(algorithm: str, rows: Iterable[AuditRecord], head_seq: int,
                head_hash: str) -> tuple[list[AuditProblem], int]:
    """Every problem of the chain ``rows`` (in stored ``seq`` order) against its head, and
    the number of records read."""
    problems: list[AuditProblem] = []
    prev_hash, prev_seq, count = GENESIS, 0, 0
    last: AuditRecord | None = None
    for row in rows:
        last, count = row, count + 1
        if row.seq != prev_seq + 1:
            kind = "missing" if row.seq > prev_seq + 1 else "reordered"
            problems.append(AuditProblem(
                row.seq, row.ts, row.action, kind,
                f"{_where(row)}: sequence jumps from {prev_seq} to {row.seq} "
                f"(record(s) deleted or renumbered before it)"))
        own = record_hash(algorithm, row, row.prev_hash)
        if own != row.hash:
            problems.append(AuditProblem(
                row.seq, row.ts, row.action, "altered",
                f"{_where(row)}: content does not match its hash (record altered)"))
        elif row.prev_hash != prev_hash:
            problems.append(AuditProblem(
                row.seq, row.ts, row.action, "link",
                f"{_where(row)}: does not link to the record before it (a record before "
                f"it was deleted, altered or reordered)"))
        prev_hash, prev_seq = row.hash, row.seq
    if last is None and head_seq:
        problems.append(AuditProblem(None, None, None, "truncated",
                                     f"audit log is empty but its head says {head_seq} "
                                     f"record(s): records deleted"))
    elif last is not None and (last.seq != head_seq or last.hash != head_hash):
        problems.append(AuditProblem(
            last.seq, last.ts, last.action, "truncated",
            f"{_where(last)} is the last record but the chain head is record {head_seq} "
            f"(records after it deleted, or the head altered)"))
    return problems, count


def parse_anchor(text: str) -> tuple[int, str]:
    """``"SEQ:HASH"`` (as ``audit verify`` prints the head) → ``(seq, hash)``."""
    seq, sep, digest = text.strip().partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise ValueError(f"anchor {text!r} is not SEQ:HASH (a record number and its "
                         f"64-hex-digit hash)")
    return int(seq), digest.lower()
