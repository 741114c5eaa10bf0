"""A fail-back after the source database was dropped (between the cutover and finalize):
the reverse delta is refused — there is nowhere to carry the production writes — and the
refusal says so and what is left to do. Seen on the real CLI: '… is not the source the
journal names (system identifier 77…, database OID 61516; found 77…, None); refusing to
write the reverse delta into it' — an OID of None for "the database is gone", and no next
step. Real PostgreSQL and MariaDB (the engines' own identity checks)."""

from __future__ import annotations

import pymysql
import pytest

from connectors.database import DbEndpoint
from connectors.database import mariadb as my
from connectors.database import postgres as pg
from shangyun.errors import StepError
from tests.data.conftest import pg_exec


def test_the_refusal_says_the_source_database_is_gone(
        pg_pair: tuple[DbEndpoint, DbEndpoint],
        my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    for mod, (src, _) in ((pg, pg_pair), (my, my_pair)):
        journaled = mod.source_identity(src)  # what the copy step journals
        if mod is pg:
            pg_exec(DbEndpoint(src.host, src.port, src.user, "postgres"),
                    f'DROP DATABASE "{src.dbname}" WITH (FORCE)')
        else:
            conn = pymysql.connect(host=src.host, port=src.port, user=src.user,
                                   autocommit=True)
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE `{src.dbname}`")
            conn.close()
        with pytest.raises(StepError) as err:
            mod.require_identity(src, journaled, "write the reverse delta into")
        msg = " ".join(str(err.value).split())
        assert f"database {src.dbname!r} no longer exists" in msg, msg
        assert "None" not in msg, msg
        assert "stays in production" in msg and "wave finalize" in msg, msg
