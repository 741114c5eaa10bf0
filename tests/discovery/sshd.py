"""Real sshd instances on 127.0.0.1 ports, each with its own host key, for tests and the
benchmark. Key-only login with one client key; everything lives under one temp folder."""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it


def _die_with_parent(parent: int) -> None:
    """``preexec_fn`` of every sshd: the kernel sends it SIGTERM when the process that
    started it dies, however it dies (a ``kill -9`` of pytest included), so no listener
    outlives its test session. The signal survives the exec of sshd (and of a wrapper
    that execs it: ``unshare``, ``sh -c 'exec …'``); it is tied to the starting thread,
    and the farm is started from pytest's main thread. Should the parent be gone already
    (before the flag was set), the child ends at once."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port free on ``address`` right now."""
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> str:
    """Make a key pair at ``path`` (no passphrase); returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", str(path)],
                   check=True)
    return Path(f"{path}.pub").read_text().strip()


@dataclass
class Sshd:
    """One running sshd."""

    address: str
    port: int
    folder: Path
    proc: subprocess.Popen[bytes]
    host_pub: str

    def known_hosts_line(self) -> str:
        """This server's known_hosts line."""
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{name} {self.host_pub}"


class SshdFarm:
    """Start and stop many sshd; ``client_key`` logs in as root on all of them."""

    def __init__(self, root: Path, max_startups: int = 400) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        self.client_key = root / "id_client"
        pub = keygen(self.client_key)
        (root / "authorized_keys").write_text(pub + "\n")
        os.chmod(root / "authorized_keys", 0o600)
        self.max_startups = max_startups
        self.servers: list[Sshd] = []

    def start(self, n: int, address: str = "127.0.0.1", *, authorized_keys: Path | None = None,
              forwarding: bool = True, wrapper: Sequence[str] = ()) -> list[Sshd]:
        """Start ``n`` sshd on free ports of ``address`` and wait until each accepts.

        ``authorized_keys`` replaces the farm's (to make a host refuse the client key);
        ``forwarding=False`` forbids TCP forwarding (a jump host that cannot tunnel);
        ``wrapper`` runs sshd through a command that execs it (e.g. ``nsenter`` into a
        mount namespace, so its sessions see that namespace's files)."""
        new: list[Sshd] = []
        for _ in range(n):
            port = free_port(address)
            folder = self.root / f"sshd-{port}"
            folder.mkdir()
            pub = keygen(folder / "host_ed25519")
            cfg = folder / "sshd_config"
            cfg.write_text("\n".join([
                f"Port {port}", f"ListenAddress {address}",
                f"HostKey {folder / 'host_ed25519'}", f"PidFile {folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized_keys or self.root / 'authorized_keys'}",
                "StrictModes no",
                "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "UsePAM no",
                "AllowAgentForwarding no", f"AllowTcpForwarding {'yes' if forwarding else 'no'}",
                f"MaxStartups {self.max_startups}", "MaxSessions 50", "LogLevel ERROR", "",
            ]))
            proc = subprocess.Popen([*wrapper, SSHD, "-D", "-e", "-f", str(cfg)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    preexec_fn=functools.partial(_die_with_parent, os.getpid()))
            srv = Sshd(address, port, folder, proc, pub)
            new.append(srv)
            self.servers.append(srv)
        for srv in new:
            _wait_port(srv.address, srv.port, srv.proc)
        return new

    def write_known_hosts(self, servers: list[Sshd], path: Path | None = None) -> Path:
        """A known_hosts file listing ``servers``."""
        path = path or self.root / "known_hosts"
        path.write_text("".join(s.known_hosts_line() + "\n" for s in servers))
        return path

    def stop(self) -> None:
        """Stop every sshd this farm started (by pid) and remove the folder."""
        for srv in self.servers:
            if srv.proc.poll() is None:
                srv.proc.terminate()
        for srv in self.servers:
            try:
                srv.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                srv.proc.kill()
                srv.proc.wait(timeout=5)
        self.servers.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _wait_port(address: str, port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd on {address}:{port} exited with {proc.returncode}")
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd on {address}:{port} did not start in 10 s")


@contextmanager
def one_sshd(prefix: str) -> Iterator[SshdFarm]:
    """One real sshd on 127.0.0.1 (known_hosts written) in a fresh ``prefix…`` folder."""
    farm = SshdFarm(Path(tempfile.mkdtemp(prefix=prefix)))
    farm.start(1)
    farm.write_known_hosts(farm.servers)
    try:
        yield farm
    finally:
        farm.stop()
