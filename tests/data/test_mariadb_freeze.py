"""The per-database freeze of MariaDB (connectors/database/mariadb.py) on a real MariaDB
server of the module's own: two systems' databases on the one server, each with its own
application account. Freezing one takes its writers' write privileges on it (journaled
first, granted back exactly) and ends their sessions; the other database, and the server,
keep taking writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions.context import RunContext
from actions.images import freeze_problems as precheck_freeze_problems
from actions.registry import actions_for
from actions.rollback import run_system_steps
from connectors.database import DbEndpoint
from connectors.database import mariadb as my
from connectors.journal.wave import open_journal
from shangyun.errors import StepError
from shangyun.wave.engine import undo_system
from shangyun.wave.stepargs import DataItem, FreezeArgs
from shangyun.wave.steps import RunOptions, Step

PASSWORD = "freeze-test-pw"
SERVER: dict[str, int] = {}
"""The port of this module's MariaDB server: a real one of its own (``private_mariadb``),
since tests elsewhere may still make the shared server read-only (an older freeze)."""


@pytest.fixture(autouse=True, scope="module")
def _server(private_mariadb: DbEndpoint) -> Iterator[None]:
    SERVER["port"] = private_mariadb.port
    yield
    SERVER.clear()


def sql(statement: str, db: str | None = None) -> list[tuple[object, ...]]:
    """One statement as root."""
    conn = pymysql.connect(host="127.0.0.1", port=SERVER["port"], user="root", database=db,
                           autocommit=True)
    with conn, conn.cursor() as cur:
        cur.execute(statement)
        return list(cur.fetchall())


def grants(account: str) -> list[str]:
    """``SHOW GRANTS`` of ``account`` (``'u'@'h'`` or a role), sorted."""
    return sorted(str(r[0]) for r in sql(f"SHOW GRANTS FOR {account}"))


def session(user: str, db: str | None) -> pymysql.connections.Connection:
    """An application's session as ``user`` (default database ``db``)."""
    return pymysql.connect(host="127.0.0.1", port=SERVER["port"], user=user,
                           password=PASSWORD, database=db, autocommit=True, connect_timeout=5)


def run(conn: pymysql.connections.Connection, statement: str) -> list[tuple[object, ...]]:
    with conn.cursor() as cur:
        cur.execute(statement)
        return list(cur.fetchall())


@dataclass
class System:
    """One system's database and its application account (``'user'@'%'``)."""

    db: str
    user: str

    @property
    def account(self) -> str:
        return f"'{self.user}'@'%'"

    @property
    def ep(self) -> DbEndpoint:
        """The endpoint shangyun freezes it through (root)."""
        return DbEndpoint("127.0.0.1", SERVER["port"], "root", self.db)


@pytest.fixture
def two_systems() -> Iterator[tuple[System, System]]:
    """Databases of two systems on the one server, each with a table, a procedure that
    writes, and an application account holding ALL on its own database only."""
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    made = (System(f"sy_fza_{tag}", f"fza{tag}"), System(f"sy_fzb_{tag}", f"fzb{tag}"))
    try:
        for s in made:
            sql(f"CREATE DATABASE `{s.db}`")
            sql("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))", s.db)
            sql("CREATE PROCEDURE p(x VARCHAR(40)) SQL SECURITY DEFINER "
                "INSERT INTO t (v) VALUES (x)", s.db)
            sql(f"CREATE USER {s.account} IDENTIFIED BY '{PASSWORD}'")
            sql(f"GRANT ALL ON `{s.db}`.* TO {s.account}")
        yield made
    finally:
        for s in made:  # a failed test may leave its sessions (and locks): ended first
            for (pid,) in sql("SELECT id FROM information_schema.processlist "
                              f"WHERE user = '{s.user}'"):
                sql(f"KILL CONNECTION {pid}")
            sql(f"DROP USER IF EXISTS {s.account}")
            sql(f"DROP DATABASE IF EXISTS `{s.db}`")


