"""The libguestfs connector on real images: inspection, the adaptation applied, every edit
digested, the rebuilt initramfs holding virtio, refusals, the source never touched.

The Debian guest is the lab's legacy guest (``lab.guests.ensure_guest_image``, the
``guest_image`` fixture: built once per machine and cached, the disk the lab boots and the
wave moves; ~2 minutes to adapt under TCG) and ``slow``; the RHEL-shaped ifcfg tree, the
LUKS disk and the data disk take an appliance launch each (~15–30 s) and run in the default
suite.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.guestfs import GuestSession, image_head
from lab.guests import GUEST_NIC, GuestImage
from shangyun.guests.model import AdaptPlan, GuestSettings, Refused, Skipped
from shangyun.guests.policy import boot_edits, decide, network_edits
from shangyun.guests.probe import signatures
from shangyun.guests.texts import ifcfg_nic, parse_interfaces
from tests.guests import guestimages

pytestmark = pytest.mark.skipif(shutil.which("guestfish") is None,
                                reason="libguestfs is not installed (scripts/setup)")
MAC = "52:54:00:12:34:56"


def sha256(path: Path) -> str:
    """The file's SHA-256."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def overlay(base: Path, folder: Path) -> Path:
    """A qcow2 overlay on ``base`` (the adaptation writes there, never into ``base``)."""
    out = folder / f"{base.stem}.overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2",
                    str(out)], check=True, timeout=60)
    return out


@pytest.fixture(scope="module")
def adapted_debian(tmp_path_factory: pytest.TempPathFactory,
                   guest_image: GuestImage) -> Iterator[dict[str, Any]]:
    """The lab's legacy Debian guest adapted once on an overlay (the cached image is its
    read-only backing file): the facts, the plan, the records, the initramfs listing and
    what the adapted guest's files say."""
    base = Path(guest_image.path)
    before = sha256(base)
    folder = tmp_path_factory.mktemp("debian")
    ov = overlay(base, folder)
    with GuestSession([(str(ov), "qcow2")]) as s:
        facts = s.inspect()
        plan = decide(facts, GuestSettings(macs=(MAC,)))
        assert isinstance(plan, AdaptPlan), plan
        records = s.apply(plan)
        listing = s.initrd_listing(facts.initrds[facts.kernels[0]])
    with GuestSession([(str(ov), "qcow2")], readonly=True) as s:
        after_facts = s.inspect()
        files = {p: bytes(s.g.read_file(p)).decode() for p in (
            "/etc/fstab", "/boot/grub/grub.cfg", "/etc/network/interfaces",
            f"/etc/systemd/network/05-shangyun-{GUEST_NIC}.link")}
        digests = {r.files[0][0]: s.digest(r.files[0][0]) for r in records}
    yield {"facts": facts, "plan": plan, "records": records, "listing": listing,
           "after": after_facts, "files": files, "digests": digests, "base": base,
           "before": before}


@pytest.mark.slow
def test_debian_adapted(adapted_debian: dict[str, Any]) -> None:
    facts, after = adapted_debian["facts"], adapted_debian["after"]
    assert (facts.os_type, facts.distro, facts.major) == ("linux", "debian", 12)
    assert "open-vm-tools" in facts.packages and "open-vm-tools" not in after.packages
    uuid = facts.devices["/dev/sda1"]
    files = adapted_debian["files"]
    assert [f"UUID={uuid}", "/", "ext4"] in [ln.split()[:3]
                                             for ln in files["/etc/fstab"].splitlines()]
    assert f"root=UUID={uuid}" in files["/boot/grub/grub.cfg"]
    assert "/dev/sda1" not in files["/boot/grub/grub.cfg"]
    assert f"MACAddress={MAC}" in files["/etc/systemd/network/05-shangyun-ens192.link"]
    assert "Name=ens192" in files["/etc/systemd/network/05-shangyun-ens192.link"]
    # network kept: the static address on ens192 as the source had it
    assert files["/etc/network/interfaces"] == facts.files["/etc/network/interfaces"]
    (nic,) = parse_interfaces(files["/etc/network/interfaces"], "i")
    assert (nic.name, nic.addresses, nic.gateway) == ("ens192", ("192.168.1.50/24",),
                                                       "192.168.1.1")
    names = adapted_debian["listing"]
    for mod in ("virtio_blk.ko", "virtio_pci.ko", "virtio_net.ko", "virtio_scsi.ko"):
        assert any(n.endswith(f"/{mod}") for n in names), mod
    assert any(n.endswith("05-shangyun-ens192.link") for n in names)


