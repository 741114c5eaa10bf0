"""A wave split between two bureau workers on a PostgreSQL-backed Prefect server; one worker
is killed (-9, with its flow run) mid-wave and restarted: its systems resume from the
journal with nothing done twice, and the other bureau is never disturbed."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from connectors.journal.wave import open_journal
from connectors.objectstore import ObjectStore
from shangyun.estate import Estate
from shangyun.estate.names import names_of
from tests.distributed.conftest import (
    SHANGYUN,
    Programme,
    SharedCloud,
    diagnosed,
    kill_tree,
    wait_for,
)
from tests.support import moto_server
from tests.wave.conftest import FORMATS, build_estate, write_plan

pytestmark = pytest.mark.timeout(900)

B1, B2 = "bureau-01", "bureau-02"


def _midway(estate: Path, systems: set[str]) -> bool:
    """One of ``systems`` has finished every step and another has begun (not finished)."""
    with open_journal(estate) as j:
        recs = [r for r in j.records(1) if r.system_id in systems]
    per: dict[str, list[str]] = {}
    for r in recs:
        per.setdefault(r.system_id, []).append(r.status)
    finished = [s for s, st in per.items() if len(st) >= 7 and set(st) == {"done"}]
    begun = [s for s, st in per.items() if s not in finished]
    return bool(finished) and bool(begun)


def _small_vms(root: Path, n: int = 8) -> None:
    """256 MiB per VM, so the test driver's 3 GiB node holds all eight launches."""
    from shangyun.estate import Estate

    est = Estate.load(root, check=False)
    hosts = [{**h, "memory_gb": 0.25} for h in est.rows("hosts")]
    Estate.from_records(est.meta, {**{t: est.rows(t) for t in ("bureaus", "systems",
                                                               "disks")},
                                   "hosts": hosts}).save(root)
    write_plan(root, {1: [[f"sys-{i:02d}"] for i in range(1, n + 1)]})


