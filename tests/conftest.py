"""Shared fixtures. Tests that need servers start them here and clean up after.

Area-specific fixtures live in each test folder's own ``conftest.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port, pg_database

# Prefect must never phone home (no network here) and must not touch ~/.prefect.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
_PREFECT_HOME = tempfile.mkdtemp(prefix="shangyun-test-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
# The audit key and head logs (connectors/journal/heads.py) live outside every estate, in a
# folder of this test session; the head logs are not made append-only (chattr +a) so the
# folder can be removed (tests/journal/test_audit_heads.py sets the flag where it checks it).
_AUDIT_HOME = tempfile.mkdtemp(prefix="shangyun-test-audit-")
atexit.register(shutil.rmtree, _AUDIT_HOME, True)
os.environ.setdefault("SHANGYUN_AUDIT_KEY", os.path.join(_AUDIT_HOME, "audit.key"))
if not os.path.exists(os.environ["SHANGYUN_AUDIT_KEY"]):
    # made now, so no test's output carries the "created the audit key" line
    with open(os.open(os.environ["SHANGYUN_AUDIT_KEY"], os.O_WRONLY | os.O_CREAT, 0o600),
              "w", encoding="ascii") as _key:
        _key.write(secrets.token_hex(32) + "\n")
os.environ.setdefault("SHANGYUN_AUDIT_HEADS_APPEND_ONLY", "0")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API for flow tests, started once: Prefect's test harness
    (``prefect.testing.utilities.prefect_test_harness``) on a throw-away PostgreSQL
    database instead of its SQLite file.

    On SQLite, a task run's tag-concurrency call (``increment-with-lease``, one per step)
    collides with the server's other writes: the server answers 503 (SQLITE_BUSY) and the
    client waits 2 s before trying again — 22 times in one run of
    tests/cutover/test_left_alone.py, half its time. PostgreSQL does not refuse them."""
    with (pg_database("shangyun_test_prefect") as db,
          _harness(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db}")):
        yield


@contextlib.contextmanager
def _harness(database_url: str, startup_timeout: int = 120) -> Iterator[None]:
    """``prefect_test_harness`` with ``database_url`` (it hard-codes a SQLite file)."""
    import prefect.context
    import prefect.settings
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.server.database.dependencies import temporary_database_interface
    from prefect.utilities.asyncutils import run_coro_as_sync

    with contextlib.ExitStack() as stack:
        stack.enter_context(temporary_database_interface())
        stack.enter_context(prefect.settings.temporary_settings(updates={
            prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL: database_url}))
        server = SubprocessASGIServer(port=free_port())
        prior = SubprocessASGIServer._instances.get(None)
        SubprocessASGIServer._instances[None] = server  # flows find this one, start none
        server.start(timeout=startup_timeout)
        try:
            stack.enter_context(prefect.settings.temporary_settings(updates={
                prefect.settings.PREFECT_API_URL: server.api_url}))
            stack.enter_context(prefect.context._temporary_global_settings_context(
                prefect.context.get_settings_context()))
            yield

            async def drain() -> None:  # the logs and events, before the server stops
                with contextlib.suppress(RuntimeError):  # never started
                    done = APILogWorker.instance().drain()
                    if inspect.isawaitable(done):
                        await done
                done = EventsWorker.drain_all()
                if inspect.isawaitable(done):
                    await done

            run_coro_as_sync(drain())
        finally:
            server.stop()
            if prior is not None:
                SubprocessASGIServer._instances[None] = prior
            else:
                SubprocessASGIServer._instances.pop(None, None)


_TEMPLATE_SERVER = """
from flows.move import start_temporary_server
from prefect.server.api.server import SubprocessASGIServer
start_temporary_server()
for server in list(SubprocessASGIServer._instances.values()):
    server.stop()
"""


@pytest.fixture(scope="session")
def _prefect_home_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Prefect home whose SQLite database a temporary server has already made (its
    migrations, block types): made once, by the command's own code in a child process."""
    import subprocess
    import sys

    home = tmp_path_factory.mktemp("prefect-home-template")
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    subprocess.run([sys.executable, "-c", _TEMPLATE_SERVER], env=env, check=True,
                   cwd=Path(__file__).resolve().parents[1], timeout=300)
    return home


@pytest.fixture
def used_prefect_home(tmp_path: Path, _prefect_home_template: Path) -> Path:
    """A test's own Prefect home (``PREFECT_HOME`` of its CLI processes) as an operator's is
    after a first command: the database exists. A fresh home costs each test's first CLI
    process the server's migrations (~4 s on a quiet machine, twice that loaded); tests whose
    point is the first start on an empty home (tests/cutover/test_cli_concurrent.py) keep
    their own empty folder."""
    home = tmp_path / "prefect"
    shutil.copytree(_prefect_home_template, home)
    return home


@pytest.fixture(autouse=True)
def _environment_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give every later test the environment this one started with.

    A test that leaves a variable behind changes what every later test's child processes
    inherit (a ``PREFECT_API_URL`` of a stopped server made a CLI child fail "Failed to
    reach API" minutes later, in another folder). What a test leaves is put back and named
    in a warning, so the leak is found where it happens."""
    own = "PYTEST_CURRENT_TEST"  # pytest's own, set and removed around each phase
    before = {k: v for k, v in os.environ.items() if k != own}
    yield
    changed = sorted(k for k in before.keys() | os.environ.keys()
                     if k != own and before.get(k) != os.environ.get(k))
    if not changed:
        return
    for k in changed:
        if k in before:
            os.environ[k] = before[k]
        else:
            del os.environ[k]
    import warnings

    warnings.warn(f"{request.node.nodeid} left environment variables changed: "
                  f"{', '.join(changed)} (put back)", stacklevel=1)
