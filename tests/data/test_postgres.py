"""PostgreSQL connector against the real local server."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from shangyun.errors import ConnectorError, StepError, VerificationError
from tests.data.conftest import pg_exec


def test_initial_copy_then_verify(pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    result = pg.initial_copy(src, dst, jobs=2, digest=True)
    assert set(result.recopied) == {"public.people", "public.orders", "public.log",
                                   'app.Settings'}
    assert result.digests["public.orders"].rows == 2000
    digests = pg.verify(src, dst)
    assert digests == result.digests
    assert pg_exec(dst, "SELECT count(*) FROM app.\"Settings\"") == [(2,)]
    # the journal form carries no password and reads back
    data = result.to_dict()
    assert data["target"] == dst.where()


def test_row_written_after_copy_found_and_synced(pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    pg.initial_copy(src, dst)
    pg_exec(src, "INSERT INTO people (name) VALUES ('late-comer')")
    pg_exec(src, "INSERT INTO orders (person, amount) VALUES (501, 9.99)")
    pg_exec(src, "UPDATE log SET line = 'changed' WHERE line = 'line 7'")
    with pytest.raises(VerificationError) as err:
        pg.verify(src, dst)
    msg = str(err.value)
    assert "public.people" in msg and "public.orders" in msg and "public.log" in msg
    assert "app.Settings" not in msg
    pg.freeze(src)
    try:
        delta = pg.final_delta(src, dst)
        assert sorted(delta.recopied) == ["public.log", "public.orders", "public.people"]
        pg.verify(src, dst)
        assert pg_exec(dst, "SELECT count(*) FROM people WHERE name = 'late-comer'") == [(1,)]
        # the sequence came along: the next id on the target follows the late row
        assert pg_exec(dst, "SELECT nextval('people_id_seq')") == [(502,)]
        # frozen source: writes are refused
        with pytest.raises(Exception, match="read-only"):
            pg_exec(src, "INSERT INTO log VALUES (now(), 'during freeze')")
    finally:
        pg.unfreeze(src)
    pg_exec(src, "INSERT INTO log VALUES (now(), 'after unfreeze')")


def test_delta_handles_new_and_dropped_tables(pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    pg.initial_copy(src, dst)
    pg_exec(src, "CREATE TABLE fresh (id int PRIMARY KEY); INSERT INTO fresh VALUES (1), (2)")
    pg_exec(dst, "CREATE TABLE stray (id int)")
    delta = pg.final_delta(src, dst)
    assert delta.recopied == ["public.fresh"] and delta.dropped == ["public.stray"]
    pg.verify(src, dst)


def test_same_count_different_content_is_caught(pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    pg.initial_copy(src, dst)
    pg_exec(dst, "UPDATE orders SET amount = amount + 0.01 WHERE id = 77")
    with pytest.raises(VerificationError, match=r"public\.orders: same row count"):
        pg.verify(src, dst)


def test_undo_drops_target_never_source(pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    pg.initial_copy(src, dst)
    assert pg.drop_database(dst, source=src) is True
    assert pg.drop_database(dst, source=src) is False  # twice is fine
    assert not pg.database_exists(dst) and pg.database_exists(src)
    with pytest.raises(StepError, match="is the source"):
        pg.drop_database(src, source=src)
    with pytest.raises(StepError, match="is the source"):
        pg.initial_copy(src, src)
    assert pg.database_exists(src)


def test_failed_restore_leaves_no_target(pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    missing = DbEndpoint(src.host, src.port, src.user, src.dbname + "_nope")
    with pytest.raises(ConnectorError, match="does not exist"):
        pg.initial_copy(missing, dst)
    assert not pg.database_exists(dst)


def test_password_never_in_argv_or_message() -> None:
    ep = DbEndpoint("127.0.0.1", 5432, "postgres", "postgres", password="s3cr3t-pw")
    assert "s3cr3t" not in repr(ep) and "s3cr3t" not in ep.where()
    with pg._env(ep) as env:
        assert "PGPASSWORD" not in env
        import os
        import stat
        path = env["PGPASSFILE"]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert "s3cr3t-pw" in Path(path).read_text()
    assert not os.path.exists(path)


def test_verified_copy_compares_the_dumped_snapshot(
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    result = pg.initial_copy(src, dst, verify=True)
    assert result.digests["public.orders"].rows == 2000
    assert result.digests == pg.verify(src, dst)


def test_md5_checksum_and_unknown_checksum(pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, _ = pg_pair
    d = pg.table_digest(src, "public.log", "md5")
    assert d.rows == 300 and d.checksum.startswith("md5:")
    with pytest.raises(StepError, match="checksum 'sha1'"):
        pg.table_digest(src, "public.log", "sha1")


def test_streamed_copy_with_one_job(pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    result = pg.initial_copy(src, dst, jobs=1, verify=True)
    assert pg_exec(dst, "SELECT count(*) FROM orders") == [(2000,)]
    assert result.digests["public.people"].rows == 500


def test_unfreeze_restores_the_read_only_setting_the_database_had(
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    """A database read-only by its own setting before the freeze stays so after the undo;
    one without the setting gets none back (real PostgreSQL)."""
    src, _ = pg_pair
    setting = "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d " \
              f"ON d.oid = s.setdatabase WHERE d.datname = '{src.dbname}' AND s.setrole = 0"
    admin = DbEndpoint(src.host, src.port, src.user, "postgres", src.password)
    none = pg.frozen_state(src)
    assert none == {}
    pg.freeze(src)
    pg.unfreeze(src, none)
    assert pg_exec(admin, setting) in ([], [(None,)], [([],)])
    pg_exec(admin, f'ALTER DATABASE "{src.dbname}" SET default_transaction_read_only = on')
    try:
        before = pg.frozen_state(src)
        assert before == {"default_transaction_read_only": "on"}
        pg.freeze(src)
        pg.unfreeze(src, before)
        assert pg_exec(admin, setting) == [(["default_transaction_read_only=on"],)]
    finally:
        pg_exec(admin, f'ALTER DATABASE "{src.dbname}" RESET default_transaction_read_only')
