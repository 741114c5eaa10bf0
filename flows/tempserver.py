"""The temporary Prefect server a command starts when no ``PREFECT_API_URL`` names one.

It is Prefect's own ``SubprocessASGIServer`` running our app factory
(:data:`connectors.prefect_app.FACTORY`): Prefect's server with its SQLite write
transactions begun ``IMMEDIATE`` — the same server ``shangyun server start`` runs for the
dashboard (:mod:`connectors.prefect_app` says why: no 503 "database is locked" and 2 s
client retry on concurrent writes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import get_current_settings

from connectors.prefect_app import FACTORY


class TemporaryServer(SubprocessASGIServer):
    """Prefect's temporary server (the one ``get_client()`` finds in this process),
    running :func:`connectors.prefect_app.create_immediate_app`."""

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        """Prefect's own command and environment, with our app factory; started with
        SIGINT blocked (:func:`sigint_blocked`)."""
        with sigint_blocked():
            return subprocess.Popen(
                args=[sys.executable, "-m", "uvicorn",
                      "--app-dir", str(prefect.__module_path__.parent),
                      "--factory", FACTORY,
                      "--host", "127.0.0.1", "--port", str(self.port),
                      "--log-level", "error", "--lifespan", "on"],
                env={**_python_path(), **_server_env()},
            )


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread for the duration, so a process started meanwhile
    inherits it blocked. A Ctrl-C on the terminal signals the whole foreground process
    group — the command and its temporary server: the server died at once, and the
    command, stopping its run, then waited for it forever (its state reports retried
    against a dead port). Blocked (not ignored: uvicorn sets its own handler), the signal
    never reaches the server; the command stops it as it exits (SIGTERM), and a SIGKILL of
    the group still ends both. In this process a Ctrl-C meanwhile is delivered once
    unblocked."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _python_path() -> dict[str, str]:
    """This process's environment, with the directory ``connectors`` is imported from on
    ``PYTHONPATH`` (``--app-dir`` puts Prefect's first; a checkout run without installing
    must still find ``connectors``)."""
    here = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (path, here) if p)}


def _server_env() -> dict[str, str]:
    """What Prefect's ``SubprocessASGIServer`` sets for its server process."""
    return {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            **get_current_settings().to_environment_variables(exclude_unset=True)}
