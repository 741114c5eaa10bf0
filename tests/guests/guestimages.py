"""Small real guest images for the adaptation tests, built once and cached by recipe.

* :func:`debian_guest` — Debian 12 made the way a VMware-era machine is: ``debootstrap
  --variant=minbase`` with the distribution kernel, ``initramfs-tools`` (``MODULES=list``:
  SATA/SCSI and e1000 only, **no virtio** in the initramfs), ``ifupdown`` with a static
  address on ``ens192``, ``open-vm-tools``, ``/etc/fstab`` and a GRUB config naming
  ``/dev/sda1``. One MBR partition, ext4, qcow2. About 2 minutes and ~900 MB the first
  time; afterwards a cache hit (``$SHANGYUN_GUEST_CACHE``, default
  ``~/.cache/shangyun/guests``, keyed by the recipe's SHA-256).
* :func:`rhel_tree_guest` — a tiny RHEL-7-shaped ``/etc`` tree (release files, ``ifcfg``
  network scripts, fstab by device) on a small ext4 image: enough for libguestfs to
  inspect it as Red Hat and for the network and fstab parts of the adaptation. Seconds.
* :func:`luks_guest` — a LUKS-encrypted partition (the adaptation must refuse it).

Test helpers, not product code: they shell out freely.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

DEBIAN_PACKAGES = ("linux-image-amd64", "initramfs-tools", "udev", "systemd-sysv",
                   "ifupdown", "open-vm-tools", "kmod", "e2fsprogs")
MIRROR = os.environ.get("SHANGYUN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
GUEST_ENV = {"LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}

INTERFACES = """\
# The loopback network interface
auto lo
iface lo inet loopback

# VMware vmxnet3/e1000 on PCI slot 192
allow-hotplug ens192
iface ens192 inet static
    address 192.168.50.10/24
    gateway 192.168.50.1
    dns-nameservers 192.168.50.2 192.168.50.3
    dns-search lab.example
"""
FSTAB = "# <file system> <mount point> <type> <options> <dump> <pass>\n" \
        "/dev/sda1 / ext4 errors=remount-ro 0 1\n"
INITRAMFS_MODULES = "ahci\nata_piix\nsd_mod\ne1000\next4\n"


def cache_dir() -> Path:
    """Where built guest images are kept between runs."""
    root = Path(os.environ.get("SHANGYUN_GUEST_CACHE")
                or Path.home() / ".cache" / "shangyun" / "guests")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _run(*argv: str, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **GUEST_ENV, **(env or {})}, check=False)
    if res.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}): "
                           f"{res.stderr.strip()[-2000:]}")
    return res.stdout


def _grub_cfg(kver: str) -> str:
    return ("set default=0\nset timeout=1\ninsmod part_msdos\ninsmod ext2\n"
            "set root='hd0,msdos1'\n"
            "menuentry 'Debian GNU/Linux' {\n"
            f"    linux /boot/vmlinuz-{kver} root=/dev/sda1 ro console=ttyS0\n"
            f"    initrd /boot/initrd.img-{kver}\n}}\n")


def debian_guest() -> Path:
    """The cached VMware-era Debian 12 qcow2 (built on first use)."""
    recipe = "\n".join([MIRROR, *DEBIAN_PACKAGES, INTERFACES, FSTAB, INITRAMFS_MODULES, "v3"])
    out = cache_dir() / f"debian12-vmware-{_key(recipe)}.qcow2"
    if out.exists():
        return out
    work = Path(tempfile.mkdtemp(prefix="shangyun-guest-", dir=cache_dir()))
    try:  # the finally unmounts what debootstrap may have left mounted
        root = work / "root"
        _run("debootstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}",
             "bookworm", str(root), MIRROR, timeout=1800)
        (root / "etc/hostname").write_text("legacy-deb\n")
        (root / "etc/network/interfaces").write_text(INTERFACES)
        (root / "etc/fstab").write_text(FSTAB)
        (root / "etc/initramfs-tools/modules").write_text(INITRAMFS_MODULES)
        conf = root / "etc/initramfs-tools/initramfs.conf"
        conf.write_text(conf.read_text().replace("MODULES=most", "MODULES=list"))
        kver = sorted(p.name for p in (root / "lib/modules").iterdir())[-1]
        _run("chroot", str(root), "update-initramfs", "-u", "-k", kver)
        (root / "boot/grub").mkdir(parents=True, exist_ok=True)
        (root / "boot/grub/grub.cfg").write_text(_grub_cfg(kver))
        (root / "etc/default").mkdir(exist_ok=True)
        (root / "etc/default/grub").write_text(
            'GRUB_DEFAULT=0\nGRUB_TIMEOUT=1\nGRUB_CMDLINE_LINUX="root=/dev/sda1 console=ttyS0"\n')
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        tmp = work / "guest.qcow2"
        _run("virt-make-fs", "--partition=mbr", "--type=ext4", "--format=qcow2",
             "--size=+256M", str(root), str(tmp))
        os.replace(tmp, out)
    finally:
        for sub in ("proc", "sys", "dev/pts", "dev"):
            subprocess.run(["umount", "-l", str(work / "root" / sub)], capture_output=True,
                           check=False, timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return out


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


if __name__ == "__main__":  # build the cache: python -m tests.guests.guestimages
    print(debian_guest())
