"""The persistent Prefect server: a flow named like a wave run reports to it, the API knows
it, headless Chromium shows it on the dashboard, and stopping leaves no process."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
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


def _post(server: prefect_server.ServerInfo, path: str, body: object) -> int:
    req = urllib.request.Request(f"{server.api_url}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_server_begins_its_sqlite_transactions_immediate(
        server: prefect_server.ServerInfo) -> None:
    """``server start`` runs Prefect's own ``prefect server start`` through
    connectors/prefect_dashboard.py (SQLite transactions begun IMMEDIATE, as the CLI's
    temporary server's): the concurrency-slot calls every tagged step makes (read, then
    write), side by side with log writes, all answer — none is refused 503 "database is
    locked" (which the client answered by sleeping 2 s)."""
    cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    assert prefect_server.DASHBOARD_MODULE.encode() in cmdline, cmdline
    assert server.database == "sqlite"
    now = datetime.now(UTC).isoformat()

    def call(i: int) -> int:
        if i % 2:
            return _post(server, "/logs/", [{"name": "probe", "level": 20, "message": f"m{i}",
                                             "timestamp": now} for _ in range(20)])
        return _post(server, "/v2/concurrency_limits/increment-with-lease",
                     {"slots": 1, "names": [f"tag:probe-{i % 3}"], "mode": "concurrency"})

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(call, range(64)))
    assert 503 not in codes and set(codes) <= {200, 201}, codes


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


def test_status_links_the_wave_flow_run_and_runbook_is_published(
        server: prefect_server.ServerInfo, flow_run: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import json

    monkeypatch.setenv("HOME", str(tmp_path))  # only the estate's server counts
    estate = str(Path(server.home).parents[2])
    r = CliRunner().invoke(main, ["status", "--estate", estate, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["dashboard"]["url"] == server.ui_url
    wave1 = next(w for w in data["waves"] if w["wave"] == 1)
    assert wave1["flow_run"]["id"] == flow_run[0]
    assert wave1["flow_run"]["url"] == server.flow_run_url(flow_run[0])
    r = CliRunner().invoke(main, ["runbook", "1", "--estate", estate, "--lang", "en",
                                  "--publish"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["report", "--estate", estate, "--publish"])
    assert r.exit_code == 0, r.output
    arts = api(server, "/artifacts/filter", {"artifacts": {"key": {"any_": [
        "runbook-wave-1-en", "estate-report-zh", "estate-report-zh-table"]}}})
    assert isinstance(arts, list)
    by_key = {a["key"]: a for a in arts}
    assert set(by_key) == {"runbook-wave-1-en", "estate-report-zh", "estate-report-zh-table"}
    assert "Wave 1 runbook" in by_key["runbook-wave-1-en"]["data"]
    assert "迁移进展报告" in by_key["estate-report-zh"]["data"]


def test_publish_without_a_server_is_one_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    from shangyun.sample.generator import generate_estate

    monkeypatch.setenv("HOME", str(tmp_path))
    est = tmp_path / "e"
    generate_estate(bureaus=2, systems=10, seed=3).save(est)
    r = CliRunner().invoke(main, ["report", "--estate", str(est), "--publish"])
    assert r.exit_code == 1 and "no dashboard server is running" in r.output
