"""``kill -9`` of a real ``shangyun wave rollback --fail-back`` process in its middle,
then the same command again finishes the fail-back from the journal (issue #13 item 2):

- ``delta``: killed during the reverse delta (the source table locked by another
  session), before the point of no return — the system is still cut over, the target
  frozen; the re-run freezes again, copies back, verifies and carries the system home;
- ``dns``: killed while switching DNS back (the DNS API stopped with SIGSTOP), past the
  point of no return — the re-run continues with the cutover's undo and never redoes the
  reverse delta (a write the source took in between survives).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from connectors.journal.wave import open_journal
from shangyun.cli import main
from tests.cutover.failback_support import (
    OLD_IP,
    CutOver,
    cut_over,
    make_estate,
    pg_writable,
    pg_write,
)
from tests.data.conftest import pg_exec
from tests.discovery.sshd import SshdFarm
from tests.support import MOTO_ENV, free_port
from tests.wave.conftest import Cloud, bucket, cloud, moto_endpoint  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dns_server() -> Iterator[subprocess.Popen[bytes]]:
    """A moto server of its own (a process the test can stop with SIGSTOP), for DNS."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H",
                             "127.0.0.1", "-p", str(port)], env={**os.environ, **MOTO_ENV},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), \
                    socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.1)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=30)


def _status(c: CutOver, key: str) -> str | None:
    if not (c.root / "journal.db").exists():
        return None
    return c.step_status(key)


def _kill_when(c: CutOver, key: str, status: str) -> None:
    """Start ``wave rollback 1 --system sys-01 --fail-back`` as its own process and
    ``kill -9`` its whole process group once ``sys-01/key`` is journaled ``status``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", "from shangyun.cli import main; main()", "wave", "rollback",
         "1", "--estate", str(c.root), "--system", "sys-01", "--fail-back", "--json"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if _status(c, key) == status:
                time.sleep(0.5)  # well inside the step (it waits on the blocked server)
                break
            if child.poll() is not None:
                err = child.stderr.read().decode()[-3000:] if child.stderr else ""
                raise AssertionError(f"the fail-back ended before {key} {status}: {err}")
            time.sleep(0.05)
        else:
            raise AssertionError(f"the fail-back never reached {key} {status}")
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize("kill_at", ["delta", "dns"])
def test_kill_9_mid_failback_then_the_same_command_finishes_it(
        kill_at: str, prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, farm: SshdFarm, web: str,  # noqa: F811
        dns_server: subprocess.Popen[bytes], pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    c = make_estate(tmp_path, cloud, moto_endpoint, bucket, web, farm, pg_pair, None,
                    dns_endpoint=dns_server.url)  # type: ignore[attr-defined]
    cut_over(c)
    ps, pt = pg_pair
    pg_write(pt, "INSERT INTO people (name) VALUES ('production write')")
    pg_write(pt, "DELETE FROM orders WHERE id > 1990")
    (c.landing / "new-in-production.txt").write_text("written on the target\n")

    if kill_at == "delta":
        # another session holds the source's table: the reverse delta waits on it
        with psycopg.connect(host=ps.host, port=ps.port, user=ps.user, dbname=ps.dbname,
                             options=pg.WRITER_OPTIONS) as blocker:
            blocker.execute("LOCK TABLE people IN ACCESS EXCLUSIVE MODE")
            _kill_when(c, "failback/delta/pg", "started")
            blocker.rollback()
        # killed before the point of no return: still cut over, the target frozen
        assert c.step_status("cutover") == "done" and c.dns_values() != (OLD_IP,)
        assert not pg_writable(pt) and not pg_writable(ps)
        assert pg_exec(ps, "SELECT count(*) FROM people WHERE name = 'production write'"
                       ) == [(0,)]
    else:
        os.kill(dns_server.pid, signal.SIGSTOP)  # the DNS API stops answering
        try:
            _kill_when(c, "dns", "undoing")
        finally:
            os.kill(dns_server.pid, signal.SIGCONT)
        # past the point of no return: the reverse delta is done and verified; the
        # cutover mark undone, DNS not switched back yet, the source still frozen
        assert c.step_status("failback/verify") == "done"
        assert c.step_status("cutover") == "undone" and c.step_status("dns") == "undoing"
        assert not pg_writable(ps)
        # a row only the source has (written through its freeze, as an operator could):
        # a reverse delta run again would reload the table from the target and lose it
        pg_write(ps, "INSERT INTO people (name) VALUES ('written on the source')",
                 through_freeze=True)

    st = json.loads(CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(c.root),
                                              "--json"]).output)
    assert st["runs"][-1]["kind"] == "failback" and st["runs"][-1]["status"] == "crashed"

    res = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate", str(c.root),
                                    "--system", "sys-01", "--fail-back", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["systems"][0]["state"] == "failed_back"
    if kill_at == "delta":
        pg.verify(pt, ps)
    assert pg_exec(ps, "SELECT count(*) FROM people WHERE name = 'production write'") == [(1,)]
    assert pg_exec(ps, "SELECT count(*) FROM orders") == [(1990,)]
    assert (c.share / "new-in-production.txt").read_text() == "written on the target\n"
    assert c.dns_values() == (OLD_IP,)
    assert pg_writable(ps) and not pg_writable(pt)
    assert c.state() == "failed_back"
    with open_journal(c.root) as j:
        runs = [r for r in j.runs(1) if r["kind"] == "failback"]
    assert [r["status"] for r in runs] == ["crashed", "done"]
    if kill_at == "dns":  # the reverse delta was not redone: the source's row survived
        assert pg_exec(ps, "SELECT count(*) FROM people WHERE name = 'written on the "
                           "source'") == [(1,)]
