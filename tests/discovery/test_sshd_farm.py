"""The test sshd farm leaves nothing behind when its test process is killed: every sshd it
started dies with the process that started it (a killed pytest run once left the
discovery farm's listeners running as orphans)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

STARTER = """
import json, sys, tempfile, time
from pathlib import Path
from tests.discovery.sshd import SshdFarm
farm = SshdFarm(Path(tempfile.mkdtemp(prefix="sy-farm-orphan-")) / "farm")
servers = farm.start(2, wrapper=json.loads(sys.argv[1]))
print(json.dumps({"root": str(farm.root), "servers": [[s.proc.pid, s.port] for s in servers]}),
      flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# bare, and through a wrapper that execs sshd (as test_odd_hosts runs it in a namespace)
@pytest.mark.parametrize("wrapper", [[], ["sh", "-c", 'exec "$@"', "sh"]],
                         ids=["bare", "wrapped"])
def test_a_killed_test_process_takes_its_sshd_with_it(wrapper: list[str]) -> None:
    starter = subprocess.Popen([sys.executable, "-c", STARTER, json.dumps(wrapper)],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    servers: list[list[int]] = []
    root = None
    try:
        line = starter.stdout.readline()  # type: ignore[union-attr]
        assert line, f"the starter died: exit {starter.wait(timeout=10)}"
        started = json.loads(line)
        servers, root = started["servers"], Path(started["root"]).parent
        assert len(servers) == 2
        assert all(_alive(pid) and _listening(port) for pid, port in servers)
        starter.send_signal(signal.SIGKILL)  # no finally, no atexit: as a killed pytest
        starter.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid, _ in servers):
            time.sleep(0.05)
        assert not [pid for pid, _ in servers if _alive(pid)], "an sshd outlived its parent"
        # a connection the check above made is served by a child sshd forked from the
        # listener, which may hold the listening socket a moment longer: wait for it too
        while time.monotonic() < deadline and any(_listening(p) for _, p in servers):
            time.sleep(0.05)
        assert not [port for _, port in servers if _listening(port)]
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait(timeout=10)
        for pid, _ in servers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
