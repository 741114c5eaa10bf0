"""PostgreSQL: initial copy (``pg_dump -Fd -j N`` → ``pg_restore -j N``), per-table digests,
final delta (tables that differ are re-copied inside one transaction), freeze and undo.

A dump from the source is untrusted input: it is only ever loaded by ``pg_restore`` (custom
or directory format) or by ``COPY`` through psycopg, never by ``psql``, so nothing in it
(a table name or a row carrying ``\\!``) can run a client meta-command. Database names go
to the tools as quoted ``dbname=…`` connection strings, never as options. The target is
told apart from the source by server identity (``system_identifier`` + database OID, not
host strings), and a target database is dropped, replaced or reloaded only when it carries
the ownership marker (a ``COMMENT ON DATABASE`` written when shangyun created it).

The per-table checksum is order-free and bounded in memory, so tables without a primary key
work and a 1M-row table is checksummed in one sequential scan: by default (``"hash"``) the
sum and the XOR, over rows, of PostgreSQL's 64-bit ``hashtextextended(row::text, 0)``
(portable, ~3× faster than md5, not cryptographic); ``"md5"`` sums the two 64-bit
halves of ``md5(row::text)`` instead. Passwords go into a 0600
``PGPASSFILE`` that is removed afterwards — never into argv, the environment or a log.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from connectors.database.common import (
    CopyResult,
    DbEndpoint,
    TableDiff,
    TableDigest,
    compare_digests,
    ownership_comment,
    refuse_source_as_target,
    require_ours,
    require_same,
    run_checked,
    run_pipe,
    secret_file,
    source_gone,
)
from shangyun.errors import ConnectorError, StepError, TransientError, VerificationError

_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1, 2
"""
_SEQUENCES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1, 2
"""

_DIGESTS = {
    "md5": """
SELECT count(*),
       'md5:' || coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text
       || ':' || coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
FROM (SELECT md5(t::text) AS h FROM {table} AS t) AS s
""",
    "hash": """
SELECT count(*), 'hash:' || coalesce(sum(h), 0)::text || ':' || coalesce(bit_xor(h), 0)::text
FROM (SELECT hashtextextended(t::text, 0) AS h FROM {table} AS t) AS s
""",
}
CHECKSUMS = tuple(_DIGESTS)


PgCopyResult = CopyResult
"""What a PostgreSQL copy or delta did (the engine-neutral :class:`CopyResult`)."""


WRITER_OPTIONS = "-c default_transaction_read_only=off"
"""Session options of shangyun's own writes (a delta's reload, a fail-back's reverse
delta): they go through a database frozen read-only by shangyun (:func:`freeze`)."""


def connect(ep: DbEndpoint, dbname: str | None = None, *,
            writer: bool = False) -> psycopg.Connection:
    """An autocommit psycopg connection to ``ep`` (or another database of its server);
    ``writer``: one that writes through shangyun's own freeze (:data:`WRITER_OPTIONS`)."""
    try:
        return psycopg.connect(host=ep.host, port=ep.port, user=ep.user,
                               dbname=dbname or ep.dbname, password=ep.password,
                               autocommit=True, connect_timeout=10,
                               **({"options": WRITER_OPTIONS} if writer else {}))
    except psycopg.OperationalError as exc:
        text = str(exc).split("\n")[0]
        if "password" in text or "authentication" in text:
            raise ConnectorError(f"PostgreSQL {ep.where()}: authentication refused") from exc
        if "does not exist" in text:
            raise ConnectorError(f"PostgreSQL {ep.where()}: {text}") from exc
        raise TransientError(f"PostgreSQL {ep.where()}: {text}") from exc


def _passline(ep: DbEndpoint) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace(":", "\\:")

    return ":".join(esc(str(v)) for v in (ep.host, ep.port, "*", ep.user, ep.password or ""))


