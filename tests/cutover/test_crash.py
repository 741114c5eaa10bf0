"""``kill -9`` of the orchestrator mid-cutover — after verify while the DNS API hangs
(nothing switched yet), and after the DNS switch while the health check hangs: the journal
alone lets a new process roll back (DNS as before, target data removed) or resume (nothing
copied twice, the journaled previous DNS records kept)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actions.context import RunContext
from actions.registry import actions_for
from actions.rollback import run_system_steps
from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from connectors.dns import DnsRecord, Route53Dns
from connectors.journal.wave import open_journal
from shangyun.wave.engine import undo_system
from shangyun.wave.stepargs import DnsArgs, HealthArgs
from shangyun.wave.steps import RunOptions, Step
from tests.cutover.test_cutover_run import _setup
from tests.data.conftest import pg_exec
from tests.discovery.sshd import SshdFarm

CHILD = Path(__file__).with_name("crash_child.py")


def _kill_during(estate: Path, steps: list[Step], key: str) -> None:
    spec = estate.parent / "spec.json"
    spec.write_text(json.dumps({"estate": str(estate), "steps": [s.to_dict() for s in steps]}))
    proc = subprocess.Popen([sys.executable, str(CHILD), str(spec)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ})
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with open_journal(estate) as j:
                rec = j.last(1, "sys-1", key)
            if rec is not None:
                break
            if proc.poll() is not None:
                raise AssertionError(f"child ended early: {proc.stderr.read().decode()[-2000:]}"
                                     if proc.stderr else "child ended early")
            time.sleep(0.05)
        else:
            with open_journal(estate) as j:
                seen = [(r.key, r.status, r.error) for r in j.records(1, "sys-1")]
            raise AssertionError(f"the child never reached {key}; journal: {seen}")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """A TCP endpoint that accepts connections (backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def _swap(steps: list[Step], kind: str, args: dict[str, Any]) -> list[Step]:
    return [replace(s, args=replace(s.args, **args))  # type: ignore[type-var]
            if s.kind == kind else s for s in steps]


@pytest.mark.parametrize("kill_at", ["dns", "health"])
@pytest.mark.parametrize("after", ["rollback", "resume"])
def test_kill_9_mid_cutover(
        kill_at: str, after: str, tmp_path: Path, dns: Route53Dns, farm: SshdFarm, web: str,
        hanging_endpoint: str, pg_pair: tuple[DbEndpoint, DbEndpoint],
        my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    """``dns``: killed after verify, while the DNS API hangs (nothing switched yet);
    ``health``: killed after the DNS switch, while the health check hangs."""
    src = tmp_path / "share"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    steps, zid, name = _setup(tmp_path, dns, farm, web, pg_pair, my_pair, src,
                              health_path="/hang")
    dns_args = next(s.args_as(DnsArgs) for s in steps if s.kind == "dns")
    if kill_at == "dns":
        steps = _swap(steps, "dns", {"endpoint": hanging_endpoint})
    estate = tmp_path / "estate"
    estate.mkdir()
    pg_exec(pg_pair[0], "INSERT INTO people (name) VALUES ('before the crash')")
    _kill_during(estate, steps, f"sys-1/{kill_at}")
    new = DnsRecord.make(name, "A", ["127.0.0.20"], 60)
    old = DnsRecord.make(name, "A", ["127.0.0.10"], 300)
    assert dns.get(zid, name, "A") == (new if kill_at == "health" else old)
    with open_journal(estate) as journal:
        assert journal.reconcile()  # the dead run is marked crashed
        run_id = journal.begin_run(1, {"options": {}})
        ctx = RunContext(RunOptions()).bind(journal, run_id, 1)
        actions = actions_for(ctx)
        try:
            if after == "resume":
                check = next(s.args_as(HealthArgs) for s in steps
                             if s.kind == "health").checks[0]
                healthy = _swap(_swap(steps, "dns", {"endpoint": dns_args.endpoint}),
                                "health", {"checks": [{**check, "url": check["url"]
                                                       .replace("/hang", "/ok")}]})
                out = run_system_steps(journal, run_id, 1, healthy, actions)
                assert out["state"] == "done", out
                assert dns.get(zid, name, "A") == new
                # copied once: the done copy was reused, the delta found nothing to add
                assert pg_exec(pg_pair[1], "SELECT count(*) FROM people") == [(501,)]
                assert journal.last(1, "sys-1", "sys-1/delta/pg").payload["result"][
                    "recopied"] == []
                prev = journal.last(1, "sys-1", "sys-1/dns").payload["previous"]
                assert prev["records"][0]["previous"]["values"] == ["127.0.0.10"]
            report = undo_system(journal, run_id, 1, "sys-1", actions,
                                 discard_production=after == "resume")  # cut over then
            assert report.ok, report.failed
            assert dns.get(zid, name, "A") == old
            assert not pg.database_exists(pg_pair[1]) and pg.database_exists(pg_pair[0])
            assert not (tmp_path / "landing" / "share").exists() and (src / "a.txt").exists()
            assert undo_system(journal, run_id, 1, "sys-1", actions).undone == []
        finally:
            ctx.close()
