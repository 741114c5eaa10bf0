"""libguestfs as a connector: inspect a guest's disks and apply an adaptation plan to them.

Uses libguestfs' Python binding (``python3-guestfs``, Debian's system Python only: the venv
reaches it through a ``.pth`` file ``scripts/setup`` writes after checking the ABI tag;
docs/guests.md). The binding, not ``guestfish`` processes, because one appliance session
does the whole adaptation — inspect, read files, edit, run the guest's own
``update-initramfs``/``dracut``, digest every changed file — and booting the appliance is
the expensive part under TCG (seconds to tens of seconds). The policy is not here: the
caller passes the plan (:func:`shangyun.guests.policy.decide`).

The appliance runs with ``LIBGUESTFS_BACKEND=direct`` (no libvirtd needed) and, unless
``SHANGYUN_GUESTFS_KVM=1``, ``force_tcg`` (on these machines ``/dev/kvm`` exists but cannot
run guests). Environment values set by the caller win.

Guarantees: :class:`GuestSession` opens the disks it is given and nothing else; the caller
gives it the *converted copy* (an overlay on it, in practice), never a source image. Every
applied edit is returned with the SHA-256 of each file it touched, before and after.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

try:  # python3-guestfs, see the module docstring; without it only image_head works
    import guestfs  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    guestfs = None

from shangyun.errors import ConnectorError, check_not_interrupted
from shangyun.guests.model import AdaptPlan, EditRecord, GuestFacts
from shangyun.guests.policy import (
    NETWORK_DIRS,
    READ_FILES,
    UNINSTALLERS,
    VIRTIO_WANTED,
)
from shangyun.guests.texts import device_aliases

MAX_TEXT = 1 << 20
"""Configuration files larger than this are not read (a policy input is small)."""
INITRD_TOOLS = ("update-initramfs", "dracut", "mkinitrd")
TOOL_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
INITRD_NAMES = ("/boot/initrd.img-{k}", "/boot/initramfs-{k}.img", "/boot/initrd-{k}",
                "/boot/initrd-{k}.img")
NETWORK_FILE_PREFIXES = {"/etc/network/interfaces.d": "", "/etc/sysconfig/network-scripts":
                         "ifcfg-", "/etc/sysconfig/network": "ifcfg-",
                         "/etc/NetworkManager/system-connections": "", "/etc/netplan": ""}
APPLIANCE_MEMORY_MB = 1024
COMMAND_TIMEOUT = 1800


class GuestfsError(ConnectorError):
    """libguestfs failed on a guest (the message names the disk or edit)."""


def environment() -> dict[str, str]:
    """The libguestfs settings this connector uses (see the module docstring)."""
    env = {"LIBGUESTFS_BACKEND": os.environ.get("LIBGUESTFS_BACKEND", "direct")}
    if "LIBGUESTFS_BACKEND_SETTINGS" in os.environ:
        env["LIBGUESTFS_BACKEND_SETTINGS"] = os.environ["LIBGUESTFS_BACKEND_SETTINGS"]
    elif os.environ.get("SHANGYUN_GUESTFS_KVM") != "1":
        env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg"
    return env


class GuestSession:
    """One libguestfs appliance on a guest's disks (``(path, format)`` in the guest's disk
    order). Use as a context manager; :meth:`inspect`, then :meth:`apply` a plan."""

    def __init__(self, disks: Sequence[tuple[str, str]], *, readonly: bool = False) -> None:
        self.disks = [(str(p), f) for p, f in disks]
        self.readonly = readonly
        self._g: Any = None
        self._root = ""

    def __enter__(self) -> GuestSession:
        if guestfs is None:
            raise GuestfsError("libguestfs' Python binding is not importable: install "
                               "python3-guestfs and run scripts/setup (docs/guests.md)")
        env = environment()
        g = guestfs.GuestFS(python_return_dict=True)
        try:
            g.set_backend(env["LIBGUESTFS_BACKEND"])
            if env.get("LIBGUESTFS_BACKEND_SETTINGS"):
                g.set_backend_settings(env["LIBGUESTFS_BACKEND_SETTINGS"].split(":"))
            g.set_memsize(APPLIANCE_MEMORY_MB)
            g.set_network(False)
            for path, fmt in self.disks:
                g.add_drive_opts(path, format=fmt, readonly=self.readonly)
            g.launch()
        except RuntimeError as exc:
            g.close()
            raise GuestfsError(f"libguestfs could not open {', '.join(p for p, _ in self.disks)}"
                               f": {exc}") from exc
        self._g = g
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Unmount, sync and stop the appliance (safe twice)."""
        g, self._g = self._g, None
        if g is None:
            return
        try:
            if self._root and not self.readonly:
                g.umount_all()
            g.shutdown()
        except RuntimeError as exc:
            raise GuestfsError(f"libguestfs: closing {self.disks[0][0]}: {exc}") from exc
        finally:
            g.close()

    @property
    def g(self) -> Any:
        """The open libguestfs handle."""
        if self._g is None:
            raise GuestfsError("the libguestfs session is not open")
        return self._g

    # ------------------------------------------------------------------ inspection

    def inspect(self) -> GuestFacts:
        """What is on the disks; mounts the operating system's filesystems when one is
        found (read-write unless the session is read-only)."""
        g = self.g
        fss: dict[str, str] = g.list_filesystems()
        encrypted = self._encrypted(fss)
        filesystems = tuple(sorted(f"{d}:{t}" for d, t in fss.items() if t != "unknown"))
        try:
            roots = list(g.inspect_os())
        except RuntimeError as exc:
            raise GuestfsError(f"libguestfs inspection failed: {exc}") from exc
        if len(roots) != 1:
            return GuestFacts(os_type="none" if not roots else "multiple", roots=len(roots),
                              encrypted=encrypted, filesystems=filesystems)
        root = self._root = roots[0]
        os_type = str(g.inspect_get_type(root))
        base = GuestFacts(os_type=os_type, distro=str(g.inspect_get_distro(root)),
                          major=int(g.inspect_get_major_version(root)),
                          minor=int(g.inspect_get_minor_version(root)),
                          product=str(g.inspect_get_product_name(root)),
                          hostname=str(g.inspect_get_hostname(root)),
                          package_format=str(g.inspect_get_package_format(root)),
                          roots=1, encrypted=encrypted, filesystems=filesystems)
        if os_type != "linux":
            return base
        self._mount(root)
        kernels = self._kernels()
        mods, builtin = {}, {}
        for k in kernels:
            mods[k] = self._virtio(f"/lib/modules/{k}/modules.dep")
            builtin[k] = self._virtio(f"/lib/modules/{k}/modules.builtin")
        initrds = {}
        for k in kernels:
            for pattern in INITRD_NAMES:
                if g.is_file(pattern.format(k=k), followsymlinks=True):
                    initrds[k] = pattern.format(k=k)
                    break
        return GuestFacts(
            **{**base.__dict__, "init": "systemd" if any(
                g.exists(p) for p in ("/lib/systemd/systemd", "/usr/lib/systemd/systemd"))
                else "sysv",
               "packages": self._packages(root),
               "uninstallers": tuple(p for p in UNINSTALLERS if g.exists(p)),
               "initrd_tools": tuple(t for t in INITRD_TOOLS
                                     if any(g.exists(f"{d}/{t}") for d in TOOL_DIRS)),
               "kernels": tuple(kernels), "kernel_modules": mods, "kernel_builtin": builtin,
               "initrds": initrds, "devices": self._devices(fss), "files": self._files()})

    def _encrypted(self, fss: dict[str, str]) -> tuple[str, ...]:
        """LUKS devices (``list_filesystems`` leaves them out until they are opened)."""
        g = self.g
        found = {d for d, t in fss.items() if t == "crypto_LUKS"}
        for dev in [*g.list_devices(), *g.list_partitions()]:
            try:
                if g.vfs_type(dev) == "crypto_LUKS":
                    found.add(dev)
            except RuntimeError:
                continue
        return tuple(sorted(found))

    def _mount(self, root: str) -> None:
        g = self.g
        mps: dict[str, str] = g.inspect_get_mountpoints(root)
        for mp in sorted(mps, key=len):
            try:
                if self.readonly:
                    g.mount_ro(mps[mp], mp)
                else:
                    g.mount(mps[mp], mp)
            except RuntimeError as exc:
                if mp == "/":
                    raise GuestfsError(f"cannot mount the guest's root {mps[mp]}: {exc}") \
                        from exc

    def _kernels(self) -> list[str]:
        g = self.g
        if not g.is_dir("/lib/modules", followsymlinks=True):
            return []
        return sorted(k for k in g.ls("/lib/modules")
                      if g.is_dir(f"/lib/modules/{k}", followsymlinks=True)
                      and g.is_file(f"/lib/modules/{k}/modules.dep", followsymlinks=True))

    def _virtio(self, path: str) -> tuple[str, ...]:
        g = self.g
        if not g.is_file(path, followsymlinks=True):
            return ()
        try:
            lines = g.grep("virtio", path)
        except RuntimeError:
            return ()
        names = set()
        for line in lines:
            name = posixpath.basename(line.split(":", 1)[0])
            for ext in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
                name = name.removesuffix(ext)
            names.add(name.replace("-", "_"))
        return tuple(sorted(n for n in names if n in VIRTIO_WANTED or n.startswith("virtio")))

    def _packages(self, root: str) -> tuple[str, ...]:
        try:
            apps = self.g.inspect_list_applications2(root)
        except RuntimeError:
            return ()
        return tuple(sorted({str(a["app2_name"]) for a in apps}))

    def _devices(self, fss: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for dev, fstype in fss.items():
            if fstype in ("unknown", "crypto_LUKS"):
                continue
            try:
                uuid = str(self.g.vfs_uuid(dev))
            except RuntimeError:
                continue
            if uuid:
                for alias in device_aliases(dev):
                    out[alias] = uuid
        return out

    def _files(self) -> dict[str, str]:
        g = self.g
        paths = list(READ_FILES)
        for folder in NETWORK_DIRS:
            if g.is_dir(folder, followsymlinks=True):
                prefix = NETWORK_FILE_PREFIXES.get(folder, "")
                paths += [f"{folder}/{n}" for n in sorted(g.ls(folder)) if n.startswith(prefix)]
        out = {}
        for p in paths:
            if g.is_file(p, followsymlinks=True) and g.filesize(p) <= MAX_TEXT:
                out[p] = bytes(g.read_file(p)).decode("utf-8", errors="replace")
        return out

    # ------------------------------------------------------------------ edits

    def digest(self, path: str) -> str:
        """The SHA-256 of guest file ``path``, or ``absent``."""
        g = self.g
        if not g.is_file(path, followsymlinks=True):
            return "absent"
        return str(g.checksum("sha256", path))

    def apply(self, plan: AdaptPlan) -> list[EditRecord]:
        """Make ``plan``'s edits in order; each recorded with its files' digests. Raises
        :class:`GuestfsError` naming the edit that failed (earlier edits are in the
        session's disks: the caller discards the adapted copy)."""
        g = self.g
        records = []
        for edit in plan.edits:
            paths = (edit.path,) if edit.kind == "write" else edit.watch
            before = {p: self.digest(p) for p in paths}
            try:
                if edit.kind == "write":
                    parent = posixpath.dirname(edit.path)
                    if not g.is_dir(parent, followsymlinks=True):
                        g.mkdir_p(parent)
                    g.write(edit.path, edit.text.encode())
                else:
                    g.command(list(edit.argv))
            except RuntimeError as exc:
                raise GuestfsError(f"guest edit failed: {edit.describe()} ({edit.why}): "
                                   f"{' '.join(str(exc).split())[:1500]}") from exc
            after = {p: self.digest(p) for p in paths}
            records.append(EditRecord(
                edit.why, edit.describe(),
                tuple((p, before[p], "removed" if after[p] == "absent" and before[p] != "absent"
                       else after[p]) for p in paths)))
        g.sync()
        return records

    def initrd_listing(self, path: str) -> list[str]:
        """The file names inside guest initramfs ``path`` (copied out and listed by the
        host's ``lsinitramfs``, which reads early-microcode archives and every
        compression Debian and RHEL use)."""
        tool = shutil.which("lsinitramfs")
        if tool is None:
            raise GuestfsError("lsinitramfs is not installed (Debian: initramfs-tools-core)")
        with tempfile.TemporaryDirectory(prefix="shangyun-initrd-") as tmp:
            local = Path(tmp) / "initrd"
            self.g.download(path, str(local))
            res = subprocess.run([tool, str(local)], capture_output=True, text=True,
                                 timeout=COMMAND_TIMEOUT, check=False)
        check_not_interrupted(res.returncode, f"{tool} {path}")
        if res.returncode:
            raise GuestfsError(f"lsinitramfs {path}: {res.stderr.strip()[-500:]}")
        return res.stdout.splitlines()


def image_head(path: str | os.PathLike[str], fmt: str, size: int = 1 << 20) -> bytes:
    """The first ``size`` guest-visible bytes of image ``path`` (``qemu-img dd``; no
    appliance), for :func:`shangyun.guests.probe.signatures`."""
    tool = shutil.which("qemu-img")
    if tool is None:
        raise GuestfsError("qemu-img is not installed (Debian: qemu-utils)")
    with tempfile.TemporaryDirectory(prefix="shangyun-head-") as tmp:
        out = Path(tmp) / "head.raw"
        res = subprocess.run([tool, "dd", "-f", fmt, "-O", "raw", f"if={path}", f"of={out}",
                              f"bs={size}", "count=1"], capture_output=True, text=True,
                             timeout=120, check=False)
        check_not_interrupted(res.returncode, f"qemu-img dd {path}")
        if res.returncode:
            raise GuestfsError(f"qemu-img dd {path}: {res.stderr.strip()[-500:]}")
        return out.read_bytes()


def create_overlay(base: str | os.PathLike[str], base_format: str,
                   out: str | os.PathLike[str]) -> Path:
    """A new qcow2 ``out`` whose backing file is ``base`` (read-only through it): edits go
    to ``out``, ``base`` is never written. ``out`` must sit in ``base``'s folder (the image
    containment rule of :mod:`connectors.qemu` reads backing files only there)."""
    tool = shutil.which("qemu-img")
    if tool is None:
        raise GuestfsError("qemu-img is not installed (Debian: qemu-utils)")
    b, o = Path(base), Path(out)
    if b.resolve().parent != o.resolve().parent:
        raise GuestfsError(f"overlay {o} must be in the folder of {b}")
    # a name with a colon ("legacy-web01:sda.qcow2", as discovery names a domain's disk)
    # would read as a protocol: "./" keeps it a file beside the overlay
    backing = f"./{b.name}" if ":" in b.name else b.name
    res = subprocess.run([tool, "create", "-q", "-f", "qcow2", "-b", backing, "-F", base_format,
                          str(o)], capture_output=True, text=True, timeout=120, check=False)
    check_not_interrupted(res.returncode, f"qemu-img create {o}")
    if res.returncode:
        raise GuestfsError(f"qemu-img create {o}: {res.stderr.strip()[-500:]}")
    return o
