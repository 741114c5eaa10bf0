"""Where a journal lives: ``<estate>/journal.db`` (SQLite) or a SQLAlchemy URL (PostgreSQL).

SQLite is opened in WAL mode with ``synchronous=FULL`` (a commit is on disk before it
returns), a busy timeout, and ``BEGIN IMMEDIATE`` transactions, so several processes can
write one journal safely: writers queue instead of failing.

PostgreSQL (psycopg 3 driver; ``postgresql://`` URLs are given it) runs every journal
transaction at ``SERIALIZABLE`` isolation: in distributed mode one journal is written by
a worker per bureau at the same time, and SERIALIZABLE makes each transaction's reads and
writes behave as if the transactions ran one after another (no lost update, no decision
taken on a stale read). PostgreSQL answers a transaction that cannot be serialized with a
serialization failure (SQLSTATE 40001, or 40P01 for a deadlock); ``Journal`` retries the
whole transaction a bounded number of times with a short jittered backoff.

Every write appends to the one audit chain, so writers are serialized on its head row
anyway; under SERIALIZABLE, a writer that waited for that row would then fail (its
snapshot predates the other's commit), and with many workers (8 measured) the retries ran
out. So a writing transaction first takes the journal's write lock
(:func:`lock_for_write`: ``LOCK TABLE journal_meta IN SHARE ROW EXCLUSIVE MODE``, which
takes no snapshot): writers queue, as on SQLite, and never conflict with each other;
pure reads take no lock and see a consistent snapshot.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from shangyun.journal.records import JournalError

JOURNAL_FILE = "journal.db"
BUSY_TIMEOUT_MS = 30_000
PG_ISOLATION = "SERIALIZABLE"
"""The isolation level of every PostgreSQL journal transaction."""


def resolve(target: str | os.PathLike[str]) -> tuple[str, Path | None]:
    """The SQLAlchemy URL for ``target`` and, for SQLite, the database file.

    ``target`` is an estate folder (→ ``<folder>/journal.db``), a ``.db`` file, or a URL
    such as ``postgresql://user@127.0.0.1:5432/journal``.
    """
    text = os.fspath(target)
    if "://" in text:
        try:
            url = make_url(text)
        except ArgumentError as exc:
            raise JournalError(f"journal URL {text!r} is not a database URL: {exc}") from None
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        if url.drivername.startswith("sqlite"):
            db = url.database
            return url.render_as_string(hide_password=False), Path(db) if db else None
        return url.render_as_string(hide_password=False), None
    path = Path(text)
    if path.suffix != ".db":
        if not path.is_dir():
            raise JournalError(f"estate folder {path} does not exist (the journal lives in "
                               f"{path / JOURNAL_FILE})")
        path = path / JOURNAL_FILE
    return f"sqlite:///{path.resolve()}", path.resolve()


def display(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the journal's durability and concurrency settings
    (:class:`JournalError` for a URL of a kind the journal cannot use)."""
    kind = make_url(url).drivername
    if not (kind.startswith("sqlite") or kind.startswith("postgresql")):
        raise JournalError(f"journal URL {display(url)}: {kind.split('+')[0]!r} databases "
                           f"cannot hold a journal; give an estate folder, a .db file or a "
                           f"postgresql:// URL")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4,
                         isolation_level=PG_ISOLATION)


def lock_for_write(session: Session) -> None:
    """Take the journal's write lock for the rest of ``session``'s transaction (PostgreSQL;
    SQLite's ``BEGIN IMMEDIATE`` already did). Call it before the first read: the lock is
    a table lock on ``journal_meta`` that every writer takes (self-conflicting), while
    plain reads and ``SELECT … FOR UPDATE`` of other tables are not blocked by it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE journal_meta IN SHARE ROW EXCLUSIVE MODE"))


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE (pysqlite would defer the lock)
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
