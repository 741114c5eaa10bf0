"""``kill -9`` of the orchestrator after the DNS switch, during the health check: the
journal alone lets a new process roll back (DNS restored, target data removed) or resume
(nothing copied twice)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from connectors.dns import DnsRecord, Route53Dns
from flows.cutover_actions import CutoverContext, all_actions, run_system_steps
from flows.wave_actions import RunContext
from shangyun.wave.engine import undo_system
from shangyun.wave.journal_port import open_journal
from shangyun.wave.steps import RunOptions, Step
from tests.cutover.test_cutover_run import _setup
from tests.data.conftest import pg_exec
from tests.discovery.sshd import SshdFarm

CHILD = Path(__file__).with_name("crash_child.py")


def _kill_during_health(estate: Path, steps: list[Step]) -> None:
    spec = estate.parent / "spec.json"
    spec.write_text(json.dumps({"estate": str(estate), "steps": [s.to_dict() for s in steps]}))
    proc = subprocess.Popen([sys.executable, str(CHILD), str(spec)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ})
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with open_journal(estate) as j:
                rec = j.last(1, "sys-1", "sys-1/health")
            if rec is not None:
                break
            if proc.poll() is not None:
                raise AssertionError(f"child ended early: {proc.stderr.read().decode()[-2000:]}"
                                     if proc.stderr else "child ended early")
            time.sleep(0.05)
        else:
            raise AssertionError("the child never reached the health check")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("after", ["rollback", "resume"])
def test_kill_9_after_dns_switch(
        after: str, tmp_path: Path, dns: Route53Dns, farm: SshdFarm, web: str,
        pg_pair: tuple[DbEndpoint, DbEndpoint], my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src = tmp_path / "share"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    steps, zid, name = _setup(tmp_path, dns, farm, web, pg_pair, my_pair, src,
                              health_path="/hang")
    estate = tmp_path / "estate"
    estate.mkdir()
    pg_exec(pg_pair[0], "INSERT INTO people (name) VALUES ('before the crash')")
    _kill_during_health(estate, steps)
    new = DnsRecord.make(name, "A", ["127.0.0.20"], 60)
    old = DnsRecord.make(name, "A", ["127.0.0.10"], 300)
    assert dns.get(zid, name, "A") == new  # the switch happened before the kill
    with open_journal(estate) as journal:
        assert journal.reconcile()  # the dead run is marked crashed
        run_id = journal.begin_run(1, {"options": {}})
        cctx = CutoverContext(RunContext(RunOptions()).bind(journal, run_id, 1))
        actions = all_actions(cctx)
        try:
            if after == "resume":
                healthy = [Step(s.kind, s.system_id, s.key, s.title,
                                {**s.args, "checks": [{**s.args["checks"][0],
                                                       "url": s.args["checks"][0]["url"]
                                                       .replace("/hang", "/ok")}]}, s.planned)
                           if s.kind == "health" else s for s in steps]
                out = run_system_steps(journal, run_id, 1, healthy, actions)
                assert out["state"] == "done", out
                assert dns.get(zid, name, "A") == new
                # copied once: the done copy was reused, the delta found nothing to add
                assert pg_exec(pg_pair[1], "SELECT count(*) FROM people") == [(501,)]
                assert journal.last(1, "sys-1", "sys-1/delta/pg").payload["result"][
                    "recopied"] == []
            report = undo_system(journal, run_id, 1, "sys-1", actions)
            assert report.ok, report.failed
            assert dns.get(zid, name, "A") == old
            assert not pg.database_exists(pg_pair[1]) and pg.database_exists(pg_pair[0])
            assert not (tmp_path / "landing" / "share").exists() and (src / "a.txt").exists()
            assert undo_system(journal, run_id, 1, "sys-1", actions).undone == []
        finally:
            cctx.close()