@contextmanager
def _env(*eps: DbEndpoint) -> Iterator[dict[str, str]]:
    """The environment for pg_dump/pg_restore/psql: a temporary PGPASSFILE, no PGPASSWORD."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    lines = "".join(_passline(ep) + "\n" for ep in eps if ep.password)
    with secret_file(lines) as path:
        env["PGPASSFILE"] = path
        yield env


def _conn_args(ep: DbEndpoint) -> list[str]:
    """Server, user and database for pg_dump/pg_restore: the database goes as a quoted
    ``dbname=…`` connection string, so no name is ever read as an option or a conninfo."""
    return ["-h", ep.host, "-p", str(ep.port), "-U", ep.user, "-w",
            f"--dbname={make_conninfo('', dbname=ep.dbname)}"]


def _ident(table: str) -> sql.Composable:
    schema, _, name = table.partition(".")
    return sql.Identifier(schema, name)


def _pattern(table: str) -> str:
    schema, _, name = table.partition(".")
    return '"{}"."{}"'.format(schema.replace('"', '""'), name.replace('"', '""'))


def tables(ep: DbEndpoint) -> list[str]:
    """Every ordinary table of the database as ``schema.table``."""
    with connect(ep) as conn:
        return [f"{s}.{t}" for s, t in conn.execute(_TABLES).fetchall()]


def sequences(ep: DbEndpoint) -> dict[str, tuple[int, bool]]:
    """Every sequence of the database, owned by a table or not, as ``schema.name`` →
    (``last_value``, ``is_called``): where its next number comes from. Tables' digests do
    not show it: a sequence handed numbers out (or a standalone one behind a column
    default) moves without a row of a copied table changing."""
    with connect(ep) as conn:
        out: dict[str, tuple[int, bool]] = {}
        for schema, name in conn.execute(_SEQUENCES).fetchall():
            row = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
                sql.Identifier(schema, name))).fetchone()
            assert row is not None
            out[f"{schema}.{name}"] = (int(row[0]), bool(row[1]))
        return out


def _position(pos: tuple[int, bool] | None) -> str:
    if pos is None:
        return "missing"
    return str(pos[0]) if pos[1] else f"unused (starts at {pos[0]})"


def sequence_diffs(source: Mapping[str, tuple[int, bool]],
                   target: Mapping[str, tuple[int, bool]]) -> list[str]:
    """Every sequence whose position differs, or that exists on one side only, in words
    (``sequence public.invoice_no: 1009 on the source, 1001 on the target``)."""
    return [f"sequence {name}: {_position(source.get(name))} on the source, "
            f"{_position(target.get(name))} on the target"
            for name in sorted(set(source) | set(target))
            if source.get(name) != target.get(name)]


def _sync_sequences(source: DbEndpoint, target: DbEndpoint, owner: list[str]) -> list[str]:
    """Bring every sequence of the target to the source's position: missing ones copied
    (``pg_dump -t`` → ``pg_restore``), ones only on the target dropped, the others set
    with ``setval``. Returns the sequences changed."""
    src, dst = sequences(source), sequences(target)
    missing = [n for n in src if n not in dst]
    if missing:
        picks = [a for n in missing for a in ("-t", _pattern(n))]
        with _env(source, target) as env:
            env["PGOPTIONS"] = WRITER_OPTIONS
            run_pipe(["pg_dump", *_conn_args(source), "-Fc", "-Z", "0", *owner, *picks],
                     ["pg_restore", *_conn_args(target), "--exit-on-error",
                      "--single-transaction", *owner],
                     f"copy new sequences into {target.where()}", env=env)
    changed = [n for n in src if n in dst and src[n] != dst[n]]
    extra = [n for n in dst if n not in src]
    if changed or extra:
        with connect(target, writer=True) as conn, conn.transaction():
            for n in changed:
                conn.execute(sql.SQL("SELECT setval({}, %s, %s)").format(
                    sql.Literal(_pattern(n))), src[n])
            for n in extra:
                conn.execute(sql.SQL("DROP SEQUENCE IF EXISTS {}").format(_ident(n)))
    return missing + changed + extra


def table_digest(ep: DbEndpoint, table: str, checksum: str = "hash") -> TableDigest:
    """Row count and order-free checksum (``"hash"`` or ``"md5"``) of one table."""
    if checksum not in _DIGESTS:
        raise StepError(f"PostgreSQL checksum {checksum!r}: one of {', '.join(CHECKSUMS)}")
    with connect(ep) as conn:
        row = conn.execute(sql.SQL(_DIGESTS[checksum]).format(table=_ident(table))).fetchone()
    assert row is not None
    return TableDigest(table, int(row[0]), str(row[1]))


def digests(ep: DbEndpoint, jobs: int = 2, *, only: list[str] | None = None,
            checksum: str = "hash") -> dict[str, TableDigest]:
    """Digests of every table (or ``only`` those), ``jobs`` tables at a time."""
    names = tables(ep) if only is None else only
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        found = list(pool.map(lambda t: table_digest(ep, t, checksum), names))
    return {d.table: d for d in found}


def database_exists(ep: DbEndpoint) -> bool:
    """True when ``ep.dbname`` exists on its server."""
    with connect(ep, "postgres") as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (ep.dbname,))
        return row.fetchone() is not None


def identity(ep: DbEndpoint) -> tuple[str, int | None]:
    """The server's ``system_identifier`` and the OID of ``ep.dbname`` (None: no such
    database): what names a database whatever host string reaches it."""
    with connect(ep, "postgres") as conn:
        try:
            sysid = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ConnectorError(f"PostgreSQL {ep.where()}: cannot read the server identity "
                                 "(pg_control_system: permission denied; grant pg_monitor "
                                 "or pg_read_all_settings)") from exc
        row = conn.execute("SELECT oid FROM pg_database WHERE datname = %s",
                           (ep.dbname,)).fetchone()
    assert sysid is not None
    return str(sysid[0]), (int(row[0]) if row else None)


def source_identity(ep: DbEndpoint) -> dict[str, object]:
    """What the journal keeps of a source database's identity (at its copy): the server's
    ``system_identifier`` and the database's OID. A fail-back writes only into the
    database that still has both."""
    sysid, oid = identity(ep)
    if oid is None:
        raise ConnectorError(f"PostgreSQL {ep.where()}: database {ep.dbname!r} does not exist")
    return {"engine": "postgresql", "system_identifier": sysid, "oid": oid}


def require_identity(ep: DbEndpoint, journaled: dict[str, object] | None, what: str) -> None:
    """Refuse to ``what`` into ``ep`` unless it is the database the journal names by
    identity (:func:`source_identity` at the copy): same ``system_identifier``, same OID."""
    if not journaled or journaled.get("engine") != "postgresql":
        raise StepError(f"PostgreSQL {ep.where()}: the journal holds no identity of the "
                        f"source (copied by an older shangyun?); refusing to {what} it")
    sysid, oid = identity(ep)
    if oid is None and sysid == str(journaled["system_identifier"]):
        raise source_gone("PostgreSQL", ep, what)
    if (sysid, oid) != (str(journaled["system_identifier"]), journaled["oid"]):
        raise StepError(f"PostgreSQL {ep.where()} is not the source the journal names "
                        f"(system identifier {journaled['system_identifier']}, database OID "
                        f"{journaled['oid']}; found {sysid}, {oid}); refusing to {what} it")


def refuse_same_database(source: DbEndpoint, target: DbEndpoint) -> None:
    """Refuse when ``target`` is the source database, by server identity: the same
    ``system_identifier`` and the same database (OID), whatever the host strings say."""
    refuse_source_as_target(source, target)
    src_id, src_oid = identity(source)
    if src_oid is None:
        raise ConnectorError(f"PostgreSQL {source.where()}: database {source.dbname!r} "
                             "does not exist")
    dst_id, dst_oid = identity(target)
    if src_id == dst_id and (dst_oid == src_oid or source.dbname == target.dbname):
        raise StepError(f"target {target.where()} is the source database {source.where()} "
                        f"(same server: system identifier {src_id}, database OID {src_oid});"
                        " refusing")


def ownership(ep: DbEndpoint) -> str | None:
    """The comment on ``ep.dbname`` (where shangyun's ownership marker lives)."""
    with connect(ep, "postgres") as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                           "WHERE datname = %s", (ep.dbname,)).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def copy_of(source: DbEndpoint) -> str:
    """``source``'s identity as the ownership marker of its copies names it
    (``postgresql SYSID/OID``): a copy of another source is never dropped or reloaded for
    this one (:func:`~connectors.database.common.require_ours`)."""
    sysid, oid = identity(source)
    if oid is None:
        raise ConnectorError(f"PostgreSQL {source.where()}: database {source.dbname!r} "
                             "does not exist")
    return f"postgresql {sysid}/{oid}"


