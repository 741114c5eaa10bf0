"""Files by rsync over SSH, with end-to-end SHA-256 verification.

``sync`` pulls a folder of a source host into a local target folder
(``rsync -rlpt --checksum --delete -e "ssh -i KEY -o UserKnownHostsFile=KH
-o StrictHostKeyChecking=yes …" -- SRC DST``): the first call is the initial copy while the source
runs, a later call is the final delta at cutover. ``verify`` then checks twice: an rsync
``--dry-run --checksum --itemize-changes`` pass must list nothing, and a SHA-256 manifest
of every source file (``sha256sum`` run on the source host) must equal the target's.
``remove_copy`` (the undo) deletes only a target folder that carries our marker file.

Host keys come only from the given known_hosts file (an unknown or changed key is refused,
never added); login is key-only in batch mode, with no agent forwarding.

Nothing from the source becomes an option or a privilege here (docs/safety.md): ``user`` and
``host`` are checked when an :class:`SshSource` is made (a name starting with ``-`` is
refused), every name handed to rsync or ssh comes after ``--``, remote names are not split
by the remote shell (``--protect-args``), and what lands is plain data: no devices, no
special files (fifos, sockets), no owners or groups (the files belong to whoever runs
shangyun), and no setuid/setgid bits (``--chmod=ugo-s``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from shangyun.digest import digest_file
from shangyun.errors import (
    AuthError,
    ConnectorError,
    HostKeyError,
    StepError,
    TransientError,
    VerificationError,
    interruption,
)

MARKER = ".shangyun-sync"
_FILTER = [f"--filter=P /{MARKER}", f"--filter=- /{MARKER}"]
# -a without -o -g -D: no owners, groups, devices or specials; setuid/setgid bits dropped
_PLAIN_DATA = ["-rlpt", "--no-owner", "--no-group", "--no-devices", "--no-specials",
               "--chmod=ugo-s", "--protect-args"]
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}")
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def check_login(user: str, host: str) -> None:
    """Refuse a ``user``/``host`` that ssh or rsync could read as anything but a login:
    a user is a POSIX login name, a host a DNS name or an IP address (never ``-…``)."""
    if not _USER.fullmatch(user):
        raise StepError(f"ssh user {user!r} is not a login name ([A-Za-z_][A-Za-z0-9._-]*); "
                        "refused")
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host):
        raise StepError(f"ssh host {host!r} is neither a host name nor an IP address; refused")


@dataclass(frozen=True)
class SshSource:
    """A folder on a source host reached by SSH (key file and known_hosts file by path)."""

    host: str
    port: int
    user: str
    key_file: str
    known_hosts: str
    path: str
    connect_timeout: int = 10

    def __post_init__(self) -> None:
        check_login(self.user, self.host)
        if not self.path or "\0" in self.path or "\n" in self.path:
            raise StepError(f"source path {self.path!r} on {self.host}: empty or with a "
                            "NUL/newline; refused")

    def login(self) -> str:
        """``user@host`` (IPv6 addresses in brackets for rsync)."""
        return f"{self.user}@{self.host}"

    def where(self) -> str:
        """``user@host:port:path`` for messages."""
        return f"{self.user}@{self.host}:{self.port}:{self.path}"

    def ssh_argv(self) -> list[str]:
        """The ssh command: strict host keys from our file only, key-only, batch mode."""
        return ["ssh", "-F", "/dev/null", "-p", str(self.port), "-i", self.key_file,
                "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "ForwardAgent=no", "-o", "ForwardX11=no",
                "-o", "PasswordAuthentication=no",
                "-o", f"ConnectTimeout={self.connect_timeout}"]

    def rsync_remote(self) -> str:
        """The rsync source spec: the folder's contents."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:{self.path.rstrip('/')}/"


@dataclass
class FileSyncResult:
    """What one sync did, for the journal."""

    target: str
    files: int
    bytes: int
    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Devices, fifos and sockets of the source that were not copied (never are)."""

    def to_dict(self) -> dict[str, object]:
        """Plain data for the journal (a long change list is cut to its first 200)."""
        return {"target": self.target, "files": self.files, "bytes": self.bytes,
                "changed": self.changed[:200], "changed_count": len(self.changed),
                "skipped": self.skipped[:200]}


def _fail(what: str, proc: subprocess.CompletedProcess[bytes]) -> ConnectorError:
    if (stop := interruption(proc.returncode, what)) is not None:
        return stop
    err = proc.stderr.decode(errors="replace").strip()
    low = err.lower()
    if "host key verification failed" in low or "host key for" in low \
            or "remote host identification has changed" in low:
        return HostKeyError(f"{what}: host key not known or changed — refused ({err[-300:]})")
    if "permission denied" in low:
        return AuthError(f"{what}: authentication refused")
    if any(s in low for s in ("connection refused", "timed out", "no route", "reset by peer")):
        return TransientError(f"{what}: {err[-300:]}")
    return ConnectorError(f"{what}: exit {proc.returncode}: {err[-500:]}")


def _rsync(src: SshSource, target: Path, extra: list[str], what: str,
           timeout: float | None, *, push: bool = False) -> list[str]:
    """rsync the source folder into ``target`` (``push``: the other way, ``target`` into
    the source folder) with the same plain-data options, ``--delete`` and our marker
    neither sent nor deleted."""
    ends = [src.rsync_remote(), str(target).rstrip("/") + "/"]
    argv = ["rsync", *_PLAIN_DATA, "--checksum", "--delete", "--itemize-changes",
            "--out-format=%i %n", *_FILTER, *extra, "-e", shlex.join(src.ssh_argv()),
            "--", *(reversed(ends) if push else ends)]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TransientError(f"{what}: rsync timed out after {timeout} s") from exc
    if proc.returncode != 0:
        raise _fail(what, proc)
    return [line for line in proc.stdout.decode(errors="replace").splitlines() if line.strip()]


_SKIPPED = "skipping non-regular file "


def _split_skipped(lines: list[str]) -> tuple[list[str], list[str]]:
    """rsync's itemized changes, and the devices/specials it left out (by name)."""
    changes = [c for c in lines if not c.startswith(_SKIPPED)]
    skipped = [c[len(_SKIPPED):].strip('"') for c in lines if c.startswith(_SKIPPED)]
    return changes, skipped


