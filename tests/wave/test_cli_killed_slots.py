"""An operator's ``kill -9`` of ``shangyun wave run 1`` while a system holds its bureau's
concurrency slot, then ``wave resume 1`` in a new process with the same Prefect home (the
ephemeral server each CLI process starts): the killed run's slot lease died with its
server, so Prefect never gave the slot back and the resume waited for it forever. The
resume must give the orphaned slot back (no other run is live) and move the system.
Real CLI processes, moto S3, the libvirt test driver, qemu-img."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from connectors.journal.wave import open_journal
from shangyun.journal.records import NoJournal
from tests.support import cli_process as _cli
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)

ROOT = Path(__file__).resolve().parents[2]


def _reap(p: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        p.communicate(timeout=30)


def test_resume_after_kill_gives_back_the_killed_runs_slot(
        tmp_path: Path, cloud: Cloud, moto_endpoint: str, bucket: str,  # noqa: F811
        used_prefect_home: Path) -> None:
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=4)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(used_prefect_home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
           "SHANGYUN_AUDIT_KEY": str(tmp_path / "audit.key")}
    common = ["--estate", str(root), "--json"]
    run = _cli(["wave", "run", "1", *common, "--target", "libvirt", "--target-uri", cloud.uri,
                "--pool", cloud.pool, "--staging", str(tmp_path / "staging"),
                "--s3-endpoint", moto_endpoint, "--bucket", bucket], env)
    try:
        deadline = time.monotonic() + 240
        killed = False
        while not killed and time.monotonic() < deadline:  # the system is moving: it holds
            assert run.poll() is None, run.communicate(timeout=30)  # its bureau's slot
            if (root / "journal.db").exists():
                # the run makes the file before its tables: not a journal yet
                with contextlib.suppress(NoJournal), open_journal(root, create=False) as j:
                    killed = j.last(1, "sys-01", "sys-01/precheck") is not None
            if killed:
                os.killpg(run.pid, signal.SIGKILL)
            time.sleep(0.05)
        assert killed, "the run never reached its first step"
    finally:
        _reap(run)
    resume = _cli(["wave", "resume", "1", *common], env)
    try:
        out, err = resume.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        _reap(resume)
        raise AssertionError("wave resume still waits for the killed run's slot") from None
    assert resume.returncode == 0, (out, err[-3000:])
    result = json.loads(out)
    assert result["state"] == "done", result
    with open_journal(root, create=False) as j:
        recs = j.records(1, "sys-01")
        assert "launch" in {r.kind for r in recs}, recs
        assert {r.status for r in recs} == {"done"}, recs
        freed = [e for e in j.j.audit_entries() if e.action == "wave.slots.freed"]
    assert freed and freed[-1].details["freed"] == {"shangyun-bureau-bureau-01": 1,
                                                    "shangyun-wave-global": 1}, freed
