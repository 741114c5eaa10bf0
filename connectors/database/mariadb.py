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
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

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
    source_gone,
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
    if uid == journaled["server_uid"] and ep.dbname == journaled["schema"] \
            and not database_exists(ep):
        raise source_gone("MariaDB", ep, what)
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


def copy_of(source: DbEndpoint) -> str:
    """``source``'s identity as the ownership marker of its copies names it
    (``mariadb UID/SCHEMA``): a copy of another source is never dropped or reloaded for
    this one (:func:`~connectors.database.common.require_ours`)."""
    return f"mariadb {server_uid(source)}/{source.dbname}"


def require_replaceable(source: DbEndpoint, target: DbEndpoint) -> None:
    """Refuse (:class:`StepError`) when the existing ``target`` may not be replaced by a
    copy of ``source``: not made by shangyun, or shangyun's copy of another source (another
    system's or estate's target on a shared server). Reads only."""
    refuse_same_database(source, target)
    require_ours(target, ownership(target), "replace", source, copy_of(source))


def drop_database(target: DbEndpoint, *, source: DbEndpoint | None = None) -> bool:
    """Undo of a copy: drop the target database; never the source, never a database
    shangyun did not create (no ownership marker), and — given its ``source`` — never
    shangyun's copy of another source: all refused. False if already gone."""
    if source is not None:
        refuse_same_database(source, target)
    if not database_exists(target):
        return False
    require_ours(target, ownership(target), "drop", source,
                 copy_of(source) if source is not None else "")
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
                    (ownership_comment(source, copy_of(source)),))
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
    A frozen database keeps the privileges of the account shangyun writes with (the
    freeze revokes only the other accounts'): the reverse delta writes into a frozen source."""
    refuse_same_database(source, target)
    if into_source is not None:
        require_identity(target, into_source, "write the reverse delta into")
    else:
        require_ours(target, ownership(target), "reload", source, copy_of(source))
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


# --------------------------------------------------------------------------- the freeze
#
# A freeze is per database (the server's other databases keep taking writes): every write
# privilege another account holds on the database — by a grant on the database, one of its
# tables, columns or routines — is read (:func:`frozen_state`, journaled before anything
# changes), revoked (:func:`freeze`), and granted back exactly by :func:`unfreeze`. The
# sessions that could still write are ended: privileges on a database reach a session
# whose default database it is only at its next ``USE``, and an open transaction would
# commit its writes after the revoke.

READ_ONLY_VARIABLES = ("read_only", "super_read_only")
"""The server-wide switches an older shangyun's freeze turned on (``super_read_only`` on
MySQL only); a freeze journaled by it is undone by putting them back (:func:`unfreeze`)."""


_SWITCH = re.compile(r"[A-Z_]{2,20}")
"""A read-only switch's value (``ON``, ``OFF``, MariaDB 11's ``NO_LOCK`` …)."""

_DB_WRITES = {"Insert_priv": "INSERT", "Update_priv": "UPDATE", "Delete_priv": "DELETE",
              "Create_priv": "CREATE", "Drop_priv": "DROP", "Index_priv": "INDEX",
              "Alter_priv": "ALTER", "Lock_tables_priv": "LOCK TABLES",
              "Create_view_priv": "CREATE VIEW", "Create_routine_priv": "CREATE ROUTINE",
              "Alter_routine_priv": "ALTER ROUTINE", "Execute_priv": "EXECUTE",
              "Event_priv": "EVENT", "Trigger_priv": "TRIGGER",
              "Delete_history_priv": "DELETE HISTORY"}
"""The privileges a freeze takes (``mysql.db``/``mysql.user`` column → SQL name): every one
that changes a table, a routine or an event, or runs a routine (which may write as its
definer). SELECT, SHOW VIEW, REFERENCES, GRANT OPTION and temporary tables stay."""

_TABLE_WRITES = {"Insert": "INSERT", "Update": "UPDATE", "Delete": "DELETE",
                 "Create": "CREATE", "Drop": "DROP", "Index": "INDEX", "Alter": "ALTER",
                 "Create View": "CREATE VIEW", "Trigger": "TRIGGER",
                 "Delete versioning rows": "DELETE HISTORY"}
_COLUMN_WRITES = {"Insert": "INSERT", "Update": "UPDATE"}
_ROUTINE_WRITES = {"Execute": "EXECUTE", "Alter Routine": "ALTER ROUTINE"}
_ROUTINE_TYPES = ("PROCEDURE", "FUNCTION", "PACKAGE", "PACKAGE BODY")
_LEVELS = {"database": set(_DB_WRITES.values()), "table": set(_TABLE_WRITES.values()),
           "column": set(_COLUMN_WRITES.values()), "routine": set(_ROUTINE_WRITES.values())}

KILL_WAIT_SECONDS = 30.0
"""How long :func:`freeze` waits for the sessions it ended to be gone (an ended session
rolls its open transaction back first); then the freeze fails, naming them."""

_NO_SUCH_GRANT = (1141, 1147, 1403)
"""REVOKE of a grant already gone (a resumed freeze): nothing left to take."""
_GONE = (1133, 1146, 1054, 1305, 1049)
"""GRANT to an account, table, column, routine or database dropped during the freeze."""


@dataclass(frozen=True)
class Revoked:
    """The write privileges one grant gives on the frozen database, taken by the freeze and
    given back by its undo: on the database (``db`` as ``mysql.db`` stores it, a name
    pattern that covers only this database), a table, a column or a routine of it."""

    user: str
    host: str
    role: bool
    level: str
    db: str
    privileges: tuple[str, ...]
    table: str = ""
    column: str = ""
    routine_type: str = ""

    def account(self) -> str:
        """How a message names the grantee: ``user@host`` or ``role name``."""
        return f"role {self.user}" if self.role else f"{self.user}@{self.host}"

    def to_dict(self) -> dict[str, object]:
        """Plain data for the journal."""
        d = asdict(self)
        d["privileges"] = list(self.privileges)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Revoked:
        """Read back :meth:`to_dict`; a privilege, level or routine type outside the known
        ones (a damaged journal) is refused: only known words reach SQL."""
        level = str(data.get("level"))
        privs = tuple(str(p) for p in data.get("privileges") or ())  # type: ignore[attr-defined]
        rtype = str(data.get("routine_type") or "")
        if level not in _LEVELS or not set(privs) <= _LEVELS[level] \
                or (level == "routine") != (rtype in _ROUTINE_TYPES):
            raise StepError(f"journaled MariaDB grant {dict(data)!r} is not one a freeze "
                            "makes; refusing to run it")
        return cls(str(data["user"]), str(data["host"]), bool(data.get("role")), level,
                   str(data["db"]), privs, str(data.get("table") or ""),
                   str(data.get("column") or ""), rtype)

    def _target(self) -> str:
        if self.level == "database":
            return f"{_q(self.db)}.*"
        if self.level == "routine":
            return f"{self.routine_type} {_q(self.db)}.{_q(self.table)}"
        return f"{_q(self.db)}.{_q(self.table)}"

    def _privileges(self) -> str:
        if self.level == "column":
            return ", ".join(f"{p} ({_q(self.column)})" for p in self.privileges)
        return ", ".join(self.privileges)

    def _grantee(self, conn: pymysql.connections.Connection) -> str:
        if self.role:
            return str(conn.escape(self.user))
        return f"{conn.escape(self.user)}@{conn.escape(self.host)}"

    def revoke_sql(self, conn: pymysql.connections.Connection) -> str:
        """The REVOKE of these privileges (names quoted by ``conn``)."""
        return f"REVOKE {self._privileges()} ON {self._target()} FROM {self._grantee(conn)}"

    def grant_sql(self, conn: pymysql.connections.Connection) -> str:
        """The GRANT that gives them back."""
        return f"GRANT {self._privileges()} ON {self._target()} TO {self._grantee(conn)}"


@dataclass
class FreezePlan:
    """What a per-database freeze of ``database`` would do: the grants it revokes, the
    administrators it cannot stop (global write privileges that also pass a server-wide
    ``read_only``: no freeze ever stopped them), and ``problems``: writers only the whole
    server's ``read_only`` could stop (the freeze refuses them, naming each)."""

    database: str
    revoke: list[Revoked] = field(default_factory=list)
    administrators: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """What the journal keeps under the freeze's ``before`` (no password)."""
        return {"database": self.database, "revoke": [r.to_dict() for r in self.revoke],
                "administrators": list(self.administrators)}


def _like(pattern: str, name: str, fold: bool) -> bool:
    """SQL ``LIKE`` as grant tables use it (``%``, ``_``, ``\\`` escapes)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.fullmatch("".join(out), name, re.S | (re.I if fold else 0)) is not None


def _set(value: object) -> set[str]:
    """A ``SET`` column's members (pymysql gives a set or a comma-joined string)."""
    if isinstance(value, (set, frozenset)):
        return {str(v) for v in value}
    return {v for v in str(value or "").split(",") if v}


def _columns(cur: pymysql.cursors.Cursor, table: str) -> list[str]:
    cur.execute(f"SHOW COLUMNS FROM mysql.{table}")  # table: a fixed name of ours
    return [str(r[0]) for r in cur.fetchall()]


def _account(text: str) -> tuple[str, str]:
    user, _, host = text.rpartition("@")
    return user.strip("`'"), host.strip("`'")


def _passes_read_only(cur: pymysql.cursors.Cursor, user: str, host: str,
                      role: bool) -> bool | None:
    """True when the account's global privileges let it write through ``read_only`` too
    (ALL PRIVILEGES, READ_ONLY ADMIN; SUPER before MariaDB 10.11 and on MySQL); None when
    the server did not load the account (a host name under ``skip-name-resolve``, such as
    ``mariadb-install-db``'s ``root@<hostname>``): it can never log in."""
    cur.execute("SELECT VERSION()")
    version = str((cur.fetchone() or ("",))[0])
    nums = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    super_passes = "mariadb" not in version.lower() or nums < (10, 11)
    try:
        cur.execute("SHOW GRANTS FOR %s" if role else "SHOW GRANTS FOR %s@%s",
                    (user,) if role else (user, host))
    except pymysql.err.MySQLError as exc:
        if exc.args and exc.args[0] in _NO_SUCH_GRANT:
            return None
        raise
    for (line,) in cur.fetchall():
        m = re.match(r"GRANT (.*) ON \*\.\* TO ", str(line))
        if not m:
            continue
        privs = {p.strip() for p in m.group(1).split(",")}
        if privs & {"ALL PRIVILEGES", "READ_ONLY ADMIN", "CONNECTION_ADMIN"} \
                or (super_passes and "SUPER" in privs):
            return True
    return False


def freeze_plan(ep: DbEndpoint) -> FreezePlan:
    """Read, without changing anything, what a per-database freeze of ``ep.dbname`` must
    revoke and what it cannot stop (:class:`FreezePlan`). The account of ``ep`` itself
    (``CURRENT_USER()``) keeps its privileges: shangyun writes the reverse delta with it."""
    db = ep.dbname
    plan = FreezePlan(db)
    conn = connect(ep, None)
    try:
        with conn.cursor() as cur:
            try:
                _read_plan(cur, plan)
            except pymysql.err.MySQLError as exc:
                raise StepError(f"MariaDB {ep.where()}: the grants on {db!r} cannot be read "
                                f"({exc.args[-1]}): a per-database freeze needs SELECT on "
                                "the mysql schema and the right to revoke them") from exc
    finally:
        conn.close()
    return plan


def _read_plan(cur: pymysql.cursors.Cursor, plan: FreezePlan) -> None:
    db = plan.database
    cur.execute("SELECT CURRENT_USER(), @@lower_case_table_names")
    me, lctn = cur.fetchone()
    own, fold = _account(str(me)), int(lctn) != 0
    key = db.lower() if fold else db
    user_cols = _columns(cur, "user")
    roles: set[tuple[str, str]] = set()
    if "is_role" in user_cols:
        cur.execute("SELECT User, Host FROM mysql.user WHERE is_role = 'Y'")
        roles = {(str(u), str(h)) for u, h in cur.fetchall()}
    cur.execute("SELECT schema_name FROM information_schema.schemata")
    others = sorted(str(r[0]) for r in cur.fetchall() if str(r[0]) != db)

    def problem(user: str, host: str, what: str) -> None:
        who = f"role {user}" if (user, host) in roles else f"{user}@{host}"
        if user == "PUBLIC" and host == "":
            who = "PUBLIC (every account)"
        plan.problems.append(f"{who} {what}")

    writers = [c for c in _DB_WRITES if c in user_cols]
    cur.execute("SELECT User, Host FROM mysql.user WHERE "
                + " OR ".join(f"{c} = 'Y'" for c in writers))
    global_writers = {(str(u), str(h)) for u, h in cur.fetchall()} - {own}
    for user, host in sorted(global_writers):
        passes = _passes_read_only(cur, user, host, (user, host) in roles)
        if passes is None:
            continue  # never loaded: it cannot log in
        if passes:
            plan.administrators.append(f"{user}@{host}" if (user, host) not in roles
                                       else f"role {user}")
        else:
            problem(user, host, "may write into every database (a grant ON *.*): a "
                    f"per-database freeze cannot take that from {db!r} alone, and a "
                    "read-only server would stop every other system on it"
                    + (f" ({', '.join(others)})" if others else "")
                    + "; grant it its write privileges on its own databases instead")

    def add(user: str, host: str, level: str, where: str, privs: list[str], **kw: str) -> None:
        if not privs or (user, host) == own:
            return
        if user == "PUBLIC" and host == "":
            problem(user, host, f"holds {', '.join(privs)} on {where}: a freeze would have "
                    "to end every session on the server; grant them to the accounts that "
                    "need them instead")
            return
        plan.revoke.append(Revoked(user, host, (user, host) in roles, level,
                                   kw.pop("db", key), tuple(privs), **kw))

    db_cols = [c for c in _DB_WRITES if c in _columns(cur, "db")]
    cur.execute("SELECT User, Host, Db, " + ", ".join(db_cols) + " FROM mysql.db")
    for user, host, pattern, *flags in cur.fetchall():
        user, host, pattern = str(user), str(host), str(pattern)
        if not _like(pattern, db, fold):
            continue
        privs = [_DB_WRITES[c] for c, f in zip(db_cols, flags, strict=True) if f == "Y"]
        wide = [o for o in others if _like(pattern, o, fold)]
        if wide and privs and (user, host) != own:
            problem(user, host, f"holds {', '.join(privs)} on `{pattern}`.*, a name pattern "
                    f"that also covers {', '.join(wide)}: a freeze cannot take them from "
                    f"{db!r} alone; grant them on each database by its own name instead")
            continue
        add(user, host, "database", f"`{pattern}`.*", privs, db=pattern)
    cur.execute("SELECT User, Host, Table_name, Table_priv FROM mysql.tables_priv "
                "WHERE Db = %s", (key,))
    for user, host, table, tp in cur.fetchall():
        privs = [v for k, v in _TABLE_WRITES.items() if k in _set(tp)]
        add(str(user), str(host), "table", f"`{db}`.`{table}`", privs, table=str(table))
    cur.execute("SELECT User, Host, Table_name, Column_name, Column_priv "
                "FROM mysql.columns_priv WHERE Db = %s", (key,))
    for user, host, table, column, cp in cur.fetchall():
        privs = [v for k, v in _COLUMN_WRITES.items() if k in _set(cp)]
        add(str(user), str(host), "column", f"`{db}`.`{table}`.`{column}`", privs,
            table=str(table), column=str(column))
    cur.execute("SELECT User, Host, Routine_name, Routine_type, Proc_priv "
                "FROM mysql.procs_priv WHERE Db = %s", (key,))
    for user, host, name, rtype, pp in cur.fetchall():
        privs = [v for k, v in _ROUTINE_WRITES.items() if k in _set(pp)]
        if str(rtype) in _ROUTINE_TYPES:
            add(str(user), str(host), "routine", f"{rtype} `{db}`.`{name}`", privs,
                table=str(name), routine_type=str(rtype))
    cur.execute("SELECT event_name, definer FROM information_schema.events "
                "WHERE event_schema = %s AND status = 'ENABLED'", (db,))
    for name, definer in cur.fetchall():
        if _account(str(definer)) in global_writers | {own}:
            plan.problems.append(
                f"event `{db}`.`{name}` is enabled and runs as {definer}, whose writes the "
                "freeze does not stop: it could change the database after its copy; "
                "disable it for the wave (ALTER EVENT … DISABLE) or drop its definer's "
                "global write privileges")
    plan.administrators.sort()


def freeze_problems(ep: DbEndpoint) -> list[str]:
    """Why ``ep.dbname`` cannot be frozen on its own (empty: it can), each naming the
    account, event or grant and what to do — what the wave's pre-check refuses."""
    return _named(ep, freeze_plan(ep))


def _named(ep: DbEndpoint, plan: FreezePlan) -> list[str]:
    return [f"MariaDB {ep.host}:{ep.port}/{ep.dbname}: {p}" for p in plan.problems]


def frozen_state(ep: DbEndpoint) -> dict[str, object]:
    """What :func:`freeze` will revoke, read before anything changes (:meth:`FreezePlan.
    to_dict`): journal it, give it to :func:`freeze` and to :func:`unfreeze`, which
    grants exactly that back. Refuses (:class:`StepError`) a database with writers only a
    server-wide ``read_only`` could stop (:func:`freeze_problems`)."""
    plan = freeze_plan(ep)
    if plan.problems:
        raise StepError("a per-database freeze cannot stop every writer (the server's other "
                        "databases are not made read-only):\n  - "
                        + "\n  - ".join(_named(ep, plan)))
    return plan.to_dict()


def _entries(before: Mapping[str, object]) -> list[Revoked]:
    return [Revoked.from_dict(d) for d in before.get("revoke") or ()]  # type: ignore[attr-defined]


def freeze(ep: DbEndpoint, before: Mapping[str, object] | None = None) -> Mapping[str, object]:
    """Freeze ``ep.dbname`` for cutover, and only it: revoke the write privileges
    ``before`` lists (what :func:`frozen_state` read and the journal keeps; read now when
    not given), then end every session that could still write — the sessions on the
    database and every session of an account (or of a user of a role) whose grants were
    revoked — and wait until they are gone. Safe to run again (a resumed freeze); no data
    is touched. Returns the state it applied: undone by :func:`unfreeze` with it.

    A ``before`` journaled by an older shangyun (the ``read_only`` switches: a freeze it
    began, resumed after an upgrade) is carried on as it began — server-wide — so that
    its undo, which puts the switches back, undoes all of it."""
    if before is not None and "revoke" not in before:
        _freeze_server_wide(ep)
        return before
    plan = before if before is not None else frozen_state(ep)
    entries = _entries(plan)
    conn = connect(ep, None)
    try:
        with conn.cursor() as cur:
            for e in sorted(entries, key=lambda e: ("column", "table", "routine",
                                                    "database").index(e.level)):
                try:
                    cur.execute(e.revoke_sql(conn))
                except pymysql.err.MySQLError as exc:
                    if exc.args and exc.args[0] in _NO_SUCH_GRANT:
                        continue  # taken already (a resumed freeze)
                    raise StepError(f"MariaDB {ep.where()}: cannot revoke "
                                    f"{', '.join(e.privileges)} from {e.account()}: "
                                    f"{exc.args[-1]}") from exc
            _end_sessions(cur, ep, _users_of(cur, entries))
    finally:
        conn.close()
    return plan


def _freeze_server_wide(ep: DbEndpoint) -> None:
    """An older shangyun's freeze: the server read-only, the sessions on the database
    ended (only to finish a freeze journaled by it)."""
    conn = connect(ep, None)
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL read_only = ON")
            _end_sessions(cur, ep, set())
    finally:
        conn.close()


def _users_of(cur: pymysql.cursors.Cursor, entries: list[Revoked]) -> set[str]:
    """The user names whose sessions may hold a revoked privilege: the accounts' own and
    those of every account granted a revoked role (through roles of roles too) — never the
    user name shangyun connects with (a role's creator holds it: shangyun's own sessions
    on the database are ended all the same)."""
    cur.execute("SELECT CURRENT_USER()")
    own = _account(str((cur.fetchone() or ("",))[0]))[0]
    users = {e.user for e in entries if not e.role}
    todo = {e.user for e in entries if e.role}
    seen: set[str] = set()
    try:
        cur.execute("SELECT User, Host, Role FROM mysql.roles_mapping")
        edges = [(str(u), str(h), str(r)) for u, h, r in cur.fetchall()]
    except pymysql.err.MySQLError:
        edges = []  # a server without roles_mapping (MySQL)
    while todo:
        role = todo.pop()
        seen.add(role)
        for user, host, r in edges:
            if r == role:
                users.add(user)
                if host == "" and user not in seen:
                    todo.add(user)
    return users - {own}


def _end_sessions(cur: pymysql.cursors.Cursor, ep: DbEndpoint, users: set[str]) -> None:
    cur.execute("SELECT id, user, db FROM information_schema.processlist "
                "WHERE id <> CONNECTION_ID() AND user NOT IN ('system user', "
                "'event_scheduler')")
    ended = [int(pid) for pid, user, db in cur.fetchall()
             if db == ep.dbname or str(user) in users]
    for pid in ended:
        with contextlib.suppress(pymysql.err.MySQLError):  # it may end meanwhile
            cur.execute("KILL CONNECTION %s", (pid,))
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while ended:
        cur.execute("SELECT id FROM information_schema.processlist WHERE id IN ("
                    + ", ".join(str(p) for p in ended) + ")")
        ended = [int(r[0]) for r in cur.fetchall()]
        if not ended:
            return
        if time.monotonic() > deadline:
            raise StepError(f"MariaDB {ep.where()}: session(s) {ended} were ended but are "
                            f"still there after {KILL_WAIT_SECONDS:.0f} s (rolling back?); "
                            "the freeze is not complete")
        time.sleep(0.1)


def unfreeze(ep: DbEndpoint, before: Mapping[str, object] | None = None) -> list[str]:
    """Undo :func:`freeze`: grant back exactly the privileges ``before`` lists (the
    journaled :func:`frozen_state`); safe to run twice (a GRANT of what is held changes
    nothing). An account, table or routine dropped meanwhile is skipped: returns what was
    skipped, each named. A ``before`` journaled by an older shangyun (server-wide
    ``read_only``: its switches, or ``None``) puts the switches back as they were."""
    if before is not None and "revoke" in before:
        skipped: list[str] = []
        conn = connect(ep, None)
        try:
            with conn.cursor() as cur:
                for e in _entries(before):
                    try:
                        cur.execute(e.grant_sql(conn))
                    except pymysql.err.MySQLError as exc:
                        if exc.args and exc.args[0] in _GONE:
                            skipped.append(f"{e.account()}: {', '.join(e.privileges)} on "
                                           f"{e.level} {e.table or e.db}: {exc.args[-1]}")
                            continue
                        raise StepError(f"MariaDB {ep.where()}: cannot grant "
                                        f"{', '.join(e.privileges)} back to {e.account()}: "
                                        f"{exc.args[-1]}") from exc
        finally:
            conn.close()
        return skipped
    _restore_read_only(ep, before)  # type: ignore[arg-type]
    return []


def _restore_read_only(ep: DbEndpoint, before: Mapping[str, str] | None) -> None:
    """An older freeze's undo: the read-only switches back to ``before`` (without it the
    server is made writable)."""
    state = {k: str(v) for k, v in (before or {"read_only": "OFF"}).items()
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