def _check_target(target: Path) -> None:
    if str(target.resolve()) in ("/", str(Path.home())) or len(target.resolve().parts) < 3:
        raise StepError(f"target folder {target} is too close to / to be a copy target")
    if target.exists() and any(target.iterdir()) and not (target / MARKER).exists():
        raise StepError(f"target folder {target} is not empty and was not made by shangyun; "
                        "refusing to overwrite it")


def sync(src: SshSource, target: str | os.PathLike[str], *,
         timeout: float | None = None) -> FileSyncResult:
    """Copy (first call) or bring up to date (later calls: the delta) ``target`` from the
    source folder. Files deleted on the source are deleted in the target. The source is
    only read."""
    dest = Path(target)
    _check_target(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MARKER).write_text(src.where() + "\n")
    changed, skipped = _split_skipped(
        _rsync(src, dest, [], f"rsync {src.where()} → {dest}", timeout))
    files, size = 0, 0
    for path in _walk(dest):
        files += 1
        size += path.stat().st_size
    return FileSyncResult(str(dest), files, size,
                          [c.split(" ", 1)[1] for c in changed if " " in c], skipped)


def push_back(target: str | os.PathLike[str], src: SshSource, *,
              timeout: float | None = None) -> FileSyncResult:
    """A fail-back's reverse delta: bring the source folder level with the local
    ``target`` copy (which took the production writes) — the same plain-data rsync
    options the other way, ``--delete`` included (a file the source still has but the
    target does not was deleted on the target after the cutover, when both were verified
    equal). Only a folder that carries our marker is pushed; the marker never is."""
    dest = Path(target)
    if not (dest / MARKER).exists():
        raise StepError(f"{dest} has no {MARKER} marker: not a shangyun copy, not pushed back")
    changed, skipped = _split_skipped(
        _rsync(src, dest, [], f"rsync {dest} → {src.where()}", timeout, push=True))
    files, size = 0, 0
    for path in _walk(dest):
        files += 1
        size += path.stat().st_size
    return FileSyncResult(src.where(), files, size,
                          [c.split(" ", 1)[1] for c in changed if " " in c], skipped)


def _walk(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.relative_to(root) != Path(MARKER))


def local_manifest(target: str | os.PathLike[str]) -> dict[str, str]:
    """SHA-256 of every regular file under ``target`` (relative path → hex)."""
    root = Path(target)
    return {p.relative_to(root).as_posix(): digest_file(p, "sha256") for p in _walk(root)}


def remote_manifest(src: SshSource, *, timeout: float | None = None) -> dict[str, str]:
    """SHA-256 of every regular file of the source folder, computed on the source host."""
    script = (f"cd -- {shlex.quote(src.path)} && find . -type f ! -name {MARKER} -print0 "
              "| xargs -0 -r sha256sum -z")
    try:
        proc = subprocess.run([*src.ssh_argv(), "--", src.login(), script],
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TransientError(f"sha256sum on {src.where()}: timed out") from exc
    if proc.returncode != 0:
        raise _fail(f"sha256sum on {src.where()}", proc)
    out: dict[str, str] = {}
    for rec in proc.stdout.split(b"\0"):
        if not rec:
            continue
        digest, _, name = rec.partition(b"  ")
        path = name.decode(errors="surrogateescape")
        out[path[2:] if path.startswith("./") else path] = digest.decode()
    return out


def verify(src: SshSource, target: str | os.PathLike[str], *,
           timeout: float | None = None) -> dict[str, str]:
    """Raise VerificationError unless the target equals the source: rsync's checksum dry
    run must list nothing, and both SHA-256 manifests must be equal. Returns the manifest."""
    dest = Path(target)
    if not dest.is_dir():
        raise VerificationError(f"files {src.where()} → {dest}: the target folder is missing")
    pending, _ = _split_skipped(_rsync(src, dest, ["--dry-run"],
                                       f"rsync --dry-run {src.where()} → {dest}", timeout))
    problems = [f"rsync would change {c.split(' ', 1)[-1]}" for c in pending]
    theirs, ours = remote_manifest(src, timeout=timeout), local_manifest(dest)
    for name in sorted(set(theirs) | set(ours)):
        if name not in ours:
            problems.append(f"{name}: missing on the target")
        elif name not in theirs:
            problems.append(f"{name}: only on the target")
        elif theirs[name] != ours[name]:
            problems.append(f"{name}: SHA-256 differs")
    if problems:
        shown = "; ".join(problems[:20]) + (" …" if len(problems) > 20 else "")
        raise VerificationError(f"files {src.where()} → {dest}: {len(problems)} "
                                f"difference(s): {shown}")
    return ours


def remove_copy(target: str | os.PathLike[str]) -> bool:
    """Undo: delete the target copy, only if our marker is in it. False when already gone."""
    dest = Path(target)
    if not dest.exists():
        return False
    if not (dest / MARKER).exists():
        raise StepError(f"{dest} has no {MARKER} marker: not a shangyun copy, not removed")
    shutil.rmtree(dest)
    return True
