"""A host the estate knows by its IPv6 address: a real sshd on ::1. Discovered, once (the
same host given as ``--target [::1]:PORT`` is not a second one), and every message writes
its address as ``[::1]:PORT`` — ``::1:PORT`` cannot be told from an address."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from tests.discovery.sshd import SSHD, SshdFarm, _wait_port, keygen


@pytest.fixture(scope="module")
def v6_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshdFarm, int, Path]]:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port = int(s.getsockname()[1])
    except OSError:
        pytest.skip("no IPv6 loopback here")
    root = tmp_path_factory.mktemp("sshd-v6")
    farm = SshdFarm(root / "farm")
    folder = root / "sshd"
    folder.mkdir()
    pub = keygen(folder / "host_ed25519")
    (folder / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress ::1", f"HostKey {folder / 'host_ed25519'}",
        f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {farm.root / 'authorized_keys'}",
        "StrictModes no", "PasswordAuthentication no", "PermitRootLogin prohibit-password",
        "UsePAM no", "LogLevel ERROR", ""]))
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(folder / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port("::1", port, proc)
        known = root / "known_hosts"
        known.write_text(f"[::1]:{port} {pub}\n")
        yield farm, port, known
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        farm.stop()


def test_an_ipv6_host_is_discovered_once_and_named_with_brackets(
        tmp_path: Path, v6_sshd: tuple[SshdFarm, int, Path]) -> None:
    farm, port, known = v6_sshd
    other = tmp_path / "other_known_hosts"  # the host's key not in it: a refusal to read
    other.write_text("")
    Estate.from_records({"name": "v6"}, {
        "bureaus": [{"id": "b1", "name": "一局", "kind": "bureau"}],
        "hosts": [{"id": "v6host", "hostname": "v6host", "ip": "::1", "ssh_port": port,
                   "bureau_id": "b1"}],
    }).save(tmp_path / "estate")
    args = ["discover", "--estate", str(tmp_path / "estate"), "--key", str(farm.client_key),
            "--target", f"[::1]:{port}", "--timeout", "3", "--retries", "0",
            "--sample-seconds", "0.1", "--json"]
    res = CliRunner().invoke(main, [*args, "--known-hosts", str(known)])
    assert res.exit_code == 0, res.output
    (host,) = json.loads(res.output)["hosts"]
    assert host["status"] == "ok" and host["address"] == f"[::1]:{port}", host
    assert [h["id"] for h in Estate.load(tmp_path / "estate").rows("hosts")] == ["v6host"]

    res = CliRunner().invoke(main, [*args, "--known-hosts", str(other)])
    (host,) = json.loads(res.output)["hosts"]
    assert host["status"] == "unknown-host-key"
    assert host["reason"].startswith(f"v6host ([::1]:{port}): "), host["reason"]
