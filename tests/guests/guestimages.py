"""Small real guest images for the adaptation tests (the VMware-era Debian guest they also
use is the lab's, ``lab.guests.ensure_guest_image``: the ``guest_image`` fixture).

* :func:`rhel_tree_guest` — a tiny RHEL-7-shaped ``/etc`` tree (release files, ``ifcfg``
  network scripts, fstab by device) on a small ext4 image: enough for libguestfs to
  inspect it as Red Hat and for the network and fstab parts of the adaptation. Seconds.
* :func:`luks_guest` — a LUKS-encrypted partition (the adaptation must refuse it).

Test helpers, not product code: they shell out freely.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GUEST_ENV = {"LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}


def _run(*argv: str, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **GUEST_ENV, **(env or {})}, check=False)
    if res.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}): "
                           f"{res.stderr.strip()[-2000:]}")
    return res.stdout


RHEL_FILES = {
    "etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n",
    "etc/centos-release": "CentOS Linux release 7.9.2009 (Core)\n",
    "etc/os-release": 'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\n'
                      'ID_LIKE="rhel fedora"\nVERSION_ID="7"\n'
                      'PRETTY_NAME="CentOS Linux 7 (Core)"\n',
    "etc/fstab": "/dev/sda1 / ext4 defaults 1 1\n",
    "etc/hostname": "legacy-rhel\n",
    "etc/sysconfig/network-scripts/ifcfg-eth0":
        'DEVICE=eth0\nHWADDR=00:50:56:aa:bb:01\nBOOTPROTO=none\nONBOOT=yes\n'
        'IPADDR=10.20.0.15\nPREFIX=24\nGATEWAY=10.20.0.1\nDNS1=10.20.0.2\n',
    "etc/sysconfig/network-scripts/ifcfg-lo": "DEVICE=lo\nIPADDR=127.0.0.1\n",
    "boot/grub2/grub.cfg": "menuentry 'CentOS' {\n  linux16 /vmlinuz-3.10.0 root=/dev/sda1 ro\n}\n",
    "bin/sh": "", "usr/bin/.keep": "", "usr/lib/systemd/systemd": "",
}


def rhel_tree_guest(folder: Path) -> Path:
    """A small qcow2 holding a RHEL-7-shaped tree (see the module docstring)."""
    root = folder / "rhel-root"
    for rel, text in RHEL_FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    out = folder / "rhel.qcow2"
    _run("virt-make-fs", "--partition=mbr", "--type=ext4", "--format=qcow2", "--size=+16M",
         str(root), str(out))
    return out


def luks_guest(folder: Path) -> Path:
    """A qcow2 whose only partition is LUKS-encrypted (the key is thrown away)."""
    import guestfs  # type: ignore[import-not-found]  # python3-guestfs, via the venv's .pth

    out = folder / "luks.qcow2"
    _run("qemu-img", "create", "-q", "-f", "qcow2", str(out), "64M")
    g = guestfs.GuestFS(python_return_dict=True)
    try:
        g.set_backend_settings(["force_tcg"])
        g.add_drive_opts(str(out), format="qcow2")
        g.launch()
        g.part_disk("/dev/sda", "mbr")
        g.luks_format("/dev/sda1", os.urandom(12).hex(), 0)
        g.shutdown()
    finally:
        g.close()
    return out


def plain_data_disk(folder: Path) -> Path:
    """A qcow2 with an ext4 filesystem holding files but no operating system."""
    root = folder / "data-root"
    (root / "srv").mkdir(parents=True)
    (root / "srv" / "readme.txt").write_text("data only\n")
    out = folder / "data.qcow2"
    _run("virt-make-fs", "--partition=mbr", "--type=ext4", "--format=qcow2", "--size=+8M",
         str(root), str(out))
    return out