def test_two_workers_split_a_wave_and_a_killed_worker_resumes(
        journal_env: Programme, shared_cloud: SharedCloud, tmp_path: Path) -> None:
    prog = journal_env
    # 8 systems alternating over two bureaus; bureau-01's link carries one system at a time
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=8,
                       formats=FORMATS[3:5], mib=8)
    _small_vms(est.root)
    uri, pool_dir = shared_cloud.uri, shared_cloud.pool_path
    deploy = prog.run("worker", "deploy", "--estate", str(est.root), "--json")
    assert deploy.returncode == 0, deploy.stderr
    out = json.loads(deploy.stdout)
    assert {"run_wave/wave-run", "rollback_wave/wave-rollback"} <= set(out["deployments"])
    assert {f"bureau-{B1}", f"bureau-{B2}"} <= set(out["queues"])

    logs = tmp_path / "logs"
    logs.mkdir()
    with diagnosed(logs, est.root):  # a failure prints the logs, the journal
        w1 = prog.start_worker(B1, logs / "worker-1.log")
        w2 = prog.start_worker(B2, logs / "worker-2.log")
        with moto_server() as s3:
            with ObjectStore(s3) as store:
                store.ensure_bucket("staging")
            env = {**prog.env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
            follower = subprocess.Popen(
                [SHANGYUN, "wave", "run", "1", "--estate", str(est.root), "--distributed",
                 "--json", "--target", "libvirt", "--target-uri", uri, "--pool", "cloud-pool",
                 "--s3-endpoint", s3, "--bucket", "staging", "--start-timeout", "300"],
                env=env, stdout=subprocess.PIPE, stderr=(logs / "follower.err").open("wb"),
                text=True)
            try:
                # mid-wave: bureau-01's first system is done and its second has begun
                b1 = {"sys-01", "sys-03", "sys-05", "sys-07"}
                wait_for(lambda: follower.poll() is not None or _midway(est.root, b1), 300,
                         "bureau-01 to be half-way through wave 1", every=0.1)
                assert follower.poll() is None, (logs / "follower.err").read_text()
                with open_journal(est.root) as j:
                    before = {(r.system_id, r.key): r.status for r in j.records(1)}
                kill_tree(w1)  # the machine of bureau-01's worker dies (worker + flow run)

                wait_for(lambda: "resubmitted" in (logs / "follower.err").read_text(), 120,
                         "the follower to resubmit bureau-01's share")
                w1 = prog.start_worker(B1, logs / "worker-1b.log")
                stdout, _ = follower.communicate(timeout=600)
            finally:
                if follower.poll() is None:
                    follower.kill()
                    follower.wait(timeout=30)
        err = (logs / "follower.err").read_text()
        assert follower.returncode == 0, err + stdout
        result = json.loads(stdout)
        assert result["state"] == "done"
        by_bureau = {b["bureau"]: b for b in result["bureaus"]}
        assert by_bureau[B1]["resumes"] == 1 and len(by_bureau[B1]["flow_run_ids"]) == 2
        assert by_bureau[B2]["resumes"] == 0 and len(by_bureau[B2]["flow_run_ids"]) == 1
        assert {s["id"]: s["state"] for s in result["systems"]} == {
            f"sys-{i:02d}": "done" for i in range(1, 9)}
        # the wave state's words and counts, as 'wave status' and a one-process run say them
        assert result["wave_state"] == "done" and result["summary"] == "8 systems done", result

        with open_journal(est.root) as j:
            runs = j.runs(1)
            entries = j.j.audit_entries()
            params = {r["id"]: j.run_params(r["id"]) for r in runs}
        # split: one journal run per bureau (bureau-01's resumed in place), each recording the
        # Prefect flow run that finished it (bureau-01's: the resubmitted one, which 'wave
        # finalize' renames; the killed worker's is in the audit log)
        assert sorted(p["bureau"] for p in params.values()) == [B1, B2]
        assert {p["bureau"]: p["flow_run_id"] for p in params.values()} == {
            B1: by_bureau[B1]["flow_run_ids"][1], B2: by_bureau[B2]["flow_run_ids"][0]}
        resumed = [e for e in entries if e.action == "run resume"]
        assert [e.details.get("was_flow_run_id") for e in resumed] == [
            by_bureau[B1]["flow_run_ids"][0]], resumed
        assert all(r["status"] == "done" for r in runs)
        # nothing done twice: every step is recorded done exactly once over all runs
        done = Counter((e.system, e.action) for e in entries
                       if e.action.startswith("step ") and e.result == "done")
        assert done and max(done.values()) == 1, [k for k, n in done.items() if n > 1]
        # the steps done before the kill were skipped after it (not started again)
        started = Counter((e.system, e.action[5:]) for e in entries
                          if e.action.startswith("step ") and e.result == "started")
        for (sid, key), status in before.items():
            if status == "done":
                assert started[(sid, key)] == 1, (sid, key)
        assert any(e.action == "run crashed" for e in entries)
        assert any(e.action == "run resume" for e in entries)
        # the target holds exactly one volume per disk (16), none left over from the kill
        vols = sorted(p.name for p in pool_dir.iterdir())
        assert len(vols) == 16, vols
        # bureau-02's flow run ran on worker 2 and was never disturbed
        log2 = (logs / "worker-2.log").read_text()
        assert by_bureau[B2]["flow_run_ids"][0] in log2
        assert by_bureau[B1]["flow_run_ids"][1] in (logs / "worker-1b.log").read_text()
        kill_tree(w2)
        kill_tree(w1)
        assert not os.path.exists(est.root / "journal.db")  # the journal lived in PostgreSQL


def test_a_failed_system_fails_only_its_bureau_and_is_not_resubmitted(
        journal_env: Programme, shared_cloud: SharedCloud, tmp_path: Path) -> None:
    """bureau-02's system cannot be read (its image is gone): it rolls back, its bureau's
    flow run ends Failed in Prefect (not Completed), bureau-01 completes, nothing is
    resubmitted and the command exits 1 naming the system."""
    prog = journal_env
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2,
                       formats=FORMATS[3:5], mib=4)
    _small_vms(est.root, 2)
    est.images["disk-02-1"].unlink()  # sys-02 (bureau-02) loses a source disk
    assert prog.run("worker", "deploy", "--estate", str(est.root)).returncode == 0
    logs = tmp_path / "logs"
    logs.mkdir()
    with diagnosed(logs, est.root):  # a failure prints the logs, the journal
        workers = [prog.start_worker(B1, logs / "w1.log"), prog.start_worker(B2, logs / "w2.log")]
        try:
            with moto_server() as s3:
                with ObjectStore(s3) as store:
                    store.ensure_bucket("staging")
                r = subprocess.run(
                    [SHANGYUN, "wave", "run", "1", "--estate", str(est.root), "--distributed",
                     "--json", "--target", "libvirt", "--target-uri", shared_cloud.uri,
                     "--pool", shared_cloud.pool, "--s3-endpoint", s3, "--bucket", "staging",
                     "--start-timeout", "120"],
                    env={**prog.env, "AWS_ACCESS_KEY_ID": "testing",
                         "AWS_SECRET_ACCESS_KEY": "testing"},
                    capture_output=True, text=True, timeout=400)
        finally:
            for w in workers:
                kill_tree(w)
        assert r.returncode == 1, r.stderr
        out = json.loads(r.stdout)
        assert out["state"] == "failed"
        by_bureau = {b["bureau"]: b for b in out["bureaus"]}
        assert by_bureau[B1]["prefect_state"] == "COMPLETED"
        name = names_of(Estate.load(est.root), "system")["sys-02"]  # a person reads the name
        assert by_bureau[B2]["prefect_state"] == "FAILED" and name in by_bureau[B2]["message"]
        assert by_bureau[B2]["resumes"] == 0 and len(by_bureau[B2]["flow_run_ids"]) == 1
        assert {s["id"]: s["state"] for s in out["systems"]} == {"sys-01": "done",
                                                                 "sys-02": "refused"}