def test_freezing_one_database_leaves_the_other_and_the_server_writable(
        two_systems: tuple[System, System]) -> None:
    """Frozen: A's account cannot write A (a new session, a session opened before the
    freeze, through the procedure); its open transaction is rolled back, never committed.
    B's account, with a session opened before the freeze, still writes B; the server is
    not read-only. Thawed: A's grants are exactly as before, A's account writes again."""
    a, b = two_systems
    before_a, before_b = grants(a.account), grants(b.account)
    open_a, open_b = session(a.user, a.db), session(b.user, b.db)
    pending = session(a.user, None)  # elsewhere, with an uncommitted write into A
    run(pending, "BEGIN")
    run(pending, f"INSERT INTO `{a.db}`.t (v) VALUES ('uncommitted before the freeze')")

    state = my.frozen_state(a.ep)
    assert [(r["user"], r["level"]) for r in state["revoke"]] == [(a.user, "database")]
    my.freeze(a.ep, state)
    try:
        with pytest.raises(pymysql.err.MySQLError):  # its session was ended
            run(open_a, "INSERT INTO t (v) VALUES ('old session')")
        with pytest.raises(pymysql.err.MySQLError):  # and its transaction with it
            run(pending, "COMMIT")
        fresh = session(a.user, a.db)
        with fresh:
            for statement in ("INSERT INTO t (v) VALUES ('new session')",
                              "CALL p('through the procedure')", "DELETE FROM t",
                              "CREATE TABLE t2 (x INT)"):
                with pytest.raises(pymysql.err.OperationalError, match="denied"):
                    run(fresh, statement)
            assert run(fresh, "SELECT COUNT(*) FROM t") == [(0,)]  # reading still works
        run(open_b, "INSERT INTO t (v) VALUES ('B, session from before')")
        run(open_b, "CALL p('B through its procedure')")
        assert sql("SELECT @@global.read_only") == [(0,)]
        assert grants(b.account) == before_b
        assert grants(a.account) != before_a
    finally:
        assert my.unfreeze(a.ep, state) == []
    assert grants(a.account) == before_a
    assert sql("SELECT v FROM t", a.db) == []  # nothing of the frozen time landed
    with session(a.user, a.db) as again:
        run(again, "INSERT INTO t (v) VALUES ('after the thaw')")
    assert sql("SELECT v FROM t ORDER BY id", b.db) == [("B, session from before",),
                                                       ("B through its procedure",)]
    for c in (open_b, pending, open_a):
        c.close()


def test_database_privileges_reach_an_open_session_only_at_its_next_use(
        two_systems: tuple[System, System]) -> None:
    """Why the freeze ends sessions (MariaDB's documented behaviour, proved here): after
    a REVOKE on the database, a session whose default database it is still writes until
    its next ``USE``; a session elsewhere is refused at once."""
    a, _ = two_systems
    inside, elsewhere = session(a.user, a.db), session(a.user, None)
    with inside, elsewhere:
        sql(f"REVOKE INSERT ON `{a.db}`.* FROM {a.account}")
        run(inside, "INSERT INTO t (v) VALUES ('cached privilege')")  # not refused!
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            run(elsewhere, f"INSERT INTO `{a.db}`.t (v) VALUES ('elsewhere')")
        run(inside, f"USE `{a.db}`")
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            run(inside, "INSERT INTO t (v) VALUES ('after USE')")
    assert sql("SELECT v FROM t", a.db) == [("cached privilege",)]


def test_a_write_during_the_freeze_is_refused_and_the_copy_stays_equal(
        two_systems: tuple[System, System]) -> None:
    """Copy while A runs, freeze, final delta, verify: a write attempted during the
    freeze is refused (the application sees the error: nothing is silently lost), is not
    on the source after the copy, and the source still equals the verified target after
    the thaw."""
    a, _ = two_systems
    sql("INSERT INTO t (v) VALUES ('before the copy')", a.db)
    target = a.ep.with_db(f"{a.db}_dst")
    try:
        my.initial_copy(a.ep, target)
        with session(a.user, a.db) as app:
            run(app, "INSERT INTO t (v) VALUES ('between copy and freeze')")
            state = my.frozen_state(a.ep)
            my.freeze(a.ep, state)
        try:
            with session(a.user, a.db) as app, pytest.raises(pymysql.err.OperationalError,
                                                            match="denied"):
                run(app, "INSERT INTO t (v) VALUES ('during the freeze')")
            my.final_delta(a.ep, target)
            verified = my.verify(a.ep, target)
        finally:
            my.unfreeze(a.ep, state)
        assert my.digests(a.ep) == verified
        assert [r[0] for r in sql("SELECT v FROM t ORDER BY id", target.dbname)] == \
            ["before the copy", "between copy and freeze"]
    finally:
        sql(f"DROP DATABASE IF EXISTS `{target.dbname}`")


_DB_PRIVS = ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "INDEX", "ALTER",
             "LOCK TABLES", "EXECUTE", "TRIGGER", "SHOW VIEW", "DELETE HISTORY", "EVENT",
             "CREATE VIEW", "CREATE TEMPORARY TABLES"]
_TABLE_PRIVS = ["SELECT", "INSERT", "UPDATE", "DELETE", "ALTER", "INDEX", "TRIGGER", "DROP"]
_COLUMN_PRIVS = ["SELECT", "INSERT", "UPDATE"]
_ROUTINE_PRIVS = ["EXECUTE", "ALTER ROUTINE"]


