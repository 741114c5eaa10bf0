"""Ctrl-C on ``shangyun wave run`` (SIGINT to the terminal's foreground process group: the
command and the temporary Prefect server it started). The server died at once, and the
command — its run already stopped and the system rolled back — then hung for minutes
reporting states to a dead port. It must exit promptly, leave no process behind, no run
``running`` in the journal, and a wave that the next ``wave run`` moves."""

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
from tests.support import descendants
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_stops_the_run_promptly_and_the_wave_runs_again(
        tmp_path: Path, cloud: Cloud, moto_endpoint: str, bucket: str,  # noqa: F811
        used_prefect_home: Path) -> None:
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=4)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(used_prefect_home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "SHANGYUN_AUDIT_KEY": str(tmp_path / "audit.key")}
    args = ["wave", "run", "1", "--estate", str(root), "--json", "--target", "libvirt",
            "--target-uri", cloud.uri, "--pool", cloud.pool,
            "--staging", str(tmp_path / "staging"), "--s3-endpoint", moto_endpoint,
            "--bucket", bucket]
    run = _cli(args, env)
    try:
        deadline, started = time.monotonic() + 180, False
        while not started and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate(timeout=30)
            if (root / "journal.db").exists():
                # the run makes the file before its tables: not a journal yet
                with contextlib.suppress(NoJournal), open_journal(root, create=False) as j:
                    started = j.last(1, "sys-01", "sys-01/precheck") is not None
            time.sleep(0.02)
        assert started, "the run never reached its first step"
        family = descendants(run.pid)
        assert family, "no temporary server process"
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
        t0 = time.monotonic()
        try:
            _, err = run.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("wave run still hangs 60 s after Ctrl-C") from None
        took = time.monotonic() - t0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            run.communicate(timeout=30)
    assert run.returncode != 0 and took < 60, (run.returncode, took, err[-2000:])
    def gone(pid: int) -> bool:
        try:
            return "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True

    deadline = time.monotonic() + 1  # the same second the test used to sleep, polled
    while not all(gone(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in family:  # the temporary server was stopped with it
        assert gone(pid), pid
    with open_journal(root, create=False) as j:
        runs = j.runs(1)
        assert [r["status"] for r in runs if r["status"] == "running"] == [], runs
        left = [(r.key, r.status) for r in j.records(1, "sys-01") if r.status == "started"]
    assert left == [], left  # every step ended: done, or undone by the rollback
    # the run and the system stopped by it say it was interrupted (the system's reason
    # read "run … is failed, not running: resume it before doing steps")
    with open_journal(root, create=False) as j:
        assert [r["reason"] for r in j.runs(1)] == ["interrupted"], j.runs(1)
        whys = [str(e.details.get("error")) for e in j.j.audit_entries()
                if e.action == "wave.system.failed"]
    assert all("not running" not in w and "interrupted" in w for w in whys), whys

    again = _cli(args, env)
    out, err = again.communicate(timeout=240)
    assert again.returncode == 0, (out, err[-3000:])
    assert json.loads(out)["state"] == "done", out