def require_replaceable(source: DbEndpoint, target: DbEndpoint) -> None:
    """Refuse (:class:`StepError`) when the existing ``target`` may not be replaced by a
    copy of ``source``: not made by shangyun, or shangyun's copy of another source (another
    system's or estate's target on a shared server). Reads only."""
    refuse_same_database(source, target)
    require_ours(target, ownership(target), "replace", source, copy_of(source))


def drop_database(target: DbEndpoint, *, source: DbEndpoint | None = None) -> bool:
    """Undo of a copy: drop the target database (connections forced off). Never the source,
    never a database shangyun did not create (no ownership marker), and — given its
    ``source`` — never shangyun's copy of another source: all refused.

    Returns False when it was already gone (so undo is safe to run twice)."""
    if source is not None:
        refuse_same_database(source, target)
    if not database_exists(target):
        return False
    require_ours(target, ownership(target), "drop", source,
                 copy_of(source) if source is not None else "")
    with connect(target, "postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                     .format(sql.Identifier(target.dbname)))
    return True


def initial_copy(source: DbEndpoint, target: DbEndpoint, *, jobs: int = 2,
                 no_owner: bool = True, digest: bool = False,
                 verify: bool = False) -> PgCopyResult:
    """Copy the whole source database into a fresh target database, in parallel.

    ``pg_dump -Fd -j jobs`` of one exported snapshot into a temporary folder, then
    ``pg_restore -j jobs --exit-on-error`` (``jobs=1``: plain ``pg_dump | psql`` streamed,
    so dump and load overlap). The target's checksums are read while the indexes and
    constraints (post-data) are built. A target left over from an earlier attempt is
    dropped first (it is ours); the source is only read. Returns the tables copied; with
    ``digest`` also the target's digests; with ``verify`` the source's digests are read *in
    the snapshot that was dumped* (while the dump runs) and the target must equal them —
    exact even while the source keeps changing (a :class:`VerificationError` otherwise)."""
    refuse_same_database(source, target)
    drop_database(target, source=source)
    with connect(target, "postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0")
                     .format(sql.Identifier(target.dbname)))
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(target.dbname),
            sql.Literal(ownership_comment(source, copy_of(source)))))
    folder = tempfile.mkdtemp(prefix="shangyun-pgdump-")
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    holder: psycopg.Connection | None = None
    try:
        holder = connect(source)
        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snap = str(holder.execute("SELECT pg_export_snapshot()").fetchone()[0])  # type: ignore[index]
        src_tables = [f"{a}.{b}" for a, b in holder.execute(_TABLES).fetchall()]
        src_future = [pool.submit(_snapshot_digest, source, snap, t)
                      for t in src_tables] if verify else []
        dump = os.path.join(folder, "dump")
        owner = ["--no-owner", "--no-privileges"] if no_owner else []
        with _env(source, target) as env:
            if jobs <= 1:  # streamed: dump and load overlap (best on small machines)
                dump_cmd = ["pg_dump", *_conn_args(source), "-Fc", "-Z", "0",
                            f"--snapshot={snap}", *owner]
                load = ["pg_restore", *_conn_args(target), "--exit-on-error", *owner]
                run_pipe([*dump_cmd, "--section=pre-data", "--section=data"], load,
                         f"pg_dump {source.where()} | pg_restore {target.where()} (data)",
                         env=env)
                copied = tables(target)
                dst_future = [pool.submit(table_digest, target, t)
                              for t in copied] if (digest or verify) else []
                run_pipe([*dump_cmd, "--section=post-data"], load,
                         f"pg_dump {source.where()} | pg_restore {target.where()} (indexes)",
                         env=env)
            else:
                run_checked(["pg_dump", *_conn_args(source), "-Fd",
                             "-j", str(jobs), "-Z", "0", f"--snapshot={snap}", *owner,
                             "-f", dump], f"pg_dump {source.where()}", env=env)
                restore = ["pg_restore", *_conn_args(target),
                           "-j", str(jobs), "--exit-on-error", *owner]
                run_checked([*restore, "--section=pre-data", "--section=data", dump],
                            f"pg_restore (tables, data) into {target.where()}", env=env)
                # the data is in: read it back while the indexes and constraints are built
                copied = tables(target)
                dst_future = [pool.submit(table_digest, target, t)
                              for t in copied] if (digest or verify) else []
                run_checked([*restore, "--section=post-data", dump],
                            f"pg_restore (indexes, constraints) into {target.where()}",
                            env=env)
        src = {d.table: d for d in (f.result() for f in src_future)}
        holder.execute("ROLLBACK")
        found = {d.table: d for d in (f.result() for f in dst_future)}
        if verify:
            require_same(f"PostgreSQL {source.where()} (snapshot {snap}) → {target.where()}",
                         src, found)
    except BaseException:
        drop_database(target, source=source)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if holder is not None:
            holder.close()
        shutil.rmtree(folder, ignore_errors=True)
    return PgCopyResult(target, found, recopied=copied)