def _subset(items: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(items), unique=True, max_size=len(items))


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=st.sampled_from(["%", "127.0.0.1", "10.0.%"]), on_db=_subset(_DB_PRIVS),
       grant_option=st.booleans(), on_table=_subset(_TABLE_PRIVS),
       on_column=_subset(_COLUMN_PRIVS), on_routine=_subset(_ROUTINE_PRIVS),
       role_privs=_subset(["INSERT", "UPDATE", "DELETE", "SELECT"]))
def test_the_thaw_gives_back_exactly_the_grants_the_freeze_took(
        two_systems: tuple[System, System], host: str, on_db: list[str],
        grant_option: bool, on_table: list[str], on_column: list[str],
        on_routine: list[str], role_privs: list[str]) -> None:
    """Any mix of grants on the database, a table, a column, a routine and a role:
    frozen, no write privilege on the database is left to anyone but shangyun's account
    (and B's account is untouched); thawed, ``SHOW GRANTS`` is exactly as before."""
    a, b = two_systems
    user, role = f"fzp{uuid.uuid4().hex[:8]}", f"fzr{uuid.uuid4().hex[:8]}"
    account = f"'{user}'@'{host}'"
    sql(f"CREATE USER {account} IDENTIFIED BY '{PASSWORD}'")
    sql(f"CREATE ROLE {role}")
    try:
        if on_db:
            sql(f"GRANT {', '.join(on_db)} ON `{a.db}`.* TO {account}"
                + (" WITH GRANT OPTION" if grant_option else ""))
        if on_table:
            sql(f"GRANT {', '.join(on_table)} ON `{a.db}`.t TO {account}")
        if on_column:
            sql(f"GRANT {', '.join(f'{p} (v)' for p in on_column)} ON `{a.db}`.t TO {account}")
        if on_routine:
            sql(f"GRANT {', '.join(on_routine)} ON PROCEDURE `{a.db}`.p TO {account}")
        if role_privs:
            sql(f"GRANT {', '.join(role_privs)} ON `{a.db}`.* TO {role}")
            sql(f"GRANT {role} TO {account}")
        before = {acc: grants(acc) for acc in (account, role, a.account)}
        other = grants(b.account)
        state = my.frozen_state(a.ep)
        my.freeze(a.ep, state)
        try:
            assert my.freeze_plan(a.ep).revoke == [], "a write privilege is left on A"
            assert grants(b.account) == other
        finally:
            my.unfreeze(a.ep, state)
        assert {acc: grants(acc) for acc in before} == before
    finally:
        sql(f"DROP USER IF EXISTS {account}")
        sql(f"DROP ROLE IF EXISTS {role}")


def test_writers_only_a_server_wide_read_only_could_stop_are_refused_by_name(
        two_systems: tuple[System, System]) -> None:
    """An account with INSERT on every database (``ON *.*``), a grant by a name pattern
    that also covers B, an enabled event run by an administrator: each is named, and the
    freeze refuses before changing anything. An administrator (ALL ON *.*, which passes
    ``read_only`` too) is named as one, not refused."""
    a, b = two_systems
    tag = uuid.uuid4().hex[:8]
    wide, pattern, admin = f"fzw{tag}", f"fzl{tag}", f"fzadm{tag}"
    sql(f"CREATE USER '{wide}'@'%', '{pattern}'@'%', '{admin}'@'localhost'")
    try:
        sql(f"GRANT ALL ON *.* TO '{admin}'@'localhost'")
        assert f"{admin}@localhost" in my.freeze_plan(a.ep).administrators
        assert my.freeze_problems(a.ep) == []
        before = grants(a.account)
        sql(f"GRANT SELECT, INSERT ON *.* TO '{wide}'@'%'")
        shared = a.db.replace("fza", "fz_")  # the pattern `sy\_fz_…` covers A and B
        sql(f"GRANT UPDATE ON `{shared}`.* TO '{pattern}'@'%'")
        sql("CREATE EVENT tick ON SCHEDULE EVERY 1 HOUR DO INSERT INTO t (v) VALUES ('x')",
            a.db)
        problems = my.freeze_problems(a.ep)
        assert len(problems) == 3, problems
        assert any(f"{wide}@%" in p and "every database" in p for p in problems)
        assert any(f"{pattern}@%" in p and b.db in p for p in problems)
        assert any("tick" in p and "root@" in p for p in problems)
        side = {"host": "127.0.0.1", "port": SERVER["port"], "user": "root", "dbname": a.db}
        pre = precheck_freeze_problems("收费系统", [DataItem(
            "crm", "db", "mariadb", side, {**side, "dbname": "x"})])
        assert pre == [f"system 收费系统: {p}" for p in problems]  # what the pre-check says
        with pytest.raises(StepError, match=wide):
            my.frozen_state(a.ep)
        with pytest.raises(StepError, match=wide):
            my.freeze(a.ep)
        assert grants(a.account) == before  # refused before anything changed
    finally:
        sql(f"DROP USER IF EXISTS '{wide}'@'%', '{pattern}'@'%', '{admin}'@'localhost'")


