"""The temporary Prefect server a command starts when no ``PREFECT_API_URL`` names one.

It is Prefect's own ``SubprocessASGIServer`` with one difference for its SQLite database:
every write transaction begins ``IMMEDIATE`` (takes SQLite's write lock first and waits
for it up to Prefect's ``busy_timeout``) instead of ``DEFERRED``. Prefect begins most of
its server transactions deferred: one that reads and then writes (the concurrency-slot
``increment-with-lease`` every tagged task run makes: read the limits, then ``UPDATE``)
cannot upgrade to a writer when another connection wrote in between, and SQLite answers
``database is locked`` at once, whatever the busy timeout. The server turned that into a
503 and Prefect's client slept 2 s before trying again: a wave of two small systems paid
eight such waits. Prefect itself begins ``IMMEDIATE`` for the transactions it knows
write; on a local temporary server with one writer at a time that is the right choice for
all of them. PostgreSQL (a dashboard's ``PREFECT_API_DATABASE_CONNECTION_URL``) is not
touched. Imported by the server's own process only (``uvicorn --factory``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import prefect
from fastapi import FastAPI
from prefect.server.api.server import SubprocessASGIServer, create_app
from prefect.server.database.configurations import AioSqliteConfiguration
from prefect.settings import get_current_settings

FACTORY = "flows.tempserver:create_immediate_app"
"""The ``uvicorn --factory`` the temporary server runs."""

_deferred_begin = AioSqliteConfiguration.begin_transaction


@asynccontextmanager
async def _begin_immediate(self: AioSqliteConfiguration, session: Any,
                           with_for_update: bool = False) -> AsyncGenerator[Any, None]:
    """Prefect's SQLite ``begin_transaction``, always ``BEGIN IMMEDIATE``."""
    async with _deferred_begin(self, session, with_for_update=True) as transaction:
        yield transaction


def create_immediate_app() -> FastAPI:
    """Prefect's server app, its SQLite write transactions begun ``IMMEDIATE``."""
    AioSqliteConfiguration.begin_transaction = _begin_immediate  # type: ignore[method-assign]
    return create_app()


class TemporaryServer(SubprocessASGIServer):
    """Prefect's temporary server (the one ``get_client()`` finds in this process),
    running :func:`create_immediate_app`."""

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        """Prefect's own command and environment, with our app factory."""
        return subprocess.Popen(
            args=[sys.executable, "-m", "uvicorn",
                  "--app-dir", str(prefect.__module_path__.parent),
                  "--factory", FACTORY,
                  "--host", "127.0.0.1", "--port", str(self.port),
                  "--log-level", "error", "--lifespan", "on"],
            env={**_python_path(), **_server_env()},
        )


def _python_path() -> dict[str, str]:
    """This process's environment, with the directory ``flows`` is imported from on
    ``PYTHONPATH`` (``--app-dir`` puts Prefect's first; a checkout run without
    installing must still find ``flows``)."""
    here = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (path, here) if p)}


def _server_env() -> dict[str, str]:
    """What Prefect's ``SubprocessASGIServer`` sets for its server process."""
    return {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            **get_current_settings().to_environment_variables(exclude_unset=True)}
