"""A host's SSH port answered by something that is not sshd (a web server, an FTP server:
the estate's port is wrong, or the service moved). Discovery must say what answered, once,
naming the host, without retrying — and still discover the others."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from tests.discovery.conftest import Hosts


def _server(greeting: bytes, *, wait_for_request: bool) -> Iterator[int]:
    """A TCP server on 127.0.0.1 answering every connection with ``greeting``: at once (an
    FTP or SMTP banner, then silence), or after the client's first bytes and then closing
    (a web server answering SSH's banner with 400)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            try:
                if wait_for_request:
                    conn.settimeout(2)
                    conn.recv(256)
                conn.sendall(greeting)
            except OSError:
                pass
            if wait_for_request:
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(srv.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    for c in held:
        c.close()
    srv.close()


@pytest.fixture
def web_port() -> Iterator[int]:
    yield from _server(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n",
                       wait_for_request=True)


@pytest.fixture
def ftp_port() -> Iterator[int]:
    yield from _server(b"220 (vsFTPd 3.0.3)\r\n", wait_for_request=False)


def test_a_port_that_is_not_ssh_says_what_answered(tmp_path: Path, sshd_hosts: Hosts,
                                                    web_port: int, ftp_port: int) -> None:
    ports = {"app": sshd_hosts.good[0].port, "webbox": web_port, "ftpbox": ftp_port}
    Estate.from_records({"name": "not-ssh"}, {
        "bureaus": [{"id": "b1", "name": "一局", "kind": "bureau"}],
        "systems": [{"id": "s1", "name": "办公", "bureau_id": "b1"}],
        "hosts": [{"id": h, "hostname": h, "ip": "127.0.0.1", "ssh_port": p,
                   "bureau_id": "b1", "system_id": "s1"} for h, p in ports.items()],
    }).save(tmp_path / "estate")
    start = time.monotonic()
    res = CliRunner().invoke(main, [
        "discover", "--estate", str(tmp_path / "estate"), "--key", str(sshd_hosts.key),
        "--known-hosts", str(sshd_hosts.known_hosts), "--timeout", "3", "--retries", "2",
        "--sample-seconds", "0.1", "--json"])
    assert res.exit_code == 0, res.output
    assert time.monotonic() - start < 15
    hosts = {h["host_id"]: h for h in json.loads(res.output)["hosts"]}
    assert hosts["app"]["status"] == "ok"
    for hid, said in (("webbox", "HTTP/1.1 400 Bad Request"), ("ftpbox", "220 (vsFTPd 3.0.3)")):
        h = hosts[hid]
        assert h["status"] == "error", h
        assert h["attempts"] == 1, h                 # a wrong service does not get better
        assert h["reason"].startswith(f"{hid} (127.0.0.1:{ports[hid]})"), h["reason"]
        assert "does not speak SSH" in h["reason"] and said in h["reason"], h["reason"]
        assert "did not speak SSH in time" not in h["reason"]


def test_the_cli_prints_no_paramiko_traceback(tmp_path: Path, sshd_hosts: Hosts,
                                              web_port: int) -> None:
    """The real command (its own process, no test logging): a bad host is one line of the
    table, not also paramiko's thread traceback on stderr for each."""
    import subprocess
    import sys

    ports = {"app": sshd_hosts.good[1].port, "webbox": web_port}
    Estate.from_records({"name": "not-ssh-cli"}, {
        "bureaus": [{"id": "b1", "name": "一局", "kind": "bureau"}],
        "hosts": [{"id": h, "hostname": h, "ip": "127.0.0.1", "ssh_port": p,
                   "bureau_id": "b1"} for h, p in ports.items()],
    }).save(tmp_path / "estate")
    res = subprocess.run(
        [sys.executable, "-c", "from shangyun.cli import main; main()", "discover",
         "--estate", str(tmp_path / "estate"), "--key", str(sshd_hosts.key),
         "--known-hosts", str(sshd_hosts.known_hosts), "--timeout", "3", "--retries", "0",
         "--sample-seconds", "0.1", "--json"],
        capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    hosts = {h["host_id"]: h for h in json.loads(res.stdout)["hosts"]}
    assert hosts["app"]["status"] == "ok" and hosts["webbox"]["status"] == "error"
    assert "Traceback" not in res.stderr and "SSH protocol banner" not in res.stderr, \
        res.stderr