CHILD = Path(__file__).parents[1] / "cutover" / "crash_child.py"


@pytest.mark.parametrize("after", ["rollback", "resume"])
def test_kill_9_between_the_revokes_restores_the_grants_from_the_journal(
        private_mariadb: DbEndpoint, tmp_path: Path, after: str) -> None:
    """The freeze step is killed (``kill -9``) after it revoked the table- and
    column-level grants and before the database-level one (held up by a lock on
    ``mysql.db``; the orphaned statement is ended with the process): the grants it took
    were journaled before the first revoke, so a new process's rollback — or its resume,
    then rollback — grants back exactly what was there (a private server: the test locks
    a grant table)."""
    src = private_mariadb
    account = "'crashapp'@'%'"
    admin = pymysql.connect(host=src.host, port=src.port, user="root", autocommit=True)
    with admin, admin.cursor() as cur:
        cur.execute(f"CREATE USER {account} IDENTIFIED BY '{PASSWORD}'")
        try:
            cur.execute(f"GRANT SELECT, INSERT, DELETE ON `{src.dbname}`.* TO {account}")
            cur.execute(f"GRANT UPDATE, ALTER ON `{src.dbname}`.people TO {account}")
            cur.execute(f"GRANT INSERT (name) ON `{src.dbname}`.people TO {account}")
            cur.execute(f"SHOW GRANTS FOR {account}")
            before = sorted(str(r[0]) for r in cur.fetchall())
            _crash_and_recover(src, tmp_path, cur, account, after)
            cur.execute(f"SHOW GRANTS FOR {account}")
            assert sorted(str(r[0]) for r in cur.fetchall()) == before
        finally:
            cur.execute(f"DROP USER IF EXISTS {account}")


def _crash_and_recover(src: DbEndpoint, tmp_path: Path, cur: pymysql.cursors.Cursor,
                       account: str, after: str) -> None:
    side = {"host": src.host, "port": src.port, "user": "root", "dbname": src.dbname}
    item = DataItem("main", "db", "mariadb", side, {**side, "dbname": "never_made"})
    args = FreezeArgs(domains=[], databases=[item])
    steps = [Step("freeze", "sys-1", "sys-1/freeze", "freeze sys-1", args=args,
                  planned=args)]
    estate = tmp_path / "estate"
    estate.mkdir()
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"estate": str(estate), "steps": [s.to_dict() for s in steps]}))
    cur.execute("LOCK TABLES mysql.db READ")  # the database-level REVOKE waits here
    child = subprocess.Popen([sys.executable, str(CHILD), str(spec)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        waiting = _wait_for_revoke(cur, child)
        cur.execute(f"SHOW GRANTS FOR {account}")
        now = " ".join(str(r[0]) for r in cur.fetchall())
        assert "UPDATE, ALTER" not in now and "INSERT (`name`)" not in now, now
        assert "SELECT, INSERT, DELETE ON" in now, now  # not taken yet
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        cur.execute("KILL CONNECTION %s", (waiting,))  # its orphaned statement ends too
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        cur.execute("UNLOCK TABLES")
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    with open_journal(estate) as journal:
        assert journal.reconcile()  # the dead run is marked crashed
        run_id = journal.begin_run(1, {"options": {}})
        ctx = RunContext(RunOptions()).bind(journal, run_id, 1)
        try:
            actions = actions_for(ctx)
            if after == "resume":
                out = run_system_steps(journal, run_id, 1, steps, actions)
                assert out["state"] == "done", out
                cur.execute(f"SHOW GRANTS FOR {account}")
                frozen = " ".join(str(r[0]) for r in cur.fetchall())
                assert "INSERT" not in frozen and "UPDATE" not in frozen, frozen
            report = undo_system(journal, run_id, 1, "sys-1", actions)
            assert report.ok, report.failed
            assert undo_system(journal, run_id, 1, "sys-1", actions).undone == []
        finally:
            ctx.close()


def _wait_for_revoke(cur: pymysql.cursors.Cursor, child: subprocess.Popen[bytes]) -> int:
    """The connection id of the child's REVOKE waiting for the lock on ``mysql.db``."""
    for _ in range(600):
        cur.execute("SELECT id FROM information_schema.processlist "
                    "WHERE info LIKE 'REVOKE % ON `%`.* FROM %' AND state LIKE '%lock%'")
        row = cur.fetchone()
        if row:
            return int(row[0])
        if child.poll() is not None:
            err = child.stderr.read().decode()[-2000:] if child.stderr else ""
            raise AssertionError(f"the child ended early: {err}")
        time.sleep(0.05)
    raise AssertionError("the child's database-level REVOKE never waited on the lock")
