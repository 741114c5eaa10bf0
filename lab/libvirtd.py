"""A private, real libvirtd (QEMU driver) for one lab folder.

``libvirtd`` running as root always uses the system paths (``/run/libvirt``,
``/var/lib/libvirt``, ``/etc/libvirt``, ...), so two of them would share their domains. The
lab runs each of its daemons in its own *mount namespace* (``unshare -m``) where those five
folders are bind mounts of folders inside the lab (``<folder>/{etc,run,lib,cache,log}``).
Its socket is therefore ``<folder>/run/libvirt-sock`` and its URI::

    qemu:///system?socket=<folder>/run/libvirt-sock

Nothing else on the machine sees its domains, networks or pools; stopping it (by pid)
and its QEMU processes (by the pid files it writes) leaves nothing behind. Guests run
under TCG: this machine's ``/dev/kvm`` cannot run them, so domains are ``type='qemu'``.
The daemon's settings (``qemu.conf``) run QEMU as root with no security driver, no cgroups
and console/stdio logs to files: a lab setting.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

from lab.hosts import pid_alive, run, stop_pids
from lab.state import LabError

SUBDIRS = {"etc": "/etc/libvirt", "run": "/run/libvirt", "lib": "/var/lib/libvirt",
           "cache": "/var/cache/libvirt", "log": "/var/log/libvirt"}

QEMU_CONF = """# shangyun lab: a private libvirtd (see lab/libvirtd.py)
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "file"
cgroup_controllers = [ ]
"""
LIBVIRTD_CONF = """# shangyun lab: a private libvirtd (see lab/libvirtd.py)
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
"""


def uri(folder: Path) -> str:
    """The URI of the daemon kept in ``folder``."""
    return f"qemu:///system?socket={folder / 'run' / 'libvirt-sock'}"


def _prepare(folder: Path) -> None:
    for sub in SUBDIRS:
        (folder / sub).mkdir(parents=True, exist_ok=True)
    etc = folder / "etc"
    (etc / "qemu.conf").write_text(QEMU_CONF)
    (etc / "libvirtd.conf").write_text(LIBVIRTD_CONF)
    for name in ("libvirt.conf", "virtlogd.conf"):
        src = Path("/etc/libvirt") / name
        if src.exists() and not (etc / name).exists():
            shutil.copy(src, etc / name)
    mounts = "\n".join(f"mount --bind {folder / sub} {target}"
                       for sub, target in SUBDIRS.items())
    (folder / "start.sh").write_text(
        "set -e\n# runs inside `unshare -m`: this daemon's own view of libvirt's folders\n"
        f"mount --make-rprivate /\n{mounts}\n"
        "exec /usr/sbin/libvirtd -f /etc/libvirt/libvirtd.conf "
        "--pid-file /run/libvirt/libvirtd.pid\n")


def alive(folder: Path, pid: int) -> bool:
    """Whether the daemon started for ``folder`` with ``pid`` still runs and answers."""
    return pid_alive(pid) and (folder / "run" / "libvirt-sock").exists()


def start(folder: Path, pid: int = 0, timeout: float = 30.0) -> int:
    """Start the private libvirtd kept in ``folder`` (unless ``pid`` is it, alive); its pid."""
    if pid and alive(folder, pid):
        return pid
    if not Path("/usr/sbin/libvirtd").exists():
        raise LabError("/usr/sbin/libvirtd is missing; run ./scripts/setup "
                       "(libvirt-daemon-system, libvirt-daemon-driver-qemu)")
    for target in SUBDIRS.values():  # mount points must exist outside too
        Path(target).mkdir(parents=True, exist_ok=True)
    _prepare(folder)
    sock = folder / "run" / "libvirt-sock"
    sock.unlink(missing_ok=True)
    log = open(folder / "libvirtd.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        p = subprocess.Popen(["unshare", "-m", "/bin/bash", str(folder / "start.sh")],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, close_fds=True)
    finally:
        log.close()
    p.returncode = 0  # detached on purpose: `lab down` stops it by pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sock.exists():
            probe = run(["virsh", "-c", uri(folder), "version"], what="libvirtd", check=False,
                        timeout=20)
            if probe.returncode == 0:
                (folder / "libvirtd.pid").write_text(f"{p.pid}\n")
                return p.pid
        if not pid_alive(p.pid):
            break
        time.sleep(0.2)
    stop_pids([p.pid])
    tail = (folder / "libvirtd.log").read_text(errors="replace")[-600:]
    raise LabError(f"private libvirtd in {folder} did not come up: {tail}")


def recorded_pid(folder: Path) -> int:
    """The pid ``start`` recorded in ``folder`` (0 if none)."""
    try:
        return int((folder / "libvirtd.pid").read_text().strip())
    except (OSError, ValueError):
        return 0


def qemu_pids(folder: Path) -> list[int]:
    """The QEMU processes this daemon started (from its pid files)."""
    out = []
    for f in (folder / "run" / "qemu").glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            out.append(int(f.read_text().strip()))
    return [p for p in out if pid_alive(p)]


def stop(folder: Path, pid: int) -> list[int]:
    """Stop the daemon and every QEMU it started; return pids that would not die."""
    vms = qemu_pids(folder)
    left = stop_pids([p for p in [*vms, pid] if p])
    (folder / "libvirtd.pid").unlink(missing_ok=True)
    (folder / "run" / "libvirt-sock").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        for f in (folder / "run" / "qemu").glob("*.pid"):
            f.unlink()
    return left


__all__ = ["alive", "qemu_pids", "recorded_pid", "start", "stop", "uri"]
