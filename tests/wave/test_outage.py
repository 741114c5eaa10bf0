"""The outside world failing during a wave: the S3 staging endpoint down, the target cloud
unreachable, the staging folder read-only, S3 going away in the middle of an upload.

Each case checks what the operator sees (one sentence naming the endpoint, bucket or folder
and the system by name; no traceback), what the journal says, that a rollback undoes
exactly what was done, and that the wave completes once the service is back. Real parts:
moto's server (started and stopped by the test, on a port of its own), the libvirt test
driver, qemu-img, a read-only tmpfs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from connectors.journal.wave import open_journal
from flows.move import move_wave
from shangyun.cli import main
from shangyun.wave.steps import RunOptions, Step
from tests.support import MOTO_ENV, free_port, moto_env, tmpfs_mounted
from tests.wave.conftest import FORMATS, Cloud, build_estate, s3_client

ROOT = Path(__file__).resolve().parents[2]
MIB = 2**20


@contextmanager
def moto_on(port: int) -> Iterator[ThreadedMotoServer]:
    """moto's server on ``port`` (its buckets live in this process: a server started again
    on the port finds what the stopped one held)."""
    with moto_env():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def _opts(tmp: Path, cloud: Cloud, endpoint: str, bucket: str, **kw: Any) -> RunOptions:
    return RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp / "staging"), s3_endpoint=endpoint, bucket=bucket,
                      part_size=5 * MIB, **kw)


def _statuses(root: Path) -> dict[str, str]:
    with open_journal(root) as j:
        return {r.key: r.status for r in j.records(1)}


def _staged(tmp: Path) -> list[Path]:
    staging = tmp / "staging"
    return sorted(p for p in staging.rglob("*") if p.is_file()) if staging.exists() else []


def test_s3_down_the_cli_refuses_in_one_sentence_then_resume_completes(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, used_prefect_home: Path) -> None:
    """S3 staging not answering: the pre-check refuses (not a rollback failure), the CLI
    prints one JSON document naming the endpoint, the bucket and the system, no traceback;
    nothing was converted or imported. With S3 back, ``wave resume`` moves the system."""
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[3:4], mib=4)
    port = free_port()
    endpoint, bucket = f"http://127.0.0.1:{port}", f"stage-{port}"
    env = {**os.environ, **MOTO_ENV, "PYTHONPATH": str(ROOT),
           "PREFECT_HOME": str(used_prefect_home)}
    env.pop("PREFECT_API_URL", None)  # its own temporary server, as an operator's
    r = subprocess.run(
        [sys.executable, "-c", "from shangyun.cli import main; main()", "wave", "run", "1",
         "--estate", str(root), "--target-uri", cloud.uri, "--pool", cloud.pool,
         "--staging", str(tmp_path / "staging"), "--s3-endpoint", endpoint,
         "--bucket", bucket, "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, (r.stdout, r.stderr[-3000:])
    assert "Traceback" not in r.stderr, r.stderr[-5000:]
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["state"] == "failed", doc
    for part in (endpoint, f"bucket {bucket}", "审批系统", "pre-check"):
        assert part in doc["error"], (part, doc["error"])
    assert [s["state"] for s in doc["systems"]] == ["refused"], doc
    assert not doc["systems"][0]["undo_failed"]
    # the journal: only the pre-check ran (refused); nothing to undo, nothing left
    st = _statuses(root)
    assert set(st) == {"sys-01/precheck"}, st
    assert _staged(tmp_path) == [] and list(cloud.pool_path.iterdir()) == []
    # S3 back on its port: the resume (the run's own options) moves the system
    with moto_on(port):
        result = move_wave(str(root), 1, resume=True)
        assert result["state"] == "done", result
        keys = [o["Key"] for o in s3_client(endpoint).list_objects_v2(  # type: ignore
            Bucket=bucket).get("Contents", [])]
    assert len(keys) == 2, keys
    assert {s for k, s in _statuses(root).items() if "/upload/" in k} == {"done"}


def test_target_cloud_unreachable_is_refused_by_the_pre_check(
        prefect_harness: None, tmp_path: Path, moto_endpoint: str, bucket: str) -> None:
    """A target URI that does not answer: refused by the pre-check naming the URI and the
    system; nothing staged, nothing uploaded."""
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=2, formats=FORMATS[3:5], mib=4)
    uri = f"qemu+tcp://127.0.0.1:{free_port()}/system"
    opts = RunOptions(target="libvirt", target_options={"uri": uri, "pool": "nowhere"},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket)
    result = move_wave(str(root), 1, options=opts.to_dict())
    assert result["state"] == "failed", result
    assert [s["state"] for s in result["systems"]] == ["refused", "refused"], result
    for s in result["systems"]:
        assert uri in s["error"] and f"system {s['name']}" in s["error"], s["error"]
        assert "target cloud" in s["error"]
    assert set(_statuses(root).values()) == {"undone"}  # the two pre-checks (nothing done)
    assert _staged(tmp_path) == []
    assert not s3_client(moto_endpoint).list_objects_v2(  # type: ignore
        Bucket=bucket).get("Contents")


@pytest.fixture
def read_only_staging(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs mounted for the test (a staging folder nothing can be written to)."""
    with tmpfs_mounted(tmp_path / "ro-staging", "ro,size=4m") as mnt:
        yield mnt


