"""Two ``shangyun wave run 1`` processes of the same wave started at the same moment (two
operators, one estate, one Prefect home): exactly one runs, the other exits 1 at once
with one clear error naming the wave and the run that holds it (a JSON document with
``--json``), nothing of it journaled as a step; while the winner runs, ``wave resume``,
``wave rollback`` and ``wave finalize`` are refused the same way; after the winner is
killed (``kill -9``) the journal shows one crashed run and ``wave rollback`` restores
everything. Real CLI processes, PostgreSQL, moto, libvirt test driver."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from connectors.dns import DnsRecord, Route53Dns
from connectors.journal.wave import open_journal
from shangyun.cli import main
from tests.cutover.test_cli_crash import _cutover, _writable
from tests.cutover.test_crash import hanging_endpoint  # noqa: F401  (fixture)
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_two_cli_runs_of_one_wave_at_once_one_refused_nothing_corrupted(
        tmp_path: Path, cloud: Cloud, moto_endpoint: str, bucket: str,  # noqa: F811
        web: str, hanging_endpoint: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=4)
    zone = f"c{secrets.token_hex(3)}.gov.cn"
    old = DnsRecord.make(f"app.{zone}", "A", ["127.0.1.1"], 300)
    with Route53Dns(moto_endpoint) as dns:
        zid = dns.zone_id(zone, create=True)
        dns.switch(zid, old)
    # the DNS API hangs: the winner stays in its run until it is killed
    (root / "plan" / "cutover.yaml").write_text(
        yaml.safe_dump(_cutover(*pg_pair, hanging_endpoint, zone, web)))
    run_args = ["--estate", str(root), "--target", "libvirt", "--target-uri", cloud.uri,
                "--pool", cloud.pool, "--staging", str(tmp_path / "staging"),
                "--s3-endpoint", moto_endpoint, "--bucket", bucket, "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    procs = [subprocess.Popen(
        [sys.executable, "-c", "from shangyun.cli import main; main()", "wave", "run", "1",
         *run_args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 240
        loser = None
        while loser is None and time.monotonic() < deadline:
            loser = next((p for p in procs if p.poll() is not None), None)
            time.sleep(0.2)
        assert loser is not None, "neither run was refused"
        winner = next(p for p in procs if p is not loser)
        out, err = loser.communicate(timeout=30)
        assert loser.returncode == 1, (out, err[-3000:])
        doc = json.loads(out)  # one JSON document, no traceback
        assert doc["ok"] is False and "wave 1" in doc["error"], doc
        assert "being run right now" in doc["error"], doc
        assert b"Traceback" not in err, err[-3000:]
        # the winner goes on to the (hanging) DNS switch
        while time.monotonic() < deadline:
            assert winner.poll() is None, winner.communicate(timeout=30)
            if (root / "journal.db").exists():
                with open_journal(root) as j:
                    if j.last(1, "sys-01", "sys-01/dns") is not None:
                        break
            time.sleep(0.2)
        else:
            raise AssertionError("the winner never reached the DNS switch")
        with open_journal(root) as j:
            runs = j.runs(1)
        assert [r["status"] for r in runs] == ["running"], runs  # the loser began none
        # while it runs, the other commands of the wave are refused, nothing undone
        for cmd in (["resume"], ["rollback"], ["rollback", "--discard-production-writes"],
                    ["finalize", "--soak-hours", "0"]):
            res = _cli("wave", cmd[0], "1", "--estate", str(root), *cmd[1:], "--json")
            assert res.exit_code == 1, (cmd, res.output)
            assert json.loads(res.stdout)["ok"] is False, (cmd, res.output)
            assert "run" in json.loads(res.stdout)["error"], (cmd, res.output)
        assert not _writable(pg_pair[0])  # still frozen by the live winner
        os.killpg(winner.pid, signal.SIGKILL)
        winner.communicate(timeout=30)
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                p.communicate(timeout=30)
    st = json.loads(_cli("wave", "status", "1", "--estate", str(root), "--json").stdout)
    assert st["state"] == "crashed" and [r["status"] for r in st["runs"]] == ["crashed"], st
    rb = _cli("wave", "rollback", "1", "--estate", str(root), "--json")
    assert rb.exit_code == 0 and json.loads(rb.stdout)["ok"], rb.output
    with Route53Dns(moto_endpoint) as dns:
        assert dns.get(zid, f"app.{zone}", "A") == old
    assert _writable(pg_pair[0])
    assert not pg.database_exists(pg_pair[1]) and pg.database_exists(pg_pair[0])
    assert list(cloud.pool_path.iterdir()) == []


def test_resume_while_a_rollback_of_the_wave_runs_is_refused(
        prefect_harness: None, tmp_path: Path) -> None:
    """``wave run`` crashed, an operator's ``wave rollback`` of the wave is under way (a
    live process: this one), and another operator types ``wave resume``: refused at
    once naming the live run — it took the crashed run over and moved the systems the
    rollback was undoing. The crashed run is not taken over (no resume journaled)."""
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=4)
    with open_journal(root) as j:
        crashed = j.begin_run(1, {"options": {}})
        j.finish_run(crashed, "failed")
        rollback_run = j.begin_run(1, {"options": {}}, kind="rollback")  # live: this pid
    try:
        res = _cli("wave", "resume", "1", "--estate", str(root), "--json")
        assert res.exit_code == 1, res.output
        err = json.loads(res.stdout)["error"]
        assert "being run right now" in err and rollback_run in err, err
        with open_journal(root) as j:
            runs = {r["id"]: r for r in j.runs(1)}
            recs = j.records(1)
        assert runs[crashed]["status"] == "failed" and runs[crashed]["resumes"] == 0, runs
        assert recs == []  # no step ran
    finally:
        with open_journal(root) as j:
            j.finish_run(rollback_run, "rolled_back")
