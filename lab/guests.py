"""Real legacy guests for the lab: a Debian 12 machine built the way a VMware-era VM looks.

The guest is built offline from Debian packages (``debootstrap`` from the configured
mirror) into a bootable qcow2 and cached outside the repository, keyed by a hash of its
recipe, so a second build costs nothing::

    /var/cache/shangyun/guests/<hash>.qcow2   # the bootable disk (one ext4 partition, GRUB)
    /var/cache/shangyun/guests/<hash>.json    # what it is: hostname, host key, kernel, ...

What makes it a *legacy* (VMware-era) machine, and so what a move to a KVM cloud must
adapt (``docs/lab.md``, "The real legacy guest"):

- its disk is SATA (``sd_mod``/``ahci``) and its NIC an ``e1000``;
- its initramfs is built with ``MODULES=list`` naming only ``ata_piix``, ``ahci``,
  ``sd_mod`` and ``ext4``: it has **no** virtio drivers (``lsinitramfs`` proves it), so on
  a virtio disk the kernel cannot find its root;
- ``/etc/fstab`` and GRUB's ``root=`` name ``/dev/sda1`` (``GRUB_DISABLE_LINUX_UUID``);
- VMware Tools (``open-vm-tools``) are installed and enabled;
- its NIC is ``ens192``, as VMware's PCI slot 192 names it: a systemd ``.link`` file pins
  that name to the ``e1000`` driver (QEMU cannot place a NIC in slot 192), so a virtio NIC
  without adaptation comes up under another name and the static address in
  ``/etc/network/interfaces`` (ifupdown) is lost;
- its own SSH host keys, made once at build time;
- an app: ``legacy-app.service``, a small Python HTTP server on port 8080 answering
  ``GET /`` with ``{"app": "legacy-app", "hostname": ..., "ok": true}``.

Per lab, :func:`place_guest` copies the cached disk (a full copy: no backing file, so the
wave's image admission accepts it) and writes the lab-specific files into it with
libguestfs: the static address and gateway, ``/etc/resolv.conf`` and root's
``authorized_keys`` (the lab's client key). That copy is cached in the lab folder too.

Needs root, ``debootstrap``, ``qemu-img`` and ``guestfish`` (libguestfs; run with
``LIBGUESTFS_BACKEND=direct`` and ``LIBGUESTFS_BACKEND_SETTINGS=force_tcg`` because KVM
cannot run guests on this machine).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.hosts import run
from lab.state import LabError

RECIPE_VERSION = 1
DEFAULT_CACHE = Path("/var/cache/shangyun/guests")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DISK_SIZE = "4G"
GUEST_HOSTNAME = "legacy-web01"
GUEST_NIC = "ens192"
APP_PORT = 8080

PACKAGES = (
    "linux-image-amd64", "initramfs-tools", "udev", "systemd-sysv", "kmod", "ifupdown",
    "iproute2", "netbase", "openssh-server", "open-vm-tools", "grub-pc", "python3",
    "procps",
)
INITRAMFS_MODULES = ("ata_piix", "ahci", "sd_mod", "ext4")

APP_SCRIPT = '''#!/usr/bin/python3
"""legacy-app: the guest's business app (what the health check hits)."""
import json, socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"app": "legacy-app", "hostname": socket.gethostname(),
                           "ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", @PORT@), Handler).serve_forever()
