"""Hypervisor connections over SSH check the host key against the given known_hosts only
(:func:`connectors.hypervisor.host_key_checked`), against a real sshd — and against a real
remote libvirtd behind it: a private ``libvirtd`` (its own mount namespace, its socket on
a private ``/run/libvirt``, no driver module loaded but the built-in test driver) whose
sshd runs in the same namespace, reached with ``test+ssh://`` (made ``test+libssh://``):
listed and powered with the right host key, refused with a wrong one."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.hypervisor import HypervisorError, PowerSession, host_key_checked, list_domains
from tests.discovery.sshd import Sshd, SshdFarm, keygen

LIBVIRTD_CONF = """unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
listen_tls = 0
listen_tcp = 0
log_outputs = "1:file:{log}"
"""


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


@pytest.fixture(scope="module")
def remote_libvirtd(tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[SshdFarm, Sshd]]:
    """A real libvirtd in a private mount namespace (``/run/libvirt`` a tmpfs there, so the
    machine's own is untouched; ``LIBVIRT_DRIVER_DIR`` empty: no qemu/network driver loads,
    only the built-in test driver) and a real sshd in the same namespace: its sessions'
    ``virt-ssh-helper`` reaches that libvirtd. Both stopped by pid after the module."""
    folder = tmp_path_factory.mktemp("remote-libvirtd")
    (folder / "drivers").mkdir()
    conf = folder / "libvirtd.conf"
    conf.write_text(LIBVIRTD_CONF.format(log=folder / "libvirtd.log"))
    Path("/run/libvirt").mkdir(parents=True, exist_ok=True)  # the mount point
    daemon = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
         'mount -t tmpfs tmpfs /run/libvirt && exec libvirtd -f "$1" -p "$2"', "sh",
         str(conf), str(folder / "libvirtd.pid")],
        env={**os.environ, "LIBVIRT_DRIVER_DIR": str(folder / "drivers")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    farm = SshdFarm(folder / "sshd")
    try:
        sock = Path(f"/proc/{daemon.pid}/root/run/libvirt/libvirt-sock")  # in its namespace
        for _ in range(100):
            if sock.exists() or daemon.poll() is not None:
                break
            time.sleep(0.1)
        assert sock.exists(), f"libvirtd did not start ({daemon.poll()})"
        (server,) = farm.start(1, wrapper=["nsenter", f"--mount=/proc/{daemon.pid}/ns/mnt",
                                           "--"])
        yield farm, server
    finally:
        farm.stop()
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=5)


def test_a_real_remote_libvirtd_is_reached_with_the_right_host_key_only(
        remote_libvirtd: tuple[SshdFarm, Sshd], tmp_path: Path) -> None:
    farm, server = remote_libvirtd

    def uri(known_hosts: Path) -> str:
        return (f"test+ssh://root@{server.address}:{server.port}/default?"
                f"keyfile={farm.client_key}&known_hosts={known_hosts}&no_verify=1")

    known = farm.write_known_hosts([server], tmp_path / "known_hosts")
    # the right key: the remote daemon's domains are listed and powered over SSH
    assert [(d.name, d.state) for d in list_domains(uri(known))] == [("test", "running")]
    session = PowerSession(uri(known))
    try:
        assert session.is_active("test")
        session.shut_down("test", polls=20, poll_seconds=0.05)
        assert not session.is_active("test")
        session.start("test")
        assert session.is_active("test")
    finally:
        session.close()
    # a wrong key recorded for this host:port (a man in the middle), or none at all:
    # refused at the host key, whatever no_verify=1 in the URI says
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[{server.address}]:{server.port} {keygen(tmp_path / 'impostor')}\n")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    for bad in (wrong, empty):
        for call in (lambda u: list_domains(u), lambda u: PowerSession(u)):
            with pytest.raises(HypervisorError) as refused:
                call(uri(bad))
            text = str(refused.value)
            assert "test+ssh://" in text  # names the URI the operator gave
            assert "host key" in text.lower(), text
            if bad == wrong:
                assert "differs from stored identity" in text, text
