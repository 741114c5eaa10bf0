"""Two estates (two programmes, or two teams) share one database server, and the second's
``plan/cutover.yaml`` names as its target the database the first estate's system is in
production on. Seen on the real CLI: estate Y's ``wave run 1`` dropped estate X's
production target database — its copy step drops "a leftover of an earlier attempt" when
it carries shangyun's ownership marker, and any shangyun copy carried the same marker —
and re-created it from Y's source: X's production writes were gone, silently, X's DNS
still pointing at it. Now the marker names the source it is a copy of by identity
(PostgreSQL system identifier + database OID, MariaDB ``@@server_uid`` + schema), and a
drop or reload for a copy of another source is refused, naming the database and what it
is a copy of. Real PostgreSQL and MariaDB, sshd + rsync, moto, libvirt test driver, the
real CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest
from click.testing import CliRunner

from connectors.database import DbEndpoint
from connectors.database import mariadb as my
from connectors.database import postgres as pg
from shangyun.cli import main
from shangyun.errors import StepError
from tests.cutover.failback_support import NEW_IP, cut_over, make_estate, pg_writable, pg_write
from tests.cutover.test_failback_rerun import _people, _run_args
from tests.data.conftest import my_exec, pg_exec
from tests.discovery.sshd import SshdFarm
from tests.wave.conftest import CLOUD_NODE, Cloud, bucket, cloud, moto_endpoint  # noqa: F401


@pytest.fixture
def pg_other() -> Iterator[DbEndpoint]:
    """Another source database on the same PostgreSQL server (estate Y's system's)."""
    ep = DbEndpoint("127.0.0.1", 5432, "postgres", f"sy_pgother_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{ep.dbname}"')
    pg_exec(ep, "CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL); "
                "CREATE TABLE log (at timestamptz, line text); "
                "INSERT INTO people (name) VALUES ('estate Y')")
    yield ep
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{ep.dbname}" WITH (FORCE)')


@pytest.fixture
def my_other() -> Iterator[DbEndpoint]:
    """Another source database on the same MariaDB server."""
    ep = DbEndpoint("127.0.0.1", 3306, "root", f"sy_myother_{uuid.uuid4().hex[:8]}")
    conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{ep.dbname}`")
    my_exec(ep, "CREATE TABLE t (id int PRIMARY KEY)")
    yield ep
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{ep.dbname}`")
    conn.close()


def test_a_second_estate_never_drops_the_first_estates_production_target(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, farm: SshdFarm, web: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint], pg_other: DbEndpoint) -> None:
    ps, pt = pg_pair
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    x = make_estate(tmp_path / "x", cloud, moto_endpoint, bucket, web, farm, pg_pair, None)
    cut_over(x)
    pg_write(pt, "INSERT INTO people (name) VALUES ('production write of X')")
    pool = tmp_path / "y-pool"
    pool.mkdir()
    node = tmp_path / "y-cloud.xml"
    node.write_text(CLOUD_NODE.format(pool_uuid=uuid.uuid4(), pool_path=pool))
    y_cloud = Cloud(uri=f"test://{node}", pool="cloud-pool", pool_path=pool)
    # estate Y: its own source database, the same target name on the same server
    y = make_estate(tmp_path / "y", y_cloud, moto_endpoint, bucket, web, farm,
                    (pg_other, pt), None)

    res = CliRunner().invoke(main, ["wave", "run", "1", *_run_args(y), "--json"])
    # X's production database is as X left it: its write is there, nothing of Y's
    assert _people(pt, "production write of X") == 1, res.output
    assert _people(pt, "estate Y") == 0, res.output
    assert pg_writable(pt) and not pg_writable(ps)
    assert x.dns_values() == (NEW_IP,) and x.state() == "cut_over"
    # Y's run failed on it, by name, and Y's rollback left it alone
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    assert out["state"] == "failed", out
    reason = " ".join(str(out["systems"][0].get("error") or "").split())
    assert pt.dbname in reason and "copy of another source" in reason, out
    assert ps.dbname in reason, out  # what it is a copy of
    assert y.state() == "rolled_back", y.state()
    assert pg_writable(pg_other)  # Y's source: thawed by Y's rollback (nothing froze it)


def test_a_copy_of_another_source_is_never_dropped_nor_reloaded(
        pg_pair: tuple[DbEndpoint, DbEndpoint], pg_other: DbEndpoint,
        my_pair: tuple[DbEndpoint, DbEndpoint], my_other: DbEndpoint) -> None:
    for mod, (src, dst), other in ((pg, pg_pair, pg_other), (my, my_pair, my_other)):
        mod.initial_copy(src, dst)
        for call in (lambda: mod.initial_copy(other, dst),  # noqa: B023 (called at once)
                     lambda: mod.drop_database(dst, source=other),  # noqa: B023
                     lambda: mod.final_delta(other, dst)):  # noqa: B023
            with pytest.raises(StepError, match="copy of another source") as err:
                call()
            assert dst.dbname in str(err.value) and src.dbname in str(err.value)
            assert mod.database_exists(dst)
        mod.final_delta(src, dst)  # its own source: as before
        assert mod.drop_database(dst, source=src)
        assert not mod.database_exists(dst)
