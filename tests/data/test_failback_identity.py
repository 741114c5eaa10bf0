"""The reverse delta of a fail-back writes only into the database its copy journaled,
told by server identity (PostgreSQL ``system_identifier`` + database OID, MariaDB
``@@server_uid`` + schema): a database re-created under the same name, or another
database, is refused before anything is written; the journaled one is written through
shangyun's own read-only freeze."""

from __future__ import annotations

import psycopg
import pytest

from connectors.database import DbEndpoint
from connectors.database import mariadb as my
from connectors.database import postgres as pg
from shangyun.errors import StepError
from tests.data.conftest import my_exec, pg_exec


def test_pg_reverse_delta_only_into_the_journaled_source(
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    pg.initial_copy(src, dst)
    ident = pg.source_identity(src)
    assert ident["engine"] == "postgresql" and ident["oid"]
    pg.freeze(src)
    pg_exec(dst, "INSERT INTO people (name) VALUES ('production write')")
    with pytest.raises(StepError, match="no identity of the source"):
        pg.final_delta(dst, src, into_source={})
    # the same name, re-created: another database (another OID) — refused, untouched
    other = {**ident, "oid": int(str(ident["oid"])) + 1_000_000}
    with pytest.raises(StepError, match="is not the source the journal names"):
        pg.final_delta(dst, src, into_source=other)
    assert pg_exec(src, "SELECT count(*) FROM people") == [(500,)]
    # the journaled source: written through its freeze, which stays on
    out = pg.final_delta(dst, src, into_source=ident)
    assert out.recopied == ["public.people"]
    pg.verify(dst, src)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        pg_exec(src, "INSERT INTO log (line) VALUES ('an application write')")
    pg.unfreeze(src)


def test_mariadb_reverse_delta_only_into_the_journaled_source(
        my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = my_pair
    my.initial_copy(src, dst)
    ident = my.source_identity(src)
    assert ident["engine"] == "mariadb" and ident["server_uid"]
    my_exec(dst, "INSERT INTO people (name) VALUES ('production write')")
    for wrong in ({**ident, "server_uid": "another-server"}, {**ident, "schema": dst.dbname}):
        with pytest.raises(StepError, match="is not the source the journal names"):
            my.final_delta(dst, src, into_source=wrong)
    assert my_exec(src, "SELECT COUNT(*) FROM people") == [(400,)]
    out = my.final_delta(dst, src, into_source=ident)
    assert "people" in out.recopied
    my.verify(dst, src)
    assert my_exec(src, "SELECT COUNT(*) FROM people") == [(401,)]
