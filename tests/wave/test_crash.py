"""``kill -9`` of a run in the middle of an upload: ``wave resume`` sends only the missing
parts, the digest matches, and no run stays RUNNING."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from connectors.journal.wave import open_journal
from connectors.objectstore import ObjectStore
from shangyun.cli import main
from shangyun.estate import Estate
from shangyun.estate.names import names_of
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import FORMATS, Cloud, build_estate, s3_client

MIB = 2**20
ROOT = Path(__file__).resolve().parents[2]


def test_kill_during_upload_then_resume_sends_only_missing_parts(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,
        bucket: str) -> None:
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=1,
                       formats=FORMATS[3:5], mib=36)
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket, part_size=5 * MIB)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.wave.crash_upload", str(est.root),
         json.dumps(opts.to_dict())], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline and "UPLOADING" not in line:
            ready, _, _ = select.select([child.stdout], [], [], 1.0)
            if ready:
                line = child.stdout.readline()
                if not line:
                    break
        assert "UPLOADING" in line, "the child never reached the upload"
        child.send_signal(signal.SIGKILL)  # kill -9 in the middle of the upload
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    s3 = s3_client(moto_endpoint)
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]  # type: ignore[attr-defined]
    assert len(uploads) == 1
    up = uploads[0]
    # a part whose bytes were all sent before the kill may still be landing in the server:
    # count the parts once the count has stayed the same for a second (bounded)
    present, stable_since, deadline = -1, time.monotonic(), time.monotonic() + 15
    while time.monotonic() < deadline:
        n = len(s3.list_parts(Bucket=bucket, Key=up["Key"],  # type: ignore[attr-defined]
                              UploadId=up["UploadId"]).get("Parts", []))
        if n != present:
            present, stable_since = n, time.monotonic()
        elif time.monotonic() - stable_since >= 1.0:
            break
        time.sleep(0.2)
    assert present >= 1

    # the killed run is found dead, never left RUNNING
    st = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(est.root), "--json"])
    assert st.exit_code == 0, st.output
    assert json.loads(st.output)["runs"][-1]["status"] == "crashed"

    r = CliRunner().invoke(main, ["wave", "resume", "1", "--estate", str(est.root)])
    assert r.exit_code == 0, r.output  # (with the progress bar of steps on stderr)
    name = names_of(Estate.load(est.root), "system")["sys-01"]  # a person reads the name
    assert "wave 1: done" in r.output and f"{name}: done" in r.output, r.output
    with open_journal(est.root) as j:
        recs = {r.key: r for r in j.records(1)}
        first = recs["sys-01/upload/disk-01-0"].payload
        conv = recs["sys-01/convert/disk-01-0"].payload
        assert first["parts_total"] >= 5
        assert first["parts_sent"] == first["parts_total"] - present  # only the missing parts
        assert first["parts_reused"] == present
        assert first["upload_id"] == up["UploadId"]
        runs = j.runs(1)
        assert [r["status"] for r in runs] == ["done"] and runs[0]["resumes"] == 1
        assert any(e.action == "run crashed" for e in j.j.audit_entries())
    with ObjectStore(moto_endpoint) as store:
        assert store.verify(bucket, first["key"], f"sha256:{conv['file_digest']}")
