"""The dashboard tests: a persistent Prefect server on a free 127.0.0.1 port with its own
PREFECT_HOME in a temp folder, stopped (no process left) after the module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors import prefect_server
from shangyun.cli import main

FLOW = """
import sys
from prefect import flow, tags

@flow(name="wave-1", flow_run_name="wave-1 · bureau-01 · 审批系统 · {token}")
def wave_run(token: str) -> str:
    return token

with tags("wave-1", "bureau-01"):
    state = wave_run(sys.argv[1], return_state=True)
print(state.state_details.flow_run_id)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[prefect_server.ServerInfo]:
    """``shangyun server start`` on a free port (estate-local state); stopped afterwards."""
    from shangyun.sample.generator import generate_estate

    estate = tmp_path_factory.mktemp("dashboard-estate") / "estate"
    generate_estate(bureaus=3, systems=10, seed=2).save(estate)
    for cmd in ("assess", "plan"):
        r = CliRunner().invoke(main, [cmd, "--estate", str(estate)])
        assert r.exit_code == 0, r.output
    port = prefect_server.free_port()
    r = CliRunner().invoke(main, ["server", "start", "--estate", str(estate), "--port",
                                  str(port), "--json"])
    assert r.exit_code == 0, r.output
    info = prefect_server.status(prefect_server.default_state_dir(estate))
    assert info is not None and info.running and info.port == port
    try:
        yield info
    finally:
        prefect_server.stop(prefect_server.default_state_dir(estate))
        assert not Path(f"/proc/{info.pid}").exists() or \
            "Z" in Path(f"/proc/{info.pid}/stat").read_text().rsplit(")", 1)[-1][:3]


def run_flow(info: prefect_server.ServerInfo, token: str, tmp: Path) -> str:
    """Run a tiny flow named like a wave run against the server (own process); its id."""
    script = tmp / "flow.py"
    script.write_text(FLOW, encoding="utf-8")
    env = {**os.environ, "PREFECT_API_URL": info.api_url, "PREFECT_HOME": str(tmp / "home"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    r = subprocess.run([sys.executable, str(script), token], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip().splitlines()[-1]


def api(info: prefect_server.ServerInfo, path: str, body: dict[str, object]) -> object:
    """POST JSON to the server's API."""
    import urllib.request

    req = urllib.request.Request(f"{info.api_url}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())
