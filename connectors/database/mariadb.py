"""MariaDB/MySQL: initial copy (``mariadb-dump --single-transaction | mariadb``), per-table
row counts and ``CHECKSUM TABLE``, final delta (tables that differ are dumped again, with
their definition, and replace the target's), and undo (drop the target database).

Credentials go into a 0600 ``--defaults-extra-file`` that is removed afterwards, never into
argv or a log.

A dump from the source is untrusted input: it is loaded by ``mariadb --sandbox``, which
refuses every client command that touches the file system or runs a program (``\\!``,
``source`` …), and every database or table name handed to ``mariadb-dump``/``mariadb``
comes after ``--`` (a table named ``-e…`` is a name, never an option). MariaDB has no
``@@server_uuid``, so "is the target the source?" is decided by the server itself: a
named lock taken on the source connection must be visible from the target connection
(``GET_LOCK``/``IS_USED_LOCK``), whatever the host strings say. A target database is
dropped or replaced only when its schema comment carries shangyun's ownership marker
(``CREATE DATABASE … COMMENT``, written when shangyun created it).

``CHECKSUM TABLE`` depends on the row format, so compare tables on servers of
the same major version (as a migration onto the cloud's managed MariaDB does).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pymysql

from connectors.database.common import (
    CopyResult,
    DbEndpoint,
    TableDigest,
    compare_digests,
    ownership_comment,
    refuse_source_as_target,
    require_ours,
    require_same,
    run_pipe,
    secret_file,
)
from shangyun.errors import AuthError, StepError, TransientError

_DUMP = "mariadb-dump"
_CLIENT = "mariadb"


MyCopyResult = CopyResult
"""What a MariaDB copy or delta did (the engine-neutral :class:`CopyResult`)."""


class Connection(pymysql.connections.Connection):  # type: ignore[misc]
    """pymysql's connection, its TLS context of the default (preferred: TLS when the
    server offers it, certificate not checked) mode made once per process.

    pymysql 1.2+ builds that context for every connection: ``ssl.create_default_context``
    loads the system CA bundle, about 30 ms each time, for a certificate it then does not
    check (a wave's data steps open hundreds of connections). Shared, it is the same
    context: the settings are pymysql's own (:func:`_preferred_tls`)."""

    def _create_ssl_ctx(self, sslp: object) -> ssl.SSLContext:
        if isinstance(sslp, dict) and not sslp:
            return _preferred_tls()
        return super()._create_ssl_ctx(sslp)  # type: ignore[no-any-return]


@functools.cache
def _preferred_tls() -> ssl.SSLContext:
    """pymysql's context for the preferred mode (no CA given), made once."""
    return pymysql.connections.Connection._create_ssl_ctx(None, {})  # type: ignore[arg-type]


def connect(ep: DbEndpoint, dbname: str | None = "") -> pymysql.connections.Connection:
    """A pymysql connection to ``ep`` (``dbname=None``: no default database)."""
    try:
        return Connection(host=ep.host, port=ep.port, user=ep.user,
                               password=ep.password or "",
                               database=(ep.dbname if dbname == "" else dbname),
                               autocommit=True, connect_timeout=10)
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else 0
        if code in (1044, 1045, 1698):
            raise AuthError(f"MariaDB {ep.where()}: access denied") from exc
        raise TransientError(f"MariaDB {ep.where()}: {exc.args[-1]}") from exc


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@contextmanager
def _defaults(ep: DbEndpoint) -> Iterator[str]:
    """A 0600 option file with the client credentials, removed on exit."""
    def val(v: object) -> str:
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["[client]", f"host={val(ep.host)}", f"port={ep.port}", f"user={val(ep.user)}",
             "protocol=TCP"]
    if ep.password:
        lines.append(f"password={val(ep.password)}")
    with secret_file("\n".join(lines) + "\n", suffix=".cnf") as path:
        yield path


def tables(ep: DbEndpoint) -> list[str]:
    """Every base table of the database."""
    with connect(ep, None) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                    "AND table_type = 'BASE TABLE' ORDER BY 1", (ep.dbname,))
        return [str(r[0]) for r in cur.fetchall()]


def digests(ep: DbEndpoint) -> dict[str, TableDigest]:
    """Row count and ``CHECKSUM TABLE … EXTENDED`` of every table."""
    names = tables(ep)
    out: dict[str, TableDigest] = {}
    if not names:
        return out
    with connect(ep) as conn, conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE " + ", ".join(_q(n) for n in names) + " EXTENDED")
        sums = {str(r[0]).split(".", 1)[1]: str(r[1]) for r in cur.fetchall()}
        for n in names:
            cur.execute(f"SELECT COUNT(*) FROM {_q(n)}")
            row = cur.fetchone()
            out[n] = TableDigest(n, int(row[0]) if row else 0, sums.get(n, "None"))
    return out


def database_exists(ep: DbEndpoint) -> bool:
    """True when ``ep.dbname`` exists on its server."""
    with connect(ep, None) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                    (ep.dbname,))
        return cur.fetchone() is not None


