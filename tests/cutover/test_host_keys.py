"""Hypervisor connections over SSH check the host key against the given known_hosts only
(:func:`connectors.hypervisor.host_key_checked`), against a real sshd."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.hypervisor import HypervisorError, PowerSession, host_key_checked, list_domains
from tests.discovery.sshd import Sshd, SshdFarm


@pytest.fixture(scope="module")
def one_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshdFarm, Sshd]]:
    farm = SshdFarm(tmp_path_factory.mktemp("sshd-hypervisor"))
    try:
        (server,) = farm.start(1)
        yield farm, server
    finally:
        farm.stop()


def test_ssh_uris_become_libssh_checking_the_given_known_hosts() -> None:
    got = host_key_checked("qemu+ssh://root@10.0.0.5:2222/system?keyfile=/k/id&"
                           "known_hosts=/k/kh&no_verify=1&command=/tmp/evil")
    assert got == ("qemu+libssh://root@10.0.0.5:2222/system?keyfile=/k/id&known_hosts=/k/kh"
                   "&known_hosts_verify=normal")
    assert host_key_checked("xen+libssh2://h/system?known_hosts_verify=ignore") == (
        "xen+libssh://h/system?known_hosts=/dev/null&known_hosts_verify=normal")
    for other in ("test:///default", "esx://h/?no_verify=0", "qemu:///system"):
        assert host_key_checked(other) == other


def _uri(server: Sshd, key: Path, known_hosts: Path) -> str:
    return (f"qemu+ssh://root@{server.address}:{server.port}/system?keyfile={key}"
            f"&known_hosts={known_hosts}&no_verify=1")


def test_an_unknown_or_changed_host_key_is_refused_by_the_real_ssh(
        one_sshd: tuple[SshdFarm, Sshd], tmp_path: Path) -> None:
    """An sshd whose key is not in the given known_hosts (even with ``no_verify=1`` in the
    URI, and whatever ``~/.ssh`` says) is refused at the host key; with its key recorded
    the connection gets past the host key (and fails later: no libvirtd behind it)."""
    farm, server = one_sshd
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    for call in (lambda u: list_domains(u), lambda u: PowerSession(u)):
        with pytest.raises(HypervisorError) as refused:
            call(_uri(server, farm.client_key, empty))
        assert "qemu+ssh://" in str(refused.value)  # names the URI the operator gave
        assert "host key" in str(refused.value).lower() or "hostkey" in str(refused.value)
    known = farm.write_known_hosts([server], tmp_path / "known_hosts")
    with pytest.raises(HypervisorError) as past:
        list_domains(_uri(server, farm.client_key, known))
    assert "host key" not in str(past.value).lower(), past.value
    assert "Remote command" in str(past.value)  # logged in with the key: the host was trusted
