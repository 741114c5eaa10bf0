"""known_hosts files as operators' machines have them: hashed names (``HashKnownHosts``),
``@cert-authority`` lines (a CA trusted for a domain) and ``@revoked`` keys, against real
sshd. A line paramiko cannot parse must not crash discovery, and a revoked key must be
refused like a changed one, naming the host."""

from __future__ import annotations

import time
from pathlib import Path

import paramiko
import pytest

from connectors.ssh import SSHPool
from shangyun.discovery.model import SSHSettings, SSHTarget
from shangyun.errors import HostKeyError
from tests.discovery.conftest import Hosts


def _settings(h: Hosts, known: Path) -> SSHSettings:
    return SSHSettings(key_file=str(h.key), known_hosts=str(known), connect_timeout=5,
                       command_timeout=10, retries=2)


def test_cert_authority_and_hashed_lines_are_read(tmp_path: Path, sshd_hosts: Hosts) -> None:
    a, b = sshd_hosts.good[0], sshd_hosts.good[1]
    hashed = paramiko.HostKeys.hash_host(f"[{b.address}]:{b.port}")
    known = tmp_path / "known_hosts"
    known.write_text("# the operator's own file\n"
                     f"@cert-authority *.corp.example {a.host_pub}\n"
                     f"{a.known_hosts_line()}\n"
                     f"{hashed} {b.host_pub}\n")
    with SSHPool(_settings(sshd_hosts, known)) as pool:
        for srv, name in ((a, "plain"), (b, "hashed")):
            res = pool.run_script(SSHTarget(srv.address, srv.port, "root", name=name),
                                  "echo hello")
            assert res.stdout.strip() == "hello", name


def test_a_revoked_host_key_is_refused_naming_the_host(tmp_path: Path,
                                                      sshd_hosts: Hosts) -> None:
    srv = sshd_hosts.good[2]
    known = tmp_path / "known_hosts"
    # still listed as the host's key, and revoked further down (as OpenSSH reads it:
    # a revoked key is never accepted, whatever else the file says)
    known.write_text(f"{srv.known_hosts_line()}\n@revoked * {srv.host_pub}\n")
    start = time.monotonic()
    with SSHPool(_settings(sshd_hosts, known)) as pool, \
            pytest.raises(HostKeyError) as err:
        pool.run_script(SSHTarget(srv.address, srv.port, "root", name="web-revoked"),
                        "echo hello")
    assert time.monotonic() - start < 3                    # refused at once, not retried
    assert getattr(err.value, "attempts", 1) == 1
    assert "web-revoked" in str(err.value) and f"{srv.port}" in str(err.value)
    assert "revoked" in str(err.value).lower()
    assert getattr(err.value, "status", "") == "changed-host-key"


def test_an_unreadable_line_is_one_error_naming_file_and_line(tmp_path: Path,
                                                              sshd_hosts: Hosts) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"{sshd_hosts.good[0].known_hosts_line()}\n"
                     "[10.0.0.9]:22 ssh-ed25519 not*base64\n")
    with pytest.raises(HostKeyError) as err:
        SSHPool(_settings(sshd_hosts, known))
    assert str(known) in str(err.value) and "line 2" in str(err.value)
