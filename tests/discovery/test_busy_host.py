"""A busy host: real sshd in its own network namespace (reached through socat), listening
on 40 ports, with hundreds of real connections — from an estate host, from two addresses
outside the estate, and out to the estate host's database. The dependency map must be
right (one row per client host, server host and port, counting the sockets) and bounded
(what it keeps per host grows with the distinct peers and ports, not the sockets)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from tests.discovery.sshd import SSHD, SshdFarm, _wait_port, free_port, keygen

PORTS = range(7001, 7041)
SERVE = """
import socket, sys, time
socks = []
for p in %s:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], p)); s.listen(512); socks.append(s)
print("ready", flush=True)
time.sleep(600)
"""
CONNECT = """
import socket, sys, time
held = []
for spec in sys.argv[1:]:
    src, dst, port, n = spec.split(",")
    for i in range(int(n)):
        c = socket.socket(); c.bind((src, 0))
        c.connect((dst, int(port) if port != "*" else 7001 + i % 40)); held.append(c)
print("ready", flush=True)
time.sleep(600)
"""


def _netns(procs: list[subprocess.Popen[bytes]]) -> int:
    p = subprocess.Popen(["unshare", "-n", "sleep", "600"])
    procs.append(p)
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{p.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
        assert time.monotonic() < deadline, "unshare did not make a network namespace"
        time.sleep(0.02)
    return p.pid


def _in(pid: int, *cmd: str) -> list[str]:
    return ["nsenter", "-t", str(pid), "-n", *cmd]


def _ready(procs: list[subprocess.Popen[bytes]], cmd: list[str]) -> None:
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    procs.append(p)
    assert p.stdout is not None and p.stdout.readline().strip() == b"ready", cmd


@pytest.fixture(scope="module")
def busy_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshdFarm, int, Path]]:
    """``(farm, port of 127.0.0.1 that reaches the busy host's sshd, known_hosts)``."""
    if os.geteuid() != 0 or not all(shutil.which(c) for c in ("unshare", "nsenter", "socat")):
        pytest.skip("needs root, unshare, nsenter and socat")
    root = tmp_path_factory.mktemp("busy-host")
    farm = SshdFarm(root / "farm")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        web, peers = _netns(procs), _netns(procs)
        run = subprocess.run
        for pid in (web, peers):
            run(_in(pid, "ip", "link", "set", "lo", "up"), check=True)
        run(_in(web, "ip", "link", "add", "vweb", "type", "veth", "peer", "name", "vpeer",
                "netns", str(peers)), check=True)
        run(_in(web, "ip", "addr", "add", "10.201.0.1/24", "dev", "vweb"), check=True)
        run(_in(web, "ip", "link", "set", "vweb", "up"), check=True)
        for last in (2, 3, 4):
            run(_in(peers, "ip", "addr", "add", f"10.201.0.{last}/24", "dev", "vpeer"),
                check=True)
        run(_in(peers, "ip", "link", "set", "vpeer", "up"), check=True)
        py = sys.executable
        _ready(procs, _in(web, py, "-c", SERVE % (list(PORTS),), "10.201.0.1"))
        _ready(procs, _in(peers, py, "-c", SERVE % ([5432],), "10.201.0.2"))
        # the estate host app (10.201.0.2): 50 connections to port 7001; two addresses
        # outside the estate: 300 connections over the 40 ports
        _ready(procs, _in(peers, py, "-c", CONNECT, "10.201.0.2,10.201.0.1,7001,50",
                          "10.201.0.3,10.201.0.1,*,150", "10.201.0.4,10.201.0.1,*,150"))
        # and the busy host uses app's database: 60 connections
        _ready(procs, _in(web, py, "-c", CONNECT, "10.201.0.1,10.201.0.2,5432,60"))

        folder = root / "sshd"
        folder.mkdir()
        pub = keygen(folder / "host_ed25519")
        (folder / "sshd_config").write_text("\n".join([
            "Port 22", "ListenAddress 10.201.0.1", f"HostKey {folder / 'host_ed25519'}",
            f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {farm.root / 'authorized_keys'}",
            "StrictModes no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "UsePAM no", "LogLevel ERROR", ""]))
        procs.append(subprocess.Popen(_in(web, SSHD, "-D", "-e", "-f",
                                          str(folder / "sshd_config")),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        port = free_port()
        proxy = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
             f"EXEC:nsenter -t {web} -n socat STDIO TCP\\:10.201.0.1\\:22"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proxy)
        _wait_port("127.0.0.1", port, proxy)
        known = root / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {pub}\n")
        yield farm, port, known
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        farm.stop()


def test_a_busy_host_maps_right_and_bounded(tmp_path: Path,
                                            busy_host: tuple[SshdFarm, int, Path]) -> None:
    farm, port, known = busy_host
    Estate.from_records({"name": "busy"}, {
        "bureaus": [{"id": "b1", "name": "一局", "kind": "bureau"}],
        "systems": [{"id": "s1", "name": "门户", "bureau_id": "b1"},
                    {"id": "s2", "name": "审批", "bureau_id": "b1"}],
        "hosts": [{"id": "web", "hostname": "web", "ip": "127.0.0.1", "ssh_port": port,
                   "bureau_id": "b1", "system_id": "s1"}],
    }).save(tmp_path / "estate")
    est = Estate.load(tmp_path / "estate")
    # app is known to the estate by its address; it is not discovered in this run
    est.set_rows("hosts", [*est.rows("hosts"), {
        "id": "app", "hostname": "app", "ip": "10.201.0.2", "bureau_id": "b1",
        "system_id": "s2"}])
    est.save(tmp_path / "estate")
    res = CliRunner().invoke(main, [
        "discover", "--estate", str(tmp_path / "estate"), "--key", str(farm.client_key),
        "--known-hosts", str(known), "--timeout", "2", "--retries", "0",
        "--sample-seconds", "0.1", "--json"])
    assert res.exit_code == 0, res.output
    statuses = {h["host_id"]: h["status"] for h in json.loads(res.output)["hosts"]}
    assert statuses["web"] == "ok", res.output

    est = Estate.load(tmp_path / "estate")
    assert len(est.rows("hosts")) == 2
    deps = {(d["source_host"], d["target_host"], d["external"], int(d["port"])):
            int(d["seen_count"]) for d in est.rows("dependencies") if d["source_host"]}
    assert deps == {("app", "web", "", 7001): 50, ("web", "app", "", 5432): 60}, deps
    systems = {(d["source_system"], d["target_system"], int(d["port"]))
               for d in est.rows("dependencies") if not d["source_host"]}
    assert systems == {("s2", "s1", 7001), ("s1", "s2", 5432)}

    doc = json.loads((tmp_path / "estate" / "facts" / "web.json").read_text())
    listening = {c["local_port"] for c in doc["facts"]["tcp"] if c["state"] == "listen"}
    assert set(PORTS) <= listening
    assert sum(c["state"] == "established" for c in doc["facts"]["tcp"]) >= 410
    assert doc["derived"]["unused_listening_ports"] == [] or all(
        p["port"] not in PORTS for p in doc["derived"]["unused_listening_ports"])
    # external clients: one entry per (address, port), counting its connections — not one
    # per socket
    ext = doc["derived"]["external_clients"]
    assert len(ext) == 80, len(ext)
    assert {(e["client"], e["port"]) for e in ext} == {
        (f"10.201.0.{n}", p) for n in (3, 4) for p in PORTS}
    assert sum(e["connections"] for e in ext) == 300