def _snapshot_digest(ep: DbEndpoint, snapshot: str, table: str) -> TableDigest:
    """One table's digest as of an exported snapshot."""
    with connect(ep) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # autocommit: explicit
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        row = conn.execute(sql.SQL(_DIGESTS["hash"]).format(table=_ident(table))).fetchone()
        conn.execute("ROLLBACK")
    assert row is not None
    return TableDigest(table, int(row[0]), str(row[1]))


def final_delta(source: DbEndpoint, target: DbEndpoint, *, jobs: int = 2,
                no_owner: bool = True,
                into_source: dict[str, object] | None = None) -> PgCopyResult:
    """Bring the target level with the (frozen) source: compare every table's digest and
    re-copy each table that differs, in one transaction per batch.

    A table missing on the target is copied with its definition; a table that differs is
    emptied and reloaded with foreign-key triggers off (``session_replication_role =
    replica``) so tables that reference it are untouched; a table only on the target is
    dropped. Returns the target's digests afterwards (only re-copied tables are read again;
    call :func:`verify` for an independent comparison). The target must be ours (marker).

    A fail-back's reverse delta passes the system's target as ``source``, its source as
    ``target`` and ``into_source``: the source identity its copy journaled; then the
    database written into must have that identity (:func:`require_identity`) instead of
    the marker (a source was not made by shangyun). Writes go through shangyun's own
    read-only freeze of the database written into."""
    refuse_same_database(source, target)
    if into_source is not None:
        require_identity(target, into_source, "write the reverse delta into")
    else:
        require_ours(target, ownership(target), "reload", source, copy_of(source))
    src = digests(source, jobs)
    dst = digests(target, jobs)
    diffs: list[TableDiff] = compare_digests(src, dst)
    missing = [d.table for d in diffs if d.target is None]
    changed = [d.table for d in diffs if d.source is not None and d.target is not None]
    extra = [d.table for d in diffs if d.source is None]
    owner = ["--no-owner", "--no-privileges"] if no_owner else []
    if missing:
        picks = [a for t in missing for a in ("-t", _pattern(t))]
        with _env(source, target) as env:
            env["PGOPTIONS"] = WRITER_OPTIONS
            run_pipe(["pg_dump", *_conn_args(source), "-Fc", "-Z", "0", *owner, *picks],
                     ["pg_restore", *_conn_args(target), "--exit-on-error",
                      "--single-transaction", *owner],
                     f"copy new tables into {target.where()}", env=env)
    if changed:
        _reload(source, target, changed)
    if extra:
        with connect(target, writer=True) as conn:
            for t in extra:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(_ident(t)))
    # every sequence level too (a standalone one behind a column default, or one that
    # handed numbers out, moved without a table above changing)
    _sync_sequences(source, target, owner)
    after = {k: v for k, v in dst.items() if k not in extra}
    after.update(digests(target, jobs, only=missing + changed))
    return PgCopyResult(target, after, recopied=missing + changed, dropped=extra)


