"""The dashboard server on PostgreSQL (``--database-url``): a fresh database on
127.0.0.1:5432, the server's tables land there, and nothing is left afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors import prefect_server
from shangyun.cli import main


def _psql(sql: str, db: str = "postgres") -> str:
    r = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tA", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is not usable: {r.stderr.strip()}")
    return r.stdout.strip()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A database ``shangyun_dash_<pid>_<hex>`` dropped after the test."""
    name = f"shangyun_dash_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _psql(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_server_on_postgresql(pg_database: str, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    # set, then removed: monkeypatch records the variable as unset and removes what
    # configure_env sets below after the test (a delenv of an absent variable records
    # nothing, and the URL of this stopped server then leaked into every later test's
    # child processes: "Failed to reach API" in tests/wave/test_cli_killed_slots.py)
    monkeypatch.setenv("PREFECT_API_URL", "")
    monkeypatch.delenv("PREFECT_API_URL")
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_database}"
    port = prefect_server.free_port()
    runner = CliRunner()
    r = runner.invoke(main, ["server", "start", "--estate", str(tmp_path), "--port", str(port),
                             "--database-url", url, "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    try:
        assert info["database"] == "postgresql" and info["running"] is True
        assert url not in (tmp_path / ".shangyun" / "server" / "server.json").read_text()
        tables = _psql("select count(*) from information_schema.tables where table_name in "
                       "('flow_run', 'task_run', 'artifact')", pg_database)
        assert tables == "3"
        assert prefect_server.configure_env(tmp_path) == info["api_url"]
        assert os.environ["PREFECT_API_URL"] == info["api_url"]
    finally:
        monkeypatch.delenv("PREFECT_API_URL", raising=False)
        r = runner.invoke(main, ["server", "stop", "--estate", str(tmp_path), "--json"])
    assert r.exit_code == 0 and json.loads(r.output) == {"stopped": True}
    assert not Path(f"/proc/{info['pid']}/cmdline").exists()
    r = runner.invoke(main, ["server", "status", "--estate", str(tmp_path)])
    assert r.exit_code == 1
