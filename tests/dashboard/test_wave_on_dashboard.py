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

import yaml
from click.testing import CliRunner
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.settings import PREFECT_API_URL, temporary_settings

from connectors import prefect_server
from connectors.journal.history import open_reader
from shangyun.cli import main
from shangyun.runbook import render_runbook, runbook_context
from tests.dashboard.conftest import api
from tests.data.test_health import web  # noqa: F401  (fixture)
from tests.wave.conftest import CLOUD_NODE, build_estate, moto_endpoint, s3_client  # noqa: F401


def _run_wave_1(server: prefect_server.ServerInfo, endpoint: str, tmp_path: Path,
                root: Path) -> subprocess.CompletedProcess[str]:
    """`shangyun wave run 1 --json` as a child process reporting to ``server``, onto a
    libvirt test cloud with its own pool and a new bucket on moto."""
    pool = tmp_path / "pool"
    pool.mkdir()
    node = tmp_path / "cloud.xml"
    node.write_text(CLOUD_NODE.format(pool_uuid=uuid.uuid4(), pool_path=pool))
    bucket = f"dash-{uuid.uuid4().hex[:10]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    env = {**os.environ, "PREFECT_API_URL": server.api_url,
           "PREFECT_HOME": str(tmp_path / "client-home"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run([str(Path(sys.executable).parent / "shangyun"), "wave", "run", "1",
                           "--estate", str(root), "--target-uri", f"test://{node}",
                           "--pool", "cloud-pool", "--s3-endpoint", endpoint,
                           "--bucket", bucket, "--json"],
                          env=env, capture_output=True, text=True, timeout=300)


def test_wave_run_reports_to_the_dashboard(server: prefect_server.ServerInfo,
                                           moto_endpoint: str,  # noqa: F811
                                           tmp_path: Path) -> None:
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2, mib=4)
    r = _run_wave_1(server, moto_endpoint, tmp_path, est.root)
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
    assert any(n.startswith("wave-1 · 一局 · 审批系统 · 转换 ") for n in names), names
    assert any("档案系统" in n and "隔离测试启动" in n for n in names), names
    with open_reader(est.root) as history:
        text, _ = render_runbook(est.root, 1, "md", "en", journal=history)
    assert "| **done** |" in text and "sys-02/launch/host-02" in text
    r2 = CliRunner().invoke(main, ["status", "--estate", str(est.root), "--json"],
                            env={"PREFECT_API_URL": server.api_url})
    assert r2.exit_code == 0, r2.output
    wave1 = json.loads(r2.output)["waves"][0]
    assert wave1["flow_run"]["id"] == link["id"]
    assert wave1["flow_run"]["url"] == server.flow_run_url(link["id"])


def test_a_failed_wave_reads_the_same_everywhere(server: prefect_server.ServerInfo,
                                                 moto_endpoint: str,  # noqa: F811
                                                 tmp_path: Path) -> None:
    """The demo's shape — one system moves, one does not — run for real through Prefect:
    the wave's flow run ends FAILED, each system's outcome task run carries its own state
    (Moved; Refused — never RolledBack — for a pre-check refusal), and the runbook's
    outcome, ``wave status 1``, ``status`` and the dashboard all say the same (#17)."""
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2, mib=4)
    est.images["disk-02-1"].unlink()  # sys-02's pre-check refuses: nothing of it is touched
    r = _run_wave_1(server, moto_endpoint, tmp_path, est.root)
    assert r.returncode == 1, r.stderr[-3000:]
    result = json.loads(r.stdout)
    assert result["state"] == "failed"
    assert {s["id"]: s["state"] for s in result["systems"]} == {"sys-01": "done",
                                                               "sys-02": "refused"}
    # the dashboard: the journal's run names its flow run, which ended FAILED
    with open_reader(est.root) as history:
        (run,) = history.runs(wave=1)
        ctx_outcome = runbook_context(est.root, 1, "en", journal=history)["outcome"]
        text, _ = render_runbook(est.root, 1, "md", "en", journal=history)
    assert run.flow_run_id
    (flow_run,) = api(server, "/flow_runs/filter",  # type: ignore[misc]
                      {"flow_runs": {"id": {"any_": [run.flow_run_id]}}})
    assert flow_run["state_type"] == "FAILED", flow_run["state"]
    assert "档案系统: refused by the pre-check" in flow_run["state"]["message"]
    tasks = api(server, "/task_runs/filter",
                {"flow_runs": {"id": {"any_": [run.flow_run_id]}}})
    outcomes = {t["name"]: (t["state_type"], t["state_name"])  # type: ignore[index]
                for t in tasks if " · 结果：" in t["name"]}  # type: ignore[union-attr]
    assert outcomes == {  # by the bureau's and the system's names, in zh (the default)
        "wave-1 · 一局 · 审批系统 · 结果：已迁移": ("COMPLETED", "Moved"),
        "wave-1 · 二局 · 档案系统 · 结果：预检查拒绝": ("FAILED", "Refused")}, outcomes
    names = {t["name"] for t in tasks}  # type: ignore[index]
    assert "wave-1 · 一局 · 审批系统 · 预检查 审批系统" in names, names
    # the bureau and the system by name (object keys inside a step's title are the
    # machine's: s3://…/sys-01/…)
    assert not any("sys-0" in " · ".join(n.split(" · ")[:3]) or "bureau-0" in n
                   for n in names), names
    # wave status, status and the runbook: one state, the same per system
    st = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(est.root), "--json"])
    assert st.exit_code == 0, st.output
    status = json.loads(st.output)
    assert status["state"] == "failed"
    assert {s["id"]: s["state"] for s in status["systems"]} == {"sys-01": "done",
                                                               "sys-02": "refused"}
    text_status = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(est.root)])
    assert "wave 1: failed" in text_status.output and "档案系统 (sys-02)" in text_status.output
    r2 = CliRunner().invoke(main, ["status", "--estate", str(est.root), "--json"],
                            env={"PREFECT_API_URL": server.api_url})
    assert r2.exit_code == 0, r2.output
    wave1 = json.loads(r2.output)["waves"][0]
    assert wave1["state"] == "failed"
    assert ctx_outcome["state"] == "failed"
    assert [(s["id"], s["state"]) for s in ctx_outcome["rolled_back"]] == [("sys-02",
                                                                            "refused")]
    assert [s["id"] for s in ctx_outcome["moved"]] == ["sys-01"]
    head = text[:text.index("## Before the wave")]
    assert "failed: a system did not move" in head and "refused by the pre-check" in head
    assert "rolled back" not in head.split("Rolled back, refused or failed back")[1].split(
        "\n")[1]


