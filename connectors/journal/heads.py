"""The audit key and the append-only head log: where the audit chain's head is kept outside
the journal (``docs/journal.md``, "The audit key and the head log").

- **The key** is 32 random bytes (hex) in a file of its own, mode 0600, outside the estate:
  ``$SHANGYUN_AUDIT_KEY`` names it, else ``$XDG_CONFIG_HOME/shangyun/audit.key`` (or
  ``~/.config/shangyun/audit.key``). It is created on first write with a message on
  stderr naming its path (never its content); a key readable by group or others is
  refused. The chain head in the journal carries an HMAC under it, so a head rewritten
  without the key is caught.
- **The head log** is ``<key folder>/audit-heads/<journal id>.log`` (``$SHANGYUN_AUDIT_HEADS``
  names another folder). After each commit the records it appended are published there,
  one keyed JSON line each, written with ``O_APPEND`` and ``fsync``. Where the filesystem
  and the process allow it (Linux, ``CAP_LINUX_IMMUTABLE``), the file is made append-only
  (``chattr +a``: nobody, root included, can then truncate or rewrite it until the flag is
  removed); ``$SHANGYUN_AUDIT_HEADS_APPEND_ONLY=0`` skips that (tests). Elsewhere the head log
  must be kept where the journal's writer has no write access (another account, a
  WORM share), as the documentation says.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from shangyun.journal.audit import (
    AuditProblem,
    AuditRecord,
    PublishedHead,
    head_mac,
    parse_published,
    published_line,
)
from shangyun.journal.records import JournalError

KEY_ENV = "SHANGYUN_AUDIT_KEY"
HEADS_ENV = "SHANGYUN_AUDIT_HEADS"
APPEND_ONLY_ENV = "SHANGYUN_AUDIT_HEADS_APPEND_ONLY"
KEY_BYTES = 32

_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_APPEND_FL = 0x00000020


def default_key_path() -> Path:
    """``$SHANGYUN_AUDIT_KEY``, else ``$XDG_CONFIG_HOME/shangyun/audit.key`` (``~/.config``)."""
    env = os.environ.get(KEY_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(base) / "shangyun" / "audit.key"


def _append_only_wanted() -> bool:
    return os.environ.get(APPEND_ONLY_ENV, "1").strip().lower() not in ("0", "no", "false")


def set_append_only(fd: int) -> bool:
    """Set the file's append-only attribute (``chattr +a``); False where the filesystem or
    the process's privileges do not allow it."""
    try:
        buf = fcntl.ioctl(fd, _FS_IOC_GETFLAGS, struct.pack("l", 0))
        flags = struct.unpack("l", buf)[0]
        if flags & _FS_APPEND_FL:
            return True
        fcntl.ioctl(fd, _FS_IOC_SETFLAGS, struct.pack("l", flags | _FS_APPEND_FL))
        return True
    except OSError:
        return False


def is_append_only(path: Path) -> bool:
    """Whether ``path`` carries the append-only attribute."""
    fd = os.open(path, os.O_RDONLY)
    try:
        buf = fcntl.ioctl(fd, _FS_IOC_GETFLAGS, struct.pack("l", 0))
        return bool(struct.unpack("l", buf)[0] & _FS_APPEND_FL)
    except OSError:
        return False
    finally:
        os.close(fd)