_COLUMNS = """
SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0
  AND NOT attisdropped AND attgenerated = '' ORDER BY attnum
"""
_OWNED_SEQUENCES = """
SELECT n.nspname, s.relname
FROM pg_depend d JOIN pg_class s ON s.oid = d.objid JOIN pg_namespace n ON n.oid = s.relnamespace
WHERE d.refobjid = %s::regclass AND d.deptype IN ('a', 'i') AND s.relkind = 'S'
"""


def _reload(source: DbEndpoint, target: DbEndpoint, changed: list[str]) -> None:
    """Empty and reload ``changed`` on the target from the source in one transaction, rows
    streamed by ``COPY`` (data only: nothing in it is ever run), foreign-key triggers off,
    owned sequences set to the source's values."""
    with connect(source) as src, connect(target, writer=True) as dst, src.transaction(), \
            dst.transaction():
        src.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        dst.execute("SET LOCAL session_replication_role = replica")
        for t in changed:
            name = _pattern(t)
            cols = [str(r[0]) for r in src.execute(_COLUMNS, (name,)).fetchall()]
            collist = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
            dst.execute(sql.SQL("DELETE FROM {}").format(_ident(t)))
            with src.cursor().copy(sql.SQL("COPY {} ({}) TO STDOUT").format(
                    _ident(t), collist)) as out, dst.cursor().copy(
                    sql.SQL("COPY {} ({}) FROM STDIN").format(_ident(t), collist)) as into:
                for block in out:
                    into.write(block)
            for nsp, rel in src.execute(_OWNED_SEQUENCES, (name,)).fetchall():
                seq = sql.Identifier(nsp, rel)
                last = src.execute(sql.SQL("SELECT last_value, is_called FROM {}")
                                   .format(seq)).fetchone()
                assert last is not None
                dst.execute(sql.SQL("SELECT setval({}, %s, %s)").format(
                    sql.Literal(seq.as_string(dst))), (last[0], last[1]))


