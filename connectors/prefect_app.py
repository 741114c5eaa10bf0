"""Prefect's server application with its SQLite write transactions begun ``IMMEDIATE``:
the one server every Prefect server shangyun starts runs — the CLI's temporary server
(``uvicorn --factory`` :data:`FACTORY`, :mod:`flows.tempserver`) and the dashboard's
persistent one (``shangyun server start``: ``python -m connectors.prefect_dashboard server
start …``, Prefect's own ``prefect server start`` with :func:`begin_immediate` made first).

Every write transaction begins ``IMMEDIATE`` (takes SQLite's write lock first and waits
for it up to Prefect's ``busy_timeout``) instead of ``DEFERRED``. Prefect begins most of
its server transactions deferred: one that reads and then writes (the concurrency-slot
``increment-with-lease`` every tagged task run makes: read the limits, then ``UPDATE``)
cannot upgrade to a writer when another connection wrote in between, and SQLite answers
``database is locked`` at once, whatever the busy timeout. The server turned that into a
503 and Prefect's client slept 2 s before trying again: a wave of two small systems paid
eight such waits. Prefect itself begins ``IMMEDIATE`` for the transactions it knows
write; on a server whose writers are its own few connections that is the right choice for
all of them. PostgreSQL (``PREFECT_API_DATABASE_CONNECTION_URL``) is not touched.
Imported by the server's own process only."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prefect.server.api.server import create_app
from prefect.server.database.configurations import AioSqliteConfiguration

FACTORY = "connectors.prefect_app:create_immediate_app"
"""The ``uvicorn --factory`` the temporary server runs."""

_deferred_begin = AioSqliteConfiguration.begin_transaction


@asynccontextmanager
async def _begin_immediate(self: AioSqliteConfiguration, session: Any,
                           with_for_update: bool = False) -> AsyncGenerator[Any, None]:
    """Prefect's SQLite ``begin_transaction``, always ``BEGIN IMMEDIATE``."""
    async with _deferred_begin(self, session, with_for_update=True) as transaction:
        yield transaction


def begin_immediate() -> None:
    """Make this process's Prefect server begin every SQLite transaction ``IMMEDIATE``."""
    AioSqliteConfiguration.begin_transaction = _begin_immediate  # type: ignore[method-assign]


def create_immediate_app() -> FastAPI:
    """Prefect's server app, its SQLite write transactions begun ``IMMEDIATE``."""
    begin_immediate()
    return create_app()


__all__ = ["FACTORY", "begin_immediate", "create_immediate_app"]
