"""MariaDB connector against the real local server."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pymysql
import pytest

from connectors.database import DbEndpoint
from connectors.database import mariadb as my
from shangyun.errors import StepError, VerificationError
from tests.data.conftest import my_exec


def test_initial_copy_then_verify(my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = my_pair
    result = my.initial_copy(src, dst)
    assert set(result.digests) == {"people", "orders", "blobs"}
    assert result.digests["orders"].rows == 1000
    assert my.verify(src, dst) == result.digests
    assert my_exec(dst, "SELECT name FROM people WHERE id = 1") == [("人员-0",)]


def test_row_written_after_copy_found_and_synced(my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = my_pair
    my.initial_copy(src, dst)
    my_exec(src, "INSERT INTO people (name) VALUES ('late-comer')")
    my_exec(src, "UPDATE blobs SET b = 'x' LIMIT 1")
    with pytest.raises(VerificationError) as err:
        my.verify(src, dst)
    assert "people" in str(err.value) and "blobs" in str(err.value)
    assert "orders" not in str(err.value)
    delta = my.final_delta(src, dst)
    assert sorted(delta.recopied) == ["blobs", "people"]
    my.verify(src, dst)
    assert my_exec(dst, "SELECT COUNT(*) FROM people WHERE name = 'late-comer'") == [(1,)]
    # orders (which references people) was untouched and still joins
    assert my_exec(dst, "SELECT COUNT(*) FROM orders o JOIN people p ON p.id = o.person") \
        == [(1000,)]


def test_checksum_catches_same_count_change(my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = my_pair
    my.initial_copy(src, dst)
    my_exec(dst, "UPDATE orders SET amount = amount + 1 WHERE id = 5")
    with pytest.raises(VerificationError, match="orders: same row count"):
        my.verify(src, dst)


def test_undo_drops_target_never_source(my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = my_pair
    my.initial_copy(src, dst)
    assert my.drop_database(dst, source=src) is True
    assert my.drop_database(dst, source=src) is False
    assert my.database_exists(src) and not my.database_exists(dst)
    with pytest.raises(StepError, match="is the source"):
        my.drop_database(src, source=src)


def test_defaults_file_is_private_and_removed() -> None:
    ep = DbEndpoint("127.0.0.1", 3306, "root", "x", password='p"w\\d')
    with my._defaults(ep) as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert 'password="p\\"w\\\\d"' in Path(path).read_text()
    assert not os.path.exists(path)
    assert "p\"w" not in repr(ep)


def _write(ep: DbEndpoint, name: str) -> None:
    conn = my.connect(ep)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO people (name) VALUES (%s)", (name,))


def test_freeze_stops_the_databases_writers_and_ends_their_sessions(
        private_mariadb: DbEndpoint) -> None:
    """The cutover freeze of a MariaDB source: an ordinary account can no longer write
    the database, a session open on it is ended, the server itself is not made
    read-only; unfreeze gives the account its writes back (twice: no-op). (The shared
    server's two-database case: tests/data/test_mariadb_freeze.py.)"""
    src = private_mariadb
    user, pw = f"w{os.getpid()}", "freeze-test"
    my_exec(src, f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{pw}'")
    try:
        my_exec(src, f"GRANT ALL ON `{src.dbname}`.* TO '{user}'@'127.0.0.1'")
        writer = DbEndpoint(src.host, src.port, user, src.dbname, pw)
        open_session = pymysql.connect(host=src.host, port=src.port, user=user, password=pw,
                                       database=src.dbname, autocommit=True)
        before = my.freeze(src)  # read now (not journaled): returned for the undo
        assert [r["user"] for r in before["revoke"]] == [user]  # type: ignore[attr-defined]
        try:
            with pytest.raises(pymysql.err.MySQLError, match="denied"):
                _write(writer, "after the freeze")
            with pytest.raises(pymysql.err.MySQLError), open_session.cursor() as cur:
                cur.execute("SELECT 1")  # its session was ended
            assert my_exec(src, "SELECT @@global.read_only") == [(0,)]
        finally:
            my.unfreeze(src, before)
            my.unfreeze(src, before)  # twice: no-op
        _write(writer, "after the undo")
        assert my_exec(src, "SELECT COUNT(*) FROM people WHERE name = 'after the undo'") \
            == [(1,)]
    finally:
        my_exec(src, f"DROP USER '{user}'@'127.0.0.1'")


def test_a_freeze_journaled_by_an_older_shangyun_is_undone_by_its_read_only_switches(
        private_mariadb: DbEndpoint) -> None:
    """An older shangyun froze with the server-wide ``read_only`` and journaled the
    switches it found: its undo puts them back (read-only before stays read-only; no
    ``before`` at all: writable). A per-database freeze never touches the switches: a
    server read-only before it stays so (a real MariaDB server of the module's own)."""
    src = private_mariadb
    try:
        # an older freeze resumed after an upgrade goes on as it began: server-wide
        assert my.freeze(src, {"read_only": "OFF"}) == {"read_only": "OFF"}
        assert my_exec(src, "SELECT @@global.read_only") == [(1,)]
        assert my.unfreeze(src, {"read_only": "OFF"}) == []
        assert my_exec(src, "SELECT @@global.read_only") == [(0,)]
        my_exec(src, "SET GLOBAL read_only = ON")
        my.unfreeze(src, {"read_only": "ON"})
        assert my_exec(src, "SELECT @@global.read_only") == [(1,)], \
            "a server read-only before the freeze was made writable by its undo"
        my.unfreeze(src, None)
        assert my_exec(src, "SELECT @@global.read_only") == [(0,)]
        my_exec(src, "SET GLOBAL read_only = ON")  # the operator's own read-only server
        before = my.frozen_state(src)
        assert "read_only" not in before
        my.freeze(src, before)
        my.unfreeze(src, before)
        assert my_exec(src, "SELECT @@global.read_only") == [(1,)]
    finally:
        my_exec(src, "SET GLOBAL read_only = OFF")