def same_server(a: DbEndpoint, b: DbEndpoint) -> bool:
    """True when ``a`` and ``b`` reach the same MariaDB server, by asking the servers: a
    named lock taken through ``a`` is seen as held through ``b`` only on the same server."""
    token = f"shangyun-identity-{secrets.token_hex(12)}"
    with connect(a, None) as ca, ca.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, 0), CONNECTION_ID()", (token,))
        got = cur.fetchone()
        try:
            with connect(b, None) as cb, cb.cursor() as cur2:
                cur2.execute("SELECT IS_USED_LOCK(%s)", (token,))
                holder = cur2.fetchone()
        finally:
            cur.execute("SELECT RELEASE_LOCK(%s)", (token,))
    return bool(got and got[0] == 1 and holder and holder[0] == got[1])


def server_uid(ep: DbEndpoint) -> str:
    """The server's own identity: MariaDB's ``@@server_uid`` (MySQL: ``@@server_uuid``)."""
    with connect(ep, None) as conn, conn.cursor() as cur:
        for var in ("@@server_uid", "@@server_uuid"):
            try:
                cur.execute(f"SELECT {var}")
            except pymysql.err.MySQLError:
                continue
            row = cur.fetchone()
            if row and row[0]:
                return str(row[0])
    raise StepError(f"MariaDB {ep.where()}: the server has neither @@server_uid nor "
                    "@@server_uuid (its identity cannot be read)")


def source_identity(ep: DbEndpoint) -> dict[str, object]:
    """What the journal keeps of a source database's identity (at its copy): the server's
    ``@@server_uid`` and the schema name. A fail-back writes only into that schema of
    the server that still has that identity."""
    if not database_exists(ep):
        raise StepError(f"MariaDB {ep.where()}: database {ep.dbname!r} does not exist")
    return {"engine": "mariadb", "server_uid": server_uid(ep), "schema": ep.dbname}


def require_identity(ep: DbEndpoint, journaled: dict[str, object] | None, what: str) -> None:
    """Refuse to ``what`` into ``ep`` unless it is the schema the journal names, on the
    server with the journaled ``@@server_uid``."""
    if not journaled or journaled.get("engine") != "mariadb":
        raise StepError(f"MariaDB {ep.where()}: the journal holds no identity of the "
                        f"source (copied by an older shangyun?); refusing to {what} it")
    uid = server_uid(ep)
    if uid != journaled["server_uid"] or ep.dbname != journaled["schema"] \
            or not database_exists(ep):
        raise StepError(f"MariaDB {ep.where()} is not the source the journal names (server "
                        f"{journaled['server_uid']}, schema {journaled['schema']}; found "
                        f"server {uid}); refusing to {what} it")


def refuse_same_database(source: DbEndpoint, target: DbEndpoint) -> None:
    """Refuse when ``target`` is the source schema on the same server (server identity by
    :func:`same_server`, not host strings; schema names compared case-insensitively)."""
    refuse_source_as_target(source, target)
    if source.dbname.lower() == target.dbname.lower() and same_server(source, target):
        raise StepError(f"target {target.where()} is the source database {source.where()} "
                        "(the same server, by a lock probe); refusing")


def ownership(ep: DbEndpoint) -> str | None:
    """The schema comment of ``ep.dbname`` (where shangyun's ownership marker lives)."""
    with connect(ep, None) as conn, conn.cursor() as cur:
        cur.execute("SELECT schema_comment FROM information_schema.schemata "
                    "WHERE schema_name = %s", (ep.dbname,))
        row = cur.fetchone()
    return str(row[0]) if row and row[0] is not None else None


def drop_database(target: DbEndpoint, *, source: DbEndpoint | None = None) -> bool:
    """Undo of a copy: drop the target database; never the source, never a database
    shangyun did not create (no ownership marker): both refused. False if already gone."""
    if source is not None:
        refuse_same_database(source, target)
    if not database_exists(target):
        return False
    require_ours(target, ownership(target), "drop")
    with connect(target, None) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {_q(target.dbname)}")
    return True


def _copy(source: DbEndpoint, target: DbEndpoint, only: list[str] | None, what: str) -> None:
    with _defaults(source) as src_cnf, _defaults(target) as dst_cnf:
        dump = [_DUMP, f"--defaults-extra-file={src_cnf}", "--single-transaction",
                "--routines", "--triggers", "--events", "--hex-blob", "--quick",
                "--", source.dbname, *(only or [])]
        load = [_CLIENT, f"--defaults-extra-file={dst_cnf}", "--sandbox", "--batch",
                "--", target.dbname]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL")}
        run_pipe(dump, load, what, env=env)


def initial_copy(source: DbEndpoint, target: DbEndpoint) -> MyCopyResult:
    """Copy the whole source database into a fresh target database in one consistent
    snapshot (``--single-transaction``). A leftover target from an earlier attempt is
    dropped first; the source is only read. Returns the target's digests."""
    refuse_same_database(source, target)
    drop_database(target, source=source)
    with connect(target, None) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {_q(target.dbname)} COMMENT %s",
                    (ownership_comment(source),))
    try:
        _copy(source, target, None, f"mariadb-dump {source.where()} → {target.where()}")
    except BaseException:
        drop_database(target, source=source)
        raise
    return MyCopyResult(target, digests(target), recopied=tables(target))


