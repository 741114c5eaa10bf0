"""A wave moved by two bureau workers is rolled back by the same workers
(``wave rollback N --distributed``): every system ends ``rolled_back``, the shared cloud
holds no volume and no domain, the S3 staging objects are gone, and each bureau's rollback
was a flow run of the rollback deployment on that bureau's own queue."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors.journal.wave import open_journal
from connectors.objectstore import ObjectStore
from flows.distributed import not_rolled_back
from tests.distributed.conftest import ROOT, Programme, SharedCloud, diagnosed, kill_tree
from tests.support import moto_server
from tests.wave.conftest import FORMATS, build_estate

pytestmark = pytest.mark.timeout(600)

B1, B2 = "bureau-01", "bureau-02"

READ_RUNS = """
import json, sys
from uuid import UUID
from prefect.client.orchestration import get_client
out = {}
with get_client(sync_client=True) as c:
    for fid in sys.argv[1:]:
        fr = c.read_flow_run(UUID(fid))
        dep = c.read_deployment(fr.deployment_id) if fr.deployment_id else None
        flow = c.read_flow(fr.flow_id)
        out[fid] = {"queue": fr.work_queue_name, "state": fr.state.type.value,
                    "deployment": f"{flow.name}/{dep.name}" if dep else None,
                    "bureau": fr.parameters.get("bureau")}
print(json.dumps(out))
"""


def _flow_runs(prog: Programme, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each flow run's queue, state, deployment and bureau parameter, read from the server."""
    done = subprocess.run([sys.executable, "-c", READ_RUNS, *ids], env=prog.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _cloud(uri: str) -> tuple[list[str], list[str]]:
    """The domains and the pool's volumes the shared cloud holds now."""
    import libvirt

    libvirt.registerErrorHandler(lambda *a: None, None)
    conn = libvirt.open(uri)
    try:
        pool = conn.storagePoolLookupByName("cloud-pool")
        pool.refresh(0)
        return (sorted(d.name() for d in conn.listAllDomains()),
                sorted(v.name() for v in pool.listAllVolumes()))
    finally:
        conn.close()


def _objects(store: ObjectStore, bucket: str) -> list[str]:
    resp = store.client.list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def test_distributed_rollback_undoes_everything_on_each_bureau_queue(
        journal_env: Programme, shared_cloud: SharedCloud, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    prog = journal_env
    monkeypatch.setenv("SHANGYUN_JOURNAL", prog.journal_url)
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2,
                       formats=FORMATS[3:5], mib=4)  # sys-01 in bureau-01, sys-02 in -02
    estate = str(est.root)
    deploy = prog.run("worker", "deploy", "--estate", estate, "--json")
    assert deploy.returncode == 0, deploy.stderr
    logs = tmp_path / "logs"
    logs.mkdir()
    # a failure prints the worker logs and the journal's runs and step records
    with diagnosed(logs, estate):
        w1 = prog.start_worker(B1, logs / "worker-1.log")
        w2 = prog.start_worker(B2, logs / "worker-2.log")
        # moto keeps its buckets for the whole test process: a bucket of this test's own
        bucket = f"rollback-{secrets.token_hex(4)}"
        with moto_server() as s3, ObjectStore(s3) as store:
            store.ensure_bucket(bucket)
            run = prog.run("wave", "run", "1", "--estate", estate, "--distributed", "--json",
                           "--target", "libvirt", "--target-uri", shared_cloud.uri,
                           "--pool", shared_cloud.pool, "--s3-endpoint", s3,
                           "--bucket", bucket, "--start-timeout", "120", timeout=300)
            assert run.returncode == 0, run.stderr + run.stdout
            moved = json.loads(run.stdout)
            assert moved["state"] == "done"
            assert {s["id"]: s["state"] for s in moved["systems"]} == {
                "sys-01": "done", "sys-02": "done"}
            # the wave left something to undo: launched domains, imported volumes, S3 objects
            domains, volumes = _cloud(shared_cloud.uri)
            assert len(domains) == 2 and len(volumes) == 4, (domains, volumes)
            assert len(_objects(store, bucket)) == 4

            back = prog.run("wave", "rollback", "1", "--estate", estate, "--distributed",
                            "--json", timeout=300)
            assert back.returncode == 0, back.stderr + back.stdout
            out = json.loads(back.stdout)
            assert out["ok"] is True
            # the operator's own rollback, as the wave state reads it (not a failure)
            assert {s["id"]: s["state"] for s in out["systems"]} == {
                "sys-01": "rolled_back_by_operator", "sys-02": "rolled_back_by_operator"}
            # nothing is left to explain: no reason, no step left not undone
            assert {s["id"]: (s["error"], s["failed_steps"]) for s in out["systems"]} == {
                "sys-01": ("", []), "sys-02": ("", [])}
            assert _cloud(shared_cloud.uri) == ([], [])
            assert list(shared_cloud.pool_path.iterdir()) == []
            assert _objects(store, bucket) == []

        # each bureau's rollback: one flow run of the rollback deployment on its own queue,
        # picked up by that bureau's worker
        bureaus = {b["bureau"]: b for b in out["bureaus"]}
        assert set(bureaus) == {B1, B2}
        ids = {b: d["flow_run_ids"] for b, d in bureaus.items()}
        assert all(len(v) == 1 for v in ids.values()), ids
        runs = _flow_runs(prog, [ids[B1][0], ids[B2][0]])
        for b in (B1, B2):
            assert bureaus[b]["outcome"] == "completed"
            assert runs[ids[b][0]] == {"queue": f"bureau-{b}", "state": "COMPLETED",
                                       "deployment": "rollback_wave/wave-rollback", "bureau": b}
        log1, log2 = (logs / "worker-1.log").read_text(), (logs / "worker-2.log").read_text()
        assert ids[B1][0] in log1 and ids[B1][0] not in log2
        assert ids[B2][0] in log2 and ids[B2][0] not in log1
        # the journal: one rollback run per bureau, each ended "rolled_back" (the journal keeps
        # done/failed as a run's status and the outcome as its reason)
        with open_journal(estate) as j:
            rollbacks = [r for r in j.runs(1) if r["kind"] == "rollback"]
            records = j.records(1)
        assert sorted((r["bureau"], r["reason"]) for r in rollbacks) == [
            (B1, "rolled_back"), (B2, "rolled_back")], rollbacks
        assert records and {r.status for r in records} <= {"undone"}, \
            sorted({r.status for r in records})
    kill_tree(w1)
    kill_tree(w2)


def test_a_system_not_rolled_back_says_why_naming_the_step() -> None:
    """``wave rollback --distributed`` (JSON and plain) says, for a system that did not roll
    back, which step was left and the journal's error — not only its state."""
    steps = [{"key": "sys-02/precheck", "kind": "precheck", "status": "undone", "error": None},
             {"key": "sys-02/upload/d1", "kind": "upload", "status": "done", "error": None},
             {"key": "sys-02/import/d1", "kind": "import", "status": "undo_failed",
              "error": "AuditRecordError: undo of sys-02/import/d1 refused: record(s) 7 "
                       "were published …"}]
    why = not_rolled_back(steps)
    assert why["error"].startswith("sys-02/import/d1: AuditRecordError: undo of")
    assert why["failed_steps"] == [
        {"key": "sys-02/import/d1", "status": "undo_failed",
         "error": steps[2]["error"]},
        {"key": "sys-02/upload/d1", "status": "done", "error": ""}]
    left = not_rolled_back(steps[:2])
    assert left["error"] == "sys-02/upload/d1: left done, not undone"
    assert not_rolled_back(steps[:1]) == {"error": "", "failed_steps": []}
