"""The control: the legacy guest copied to a virtio cloud *without* adaptation does not
boot — its initramfs has no virtio drivers, so the kernel cannot find its root. That is
what proves the adaptation matters (issue 15, item 4)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from connectors import qemu
from connectors.bootproof import BootFailed, BootTarget, prove_boot
from connectors.targets.base import InstanceSpec, Labels
from connectors.targets.libvirt import LibvirtTarget
from lab import LabState
from lab.guests import GuestImage, copy_disk

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]


@pytest.mark.slow  # TCG boots / lab bring-up: kept out of the 45-min suite
def test_unadapted_guest_does_not_boot_on_virtio(guest_lab: LabState, guest_image: GuestImage,
                                                tmp_path: Path) -> None:
    cloud = guest_lab.qemu_cloud
    assert cloud is not None
    g = guest_lab.guest("b01-legacy01")
    disk = copy_disk(guest_image, tmp_path / "unadapted.qcow2")  # converted, not adapted
    digest = qemu.content_digest(disk, "sha256", fmt="qcow2")
    target = LibvirtTarget(cloud.uri, pool=cloud.pool, isolated_network=cloud.isolated_network,
                           domain_type="qemu", console_dir=cloud.console_dir)
    labels = Labels("0", "B01", "CONTROL")
    imported = target.import_disk(disk, name="control-disk", fmt="qcow2", digest=digest,
                                  labels=labels)
    inst = None
    try:
        spec = InstanceSpec(name="control-unadapted", vcpus=1, memory_mb=512, labels=labels,
                            macs=(g.mac,))
        inst = target.create_instance(spec, [imported], test_mode=True)
        xml = target.domain_xml(inst)
        assert "type='qemu'" in xml or 'type="qemu"' in xml
        assert "bus=\"virtio\"" in xml or "bus='virtio'" in xml
        console = Path(inst.extra["console"])
        console.unlink(missing_ok=True)
        t0 = time.monotonic()
        target.start(inst)
        with pytest.raises(BootFailed) as failed:
            prove_boot(BootTarget(name=inst.name, console=str(console), ip=g.ip,
                                  hostname=g.hostname, host_key=g.host_key,
                                  key_file=guest_lab.client_key,
                                  via_netns=cloud.probe_netns, console_timeout=420),
                       started=t0)
        ev = failed.value.evidence
        assert ev["failure"] in ("the kernel did not find its root file system",
                                 "the initramfs dropped to a shell",
                                 "the initramfs cannot find the root device")
        assert "/dev/sda1" in ev["console_excerpt"] or "root" in ev["console_excerpt"]
    finally:
        if inst is not None:
            target.delete_instance(inst)
        target.delete_disk(imported)
        target.close()
