"""lab up's wait for the real legacy guest (lab.build.wait_guest): a boot that failed on the
console is said at once, naming the guest, its console file and the console's last lines
(it used to wait the whole 300 s and then point at "the host folders' *.log files"); a
guest that answers on SSH and its app port is waited for no longer."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.build import wait_guest
from lab.state import LabError, LabGuest


def _guest(console: Path, app_port: int, ip: str = "127.0.0.1") -> LabGuest:
    return LabGuest(id="b01-legacy01", hostname="legacy-web01", ip=ip, prefix=24,
                    gateway="127.0.0.254", mac="00:50:56:00:00:01", nic="ens192",
                    bureau="b01", system="s", domain="legacy-web01", uuid="u",
                    hypervisor_uri="qemu:///system", disk="d", disk_format="qcow2",
                    console=str(console), host_key="k", app_port=app_port, image="i",
                    recipe_hash="h")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def listening() -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    try:
        yield int(srv.getsockname()[1])
    finally:
        srv.close()


@pytest.mark.parametrize("failure", [
    "Gave up waiting for root file system device.\nALERT!  /dev/sdb1 does not exist.  "
    "Dropping to a shell!\n(initramfs) ",
    "[    2.1] Kernel panic - not syncing: VFS: Unable to mount root fs\n",
])
def test_a_failed_boot_is_said_at_once(tmp_path: Path, failure: str) -> None:
    console = tmp_path / "legacy01.console.log"
    console.write_text("Loading Linux 6.1.0 ...\n" + failure)
    t0 = time.monotonic()
    with pytest.raises(LabError) as exc:
        wait_guest(_guest(console, _closed_port()), timeout=60)
    assert time.monotonic() - t0 < 10
    msg = str(exc.value)
    assert "legacy-web01" in msg and str(console) in msg and "its boot failed" in msg
    assert failure.strip().splitlines()[-1].strip() in msg  # the console's last lines


def test_a_silent_guest_times_out_naming_its_console(tmp_path: Path) -> None:
    console = tmp_path / "c.log"
    console.write_text("Booting from Hard Disk...\n")
    port = _closed_port()
    with pytest.raises(LabError, match=rf"ports 22, {port} not answering after 2 s") as exc:
        wait_guest(_guest(console, port), timeout=2)
    assert "Booting from Hard Disk" in str(exc.value)


def test_an_answering_guest_is_not_waited_for(tmp_path: Path, listening: int) -> None:
    with socket.socket() as ssh:
        ssh.bind(("127.0.0.1", 0))
        ssh.listen()
        t0 = time.monotonic()
        wait_guest(_guest(tmp_path / "not-yet.log", listening), timeout=30,
                   ssh_port=int(ssh.getsockname()[1]))
        assert time.monotonic() - t0 < 5


def test_a_running_guest_from_another_image_is_not_taken_as_placed(tmp_path: Path) -> None:
    """lab up replaces a running guest unless its disk was placed from this image with these
    settings (a lab whose guest came from a broken image kept it running, stuck)."""
    from lab.guests import GuestImage, is_placed

    def image(h: str) -> GuestImage:
        return GuestImage(path="/x.qcow2", recipe_hash=h, hostname="legacy-web01",
                          nic="ens192", app_port=8080, kernel="6.1", host_keys={},
                          virtio_in_initramfs=False, build_seconds=1.0, virtual_size=1)

    dest = tmp_path / "b01-legacy01.qcow2"
    opts: dict[str, Any] = {"ip": "10.213.1.200", "prefix": 24, "gateway": "10.213.1.1",
            "authorized_key": "ssh-ed25519 AAAA lab"}
    assert not is_placed(image("new"), dest, **opts)
    dest.write_bytes(b"disk")
    stamp = dest.with_name(dest.name + ".stamp")
    stamp.write_text('{"gateway": "10.213.1.1", "image": "old", "ip": "10.213.1.200", '
                     '"key": "ssh-ed25519 AAAA lab", "prefix": 24}')
    assert is_placed(image("old"), dest, **opts)
    assert not is_placed(image("new"), dest, **opts)
    assert not is_placed(image("old"), dest,
                         **{**opts, "ip": "10.213.1.201"})