@pytest.mark.slow
def test_debian_edits_journaled_with_digests(adapted_debian: dict[str, Any]) -> None:
    records = adapted_debian["records"]
    assert [r.action for r in records] == [
        "dpkg --purge open-vm-tools", "write /etc/fstab", "write /boot/grub/grub.cfg",
        "write /etc/systemd/network/05-shangyun-ens192.link",
        "write /etc/initramfs-tools/modules", "update-initramfs -u -k all"]
    for r in records:
        for path, before, after in r.files:
            assert before != after, path
            assert len(after) == 64 and adapted_debian["digests"].get(path, after) == after
    link = next(r for r in records if r.action.endswith(".link"))
    assert link.files[0][1] == "absent"
    initrd = records[-1].files[0]
    assert initrd[0].startswith("/boot/initrd.img-") and len(initrd[1]) == 64


@pytest.mark.slow
def test_debian_source_untouched(adapted_debian: dict[str, Any]) -> None:
    assert sha256(adapted_debian["base"]) == adapted_debian["before"]


@pytest.mark.slow  # TCG boots / lab bring-up: kept out of the 45-min suite
def test_rhel_ifcfg_network_and_boot(tmp_path: Path) -> None:
    image = guestimages.rhel_tree_guest(tmp_path)
    before = sha256(image)
    ov = overlay(image, tmp_path)
    with GuestSession([(str(ov), "qcow2")]) as s:
        facts = s.inspect()
        assert (facts.os_type, facts.distro, facts.major) == ("linux", "centos", 7)
        assert facts.init == "systemd" and facts.kernels == ()
        decision = decide(facts, GuestSettings())
        assert isinstance(decision, Refused) and "no kernel" in decision.reason
        net = network_edits(facts, GuestSettings(readdress={"eth0": {
            "address": "10.30.0.15/24", "gateway": "10.30.0.1", "dns": ["10.30.0.2"]}}))
        assert not isinstance(net, Refused)
        boot, _ = boot_edits(facts)
        records = s.apply(AdaptPlan(tuple(boot + net[0])))
        ifcfg = bytes(s.g.read_file("/etc/sysconfig/network-scripts/ifcfg-eth0")).decode()
        link = bytes(s.g.read_file("/etc/systemd/network/05-shangyun-eth0.link")).decode()
        fstab = bytes(s.g.read_file("/etc/fstab")).decode()
        grub = bytes(s.g.read_file("/boot/grub2/grub.cfg")).decode()
    uuid = facts.devices["/dev/sda1"]
    assert fstab.startswith(f"UUID={uuid} / ext4") and f"root=UUID={uuid}" in grub
    assert "MACAddress=00:50:56:aa:bb:01" in link and "Name=eth0" in link
    nic = ifcfg_nic(ifcfg, "/etc/sysconfig/network-scripts/ifcfg-eth0")
    assert nic is not None
    assert (nic.mac, nic.addresses, nic.gateway, nic.dns) == (
        "00:50:56:aa:bb:01", ("10.30.0.15/24",), "10.30.0.1", ("10.30.0.2",))
    assert {r.files[0][0] for r in records} == {
        "/etc/fstab", "/boot/grub2/grub.cfg", "/etc/systemd/network/05-shangyun-eth0.link",
        "/etc/sysconfig/network-scripts/ifcfg-eth0"}
    assert all(len(r.files[0][2]) == 64 for r in records)
    assert sha256(image) == before


@pytest.mark.slow  # TCG boots / lab bring-up: kept out of the 45-min suite
def test_luks_and_data_disks(tmp_path: Path) -> None:
    luks = guestimages.luks_guest(tmp_path)
    data = guestimages.plain_data_disk(tmp_path)
    assert "LUKS" in signatures(image_head(luks, "qcow2")) or \
        "MBR partition table" in signatures(image_head(luks, "qcow2"))
    with GuestSession([(str(luks), "qcow2"), (str(data), "qcow2")], readonly=True) as s:
        facts = s.inspect()
    assert facts.roots == 0 and facts.encrypted == ("/dev/sda1",)
    refused = decide(facts, GuestSettings())
    assert isinstance(refused, Refused) and "encrypted root" in refused.reason
    assert any("ext4" in f for f in facts.filesystems)  # the data disk: no OS on it
    plain = dataclasses.replace(facts, encrypted=())
    assert decide(plain, GuestSettings()) == Skipped("no operating system found: nothing "
                                                     "to adapt")
    assert isinstance(decide(plain, GuestSettings(mode="required")), Refused)


def test_random_image_has_no_signature(tmp_path: Path) -> None:
    """The lab's test-driver disks: pseudo-random, no structure, no appliance needed."""
    from lab.images import write_raw

    raw = tmp_path / "r.raw"
    write_raw(raw, "vm-x-disk0")
    assert signatures(image_head(raw, "raw")) == []