'''.replace("@PORT@", str(APP_PORT))

APP_UNIT = """[Unit]
Description=legacy-app (the business app of this machine)
After=network.target

[Service]
ExecStart=/usr/local/bin/legacy-app
Restart=always

[Install]
WantedBy=multi-user.target
"""

# the files the build writes into the guest (relative to its root), part of the recipe
FILES: dict[str, str] = {
    "etc/hostname": f"{GUEST_HOSTNAME}\n",
    "etc/hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{GUEST_HOSTNAME}\n",
    "etc/fstab": "# <file system> <mount point> <type> <options> <dump> <pass>\n"
                 "/dev/sda1\t/\text4\terrors=remount-ro\t0\t1\n",
    # the build-time address; place_guest() rewrites it for each lab's network
    "etc/network/interfaces": "auto lo\niface lo inet loopback\n\n"
                              f"auto {GUEST_NIC}\niface {GUEST_NIC} inet static\n"
                              "    address 192.168.1.50/24\n    gateway 192.168.1.1\n",
    "etc/systemd/network/10-vmware-ens192.link":
        "# VMware names the NIC in PCI slot 192 ens192; here the e1000 gets that name\n"
        "[Match]\nDriver=e1000\n\n[Link]\nName=ens192\n",
    "etc/initramfs-tools/conf.d/legacy-modules": "MODULES=list\n",
    "etc/initramfs-tools/modules": "".join(f"{m}\n" for m in INITRAMFS_MODULES),
    "etc/default/grub":
        "GRUB_DEFAULT=0\nGRUB_TIMEOUT=1\nGRUB_DISTRIBUTOR=Debian\n"
        'GRUB_CMDLINE_LINUX_DEFAULT=""\n'
        'GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"\n'
        'GRUB_TERMINAL="console serial"\n'
        'GRUB_SERIAL_COMMAND="serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1"\n'
        "GRUB_DISABLE_LINUX_UUID=true\nGRUB_DISABLE_OS_PROBER=true\n",
    "etc/ssh/sshd_config.d/legacy.conf":
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n",
    "usr/local/bin/legacy-app": APP_SCRIPT,
    "etc/systemd/system/legacy-app.service": APP_UNIT,
    "etc/resolv.conf": "nameserver 192.168.1.1\n",
}
SYMLINKS: dict[str, str] = {
    "etc/systemd/system/multi-user.target.wants/legacy-app.service":
        "/etc/systemd/system/legacy-app.service",
}


@dataclass
class GuestImage:
    """A built legacy guest disk and what the lab needs to know about it."""

    path: str            # the cached qcow2
    recipe_hash: str
    hostname: str
    nic: str             # the NIC name inside the guest (ens192)
    app_port: int
    kernel: str          # e.g. 6.1.0-28-amd64
    host_keys: dict[str, str]   # key type -> public key line ("ssh-ed25519 AAAA...")
    virtio_in_initramfs: bool   # always False for the legacy recipe (checked at build)
    build_seconds: float
    virtual_size: int

    def to_dict(self) -> dict[str, object]:
        """Plain data (JSON)."""
        return asdict(self)


#: What running the legacy guest needs on this machine (building it also needs debootstrap).
RUN_TOOLS = ("qemu-system-x86_64", "qemu-img", "guestfish", "virsh", "socat")
LIBVIRTD = "/usr/sbin/libvirtd"


def why_no_guest() -> str | None:
    """Why this machine cannot run the real legacy guest (``None`` if it can): it needs
    root (the lab's netns mode, a private libvirtd), QEMU, libguestfs, virsh, socat and
    libvirtd, and ``debootstrap`` too unless the image is already cached."""
    if os.geteuid() != 0:
        return "it needs root (the lab's network namespaces and a private libvirtd)"
    tools = RUN_TOOLS if cached_image() else (*RUN_TOOLS, "debootstrap")
    missing = [t for t in tools if not shutil.which(t)]
    if not os.path.exists(LIBVIRTD):
        missing.append("libvirtd")
    if missing:
        return f"{', '.join(missing)} not installed (./scripts/setup installs them)"
    return None


def cached_image() -> GuestImage | None:
    """The legacy guest image if it is already built for the current recipe, else None."""
    h = recipe_hash()
    img, meta = cache_dir() / f"{h}.qcow2", cache_dir() / f"{h}.json"
    if img.exists() and meta.exists():
        return GuestImage(**json.loads(meta.read_text()))
    return None


def mirror() -> str:
    """The Debian mirror the guests are built from (``$SHANGYUN_GUEST_MIRROR``)."""
    return os.environ.get("SHANGYUN_GUEST_MIRROR", DEFAULT_MIRROR)


def cache_dir() -> Path:
    """Where built guests are kept (``$SHANGYUN_GUEST_CACHE``, else /var/cache/shangyun)."""
    return Path(os.environ.get("SHANGYUN_GUEST_CACHE", str(DEFAULT_CACHE)))


def recipe() -> dict[str, object]:
    """Everything that determines the built disk (its hash names the cached file)."""
    return {"version": RECIPE_VERSION, "suite": "bookworm", "variant": "minbase",
            "mirror": mirror(), "packages": list(PACKAGES), "files": FILES,
            "symlinks": SYMLINKS, "disk_size": DISK_SIZE, "grub_setup": GRUB_SETUP}


def recipe_hash() -> str:
    """16 hex digits of the SHA-256 of :func:`recipe` (canonical JSON)."""
    blob = json.dumps(recipe(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def guestfs_env() -> dict[str, str]:
    """The environment libguestfs needs here: direct backend, forced TCG (KVM is unusable)."""
    env = dict(os.environ)
    env.setdefault("LIBGUESTFS_BACKEND", "direct")
    env.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
    return env


#: Told (what the build is doing, percent done) while the guest image is built.
BuildProgress = Callable[[str, float], None]
#: The build's phases and the percent each starts at (debootstrap takes most of it).
PHASES = {"debootstrap": 0.0, "initramfs": 55.0, "tar": 62.0, "disk": 68.0, "done": 100.0}


@contextlib.contextmanager
def _locked(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (concurrent builders of one recipe wait;
    ``on_wait`` is called first if another holds it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_guest_image(*, log: Path | None = None,
                       progress: BuildProgress | None = None) -> GuestImage:
    """Return the cached legacy guest disk, building it first if missing (~4–6 min).

    Concurrent callers serialise on a lock file next to the image; the second one finds
    the finished disk and returns at once. ``progress`` is told each phase of a build
    (:data:`PHASES`) and of a wait for another builder.
    """
    h = recipe_hash()
    cache = cache_dir()
    img, meta = cache / f"{h}.qcow2", cache / f"{h}.json"

    def waiting() -> None:
        if progress is not None:
            progress("waiting for another build of the guest image", 0.0)

    with _locked(cache / f"{h}.lock", waiting):
        if img.exists() and meta.exists():
            return GuestImage(**json.loads(meta.read_text()))
        if os.geteuid() != 0:
            raise LabError("building the legacy guest needs root (debootstrap, chroot)")
        for tool in ("debootstrap", "qemu-img", "guestfish", "chroot"):
            if not shutil.which(tool):
                raise LabError(f"{tool} is not installed; run ./scripts/setup")
        cache.chmod(0o755)
        work = cache / f".build-{h}"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        try:
            guest = _build(work, h, img, log or cache / f"{h}.build.log", progress)
        finally:
            _unmount_under(work)
            if not _mounts_under(work):  # never delete through a mount (/proc, /dev, ...)
                shutil.rmtree(work, ignore_errors=True)
        meta.write_text(json.dumps(guest.to_dict(), indent=2) + "\n")
        return guest


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (from /proc/self/mounts), deepest first."""
    prefix = str(path.resolve())
    out = []
    with open("/proc/self/mounts") as fh:
        for line in fh:
            mnt = line.split()[1].replace("\\040", " ")
            if mnt == prefix or mnt.startswith(prefix + "/"):
                out.append(mnt)
    return sorted(out, key=len, reverse=True)


def _unmount_under(path: Path) -> None:
    """Lazily unmount everything mounted below ``path`` (a chroot's /proc, /sys, /dev)."""
    for mnt in _mounts_under(path):
        run(["umount", "-l", mnt], what=f"umount {mnt}", check=False)


def _logrun(cmd: list[str], *, what: str, log: Path, timeout: float,
            env: dict[str, str] | None = None) -> str:
    """Run a build command, append its output to ``log``; LabError with its tail if it fails."""
    with open(log, "a") as lf:
        lf.write(f"\n$ {' '.join(cmd)}\n")
        lf.flush()
        try:
            cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=timeout, env=env, check=False)
        except subprocess.TimeoutExpired:
            raise LabError(f"{what}: did not finish in {timeout:.0f} s (log: {log})") from None
        lf.write(cp.stdout)
    if cp.returncode != 0:
        raise LabError(f"{what} failed (exit {cp.returncode}): {cp.stdout.strip()[-600:]}")
    return cp.stdout


def _build(work: Path, h: str, out: Path, log: Path,
           progress: BuildProgress | None = None) -> GuestImage:
    """debootstrap, configure in a chroot, then make the bootable disk with libguestfs."""
    def phase(name: str, what: str) -> None:
        if progress is not None:
            progress(what, PHASES[name])

    t0 = time.monotonic()
    root = work / "root"
    phase("debootstrap", f"debootstrap of Debian 12 ({len(PACKAGES)} packages and their "
          "dependencies)")
    _logrun(["debootstrap", "--variant=minbase", "--components=main",
             f"--include={','.join(PACKAGES)}", "bookworm", str(root), mirror()],
            what="debootstrap of the legacy guest", log=log, timeout=1800)
    for rel, content in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink():
            p.unlink()
        p.write_text(content, encoding="utf-8")
    (root / "usr/local/bin/legacy-app").chmod(0o755)
    for rel, target in SYMLINKS.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink() or p.exists():
            p.unlink()
        p.symlink_to(target)
    # VMware Tools start at boot as on the source (they fail or skip off VMware)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    if not (wants / "open-vm-tools.service").is_symlink():
        (wants / "open-vm-tools.service").symlink_to("/lib/systemd/system/open-vm-tools.service")
    kernels = sorted(p.name.removeprefix("vmlinuz-") for p in (root / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise LabError(f"legacy guest build: expected one kernel in /boot, found {kernels}")
    kernel = kernels[0]
    phase("initramfs", "update-initramfs without virtio")
    run(["mount", "-t", "proc", "proc", str(root / "proc")], what="mount /proc (chroot)")
    try:
        _logrun(["chroot", str(root), "update-initramfs", "-u", "-k", kernel],
                what="update-initramfs (no virtio) in the legacy guest", log=log, timeout=600)
    finally:
        _unmount_under(root)
    listing = _logrun(["lsinitramfs", str(root / "boot" / f"initrd.img-{kernel}")],
                      what="lsinitramfs", log=Path(os.devnull), timeout=120)
    virtio = any("virtio" in line.rsplit("/", 1)[-1] for line in listing.splitlines())
    if virtio:
        raise LabError("legacy guest build: the initramfs still holds virtio drivers")
    host_keys = {}
    for pub in sorted((root / "etc/ssh").glob("ssh_host_*_key.pub")):
        parts = pub.read_text().split()
        host_keys[parts[0]] = f"{parts[0]} {parts[1]}"
    if "ssh-ed25519" not in host_keys:
        raise LabError("legacy guest build: openssh-server made no ed25519 host key")
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                 "usr/share/man", "usr/share/info"):
        d = root / junk
        if d.is_dir():
            for child in d.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()
    phase("tar", "packing the root file system")
    tarball = work / "root.tar"
    _logrun(["tar", "--numeric-owner", "--xattrs", "--acls", "-C", str(root), "-cf",
             str(tarball), "."], what="tar of the legacy guest", log=log, timeout=600)
    shutil.rmtree(root)
    tmp = work / "disk.qcow2"
    _logrun(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp), DISK_SIZE],
            what="qemu-img create", log=log, timeout=60)
    grub_script = work / "grub-setup.sh"
    grub_script.write_text(GRUB_SETUP)
    script = "\n".join([
        f"add {tmp} format:qcow2",
        "run",
        "part-disk /dev/sda mbr",
        "part-set-bootable /dev/sda 1 true",
        "mkfs ext4 /dev/sda1",
        "mount /dev/sda1 /",
        f"tar-in {tarball} / xattrs:true acls:true",
        f"upload {grub_script} /root/.grub-setup.sh",
        "command \"/bin/sh /root/.grub-setup.sh\"",
        "umount-all",
        "shutdown",
        "",
    ])
    phase("disk", "disk, ext4 and GRUB (libguestfs)")
    script_file = work / "disk.guestfish"
    script_file.write_text(script)
    _logrun(["guestfish", "-f", str(script_file)], what="guestfish (disk, GRUB) for the "
            "legacy guest", log=log, timeout=1800, env=guestfs_env())
    tmp.chmod(0o644)
    tmp.replace(out)
    phase("done", "guest image built")
    size = json.loads(run(["qemu-img", "info", "--output=json", str(out)],
                          what="qemu-img info").stdout)["virtual-size"]
    return GuestImage(path=str(out), recipe_hash=h, hostname=GUEST_HOSTNAME, nic=GUEST_NIC,
                      app_port=APP_PORT, kernel=kernel, host_keys=host_keys,
                      virtio_in_initramfs=virtio, build_seconds=round(time.monotonic() - t0, 1),
                      virtual_size=int(size))


# GRUB goes onto the disk holding the guest's root, named as the appliance's kernel names
# it: libguestfs translates "/dev/sda" in its own calls, but a command run in the guest
# sees the kernel's names, and the appliance's disks are probed in no fixed order (its
# own disk was /dev/sda in some runs, and GRUB then refused: "embedding is not possible …
# cross-disk install"). The device map makes GRUB's hd0 that disk, then goes.
GRUB_SETUP = """\
set -eu
src=$(awk '$2 == "/" { print $1 }' /proc/mounts | tail -n 1)
disk=$(printf '%s\\n' "$src" | sed 's/[0-9]*$//')
test -b "$disk"
mkdir -p /boot/grub
printf '(hd0) %s\\n' "$disk" > /boot/grub/device.map
grub-install --target=i386-pc "$disk"
update-grub
# update-grub writes root= as the appliance's kernel names the disk (/dev/sdb1 when the
# appliance's own disk came first: that image could not boot, "ALERT! /dev/sdb1 does not
# exist"); the VMware-era machine boots from /dev/sda1, its only disk
sed -i -E "s#root=$src([[:space:]])#root=/dev/sda1\\1#g" /boot/grub/grub.cfg
bad=$(grep -o 'root=/dev/[^[:space:]]*' /boot/grub/grub.cfg | grep -v '^root=/dev/sda1$' || true)
if [ -n "$bad" ] || ! grep -q 'root=/dev/sda1' /boot/grub/grub.cfg; then
  echo "grub.cfg: root= is not /dev/sda1: $bad" >&2
  exit 1
fi
rm -f /boot/grub/device.map /root/.grub-setup.sh
"""


def host_key_fingerprint(pub_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a public key line (``SHA256:...``)."""
    blob = base64.b64decode(pub_line.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def copy_disk(image: GuestImage, dest: Path) -> Path:
    """A full, standalone qcow2 copy of the cached disk at ``dest`` (never edit the cache)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    run(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2", image.path, str(tmp)],
        what=f"copy of the legacy guest to {dest}", timeout=600)
    tmp.replace(dest)
    return dest


def interfaces_file(ip: str, prefix: int, gateway: str, nic: str = GUEST_NIC) -> str:
    """The guest's ``/etc/network/interfaces`` (ifupdown, static) for one address."""
    return ("auto lo\niface lo inet loopback\n\n"
            f"auto {nic}\niface {nic} inet static\n"
            f"    address {ip}/{prefix}\n    gateway {gateway}\n")


def _placement(image: GuestImage, *, ip: str, prefix: int, gateway: str,
               authorized_key: str) -> str:
    return json.dumps({"image": image.recipe_hash, "ip": ip, "prefix": prefix,
                       "gateway": gateway, "key": authorized_key}, sort_keys=True)


def is_placed(image: GuestImage, dest: Path, *, ip: str, prefix: int, gateway: str,
              authorized_key: str) -> bool:
    """Whether ``dest`` is the lab's copy of ``image`` with these settings (its stamp says)."""
    stamp = dest.with_name(dest.name + ".stamp")
    return dest.exists() and stamp.exists() and stamp.read_text() == _placement(
        image, ip=ip, prefix=prefix, gateway=gateway, authorized_key=authorized_key)


def place_guest(image: GuestImage, dest: Path, *, ip: str, prefix: int, gateway: str,
                authorized_key: str) -> Path:
    """The lab's own copy of the guest at ``dest``, addressed for the lab's network.

    Writes (with libguestfs, on the copy) the static address, gateway and resolver, and
    root's ``authorized_keys``. Reused as is when ``dest`` was made for the same image and
    settings (a stamp beside it records them), so a second ``lab up`` costs nothing.
    """
    settings = _placement(image, ip=ip, prefix=prefix, gateway=gateway,
                          authorized_key=authorized_key)
    if is_placed(image, dest, ip=ip, prefix=prefix, gateway=gateway,
                 authorized_key=authorized_key):
        return dest
    stamp = dest.with_name(dest.name + ".stamp")
    stamp.unlink(missing_ok=True)
    work = dest.with_name(f".{dest.name}.files")
    work.mkdir(parents=True, exist_ok=True)
    try:
        tmp = copy_disk(image, dest.with_name(f".{dest.name}.placing"))
        (work / "interfaces").write_text(interfaces_file(ip, prefix, gateway))
        (work / "resolv.conf").write_text(f"nameserver {gateway}\n")
        (work / "authorized_keys").write_text(authorized_key.strip() + "\n")
        script = "\n".join([
            f"add {tmp} format:qcow2", "run", "mount /dev/sda1 /",
            f"upload {work / 'interfaces'} /etc/network/interfaces",
            f"upload {work / 'resolv.conf'} /etc/resolv.conf",
            "mkdir-p /root/.ssh", "chmod 0700 /root/.ssh",
            f"upload {work / 'authorized_keys'} /root/.ssh/authorized_keys",
            "chmod 0600 /root/.ssh/authorized_keys", "umount-all", "shutdown", ""])
        (work / "place.guestfish").write_text(script)
        _logrun(["guestfish", "-f", str(work / "place.guestfish")],
                what=f"guestfish (address {ip}) for {dest}", log=work / "place.log",
                timeout=600, env=guestfs_env())
        tmp.replace(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stamp.write_text(settings)
    return dest