def test_a_cut_over_wave_awaits_finalize_on_the_dashboard(
        server: prefect_server.ServerInfo, moto_endpoint: str, web: str,  # noqa: F811
        tmp_path: Path) -> None:
    """A wave whose systems cut over is not finished: its flow run ends Completed named
    ``AwaitingFinalize`` with the wave state's words (已割接，待收尾 — what ``wave status``,
    the runbook and the report say), its system's outcome and the systems table say the
    same; ``wave finalize`` renames the flow run ``Finalized`` (done). Read back through
    Prefect's own client."""
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=1, mib=4)
    (est.root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(
        {"schema_version": 1, "systems": {"sys-01": {"health": [
            {"kind": "http", "url": f"{web}/ok", "expect_body": "UP"}]}}}), encoding="utf-8")
    r = _run_wave_1(server, moto_endpoint, tmp_path, est.root)
    assert r.returncode == 0, r.stderr[-3000:]
    st = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(est.root), "--json"])
    assert json.loads(st.output)["state"] == "cut_over", st.output
    with open_reader(est.root) as history:
        (run,) = history.runs(wave=1)
    assert run.flow_run_id

    def flow_run() -> object:
        with temporary_settings({PREFECT_API_URL: server.api_url}), \
                get_client(sync_client=True) as client:
            return client.read_flow_run(uuid.UUID(run.flow_run_id))

    before = flow_run()
    assert before.state.type.value == "COMPLETED"  # type: ignore[attr-defined]
    assert before.state.name == "AwaitingFinalize"  # type: ignore[attr-defined]
    message = before.state.message  # type: ignore[attr-defined]
    assert message.startswith("wave 1: 已割接，待收尾"), message
    assert "源端保留以备回切" in message and "shangyun wave finalize 1" in message, message
    with temporary_settings({PREFECT_API_URL: server.api_url}), \
            get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[before.id])))  # type: ignore[attr-defined]
        (table,) = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["wave-1-systems"]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[before.id])))  # type: ignore[attr-defined]
    outcomes = {t.name: (t.state.type.value, t.state.name)  # type: ignore[union-attr]
                for t in tasks if " · 结果：" in t.name}
    assert outcomes == {"wave-1 · 一局 · 审批系统 · 结果：已割接，待收尾":
                        ("COMPLETED", "AwaitingFinalize")}, outcomes
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [row["state"] for row in rows] == ["已割接，待收尾（源端保留以备回切）"], rows

    fin = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(est.root),
                                    "--soak-hours", "0", "--json"],
                             env={"PREFECT_API_URL": server.api_url})
    assert fin.exit_code == 0, fin.output
    assert json.loads(fin.output)["dashboard"] == {"flow_runs": [run.flow_run_id],
                                                   "state": "Finalized"}
    after = flow_run()
    assert after.state.type.value == "COMPLETED"  # type: ignore[attr-defined]
    assert after.state.name == "Finalized"  # type: ignore[attr-defined]
    assert after.state.message.startswith(  # type: ignore[attr-defined]
        "wave 1: 完成：全部系统已迁移"), after.state.message  # type: ignore[attr-defined]
    st = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(est.root), "--json"])
    assert json.loads(st.output)["state"] == "done", st.output
