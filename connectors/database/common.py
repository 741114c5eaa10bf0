"""What both database engines share: endpoints, per-table digests, secret files, commands.

A :class:`TableDigest` is what verification compares and what the journal keeps: the row
count and an engine-specific checksum of one table. Credentials never appear in argv or in
a message: they go into a 0600 temporary file that is removed when the command ends.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from shangyun.errors import (
    ConnectorError,
    StepError,
    TransientError,
    VerificationError,
    check_not_interrupted,
)


@dataclass(frozen=True)
class DbEndpoint:
    """One database on one server. ``password`` is never printed (``repr`` hides it)."""

    host: str
    port: int
    user: str
    dbname: str
    password: str | None = None

    def __repr__(self) -> str:
        return f"DbEndpoint({self.where()})"

    def where(self) -> str:
        """``user@host:port/dbname`` — for messages; never carries the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    def same_server(self, other: DbEndpoint) -> bool:
        """True when both endpoints name the same server (host and port)."""
        return (self.host, self.port) == (other.host, other.port)

    def with_db(self, dbname: str) -> DbEndpoint:
        """The same server and credentials, another database."""
        return DbEndpoint(self.host, self.port, self.user, dbname, self.password)


@dataclass(frozen=True)
class TableDigest:
    """Row count and checksum of one table (``schema.table`` for PostgreSQL)."""

    table: str
    rows: int
    checksum: str

    def to_dict(self) -> dict[str, object]:
        """Plain data for the journal."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TableDigest:
        """Read back what :meth:`to_dict` wrote."""
        return cls(str(data["table"]), int(str(data["rows"])), str(data["checksum"]))


@dataclass
class CopyResult:
    """What a copy or a delta did: the target's digests after it, and the tables re-copied."""

    target: DbEndpoint
    digests: dict[str, TableDigest]
    recopied: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Plain data for the journal (no password)."""
        return {"target": self.target.where(), "recopied": self.recopied,
                "dropped": self.dropped,
                "digests": {k: v.to_dict() for k, v in sorted(self.digests.items())}}


@dataclass(frozen=True)
class TableDiff:
    """One table whose source and target differ (``None`` = the table is missing there)."""

    table: str
    source: TableDigest | None
    target: TableDigest | None

    def __str__(self) -> str:
        if self.target is None:
            return f"{self.table}: missing on the target"
        if self.source is None:
            return f"{self.table}: only on the target"
        if self.source.rows != self.target.rows:
            return (f"{self.table}: {self.source.rows} rows on the source, "
                    f"{self.target.rows} on the target")
        return f"{self.table}: same row count ({self.source.rows}), checksums differ"


def compare_digests(source: dict[str, TableDigest],
                    target: dict[str, TableDigest]) -> list[TableDiff]:
    """Every table whose row count or checksum differs, or that exists on one side only."""
    diffs = []
    for name in sorted(set(source) | set(target)):
        s, t = source.get(name), target.get(name)
        if s is None or t is None or s.rows != t.rows or s.checksum != t.checksum:
            diffs.append(TableDiff(name, s, t))
    return diffs


def require_same(what: str, source: dict[str, TableDigest],
                 target: dict[str, TableDigest]) -> None:
    """Raise :class:`~shangyun.errors.VerificationError` naming every table that differs."""
    diffs = compare_digests(source, target)
    if diffs:
        raise VerificationError(f"{what}: {len(diffs)} table(s) differ: "
                                + "; ".join(str(d) for d in diffs))


def refuse_source_as_target(source: DbEndpoint, target: DbEndpoint) -> None:
    """The target must never be the source: copy and undo would destroy it.

    This compares the endpoints as written (cheap, no connection); each engine then compares
    the *server identity* too (``refuse_same_database`` in :mod:`.postgres` and
    :mod:`.mariadb`), which catches ``localhost`` vs ``127.0.0.1``, DNS aliases and VIPs."""
    if source.same_server(target) and source.dbname == target.dbname:
        raise StepError(f"target {target.where()} is the source database; refusing")


def source_gone(engine: str, ep: DbEndpoint, what: str) -> StepError:
    """The refusal of a fail-back (``what``: writing the reverse delta into it) whose
    source database no longer exists: nowhere to carry the production writes."""
    return StepError(f"{engine} {ep.where()}: database {ep.dbname!r} no longer exists on "
                     f"the source server (dropped since the copy?); refusing to {what} "
                     "it — a fail-back writes only into the very database the system was "
                     "copied from, so the target stays in production: keep it there "
                     "(shangyun wave finalize after the soak)")


OWNER_MARK = "shangyun-owned"
"""How the comment on a database shangyun created begins (its ownership marker)."""

_COPY_OF = re.compile(rf"^{OWNER_MARK}: copy of (?P<where>.*?) \[(?P<of>[^\]]+)\] made ")


def ownership_comment(source: DbEndpoint, of: str = "") -> str:
    """The comment written on a target database when shangyun creates it: the marker, the
    source as written and ``of``, the source's identity (``[postgresql SYSID/OID]``,
    ``[mariadb UID/SCHEMA]``), which a later drop or reload must match."""
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ident = f" [{of}]" if of else ""
    return f"{OWNER_MARK}: copy of {source.where()}{ident} made {when}"


def require_ours(target: DbEndpoint, comment: str | None, what: str,
                 source: DbEndpoint | None = None, of: str = "") -> None:
    """Refuse to ``what`` (drop, replace, reload) a database without our ownership marker
    — or, with ``of`` (the identity of ``source``), one whose marker names another
    source: another system's or another estate's copy on a shared server, perhaps in
    production there. A marker written before identities were (no ``[…]``) passes."""
    if not (comment or "").startswith(OWNER_MARK):
        raise StepError(f"database {target.dbname!r} on {target.host}:{target.port} was not "
                        f"created by shangyun (no {OWNER_MARK!r} marker in its comment); "
                        f"refusing to {what} it — drop or rename it yourself if it is "
                        "really a leftover")
    m = _COPY_OF.match(comment or "")
    if of and m and m.group("of") != of:
        mine = source.where() if source is not None else of
        raise StepError(f"database {target.dbname!r} on {target.host}:{target.port} is "
                        f"shangyun's copy of another source ({m.group('where')}, "
                        f"{m.group('of')}), not of {mine} ({of}): the target of another "
                        f"system or another estate sharing the server, perhaps in "
                        f"production; refusing to {what} it — give this system a target "
                        "database of its own in plan/cutover.yaml")


@contextmanager
def secret_file(text: str, suffix: str = "") -> Iterator[str]:
    """A 0600 temporary file holding ``text``, removed on exit."""
    fd, path = tempfile.mkstemp(prefix="shangyun-secret-", suffix=suffix)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        yield path
    finally:
        with suppress(FileNotFoundError):
            os.unlink(path)


def run_checked(argv: Sequence[str], what: str, *, env: dict[str, str] | None = None,
                stdin: bytes | None = None, timeout: float | None = None) -> bytes:
    """Run a command; a non-zero exit becomes a :class:`ConnectorError` with its stderr."""
    try:
        proc = subprocess.run(list(argv), input=stdin, capture_output=True, env=env,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TransientError(f"{what}: timed out after {timeout} s") from exc
    except FileNotFoundError as exc:
        raise ConnectorError(f"{what}: {argv[0]} is not installed") from exc
    check_not_interrupted(proc.returncode, f"{what}: {argv[0]}")
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()[-2000:]
        raise ConnectorError(f"{what}: {argv[0]} exited {proc.returncode}: {err}")
    return proc.stdout


def run_pipe(producer: Sequence[str], consumer: Sequence[str], what: str, *,
             env: dict[str, str] | None = None) -> None:
    """``producer | consumer`` without a shell; the stream is passed on untouched.

    Both exit codes are checked; stderr of either is in the error message."""
    cons = subprocess.Popen(list(consumer), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    prod = subprocess.Popen(list(producer), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    assert cons.stdin is not None and prod.stdout is not None
    broken = False
    try:
        while chunk := prod.stdout.read(1 << 20):
            cons.stdin.write(chunk)
    except BrokenPipeError:
        broken = True
    finally:
        try:
            cons.stdin.close()
        except BrokenPipeError:
            broken = True
    prod_err = prod.stderr.read() if prod.stderr else b""
    prod.wait()
    cons_err = cons.stderr.read() if cons.stderr else b""
    cons.wait()
    check_not_interrupted(prod.returncode, f"{what}: {producer[0]}")
    check_not_interrupted(cons.returncode, f"{what}: {consumer[0]}")
    if prod.returncode != 0 or cons.returncode != 0 or broken:
        err = (prod_err + b"\n" + cons_err).decode(errors="replace").strip()[-2000:]
        raise ConnectorError(f"{what}: {producer[0]} exited {prod.returncode}, "
                             f"{consumer[0]} exited {cons.returncode}: {err}")
