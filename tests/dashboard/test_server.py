"""The persistent Prefect server: a flow named like a wave run reports to it, the API knows
it, headless Chromium shows it on the dashboard, and stopping leaves no process."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors import prefect_server
from shangyun.cli import main
from tests.dashboard.conftest import api, run_flow

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,900", "--virtual-time-budget=20000"]


@pytest.fixture(scope="module")
def flow_run(server: prefect_server.ServerInfo,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(flow run id, its unique token) of one tiny wave-named flow run."""
    token = uuid.uuid4().hex[:8]
    return run_flow(server, token, tmp_path_factory.mktemp("flow")), token


def test_flow_run_recorded_with_wave_name_and_tags(server: prefect_server.ServerInfo,
                                                   flow_run: tuple[str, str]) -> None:
    run_id, token = flow_run
    runs = api(server, "/flow_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
    assert isinstance(runs, list) and len(runs) == 1
    assert runs[0]["name"] == f"wave-1 · bureau-01 · 审批系统 · {token}"
    assert {"wave-1", "bureau-01"} <= set(runs[0]["tags"])
    assert runs[0]["state_type"] == "COMPLETED"


def test_status_cli_and_second_start_reuses(server: prefect_server.ServerInfo,
                                            tmp_path: Path) -> None:
    home = Path(server.home).parents[2]  # <estate>/.shangyun/server/home
    r = CliRunner().invoke(main, ["server", "status", "--estate", str(home)])
    assert r.exit_code == 0 and server.export_line in r.output
    again = prefect_server.start(prefect_server.default_state_dir(home), port=server.port)
    assert again.pid == server.pid
    r = CliRunner().invoke(main, ["server", "status", "--estate", str(tmp_path)])
    assert r.exit_code == 1 and "no server recorded" in r.output


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                    "(apt-get install -y chromium)")
def test_dashboard_shows_the_flow_run_in_chromium(server: prefect_server.ServerInfo,
                                                  flow_run: tuple[str, str],
                                                  tmp_path: Path) -> None:
    run_id, token = flow_run
    url = server.flow_run_url(run_id)
    shot = tmp_path / "flow-run.png"
    base = [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, timeout=120,
                   check=False)
    assert shot.is_file() and shot.stat().st_size > 20_000
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120, check=False).stdout
    assert token in dom, dom[-1500:]