def verify(source: DbEndpoint, target: DbEndpoint, *, jobs: int = 2) -> dict[str, TableDigest]:
    """Compare every table's row count and checksum, and every sequence's position; raise
    VerificationError naming the tables and sequences that differ. Returns the (equal)
    digests for the journal."""
    work = [(source, t) for t in tables(source)] + [(target, t) for t in tables(target)]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # one queue for both sides
        found = list(pool.map(lambda w: (w[0] is source, table_digest(w[0], w[1])), work))
    src = {d.table: d for is_src, d in found if is_src}
    dst = {d.table: d for is_src, d in found if not is_src}
    what = f"PostgreSQL {source.where()} → {target.where()}"
    seqs = sequence_diffs(sequences(source), sequences(target))
    try:
        require_same(what, src, dst)
    except VerificationError as exc:
        raise VerificationError("; ".join([str(exc), *seqs])) from None
    if seqs:
        raise VerificationError(f"{what}: {len(seqs)} sequence(s) differ: " + "; ".join(seqs))
    return src


def frozen_state(ep: DbEndpoint) -> dict[str, str]:
    """The database's own ``default_transaction_read_only`` setting now (``{}`` when it
    has none): journal this before :func:`freeze` and give it to :func:`unfreeze`, so a
    database that was read-only before stays read-only."""
    with connect(ep, "postgres") as conn:
        rows = conn.execute(
            "SELECT unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_database d "
            "ON d.oid = s.setdatabase WHERE d.datname = %s AND s.setrole = 0",
            (ep.dbname,)).fetchall()
    out: dict[str, str] = {}
    for (item,) in rows:
        name, _, value = str(item).partition("=")
        if name == "default_transaction_read_only":
            out[name] = value
    return out


def freeze(ep: DbEndpoint, before: Mapping[str, str] | None = None) -> None:
    """Freeze a source database for cutover: new transactions are read-only and the
    sessions open now are ended. Undone by :func:`unfreeze` with the :func:`frozen_state`
    read before (``before``, the same for both engines' callers, is not needed here: the
    setting is the database's own); no data is touched."""
    with connect(ep, "postgres") as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on")
                     .format(sql.Identifier(ep.dbname)))
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (ep.dbname,))


def unfreeze(ep: DbEndpoint, before: Mapping[str, str] | None = None) -> None:
    """Undo :func:`freeze` (safe to run twice): the database's setting goes back to
    ``before`` — reset when it had none, left read-only when it was so before."""
    prior = (before or {}).get("default_transaction_read_only")
    with connect(ep, "postgres") as conn:
        if prior is None:
            conn.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only")
                         .format(sql.Identifier(ep.dbname)))
        else:
            conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}")
                         .format(sql.Identifier(ep.dbname), sql.Literal(prior)))
