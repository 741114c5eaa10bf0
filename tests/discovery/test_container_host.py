"""A container host and a keepalived pair's virtual IP, as real network namespaces: the
host ``dock`` has a ``docker0`` bridge (172.17.0.1/16) with a container namespace behind
it (172.17.0.2, a web server on 80), a ``docker-proxy`` publishing it on 0.0.0.0:8080 (it
connects to the container for each client), a second interface, and a virtual IP
(10.203.0.100/32, as keepalived adds it) on eth0; the container uses a database on the
host through docker0. ``client`` connects to the host's address and to the virtual IP.
The real CLI discovers both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from tests.discovery.netlan import Lan, in_ns
from tests.discovery.sshd import SshdFarm
from tests.discovery.test_lan_dependencies import CONNECT, SERVE

PROXY = """
import ctypes, socket, sys, threading, time
ctypes.CDLL(None).prctl(15, b"docker-proxy", 0, 0, 0)  # its name, as ss shows it
lst = socket.socket(); lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("0.0.0.0", 8080)); lst.listen(16)
def pipe(a, b):
    while True:
        d = a.recv(4096)
        if not d:
            break
        b.sendall(d)
def serve():
    while True:
        c, _ = lst.accept(); u = socket.create_connection(("172.17.0.2", 80))
        threading.Thread(target=pipe, args=(c, u), daemon=True).start()
        threading.Thread(target=pipe, args=(u, c), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
print("ready", flush=True)
time.sleep(900)
"""


@pytest.fixture(scope="module")
def lan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lan]:
    """dock (.10, VIP .100, eth1, docker0 + a container) and client (.20), with sshd."""
    if os.geteuid() != 0 or not all(shutil.which(c) for c in ("unshare", "nsenter", "socat")):
        pytest.skip("needs root, unshare, nsenter and socat")
    root = tmp_path_factory.mktemp("dock")
    net = Lan(SshdFarm(root / "farm"), root, "10.203.0")
    try:
        net.start_switch()
        dock, client = net.add_host("dock", 10), net.add_host("client", 20)
        box = net.netns()  # the container
        run = subprocess.run
        for cmd in (("ip", "addr", "add", "10.203.0.100/32", "dev", "eth0"),  # keepalived
                    ("ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"),
                    ("ip", "addr", "add", "192.168.50.10/24", "dev", "eth1"),
                    ("ip", "link", "set", "eth1", "up"),
                    ("ip", "link", "add", "docker0", "type", "bridge"),
                    ("ip", "addr", "add", "172.17.0.1/16", "dev", "docker0"),
                    ("ip", "link", "set", "docker0", "up"),
                    ("ip", "link", "add", "vethc0", "type", "veth", "peer", "name", "eth0",
                     "netns", str(box)),
                    ("ip", "link", "set", "vethc0", "master", "docker0"),
                    ("ip", "link", "set", "vethc0", "up")):
            run(in_ns(dock.pid, *cmd), check=True)
        run(in_ns(box, "ip", "addr", "add", "172.17.0.2/16", "dev", "eth0"), check=True)
        run(in_ns(box, "ip", "link", "set", "eth0", "up"), check=True)
        box_host = type(dock)("box", box, "172.17.0.2", "")
        net.python(box_host, SERVE, "tcp,0.0.0.0,80")
        net.python(dock, SERVE, "tcp,0.0.0.0,5432")
        net.python(dock, PROXY)
        net.python(box_host, CONNECT, "hold,172.17.0.1,5432,1")
        net.python(client, CONNECT, "hold,10.203.0.10,8080,2", "hold,10.203.0.100,8080,1")
        net.start_sshd(dock, {})
        net.start_sshd(client, {})
        yield net
    finally:
        net.stop()


def test_container_traffic_is_no_dependency_and_the_vip_is_its_host(
        tmp_path: Path, lan: Lan) -> None:
    Estate.from_records({"name": "dock"}, {
        "bureaus": [{"id": "b1", "name": "局", "kind": "bureau"}],
        "systems": [{"id": "s-web", "name": "门户", "bureau_id": "b1"},
                    {"id": "s-cli", "name": "客户端", "bureau_id": "b1"}],
        "hosts": [{"id": n, "hostname": n, "ip": "127.0.0.1", "ssh_port": lan.hosts[n].port,
                   "bureau_id": "b1", "system_id": s}
                  for n, s in (("dock", "s-web"), ("client", "s-cli"))],
    }).save(tmp_path / "estate")
    res = CliRunner().invoke(main, [
        "discover", "--estate", str(tmp_path / "estate"), "--key", str(lan.farm.client_key),
        "--known-hosts", str(lan.known_hosts()), "--timeout", "5", "--retries", "0",
        "--sample-seconds", "0.1", "--json"])
    assert res.exit_code == 0, res.output
    assert {h["host_id"]: h["status"] for h in json.loads(res.output)["hosts"]} == {
        "dock": "ok", "client": "ok"}, res.output
    est = Estate.load(tmp_path / "estate")
    rows = {(d["source_host"], d["target_host"] or d["external"], int(d["port"])):
            (d["seen_count"], d["process"]) for d in est.rows("dependencies")
            if d["source_host"]}
    # three connections to the published port (two to the host's address, one to the
    # virtual IP it holds): dock's, by the proxy; the proxy's connections into its own
    # container are no dependency on an outside 172.17.0.2:80
    assert rows == {("client", "dock", 8080): (3, "docker-proxy")}, rows
    doc = json.loads((tmp_path / "estate" / "facts" / "dock.json").read_text())
    # the container using the host's database through docker0 is no outside client
    assert doc["derived"]["external_clients"] == []
    names = {i["name"]: i["addresses"] for i in doc["facts"]["interfaces"]}
    assert "10.203.0.100" in names["eth0"] and "192.168.50.10" in names["eth1"]
    assert "172.17.0.1" in names["docker0"]
