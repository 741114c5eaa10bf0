"""The tamper-evident audit log: an append-only, hash-chained record (the pure part).

Each record's ``hash`` is the digest (SHA-256 or SM3, chosen once per journal and recorded
by the journal) of its canonical content — sequence number, time, operator, system,
run, action, result, details — followed by the previous record's hash::

    hash[n] = H( canonical_json(content[n]) || "\\n" || hash[n-1] )      hash[0] = "0" * 64

The chain head (last sequence number and hash) is also kept by the journal, so that a
deleted *last* record is caught too. :func:`check_chain` recomputes the chain and names the
first record whose content or link does not match: an edited, deleted or reordered record
breaks either its own hash or the next record's link.

A hash chain alone proves that nothing was changed *unless everything after the change
was recomputed, head included*. Two defences sit outside the journal (``docs/journal.md``):

- **A keyed head.** The head also carries ``mac = HMAC(key, journal id, seq, hash)`` (HMAC
  with SHA-256, or with SM3 for an SM3 chain) under a secret key kept in a file outside
  the estate: a head rewritten without the key (a deleted tail, a forged record appended)
  no longer matches its MAC (:func:`head_mac`).
- **Published heads.** Every record appended is also published, after its commit, as one
  keyed line of an append-only head log beside the key (:func:`published_line`); the
  journal's writer cannot rewrite that file. :func:`check_published` compares the journal
  with it: a published record that is gone is named (sequence, time, action, system), a
  published record whose hash changed was rewritten, a line whose MAC is wrong was forged.

``shangyun audit verify`` also prints the head, which can be kept in a signed runbook and
passed back as an anchor.

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

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from shangyun.digest import Digest, check_algorithm

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
    """A journal's ``verify_audit``: ok, or the first broken record (and all problems).

    ``notes`` say what could not be checked without being a problem (e.g. a journal
    written before keyed heads, or no head published on this host)."""

    algorithm: str
    records: int
    head_seq: int
    head_hash: str
    problems: list[AuditProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    keyed: bool = False
    published: int = 0

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
                "problems": [p.to_dict() for p in self.problems],
                "keyed_head": self.keyed, "published_heads": self.published,
                "notes": list(self.notes)}


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


# --------------------------------------------------------------------- keyed heads

def keyed_mac(algorithm: str, key: bytes, message: str) -> str:
    """HMAC of ``message`` under ``key``: HMAC-SHA256, or SM3-HMAC for an SM3 chain."""
    alg = check_algorithm(algorithm)
    h = crypto_hmac.HMAC(key, hashes.SM3() if alg == "sm3" else hashes.SHA256())
    h.update(message.encode("utf-8"))
    return h.finalize().hex()


def head_mac(algorithm: str, key: bytes, journal_id: str, seq: int, head_hash: str) -> str:
    """The MAC of the chain head ``(seq, head_hash)`` of journal ``journal_id``."""
    return keyed_mac(algorithm, key, canonical_json(
        {"journal": journal_id, "seq": int(seq), "hash": head_hash}))


@dataclass(frozen=True)
class PublishedHead:
    """One line of the head log: record ``seq`` of journal ``journal`` had ``hash``."""

    journal: str
    seq: int
    hash: str
    ts: str
    action: str
    system: str | None
    run_id: str | None

    def describe(self) -> str:
        """``"5 (2026-…, step s1/copy/pg, system s1, run r1)"``."""
        bits = [self.ts, self.action]
        if self.system:
            bits.append(f"system {self.system}")
        if self.run_id:
            bits.append(f"run {self.run_id}")
        return f"{self.seq} ({', '.join(bits)})"


def published_line(algorithm: str, key: bytes, journal_id: str, row: AuditRecord) -> str:
    """The head-log line (JSON, no newline) that publishes ``row`` as the head."""
    body = {"journal": journal_id, "seq": row.seq, "hash": row.hash, "ts": row.ts,
            "action": row.action, "system": row.system, "run_id": row.run_id}
    return canonical_json({**body, "mac": keyed_mac(algorithm, key, canonical_json(body))})


def parse_published(algorithm: str, key: bytes | None, journal_id: str, lines: Iterable[str],
                    where: str) -> tuple[dict[int, PublishedHead], list[AuditProblem]]:
    """The heads published for ``journal_id`` in the head-log ``lines`` (other journals'
    lines are skipped), and a problem for each line that is not well formed or whose MAC
    is wrong (a forged line). Without ``key`` MACs cannot be checked, and nothing is
    returned."""
    heads: dict[int, PublishedHead] = {}
    problems: list[AuditProblem] = []
    if key is None:
        return heads, problems
    for n, text in enumerate(lines, 1):
        text = text.strip()
        if not text:
            continue
        try:
            data = json.loads(text)
            if data.get("journal") != journal_id:
                continue
            body = {k: data[k] for k in ("journal", "seq", "hash", "ts", "action", "system",
                                         "run_id")}
            good = keyed_mac(algorithm, key, canonical_json(body)) == data["mac"]
        except (ValueError, KeyError, TypeError, AttributeError):
            problems.append(AuditProblem(None, None, None, "head-log",
                                         f"{where} line {n} is not a published head"))
            continue
        if not good:
            problems.append(AuditProblem(
                int(body["seq"]) if isinstance(body["seq"], int) else None, None, None,
                "forged-head", f"{where} line {n} (record {body['seq']}) does not carry "
                               f"this key's MAC: the line was forged"))
            continue
        head = PublishedHead(journal_id, int(body["seq"]), str(body["hash"]), str(body["ts"]),
                             str(body["action"]), body["system"], body["run_id"])
        first = heads.get(head.seq)
        if first is None:
            heads[head.seq] = head
        elif first.hash != head.hash:
            problems.append(AuditProblem(
                head.seq, head.ts, head.action, "rewritten",
                f"record {head.seq} was published twice with different hashes in {where} "
                f"(first {first.describe()}, then {head.describe()}): records were deleted "
                f"and the journal wrote new ones in their place"))
    return heads, problems


def _ranges(seqs: list[int]) -> str:
    out: list[str] = []
    start = prev = seqs[0]
    for s in [*seqs[1:], -1]:
        if s == prev + 1:
            prev = s
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = s
    return ", ".join(out)


def check_published(published: Mapping[int, PublishedHead], stored: Mapping[int, str],
                    where: str, *, shown: int = 20) -> list[AuditProblem]:
    """Problems of the journal against the heads published for it: each published record
    that is no longer stored (a cut tail or a deleted record, named with its sequence
    number, time, action and system), and each whose stored hash differs (rewritten).

    ``stored`` maps the sequence numbers of the journal's records that were published to
    their stored hashes."""
    problems: list[AuditProblem] = []
    missing = sorted(s for s in published if s not in stored)
    if missing:
        named = "; ".join(published[s].describe() for s in missing[:shown])
        more = f"; and {len(missing) - shown} more" if len(missing) > shown else ""
        last = published[missing[-1]]
        problems.append(AuditProblem(
            missing[0], published[missing[0]].ts, published[missing[0]].action, "cut",
            f"record(s) {_ranges(missing)} were published to {where} when written but are "
            f"not in the journal (deleted; the newest published is {last.seq}): "
            f"{named}{more}"))
    for seq in sorted(s for s in published if s in stored and stored[s] != published[s].hash):
        p = published[seq]
        problems.append(AuditProblem(
            seq, p.ts, p.action, "rewritten",
            f"record {seq} ({p.ts}, {p.action}) has hash {stored[seq]} but {p.hash} was "
            f"published for it in {where}: the chain was rewritten"))
    return problems
