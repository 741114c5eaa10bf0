"""The Prefect servers' SQLite transactions (connectors/prefect_app.py: the CLI's temporary
server and the dashboard's ``shangyun server start`` run it): two
read-then-write transactions that overlap, as the concurrency-slot calls of two step
tasks and the server's own writes do. Begun as Prefect begins them (``DEFERRED``), the
later writer gets ``database is locked`` at once (what the server answered with a 503 and
the client slept 2 s on); begun ``IMMEDIATE`` the second waits for the first and both
commit. Real SQLite files through Prefect's own database configuration."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from prefect.server.api.server import SubprocessASGIServer
from prefect.server.database.configurations import AioSqliteConfiguration
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from connectors.prefect_app import FACTORY, _begin_immediate, create_immediate_app
from flows.tempserver import TemporaryServer

Begin = Callable[..., Any]


async def _overlap(db: Path, begin: Begin, start: int, statements: list[str]) -> int:
    """T1 reads; T2 reads, writes and commits; T1 then writes and commits. The counter
    after both (``start`` + 2 when both committed)."""
    config = AioSqliteConfiguration(connection_url=f"sqlite+aiosqlite:///{db}")
    engine = await config.engine()
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda *a: statements.append(a[2]))
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE IF NOT EXISTS slots (n INTEGER)"))
        await conn.execute(sa.text("DELETE FROM slots"))
        await conn.execute(sa.text("INSERT INTO slots VALUES (:n)"), {"n": start})
    t1_read = asyncio.Event()

    async def bump(session: Any) -> None:
        n = (await session.execute(sa.text("SELECT n FROM slots"))).scalar_one()
        await session.execute(sa.text("UPDATE slots SET n = :n"), {"n": n + 1})

    async def t1() -> None:
        session = await config.session(engine)
        async with session, begin(config, session):
            await session.execute(sa.text("SELECT n FROM slots"))
            t1_read.set()
            await asyncio.sleep(0.2)  # T2 tries to write meanwhile
            await session.execute(sa.text("UPDATE slots SET n = n + 1"))

    async def t2() -> None:
        await t1_read.wait()
        session = await config.session(engine)
        async with session, begin(config, session):
            await bump(session)

    try:
        await asyncio.gather(t1(), t2())
        async with engine.connect() as conn:
            return int((await conn.execute(sa.text("SELECT n FROM slots"))).scalar_one())
    finally:
        await engine.dispose()


@settings(max_examples=3, deadline=None)
@given(start=st.integers(min_value=0, max_value=10_000))
def test_immediate_transactions_wait_for_each_other(tmp_path_factory: pytest.TempPathFactory,
                                                    start: int) -> None:
    db = tmp_path_factory.mktemp("sqlite") / "prefect.db"
    statements: list[str] = []
    assert asyncio.run(_overlap(db, _begin_immediate, start, statements)) == start + 2
    assert statements.count("BEGIN IMMEDIATE") == 2, statements
    assert "BEGIN DEFERRED" not in statements


def test_deferred_transactions_clash(tmp_path: Path) -> None:
    """Why: Prefect's own begin loses the later writer with ``database is locked``."""
    with pytest.raises(OperationalError, match="database is locked"):
        asyncio.run(_overlap(tmp_path / "prefect.db",
                             AioSqliteConfiguration.begin_transaction, 3, []))


def test_the_factory_is_the_immediate_app() -> None:
    """The ``--factory`` the temporary server's command names is ours, importable."""
    import importlib

    module, _, name = FACTORY.partition(":")
    assert getattr(importlib.import_module(module), name) is create_immediate_app
    assert issubclass(TemporaryServer, SubprocessASGIServer)


def test_the_flow_module_does_not_import_the_server() -> None:
    """A process that imports the wave flow only (a worker, a deployment's run) does not
    pay for Prefect's server application (~1.3 s): the temporary server is started, and
    imported, by :mod:`flows.move` alone."""
    # one fresh interpreter: what flows.wave imports, then what flows.move adds to it
    seen = ("print(sorted(m for m in ('flows.tempserver', 'flows.move', "
            "'prefect.server.api.server') if m in sys.modules))")
    probe = f"import sys, flows.wave; {seen}; import flows.move; {seen}"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    wave_only, with_move = out.strip().splitlines()
    assert wave_only == "[]", out
    assert "flows.tempserver" in with_move and "prefect.server.api.server" in with_move, out