@dataclass
class HeadKeeper:
    """The audit key and the head log of this host (see the module docstring)."""

    key_path: Path = field(default_factory=default_key_path)
    heads_dir: Path | None = None
    _key: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> HeadKeeper:
        """The keeper the environment names (``$SHANGYUN_AUDIT_KEY``, ``$SHANGYUN_AUDIT_HEADS``)."""
        heads = os.environ.get(HEADS_ENV, "").strip()
        return cls(default_key_path(), Path(heads).expanduser() if heads else None)

    @property
    def heads_folder(self) -> Path:
        """Where head logs go: ``$SHANGYUN_AUDIT_HEADS`` or ``<key folder>/audit-heads``."""
        return self.heads_dir or self.key_path.parent / "audit-heads"

    def head_log(self, journal_id: str) -> Path:
        """The head log of one journal."""
        return self.heads_folder / f"{journal_id}.log"

    def refuse_inside(self, folder: Path | None) -> None:
        """Refuse a key (or head log) inside ``folder`` (the estate): whoever can write the
        estate's journal could then rewrite them too."""
        if folder is None:
            return
        estate = folder.resolve()
        for what, path in (("audit key", self.key_path), ("head log folder", self.heads_folder)):
            if path.resolve().is_relative_to(estate):
                raise JournalError(
                    f"the {what} {path} is inside the estate {estate}: keep it outside "
                    f"(set ${KEY_ENV} / ${HEADS_ENV} to a path elsewhere)")

    def key(self, *, create: bool) -> bytes | None:
        """The key; with ``create``, made on first use (mode 0600, message on stderr).
        None when there is none and ``create`` is False."""
        if self._key is not None:
            return self._key
        path = self.key_path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            if not create:
                return None
            self._key = self._create(path)
            return self._key
        except OSError as exc:
            raise JournalError(f"cannot read the audit key {path}: {exc.strerror}") from None
        try:
            mode = os.fstat(fd).st_mode & 0o777
            if mode & 0o077:
                raise JournalError(
                    f"the audit key {path} is readable by others (mode {mode:o}): "
                    f"run chmod 600 {path}")
            text = os.read(fd, 4 * KEY_BYTES).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) < 16:
            raise JournalError(f"the audit key {path} is not a key (hex, at least 16 bytes)")
        self._key = key
        return key

    def _create(self, path: Path) -> bytes:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = secrets.token_bytes(KEY_BYTES)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return self.key(create=False) or b""
        except OSError as exc:
            raise JournalError(
                f"cannot create the audit key {path}: {exc.strerror} (set ${KEY_ENV} to a "
                f"writable path outside the estate)") from None
        try:
            os.write(fd, key.hex().encode("ascii") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        sys.stderr.write(
            f"shangyun: created the audit key {path} (mode 0600). It keys the audit "
            f"chain's head; keep it outside the estate and back it up: without it "
            f"'shangyun audit verify' cannot check the head.\n")
        return key

    def head_mac(self, algorithm: str, journal_id: str, seq: int, head_hash: str, *,
                 create: bool = True) -> str | None:
        """The MAC of a chain head under the key (None: no key and not ``create``)."""
        key = self.key(create=create)
        return None if key is None else head_mac(algorithm, key, journal_id, seq, head_hash)

    def publish(self, algorithm: str, journal_id: str, rows: Iterable[AuditRecord]) -> None:
        """Append one keyed line per record to the journal's head log (``O_APPEND``,
        ``fsync``), making the file append-only where allowed."""
        key = self.key(create=True)
        assert key is not None
        data = "".join(published_line(algorithm, key, journal_id, r) + "\n" for r in rows)
        if not data:
            return
        path = self.head_log(journal_id)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot publish the audit head to {path}: {exc.strerror}") \
                from None
        try:
            if _append_only_wanted():
                set_append_only(fd)
            view = memoryview(data.encode("utf-8"))
            while view:  # one write() normally; O_APPEND keeps each at the end
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            raise JournalError(f"cannot publish the audit head to {path}: {exc.strerror}") \
                from None
        finally:
            os.close(fd)

    def published(self, algorithm: str, journal_id: str
                  ) -> tuple[dict[int, PublishedHead], list[AuditProblem], str | None]:
        """The heads published for the journal on this host, problems with the log's lines,
        and a note when nothing could be read (no key, no log)."""
        key = self.key(create=False)
        path = self.head_log(journal_id)
        if key is None:
            return {}, [], None
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                heads, problems = parse_published(algorithm, key, journal_id, f, str(path))
        except FileNotFoundError:
            return {}, [], f"no head log {path} on this host (no record of this journal " \
                           f"was written here)"
        return heads, problems, None


def clear_append_only(path: Path) -> None:
    """Remove the append-only attribute (``chattr -a``), e.g. before a test deletes the file."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            buf = fcntl.ioctl(fd, _FS_IOC_GETFLAGS, struct.pack("l", 0))
            flags = struct.unpack("l", buf)[0]
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, struct.pack("l", flags & ~_FS_APPEND_FL))
        finally:
            os.close(fd)


__all__ = ["HeadKeeper", "clear_append_only", "default_key_path", "is_append_only",
           "set_append_only"]