def final_delta(source: DbEndpoint, target: DbEndpoint, *,
                into_source: dict[str, object] | None = None) -> MyCopyResult:
    """Bring the target level with the (frozen) source: every table whose row count or
    checksum differs (or that is missing) is dumped again and replaces the target's
    (``DROP TABLE``/``CREATE``/``INSERT`` in the dump, foreign-key checks off); tables only
    on the target are dropped. Returns the target's digests afterwards. The target must be
    ours (ownership marker) — or, for a fail-back's reverse delta (roles swapped), the
    source the journal names by identity (``into_source``, :func:`require_identity`).
    The frozen server's ``read_only`` stops ordinary accounts, not the account shangyun
    writes with (it needs ``READ_ONLY ADMIN`` for the reverse delta into a frozen source)."""
    refuse_same_database(source, target)
    if into_source is not None:
        require_identity(target, into_source, "write the reverse delta into")
    else:
        require_ours(target, ownership(target), "reload")
    diffs = compare_digests(digests(source), digests(target))
    recopy = [d.table for d in diffs if d.source is not None]
    extra = [d.table for d in diffs if d.source is None]
    if recopy:
        _copy(source, target, recopy, f"re-copy {len(recopy)} table(s) into {target.where()}")
    if extra:
        with connect(target) as conn, conn.cursor() as cur:
            cur.execute("SET FOREIGN_KEY_CHECKS = 0")
            for t in extra:
                cur.execute(f"DROP TABLE IF EXISTS {_q(t)}")
    return MyCopyResult(target, digests(target), recopied=recopy, dropped=extra)


def verify(source: DbEndpoint, target: DbEndpoint) -> dict[str, TableDigest]:
    """Compare every table's row count and checksum; raise VerificationError naming the
    tables that differ. Returns the (equal) digests for the journal."""
    src = digests(source)
    require_same(f"MariaDB {source.where()} → {target.where()}", src, digests(target))
    return src


READ_ONLY_VARIABLES = ("read_only", "super_read_only")
"""The server-wide switches a freeze may turn on (``super_read_only`` exists on MySQL
servers only); their values before the freeze are what :func:`unfreeze` restores."""


_SWITCH = re.compile(r"[A-Z_]{2,20}")
"""A read-only switch's value (``ON``, ``OFF``, MariaDB 11's ``NO_LOCK`` …)."""


def frozen_state(ep: DbEndpoint) -> dict[str, str]:
    """The server's read-only switches as they are now (``{"read_only": "OFF", …}``, only
    the variables the server has): journal this before :func:`freeze` and give it to
    :func:`unfreeze`, so a server that was read-only before stays read-only."""
    conn = connect(ep, None)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT variable_name, global_value FROM "
                        "information_schema.system_variables WHERE variable_name IN "
                        "('READ_ONLY', 'SUPER_READ_ONLY')")
            return {str(name).lower(): str(value).upper() for name, value in cur.fetchall()}
    finally:
        conn.close()


def freeze(ep: DbEndpoint) -> None:
    """Freeze a source database for cutover: the server is made read-only
    (``read_only`` is server-wide in MariaDB; accounts with ``READ_ONLY ADMIN``/``SUPER``
    can still write) and the other sessions on ``ep``'s database are ended. Undone by
    :func:`unfreeze` with the :func:`frozen_state` read before; no data is touched."""
    conn = connect(ep, None)
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL read_only = ON")
            cur.execute("SELECT id FROM information_schema.processlist "
                        "WHERE db = %s AND id <> CONNECTION_ID()", (ep.dbname,))
            for (pid,) in cur.fetchall():
                with contextlib.suppress(pymysql.err.MySQLError):  # it may end meanwhile
                    cur.execute("KILL CONNECTION %s", (int(pid),))
    finally:
        conn.close()


def unfreeze(ep: DbEndpoint, before: Mapping[str, str] | None = None) -> None:
    """Undo :func:`freeze`: the read-only switches go back to ``before`` (what
    :func:`frozen_state` read before the freeze: a server that was read-only stays so;
    ``super_read_only`` restored where the server has it). Without ``before`` (a journal
    older than this) the server is made writable. Safe to run twice."""
    state = {k: v for k, v in (before or {"read_only": "OFF"}).items()
             if k in READ_ONLY_VARIABLES}
    conn = connect(ep, None)
    try:
        with conn.cursor() as cur:
            # super_read_only=ON implies read_only=ON: lower it first, raise it last
            order = sorted(state, key=lambda k: (state[k] != "OFF", k == "super_read_only"))
            for name in order:
                value = state[name] if _SWITCH.fullmatch(state[name]) else "OFF"
                # name from READ_ONLY_VARIABLES, value a bare word: nothing else reaches SQL
                cur.execute(f"SET GLOBAL {name} = {value}")
    finally:
        conn.close()
