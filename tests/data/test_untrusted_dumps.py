"""Dumps from an untrusted source, against the real PostgreSQL and MariaDB servers
(docs/safety.md): client meta-commands in names or rows are copied as data and never run,
names starting with ``-`` are names, the source is recognised by server identity whatever
the host string, and a database shangyun did not create is never dropped or replaced."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.database import DbEndpoint
from connectors.database import mariadb as my
from connectors.database import postgres as pg
from connectors.database.common import OWNER_MARK
from shangyun.errors import StepError
from tests.data.conftest import my_exec, pg_exec


@pytest.fixture
def pwned() -> Iterator[Path]:
    """A short path a successful meta-command would create (it must never exist)."""
    path = Path(f"/tmp/sy-pwn-{secrets.token_hex(4)}")
    yield path
    path.unlink(missing_ok=True)


def _pg_hostile(src: DbEndpoint, pwned: Path) -> list[str]:
    """Tables whose names and rows carry psql meta-commands and leading dashes."""
    evil = f"e\n\\! touch {pwned}\n"
    pg_exec(src, f"""
        CREATE TABLE "{evil}" (line text);
        CREATE TABLE "-e x" (line text);
        CREATE TABLE "--help" (id int PRIMARY KEY, line text);
        INSERT INTO "{evil}" VALUES (E'\\\\! touch {pwned}'),
                                    (E'x\\n\\\\! touch {pwned}\\n\\\\.\\n');
        INSERT INTO "-e x" VALUES ('\\! touch {pwned}');
        INSERT INTO "--help" VALUES (1, E'\\n\\\\! touch {pwned}\\n');
        COMMENT ON TABLE "-e x" IS E'\\n\\\\! touch {pwned}\\n';
    """)
    return [f"public.{evil}", "public.-e x", "public.--help"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_pg_meta_commands_are_copied_as_data(pg_pair: tuple[DbEndpoint, DbEndpoint],
                                             pwned: Path, jobs: int) -> None:
    src, dst = pg_pair
    names = _pg_hostile(src, pwned)
    result = pg.initial_copy(src, dst, jobs=jobs, verify=True)
    assert set(names) <= set(result.digests)
    # later writes on the source, new hostile tables: the delta reloads and copies them
    pg_exec(src, f"INSERT INTO \"--help\" VALUES (2, E'\\\\! touch {pwned}')")
    pg_exec(src, f"CREATE TABLE \"-t\" (line text); "
                 f"INSERT INTO \"-t\" VALUES ('\\! touch {pwned}')")
    delta = pg.final_delta(src, dst)
    assert "public.--help" in delta.recopied and "public.-t" in delta.recopied
    pg.verify(src, dst)
    assert pg_exec(dst, 'SELECT line FROM "-e x"') == [(f"\\! touch {pwned}",)]
    assert not pwned.exists()


def test_pg_source_recognised_by_identity_not_host(pg_pair: tuple[DbEndpoint, DbEndpoint],
                                                   ) -> None:
    src, _ = pg_pair
    alias = DbEndpoint("localhost", src.port, src.user, src.dbname)  # same database
    with pytest.raises(StepError, match=r"is the source database .*system identifier"):
        pg.initial_copy(src, alias)
    with pytest.raises(StepError, match="is the source database"):
        pg.drop_database(alias, source=src)
    with pytest.raises(StepError, match="is the source database"):
        pg.final_delta(src, alias)
    assert pg_exec(src, "SELECT count(*) FROM people") == [(500,)]


def test_pg_database_not_made_by_shangyun_is_never_dropped(
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    pg_exec(DbEndpoint(dst.host, dst.port, dst.user, "postgres"),
            f'CREATE DATABASE "{dst.dbname}"')
    pg_exec(dst, "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)")
    for attempt in (lambda: pg.initial_copy(src, dst), lambda: pg.drop_database(dst),
                    lambda: pg.final_delta(src, dst)):
        with pytest.raises(StepError, match=rf"database '{dst.dbname}' .*not created by "
                                            "shangyun"):
            attempt()
    assert pg_exec(dst, "SELECT x FROM precious") == [(42,)]
    # what shangyun creates carries the marker, and only that is dropped
    other = dst.with_db(dst.dbname + "_ours")
    try:
        pg.initial_copy(src, other)
        assert (pg.ownership(other) or "").startswith(f"{OWNER_MARK}: copy of {src.where()}")
    finally:
        assert pg.drop_database(other, source=src) is True


def _my_hostile(src: DbEndpoint, pwned: Path) -> None:
    evil = f"e\n\\! touch {pwned}\nx"
    my_exec(src, f"CREATE TABLE `{evil}` (line TEXT)")
    my_exec(src, f"INSERT INTO `{evil}` VALUES ('\\\\! touch {pwned}')")
    my_exec(src, "CREATE TABLE `-e` (line TEXT)")
    my_exec(src, f"INSERT INTO `-e` VALUES ('\\n\\\\! touch {pwned}\\n')")
    my_exec(src, "CREATE TABLE `--x` (id INT PRIMARY KEY, line TEXT)")
    my_exec(src, f"INSERT INTO `--x` VALUES (1, 'system touch {pwned}')")


def test_mariadb_meta_commands_and_dash_names_are_data(my_pair: tuple[DbEndpoint, DbEndpoint],
                                                       pwned: Path) -> None:
    src, dst = my_pair
    _my_hostile(src, pwned)
    result = my.initial_copy(src, dst)
    assert {"-e", "--x", f"e\n\\! touch {pwned}\nx"} <= set(result.digests)
    # the delta hands the changed tables' names to mariadb-dump: names, not options
    my_exec(src, f"INSERT INTO `--x` VALUES (2, '\\\\! touch {pwned}')")
    my_exec(src, f"INSERT INTO `-e` VALUES ('\\\\! touch {pwned}')")
    delta = my.final_delta(src, dst)
    assert {"-e", "--x"} <= set(delta.recopied)
    my.verify(src, dst)
    assert (2, f"\\! touch {pwned}") in my_exec(dst, "SELECT id, line FROM `--x`")
    assert not pwned.exists()


def test_mariadb_source_recognised_by_identity_not_host(
        my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, _ = my_pair
    alias = DbEndpoint("localhost", src.port, src.user, src.dbname.upper())
    assert my.same_server(src, alias)
    with pytest.raises(StepError, match="is the source database"):
        my.initial_copy(src, alias)
    with pytest.raises(StepError, match="is the source database"):
        my.drop_database(alias, source=src)
    assert my_exec(src, "SELECT COUNT(*) FROM people") == [(400,)]


def test_mariadb_database_not_made_by_shangyun_is_never_dropped(
        my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = my_pair
    my_exec(DbEndpoint(dst.host, dst.port, dst.user, src.dbname),
            f"CREATE DATABASE `{dst.dbname}`")
    my_exec(dst, "CREATE TABLE precious (x INT)")
    my_exec(dst, "INSERT INTO precious VALUES (42)")
    for attempt in (lambda: my.initial_copy(src, dst), lambda: my.drop_database(dst),
                    lambda: my.final_delta(src, dst)):
        with pytest.raises(StepError, match=rf"database '{dst.dbname}' .*not created by "
                                            "shangyun"):
            attempt()
    assert my_exec(dst, "SELECT x FROM precious") == [(42,)]
