"""``wave finalize`` leaves no flow run of the wave saying it awaits finalize, whatever the
wave went through: an ``--only`` run, a run that failed and was resumed (a new flow run of
the same journal run). Real Prefect server (``shangyun server start``), ``shangyun wave``
commands in their own processes, the libvirt test driver, moto and an HTTP health check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.settings import PREFECT_API_URL, temporary_settings

from connectors import prefect_server
from connectors.journal.history import open_reader
from shangyun.cli import main
from tests.data.test_health import web  # noqa: F401  (fixture)
from tests.wave.conftest import CLOUD_NODE, build_estate, moto_endpoint, s3_client  # noqa: F401


def _health(root: Path, web: str, sys02: str) -> None:  # noqa: F811
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump({"schema_version": 1, "systems": {
        "sys-01": {"health": [{"kind": "http", "url": f"{web}/ok", "expect_body": "UP"}]},
        "sys-02": {"health": [{"kind": "http", "url": f"{web}{sys02}", "expect_body": "UP",
                               "attempts": 2, "backoff": 0.05}]}}}), encoding="utf-8")


def _shangyun(server: prefect_server.ServerInfo, tmp_path: Path,
              *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_API_URL": server.api_url,
           "PREFECT_HOME": str(tmp_path / "client-home"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run([str(Path(sys.executable).parent / "shangyun"), *args, "--json"],
                          env=env, capture_output=True, text=True, timeout=300)


def _flow_runs(server: prefect_server.ServerInfo) -> dict[str, tuple[str, str]]:
    """Flow run id → (state type, state name) of every flow run named wave-1 (a wave run)."""
    with temporary_settings({PREFECT_API_URL: server.api_url}), \
            get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=["wave-1"])))
    return {str(r.id): (r.state.type.value, r.state.name)  # type: ignore[union-attr]
            for r in runs}


def test_finalize_leaves_no_flow_run_awaiting_finalize_after_only_and_resume(
        server: prefect_server.ServerInfo, moto_endpoint: str, web: str,  # noqa: F811
        tmp_path: Path) -> None:
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2, mib=4)
    root = est.root
    pool = tmp_path / "pool"
    pool.mkdir()
    node = tmp_path / "cloud.xml"
    node.write_text(CLOUD_NODE.format(pool_uuid=uuid.uuid4(), pool_path=pool))
    bucket = f"fin-{uuid.uuid4().hex[:10]}"
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    run = ["wave", "run", "1", "--estate", str(root), "--target-uri", f"test://{node}",
           "--pool", "cloud-pool", "--s3-endpoint", moto_endpoint, "--bucket", bucket]
    _health(root, web, "/broken")
    seen: set[str] = set()

    def new_flow_run() -> tuple[str, tuple[str, str]]:
        runs = _flow_runs(server)
        (fid,) = set(runs) - seen
        seen.add(fid)
        return fid, runs[fid]

    # 1. --only sys-01: it cuts over; the wave is partial (sys-02 not run)
    r = _shangyun(server, tmp_path, *run, "--only", "sys-01")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["wave_state"] == "partial", r.stdout
    only_fid, only_state = new_flow_run()
    assert only_state[0] == "COMPLETED", only_state
    # 2. --only sys-02: its health check fails, it rolls back; the flow run is Failed
    r = _shangyun(server, tmp_path, *run, "--only", "sys-02")
    assert r.returncode == 1, r.stdout[-3000:]
    failed_fid, failed_state = new_flow_run()
    assert failed_state[0] == "FAILED", failed_state
    # 3. the health check is good again: 'wave resume' (the same journal run, a new flow
    # run) cuts sys-02 over: the wave is cut over, its flow run awaits finalize
    _health(root, web, "/ok")
    r = _shangyun(server, tmp_path, "wave", "resume", "1", "--estate", str(root))
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["wave_state"] == "cut_over", r.stdout
    resumed_fid, resumed_state = new_flow_run()
    assert resumed_state == ("COMPLETED", "AwaitingFinalize"), resumed_state
    with open_reader(root) as history:
        runs = [x for x in history.runs(wave=1) if x.kind == "run"]
    assert [x.status for x in runs] == ["done", "done"], runs
    # the journal's run names the flow run that finished it (the resume's)
    assert [x.flow_run_id for x in runs] == [only_fid, resumed_fid], runs

    # 4. finalize: the done runs' flow runs are Finalized; the failed attempt stays Failed
    # (it did fail); none is left awaiting finalize
    fin = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root),
                                    "--soak-hours", "0", "--json"],
                             env={"PREFECT_API_URL": server.api_url})
    assert fin.exit_code == 0, fin.output
    assert json.loads(fin.output)["dashboard"] == {"flow_runs": [only_fid, resumed_fid],
                                                   "state": "Finalized"}, fin.output
    after = _flow_runs(server)
    assert after[only_fid] == ("COMPLETED", "Finalized"), after
    assert after[resumed_fid] == ("COMPLETED", "Finalized"), after
    assert after[failed_fid] == failed_state, after
    assert not [f for f, (_, name) in after.items() if name == "AwaitingFinalize"], after
    st = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(root), "--json"])
    assert json.loads(st.output)["state"] == "done", st.output


def test_a_run_made_on_a_temporary_server_is_no_warning(
        server: prefect_server.ServerInfo, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A wave run by the CLI without ``PREFECT_API_URL`` and without ``shangyun server``
    reports to the command's temporary server: its flow run is not on the dashboard that
    is up at finalize. ``wave finalize`` warned "still shows wave 1 awaiting finalize: …
    404"; the dashboard shows nothing of it — nothing to rename, no warning."""
    from connectors.journal.wave import open_journal
    from shangyun.cli.wave import _finalized_on_dashboard

    monkeypatch.setenv("PREFECT_API_URL", server.api_url)
    root = tmp_path / "estate"
    root.mkdir()
    gone = str(uuid.uuid4())
    with open_journal(root) as j:
        run = j.begin_run(1, {"flow_run_id": gone})
        j.finish_run(run, "done")
    out = _finalized_on_dashboard(str(root), 1)
    assert out == {"flow_runs": [], "state": "Finalized", "not_on_dashboard": [gone]}, out
    # a dashboard that fails otherwise is still a warning
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{prefect_server.free_port()}/api")
    out = _finalized_on_dashboard(str(root), 1)
    assert "error" in out or out == {"flow_runs": []}, out
