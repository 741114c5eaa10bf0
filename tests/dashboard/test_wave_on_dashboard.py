"""End to end on the dashboard: ``shangyun wave run 1`` (its own process, PREFECT_API_URL
from the running server) moves a real wave; the server then holds the wave's flow run and
its step task runs named wave · bureau · system · step; ``status`` links the run and the
runbook is rendered from that run's journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from click.testing import CliRunner

from connectors import prefect_server
from connectors.journal.history import open_reader
from shangyun.cli import main
from shangyun.runbook import render_runbook
from tests.dashboard.conftest import api
from tests.wave.conftest import CLOUD_NODE, build_estate, moto_endpoint, s3_client  # noqa: F401


def test_wave_run_reports_to_the_dashboard(server: prefect_server.ServerInfo,
                                           moto_endpoint: str,  # noqa: F811
                                           tmp_path: Path) -> None:
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2, mib=4)
    pool = tmp_path / "pool"
    pool.mkdir()
    node = tmp_path / "cloud.xml"
    node.write_text(CLOUD_NODE.format(pool_uuid=uuid.uuid4(), pool_path=pool))
    bucket = f"dash-{uuid.uuid4().hex[:10]}"
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    env = {**os.environ, "PREFECT_API_URL": server.api_url,
           "PREFECT_HOME": str(tmp_path / "client-home"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    r = subprocess.run([str(Path(sys.executable).parent / "shangyun"), "wave", "run", "1",
                        "--estate", str(est.root), "--target-uri", f"test://{node}",
                        "--pool", "cloud-pool", "--s3-endpoint", moto_endpoint,
                        "--bucket", bucket, "--json"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    assert result["state"] == "done"
    link = prefect_server.latest_flow_run(server, 1)
    assert link is not None and link["name"] == "wave-1" and link["state"] == "COMPLETED"
    runs = api(server, "/flow_runs/filter", {"flow_runs": {"id": {"any_": [link["id"]]}}})
    assert isinstance(runs, list) and len(runs) == 1
    tasks = api(server, "/task_runs/filter", {"flow_runs": {"id": {"any_": [r_["id"] for r_
                                                                           in runs]}}})
    names = {t["name"] for t in tasks}  # type: ignore[union-attr]
    assert any(n.startswith("wave-1 · bureau-01 · 审批系统 · convert") for n in names), names
    assert any("档案系统" in n and "launch" in n for n in names), names
    with open_reader(est.root) as history:
        text, _ = render_runbook(est.root, 1, "md", "en", journal=history)
    assert "| **done** |" in text and "sys-02/launch/host-02" in text
    r2 = CliRunner().invoke(main, ["status", "--estate", str(est.root), "--json"],
                            env={"PREFECT_API_URL": server.api_url})
    assert r2.exit_code == 0, r2.output
    wave1 = json.loads(r2.output)["waves"][0]
    assert wave1["flow_run"]["id"] == link["id"]
    assert wave1["flow_run"]["url"] == server.flow_run_url(link["id"])
