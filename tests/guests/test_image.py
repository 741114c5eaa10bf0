"""The legacy guest image is made the way a VMware-era machine is (lab/guests.py)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from lab.guests import GuestImage, ensure_guest_image, guestfs_env, recipe_hash


def _guest_files(image: GuestImage, tmp: Path) -> dict[str, str]:
    """Read files out of the image (libguestfs, read-only) and list its initramfs."""
    initrd = tmp / "initrd.img"
    names = {"fstab": "/etc/fstab", "interfaces": "/etc/network/interfaces",
             "link": "/etc/systemd/network/10-vmware-ens192.link",
             "grub": "/boot/grub/grub.cfg", "hostname": "/etc/hostname"}
    script = [f"add-ro {image.path}", "run", "mount-ro /dev/sda1 /"]
    script += [f"download {src} {tmp / key}" for key, src in names.items()]
    script += [f"download /boot/initrd.img-{image.kernel} {initrd}",
               "is-file /usr/bin/vmtoolsd", "ls /etc/systemd/system/multi-user.target.wants"]
    out = subprocess.run(["guestfish"], input="\n".join(script) + "\n", env=guestfs_env(),
                         capture_output=True, text=True, timeout=600, check=True).stdout
    files = {k: (tmp / k).read_text() for k in names}
    files["guestfish"] = out
    files["initramfs"] = subprocess.run(["lsinitramfs", str(initrd)], capture_output=True,
                                        text=True, timeout=120, check=True).stdout
    return files


def test_the_image_is_a_vmware_era_machine(guest_image: GuestImage, tmp_path: Path) -> None:
    f = _guest_files(guest_image, tmp_path)
    # an initramfs without virtio: on a virtio disk the kernel cannot find its root
    modules = [ln for ln in f["initramfs"].splitlines() if ln.endswith(".ko")]
    assert any("/ata/ahci.ko" in m or "/ata/ata_piix.ko" in m for m in modules)
    assert not [m for m in modules if "virtio" in m.rsplit("/", 1)[-1]]
    # fstab and GRUB's root= by device name, not UUID
    assert "/dev/sda1\t/\text4" in f["fstab"] and "UUID=" not in f["fstab"]
    # every kernel line boots /dev/sda1, never the appliance's name for the disk at build
    # time (a build where it was /dev/sdb wrote root=/dev/sdb1: the guest never booted)
    assert set(re.findall(r"root=(/dev/\S+)", f["grub"])) == {"/dev/sda1"}
    assert "console=ttyS0" in f["grub"]
    # the NIC named as VMware names it, pinned to the e1000 driver, with a static address
    assert "Driver=e1000" in f["link"] and "Name=ens192" in f["link"]
    assert "iface ens192 inet static" in f["interfaces"]
    # VMware Tools installed and enabled, the app enabled, its own host keys
    lines = f["guestfish"].splitlines()
    assert lines[0] == "true"
    assert {"open-vm-tools.service", "legacy-app.service", "ssh.service"} <= set(lines[1:])
    assert f["hostname"].strip() == guest_image.hostname == "legacy-web01"
    assert guest_image.host_keys["ssh-ed25519"].startswith("ssh-ed25519 AAAA")
    assert guest_image.virtio_in_initramfs is False


def test_a_second_build_costs_nothing(guest_image: GuestImage) -> None:
    t0 = time.monotonic()
    again = ensure_guest_image()
    assert time.monotonic() - t0 < 2.0
    assert again == guest_image
    assert Path(again.path).name == f"{recipe_hash()}.qcow2"