def test_read_only_staging_is_refused_by_the_pre_check_naming_the_folder(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,
        bucket: str, read_only_staging: Path) -> None:
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[4:5], mib=4)
    r = CliRunner().invoke(main, [
        "wave", "run", "1", "--estate", str(root), "--target-uri", cloud.uri,
        "--pool", cloud.pool, "--staging", str(read_only_staging / "wave"),
        "--s3-endpoint", moto_endpoint, "--bucket", bucket, "--json"])
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["systems"][0]["state"] == "refused", doc
    error = doc["systems"][0]["error"]
    assert f"the staging folder {read_only_staging / 'wave'} cannot be written" in error
    assert "Read-only file system" in error and "审批系统" in error
    assert set(_statuses(root)) == {"sys-01/precheck"}
    assert list(cloud.pool_path.iterdir()) == []


def test_s3_gone_in_the_middle_of_an_upload_rollback_then_resume(
        prefect_harness: None, tmp_path: Path, cloud: Cloud) -> None:
    """moto stopped after the first part of a multipart upload: the system is undone as
    far as it can be (its upload's undo cannot reach S3: rollback failed, said by name);
    with S3 back, ``wave rollback`` aborts the half upload (nothing left anywhere), and a
    ``wave run`` then moves the system."""
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[4:5], mib=24)
    port = free_port()
    endpoint, bucket = f"http://127.0.0.1:{port}", f"stage-{port}"
    opts = _opts(tmp_path, cloud, endpoint, bucket)
    with moto_on(port) as server:
        stopped = threading.Event()

        def on_progress(step: Step, pct: float) -> None:
            if step.kind == "upload" and 0 < pct < 100 and not stopped.is_set():
                stopped.set()
                server.stop()

        result = move_wave(str(root), 1, options=opts.to_dict(), on_progress=on_progress)
    assert stopped.is_set(), "the upload never reported a part"
    s = result["systems"][0]
    assert s["state"] == "rollback_failed", result
    undo = s["undo_failed"]
    assert list(undo) and all("/upload/" in k for k in undo), undo
    assert all(endpoint in e for e in undo.values()), undo
    st = _statuses(root)
    assert {k for k, v in st.items() if v == "undo_failed"} == set(undo), st
    assert _staged(tmp_path) == []  # what could be undone was (the converted images)
    # a rollback while S3 is still down: refused the same way, nothing marked undone
    down = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate", str(root),
                                     "--json"])
    assert down.exit_code == 1, down.output
    doc = json.loads(down.stdout)
    assert doc["ok"] is False and endpoint in doc["error"] and "审批系统" in doc["error"], doc
    assert {k for k, v in _statuses(root).items() if v == "undo_failed"} == set(undo)
    with moto_on(port):
        s3 = s3_client(endpoint)
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads")  # type: ignore
        rb = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate", str(root),
                                       "--json"])
        assert rb.exit_code == 0 and json.loads(rb.stdout)["ok"], rb.output
        assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")  # type: ignore
        assert not s3.list_objects_v2(Bucket=bucket).get("Contents")  # type: ignore
        assert set(_statuses(root).values()) == {"undone"}
        again = move_wave(str(root), 1, options=opts.to_dict())
        assert again["state"] == "done", again
        assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")  # type: ignore
