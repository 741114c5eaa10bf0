"""qemu-img as a connector: inspect, check, measure, convert, compare and digest disk images.

Every call runs the real ``qemu-img`` (Debian's qemu-utils) with a timeout. Formats: vmdk
(sparse and streamOptimized), vhd (qemu's ``vpc``), vhdx, qcow2 and raw; names follow the
estate (:mod:`shangyun.images`).

Guarantees:

* :func:`convert` writes to a hidden temporary file beside the destination and renames it
  only after qemu-img succeeded and the data is on disk: there is never a half image at
  ``dst``. Failures (missing tool, unreadable source, no space left, timeout) raise one of
  the errors below, naming the file, and leave nothing behind.
* :func:`content_digest` hashes the *guest-visible* bytes (what the VM reads), so a qcow2
  converted from a vmdk has the same content digest as its source. Raw images are read
  directly; other formats are served read-only by ``qemu-nbd`` on a private unix socket
  and read over NBD — no temporary copy is made.

* An image is untrusted input (it comes from a bureau's datastore): before qemu-img or
  qemu-nbd opens one, its header is read here and every file it names — a qcow2 backing
  file or external data file, a vmdk extent or parent — must resolve inside the image's own
  folder; a protocol (``nbd:``, ``json:``, ``http:`` …) is never followed. So a qcow2 whose
  backing file is ``/root/.ssh/id_ed25519`` is refused before anything reads that file.
  :func:`admit` adds the datastore roots (an allow-list: a source image is read only under
  them, never under ``/dev``, ``..`` refused, symlinks resolved) and cross-checks
  ``qemu-img info --backing-chain``.

Errors::

    ConnectorError
    └── QemuImgError            qemu-img failed on a file (message names it)
        ├── QemuImgMissing      qemu-img / qemu-nbd is not installed
        ├── ImageRefused        the image, or a file it names, is outside what may be read
        ├── ImageUnreadable     the image does not exist or cannot be opened/parsed
        ├── StagingFullError    not enough free space (before or during the write: ENOSPC)
        └── QemuTimeout         qemu-img ran longer than allowed (killed, output removed)
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import re
import secrets
import selectors
import shutil
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from shangyun.digest import Digest
from shangyun.errors import ConnectorError, VerificationError, check_not_interrupted
from shangyun.images import (
    ImageInfo,
    estate_format,
    estimate_output_bytes,
    qemu_format,
    split_digest,
)
from shangyun.images import ProgressParser as _ProgressParser

__all__ = [
    "CheckResult", "ImageInfo", "ImageRefused", "ImageUnreadable", "QemuImgError",
    "QemuImgMissing", "QemuTimeout", "StagingFullError", "VerifiedImage", "admit", "check",
    "compare", "content_digest", "convert", "convert_verified", "detect_format", "ensure_space",
    "external_files", "free_bytes", "info", "measure", "source_path", "verify_copy",
]

QEMU_IMG = "qemu-img"
QEMU_NBD = "qemu-nbd"
DEFAULT_TIMEOUT = 6 * 3600.0
_SHORT_TIMEOUT = 120.0
_CHUNK = 4 * 1024 * 1024


class QemuImgError(ConnectorError):
    """qemu-img failed on a file; ``path`` names it and the message says what happened."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path, self.reason = str(path), message
        super().__init__(f"{self.path}: {message}")


class QemuImgMissing(QemuImgError):
    """qemu-img (or qemu-nbd) is not installed: ``apt-get install qemu-utils``."""


class ImageRefused(QemuImgError):
    """The image, or a file its header names (backing file, extent, data file), lies outside
    what may be read (its own folder, the datastore roots); nothing was opened."""


class ImageUnreadable(QemuImgError):
    """The image does not exist, cannot be opened, or is not a valid image of its format."""


class StagingFullError(QemuImgError):
    """Not enough free space for an image; ``needed``/``free`` in bytes when known."""

    def __init__(self, path: str | os.PathLike[str], message: str, *,
                 needed: int | None = None, free: int | None = None) -> None:
        self.needed, self.free = needed, free
        super().__init__(path, message)


class QemuTimeout(QemuImgError):
    """qemu-img ran longer than its timeout; it was killed and its output removed."""


@dataclass(frozen=True)
class CheckResult:
    """The result of ``qemu-img check``: ``supported`` is False for formats without checks
    (raw, vpc); ``ok`` means no corruption (leaks are reported but harmless)."""

    path: str
    supported: bool
    ok: bool
    corruptions: int = 0
    leaks: int = 0
    check_errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return dict(self.__dict__)


# --------------------------------------------------------------------------- running

def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise QemuImgMissing(name, f"{name} is not installed (Debian: apt-get install qemu-utils)")
    return found


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no message)"


def _run(args: list[str], path: str | os.PathLike[str], timeout: float) -> \
        subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run([_tool(args[0]), *args[1:]], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise QemuTimeout(path, f"{args[0]} {args[1]} took longer than {timeout:.0f} s") from exc
    check_not_interrupted(proc.returncode, f"{args[0]} {args[1]} {path}")
    return proc


def _require_file(path: Path, fmt: str | None = None) -> None:
    """The image exists, is readable, and names no file outside its own folder."""
    if not path.exists():
        raise ImageUnreadable(path, "image file does not exist")
    if not os.access(path, os.R_OK):
        raise ImageUnreadable(path, "image file is not readable (permission denied)")
    _contained(path, fmt)


# --------------------------------------------------------------------------- containment

_QCOW2_MAGIC, _VMDK_MAGIC = b"QFI\xfb", b"KDMV"
_DESCRIPTOR = b"# Disk DescriptorFile"
_QCOW2_DATA_FILE_EXT, _QCOW2_DATA_FILE_BIT = 0x44415441, 1 << 2
_EXTENT = re.compile(r'^\s*(?:RW|RDONLY|NOACCESS)\s+\d+\s+(\w+)(?:\s+"([^"]*)")?', re.M)
_PARENT = re.compile(r'^\s*parentFileNameHint\s*=\s*"([^"]*)"', re.M)
_PROTOCOL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SYSTEM_TREES = ("/dev", "/proc", "/sys")
_MAX_CHAIN = 16


def external_files(path: str | os.PathLike[str], fmt: str | None = None) -> list[tuple[str, str]]:
    """Every other file the image's header names, as ``(what, name)``: a qcow2 backing file
    or external data file, vmdk extents and parent. Read from the header here (64 KiB at
    most) — qemu is not run and the named files are not opened. ``fmt="raw"``: none."""
    p = Path(path)
    if fmt is not None and estate_format(fmt) == "raw":
        return []
    with p.open("rb") as fh:
        head = fh.read(4096)
        if head.startswith(_QCOW2_MAGIC):
            return _qcow2_files(fh, head)
        if head.startswith(_VMDK_MAGIC) and len(head) >= 44:
            offset, size = struct.unpack_from("<QQ", head, 28)
            if not offset or not size:
                return []
            fh.seek(offset * 512)
            return _descriptor_files(fh.read(min(size * 512, 1 << 16)))
        if head.startswith(_DESCRIPTOR) or b"createType" in head[:1024]:
            fh.seek(0)
            return _descriptor_files(fh.read(1 << 16))
    return []


def _qcow2_files(fh: Any, head: bytes) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    version, backing_offset, backing_size = struct.unpack_from(">IQI", head, 4)
    if backing_offset:
        fh.seek(backing_offset)
        out.append(("backing file", fh.read(min(backing_size, 1023)).decode("utf-8",
                                                                             "replace")))
    if version >= 3 and len(head) >= 104:
        (incompatible,) = struct.unpack_from(">Q", head, 72)
        (header_length,) = struct.unpack_from(">I", head, 100)
        if incompatible & _QCOW2_DATA_FILE_BIT:
            name = "(named outside the image)"
            pos = header_length
            while pos + 8 <= len(head):
                kind, length = struct.unpack_from(">II", head, pos)
                if kind == 0:
                    break
                if kind == _QCOW2_DATA_FILE_EXT:
                    name = head[pos + 8:pos + 8 + length].decode("utf-8", "replace")
                pos += 8 + ((length + 7) & ~7)
            out.append(("external data file", name))
    return out


def _descriptor_files(raw: bytes) -> list[tuple[str, str]]:
    text = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    out = [("extent", m.group(2) or "") for m in _EXTENT.finditer(text)
           if m.group(1).upper() != "ZERO"]
    out += [("parent", m.group(1)) for m in _PARENT.finditer(text)]
    return out


def _inside(child: Path, folder: Path) -> bool:
    return child == folder or folder in child.parents


def _refuse_name(image: Path, what: str, name: str) -> Path:
    """The file ``name`` (from ``image``'s header) resolved; refused unless it is a plain
    file name inside the image's own folder."""
    folder = image.resolve().parent
    plain = name[5:] if name.startswith("file:") else name
    if not plain or _PROTOCOL.match(plain) or "\0" in plain:
        raise ImageRefused(image, f"its {what} {name!r} is not a file in its folder "
                           f"({folder}); refused before reading anything")
    for base in {folder, image.absolute().parent}:
        target = (base / plain).resolve()
        if not _inside(target, folder):
            raise ImageRefused(image, f"its {what} {name!r} points outside its folder "
                               f"({folder}): {target}; refused before reading anything")
    return (folder / plain).resolve()


def _contained(path: Path, fmt: str | None, depth: int = 0) -> None:
    """Refuse an image whose header names a file outside its folder (checked down the
    chain: a backing file's own backing file too)."""
    mode = path.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        raise ImageRefused(path, "not a regular file or block device; refused")
    if depth > _MAX_CHAIN:
        raise ImageRefused(path, f"backing chain deeper than {_MAX_CHAIN}; refused")
    for what, name in external_files(path, fmt if depth == 0 else None):
        target = _refuse_name(path, what, name)
        if what in ("backing file", "parent") and target.exists():
            _contained(target, None, depth + 1)


def source_path(path: str | os.PathLike[str], roots: Sequence[str | os.PathLike[str]]) -> Path:
    """``path`` resolved (symlinks followed), refused unless it is a regular file under one
    of the datastore ``roots``: ``..`` in the path, ``/dev``, ``/proc`` and ``/sys`` are
    refused, and so is a root that is ``/`` or one of those trees."""
    given = Path(path)
    if ".." in PurePath(path).parts:
        raise ImageRefused(given, "the path contains '..'; refused")
    if not roots:
        raise ImageRefused(given, "no datastore roots are configured; a source image is read "
                           "only under one")
    resolved = given.resolve()
    allowed = []
    for root in roots:
        r = Path(root).resolve()
        if r == Path("/") or any(_inside(r, Path(t)) for t in _SYSTEM_TREES):
            raise ImageRefused(given, f"datastore root {root} is not allowed (/, /dev, /proc, "
                               "/sys)")
        allowed.append(r)
    if any(_inside(resolved, Path(t)) for t in _SYSTEM_TREES):
        raise ImageRefused(given, f"resolves to {resolved}, a device or system file; refused")
    if not any(_inside(resolved, r) for r in allowed):
        raise ImageRefused(given, f"resolves to {resolved}, outside the datastore roots "
                           f"({', '.join(str(r) for r in allowed)}); refused")
    if not resolved.is_file():
        raise ImageUnreadable(given, ("the file does not exist" if not resolved.exists()
                                      else "not a regular file")
                              + ("" if str(resolved) == str(given) else
                                 f" (it resolves to {resolved})"))
    return resolved


def _info_json(p: Path, fmt: str | None, timeout: float, *options: str) -> str:
    """The JSON text ``qemu-img info [options] --output=json`` prints for ``p`` (``fmt``
    pinned if given); :class:`ImageUnreadable` if the file is missing or qemu-img fails."""
    _require_file(p, fmt)
    args = [QEMU_IMG, "info", *options, "--output=json"]
    if fmt:
        args += ["-f", qemu_format(fmt)]
    proc = _run([*args, str(p)], p, timeout)
    if proc.returncode != 0:
        raise ImageUnreadable(p, f"qemu-img info failed: {_last_line(proc.stderr)}")
    return proc.stdout


def admit(path: str | os.PathLike[str], fmt: str | None = None, *,
          roots: Sequence[str | os.PathLike[str]] | None = None,
          timeout: float = _SHORT_TIMEOUT) -> ImageInfo:
    """Check a source image may be read, before anything reads it; return its info.

    With ``roots``: the image must lie under one (:func:`source_path`). Then its header
    (and its backing files' headers) must name no file outside its folder, read here
    before qemu opens it; then ``qemu-img info --backing-chain`` must agree (every file of
    the chain, every extent and data file inside the folder). :class:`ImageRefused`
    otherwise, naming the file and what it points to."""
    p = source_path(path, roots) if roots is not None else Path(path)
    output = _info_json(p, fmt, timeout, "--backing-chain")
    try:
        chain = json.loads(output)
        chain = chain if isinstance(chain, list) else [chain]
        for layer in chain:
            names = [("backing file", layer.get("backing-filename") or ""),
                     ("file", layer.get("filename") or "")]
            data = (layer.get("format-specific") or {}).get("data") or {}
            names += [("extent", e.get("filename", "")) for e in data.get("extents", [])]
            names += [("external data file", data["data-file"])] if "data-file" in data else []
            for what, name in names:
                if name:
                    _refuse_name(p, what, name)
        return ImageInfo.from_qemu_json(chain[0], path=str(p))
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise ImageUnreadable(p, f"qemu-img info gave output we cannot read: {exc}") from exc


# --------------------------------------------------------------------------- inspect

def info(path: str | os.PathLike[str], fmt: str | None = None, *,
         timeout: float = _SHORT_TIMEOUT) -> ImageInfo:
    """What the image is: format, virtual and actual size, backing file, dirty/corrupt flags.

    ``fmt`` pins the format (recommended once known: probing a raw image is guesswork).
    """
    p = Path(path)
    output = _info_json(p, fmt, timeout)
    try:
        return ImageInfo.from_qemu_json(json.loads(output), path=str(p))
    except (ValueError, KeyError) as exc:
        raise ImageUnreadable(p, f"qemu-img info gave output we cannot read: {exc}") from exc


def detect_format(path: str | os.PathLike[str]) -> str:
    """The image's format as the estate names it: raw, qcow2, vmdk, vhd or vhdx."""
    return info(path).format


def check(path: str | os.PathLike[str], fmt: str | None = None, *,
          timeout: float = DEFAULT_TIMEOUT) -> CheckResult:
    """Run ``qemu-img check``: structural consistency (corruptions, leaks) of the image."""
    p = Path(path)
    _require_file(p, fmt)
    f = qemu_format(fmt) if fmt else qemu_format(detect_format(p))
    proc = _run([QEMU_IMG, "check", "--output=json", "-f", f, str(p)], p, timeout)
    if proc.returncode == 63:
        return CheckResult(str(p), supported=False, ok=True)
    try:
        data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        data = {}
    if proc.returncode == 1 or (proc.returncode not in (0, 2, 3) or not data):
        raise ImageUnreadable(p, f"qemu-img check failed: {_last_line(proc.stderr)}")
    corruptions = int(data.get("corruptions", 0))
    return CheckResult(str(p), supported=True, ok=corruptions == 0, corruptions=corruptions,
                       leaks=int(data.get("leaks", 0)),
                       check_errors=int(data.get("check-errors", 0)))


def measure(src: str | os.PathLike[str], dst_format: str, src_format: str | None = None, *,
            options: Mapping[str, str | int | bool] | None = None,
            timeout: float = _SHORT_TIMEOUT) -> int:
    """Bytes a conversion of ``src`` to ``dst_format`` needs (``qemu-img measure``).

    qemu-img cannot measure vmdk/vhd/vhdx outputs; for those (and for raw, where holes may
    not survive) the size is estimated with :func:`shangyun.images.estimate_output_bytes`.
    """
    p = Path(src)
    _require_file(p, src_format)
    dst = estate_format(dst_format)
    src_fmt = src_format or detect_format(p)
    if dst == "qcow2":
        args = [QEMU_IMG, "measure", "--output=json", "-f", qemu_format(src_fmt), "-O", "qcow2"]
        if options:
            args += ["-o", _options(options)]
        proc = _run([*args, str(p)], p, timeout)
        if proc.returncode == 0:
            with contextlib.suppress(ValueError, KeyError):
                return int(json.loads(proc.stdout)["required"])
    i = info(p, src_fmt)
    return estimate_output_bytes(i.virtual_size, i.actual_size, dst)


def free_bytes(directory: str | os.PathLike[str]) -> int:
    """Bytes an unprivileged writer may still use in the file system holding ``directory``."""
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def ensure_space(directory: str | os.PathLike[str], needed: int, *, reserve: int = 0,
                 what: str = "image") -> int:
    """The staging-full check: raise :class:`StagingFullError` unless ``needed`` bytes (plus
    ``reserve``) fit in ``directory``; return the free bytes."""
    free = free_bytes(directory)
    if needed + reserve > free:
        raise StagingFullError(
            directory, f"staging full: the {what} needs {needed:,} bytes"
            f"{f' (+{reserve:,} reserve)' if reserve else ''} but only {free:,} are free",
            needed=needed, free=free)
    return free


# --------------------------------------------------------------------------- convert

def _options(options: Mapping[str, str | int | bool]) -> str:
    parts = []
    for k, v in options.items():
        val = ("on" if v else "off") if isinstance(v, bool) else str(v)
        if "," in k or "," in val:
            raise ValueError(f"qemu-img option {k}={val} may not contain a comma")
        parts.append(f"{k}={val}")
    return ",".join(parts)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    dst_format: str,
    *,
    src_format: str | None = None,
    progress: Callable[[float], None] | None = None,
    options: Mapping[str, str | int | bool] | None = None,
    subformat: str | None = None,
    compress: bool = False,
    parallel: int | None = None,
    out_of_order: bool = False,
    check_space: bool = True,
    reserve: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
) -> ImageInfo:
    """Convert ``src`` into a new image ``dst`` of ``dst_format``; return the new image's info.

    ``progress`` is called with the percentage done (0–100, rising) as ``qemu-img -p``
    reports it. ``options`` become ``-o k=v,...``; ``subformat`` is the vmdk create type
    (e.g. ``streamOptimized``); vhd outputs get ``force_size=on`` so the virtual size is
    exact. ``parallel``/``out_of_order`` map to ``-m``/``-W``. With ``check_space`` the free
    space of ``dst``'s folder is checked first (see :func:`measure`). An existing ``dst`` is
    replaced only when the conversion succeeded.
    """
    s, d = Path(src), Path(dst)
    _require_file(s, src_format)
    if not d.parent.is_dir():
        raise QemuImgError(d, f"destination folder {d.parent} does not exist")
    if d.exists() and d.resolve() == s.resolve():
        raise QemuImgError(d, "destination is the source image itself; the source is never "
                           "overwritten")
    src_fmt = estate_format(src_format) if src_format else detect_format(s)
    dst_fmt = estate_format(dst_format)
    opts: dict[str, str | int | bool] = dict(options or {})
    if subformat:
        opts.setdefault("subformat", subformat)
    if dst_fmt == "vhd":
        opts.setdefault("force_size", True)
    if check_space:
        ensure_space(d.parent, measure(s, dst_fmt, src_fmt), reserve=reserve,
                     what=f"conversion of {s.name} to {dst_fmt}")
    tmp = d.parent / f".{d.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    args = [_tool(QEMU_IMG), "convert", "-p", "-f", qemu_format(src_fmt),
            "-O", qemu_format(dst_fmt)]
    if opts:
        args += ["-o", _options(opts)]
    if compress:
        args.append("-c")
    if parallel:
        args += ["-m", str(int(parallel))]
    if out_of_order:
        args.append("-W")
    args += [str(s), str(tmp)]
    try:
        _run_with_progress(args, d, timeout, progress)
        _finish(tmp, d)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return info(d, dst_fmt)


def _run_with_progress(args: list[str], dst: Path, timeout: float,
                       progress: Callable[[float], None] | None) -> str:
    """Run qemu-img, feeding its ``-p`` output to ``progress``; return stderr; raise on error."""
    parser = _ProgressParser()
    err: list[bytes] = []
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    try:
        open_pipes = 2
        while open_pipes:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                raise QemuTimeout(dst, f"qemu-img convert took longer than {timeout:.0f} s; "
                                  "killed, nothing written")
            for key, _ in sel.select(timeout=min(left, 1.0)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_pipes -= 1
                elif key.data == "err":
                    if sum(len(e) for e in err) < 1 << 20:
                        err.append(chunk)
                elif progress is not None:
                    for pct in parser.feed(chunk.decode("ascii", "replace")):
                        progress(pct)
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise QemuTimeout(dst, f"qemu-img convert took longer than {timeout:.0f} s") from exc
    finally:
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = b"".join(err).decode("utf-8", "replace")
    check_not_interrupted(rc, f"qemu-img convert to {dst}")
    if rc != 0:
        if "No space left on device" in text or "ENOSPC" in text:
            raise StagingFullError(dst, "no space left on device while converting "
                                   f"(qemu-img: {_last_line(text)}); partial output removed",
                                   free=_free_or_none(dst.parent))
        if "Could not open" in text and args[-2] in text:
            raise ImageUnreadable(args[-2], f"qemu-img cannot open it: {_last_line(text)}")
        raise QemuImgError(dst, f"qemu-img convert failed (exit {rc}): {_last_line(text)}")
    if progress is not None and parser.last < 100.0:
        progress(100.0)
    return text


def _free_or_none(directory: Path) -> int | None:
    try:
        return free_bytes(directory)
    except OSError:
        return None


def _finish(tmp: Path, dst: Path) -> None:
    """fsync the new image, rename it over ``dst`` and fsync the folder (ENOSPC → staging full)."""
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dst)
        _fsync_dir(dst.parent)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StagingFullError(dst, "no space left on device while finishing the image; "
                                   "partial output removed") from exc
        raise QemuImgError(dst, f"cannot finish the image: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------- compare

def compare(a: str | os.PathLike[str], b: str | os.PathLike[str], *,
            a_format: str | None = None, b_format: str | None = None, strict: bool = False,
            timeout: float = DEFAULT_TIMEOUT) -> bool:
    """True when both images show the guest the same bytes (``qemu-img compare``).

    Exit 1 (they differ) → False; exit 2 or more (an error) → :class:`QemuImgError`.
    ``strict`` also fails on different virtual sizes or allocation.
    """
    pa, pb = Path(a), Path(b)
    _require_file(pa, a_format)
    _require_file(pb, b_format)
    args = [QEMU_IMG, "compare", "-q"]
    args += ["-f", qemu_format(a_format or detect_format(pa))]
    args += ["-F", qemu_format(b_format or detect_format(pb))]
    if strict:
        args.append("-s")
    proc = _run([*args, str(pa), str(pb)], pa, timeout)
    if proc.returncode == 0:
        return True
    if proc.returncode == 1:
        return False
    raise QemuImgError(f"{pa} vs {pb}", f"qemu-img compare failed (exit {proc.returncode}): "
                       f"{_last_line(proc.stderr)}")


# --------------------------------------------------------------------------- digests

def content_digest(path: str | os.PathLike[str], algorithm: str = "sha256", *,
                   fmt: str | None = None, chunk_size: int = _CHUNK,
                   timeout: float = DEFAULT_TIMEOUT) -> str:
    """The digest of the image's guest-visible content: ``"sha256:<hex>"`` or ``"sm3:<hex>"``.

    Equal for the same disk in any format, so it verifies a conversion end to end. Hashing
    is :class:`shangyun.digest.Digest` (``algorithm`` = ``sha256`` or ``sm3``).
    """
    p = Path(path)
    _require_file(p, fmt)
    hasher = Digest(algorithm)
    f = estate_format(fmt) if fmt else detect_format(p)
    deadline = time.monotonic() + timeout
    with _HashThread(hasher) as feed:
        if f == "raw":
            with p.open("rb", buffering=0) as fh:
                while block := fh.read(chunk_size):
                    feed(block)
                    if time.monotonic() > deadline:
                        raise QemuTimeout(p, f"digest took longer than {timeout:.0f} s")
        else:
            with _nbd_export(p, f, deadline) as reader:
                for block in reader.blocks(chunk_size, deadline):
                    feed(block)
    return hasher.labelled()


class _HashThread:
    """Hash blocks on a second thread (hashlib and OpenSSL release the GIL), so reading the
    next block overlaps hashing this one. Bounded: at most ``depth`` blocks wait."""

    def __init__(self, hasher: Digest, depth: int = 4) -> None:
        self.hasher = hasher
        self.queue: queue.Queue[bytes | bytearray | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="shangyun-digest", daemon=True)

    def _run(self) -> None:
        while (block := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.hasher.update(block)
                except BaseException as exc:  # handed to the caller in __exit__
                    self.error = exc

    def __enter__(self) -> Callable[[bytes | bytearray], None]:
        self.thread.start()
        return self.queue.put

    def __exit__(self, *exc: object) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and exc[0] is None:
            raise self.error


def verify_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                src_format: str | None = None, dst_format: str | None = None,
                expected_digest: str | None = None, algorithm: str | None = None) -> str:
    """Prove ``dst`` holds the same disk as ``src``: ``qemu-img compare`` and, when
    ``expected_digest`` (the source's content digest) is given, the content digest of ``dst``.

    Returns ``dst``'s content digest; raises :class:`VerificationError` naming both files.
    """
    if not compare(src, dst, a_format=src_format, b_format=dst_format):
        raise VerificationError(f"{dst}: its content differs from the source {src} "
                                "(qemu-img compare)")
    algo = algorithm or (split_digest(expected_digest)[0] if expected_digest else "sha256")
    got = content_digest(dst, algo, fmt=dst_format)
    if expected_digest is not None and got != expected_digest.lower():
        raise VerificationError(f"{dst}: content digest {got} differs from the source's "
                                f"{expected_digest} ({src})")
    return got


@dataclass(frozen=True)
class VerifiedImage:
    """A converted image and the proof it holds the source's disk."""

    info: ImageInfo
    source_digest: str
    digest: str
    compared: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (for the journal)."""
        return {"info": self.info.to_dict(), "source_digest": self.source_digest,
                "digest": self.digest, "compared": self.compared}


def convert_verified(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                     dst_format: str, *, src_format: str | None = None,
                     algorithm: str = "sha256", source_digest: str | None = None,
                     use_compare: bool = False,
                     progress: Callable[[float], None] | None = None,
                     **convert_options: Any) -> VerifiedImage:
    """Convert and prove it: the source's content digest is computed *while* qemu-img
    converts (both read the source; the page cache serves the second), then the output's
    content digest must equal it (and ``qemu-img compare`` must pass when ``use_compare``).

    ``source_digest`` (known from an earlier step) skips hashing the source. On a mismatch
    the output is deleted and :class:`VerificationError` names both files. Other keyword
    arguments go to :func:`convert`.
    """
    s, d = Path(src), Path(dst)
    _require_file(s, src_format)
    fmt = estate_format(src_format) if src_format else detect_format(s)
    result: dict[str, str] = {}
    failure: list[BaseException] = []

    def hash_source() -> None:
        try:
            result["digest"] = content_digest(s, algorithm, fmt=fmt)
        except BaseException as exc:  # re-raised below on the caller's thread
            failure.append(exc)

    worker = None
    if source_digest is None:
        worker = threading.Thread(target=hash_source, name="shangyun-source-digest",
                                  daemon=True)
        worker.start()
    try:
        info_out = convert(s, d, dst_format, src_format=fmt, progress=progress,
                           **convert_options)
    finally:
        if worker is not None:
            worker.join()
    if failure:
        with contextlib.suppress(FileNotFoundError):
            d.unlink()
        raise failure[0]
    want = (source_digest or result["digest"]).lower()
    try:
        got = content_digest(d, split_digest(want)[0], fmt=dst_format)
        if got != want:
            raise VerificationError(f"{d}: content digest {got} differs from the source's "
                                    f"{want} ({s})")
        if use_compare and not compare(s, d, a_format=fmt, b_format=dst_format):
            raise VerificationError(f"{d}: its content differs from the source {s} "
                                    "(qemu-img compare)")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            d.unlink()
        raise
    return VerifiedImage(info_out, want, got, use_compare)


# --------------------------------------------------------------------------- NBD reader

_NBD_MAGIC = b"NBDMAGIC"
_IHAVEOPT = 0x49484156454F5054
_REQ_MAGIC = 0x25609513
_REPLY_MAGIC = 0x67446698
_FLAG_FIXED_NEWSTYLE, _FLAG_NO_ZEROES = 1, 2
_OPT_EXPORT_NAME = 1
_CMD_READ, _CMD_DISC = 0, 2
_MAX_READ = 32 * 1024 * 1024
_IN_FLIGHT = 4


class _NbdReader:
    """A minimal NBD client (fixed newstyle, simple replies) reading an export in order."""

    def __init__(self, sock: socket.socket, path: Path) -> None:
        self.sock, self.path = sock, path
        self.size = self._handshake()

    def _recv(self, n: int) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = self.sock.recv_into(view[got:], n - got)
            if not k:
                raise ImageUnreadable(self.path, "qemu-nbd closed the connection")
            got += k
        return buf

    def _handshake(self) -> int:
        head = self._recv(18)
        if bytes(head[:8]) != _NBD_MAGIC or struct.unpack(">Q", head[8:16])[0] != _IHAVEOPT:
            raise ImageUnreadable(self.path, "qemu-nbd spoke an unexpected protocol")
        server_flags = struct.unpack(">H", head[16:18])[0]
        client_flags = _FLAG_FIXED_NEWSTYLE | (server_flags & _FLAG_NO_ZEROES)
        self.sock.sendall(struct.pack(">I", client_flags))
        self.sock.sendall(struct.pack(">QII", _IHAVEOPT, _OPT_EXPORT_NAME, 0))
        tail = self._recv(10 if client_flags & _FLAG_NO_ZEROES else 134)
        return int(struct.unpack(">Q", tail[:8])[0])

    def blocks(self, chunk_size: int, deadline: float) -> Iterator[bytearray]:
        """The export's bytes, in order, as blocks of at most ``chunk_size``."""
        chunk = max(4096, min(chunk_size, _MAX_READ))
        offsets = iter(range(0, self.size, chunk))
        pending: dict[int, tuple[int, int]] = {}
        ready: dict[int, bytearray] = {}
        next_off, handle = 0, 0
        for _ in range(_IN_FLIGHT):
            handle = self._send_read(offsets, pending, handle, chunk)
        while pending or ready:
            if time.monotonic() > deadline:
                raise QemuTimeout(self.path, "digest over NBD took too long")
            if next_off in ready:
                yield ready.pop(next_off)
                next_off += chunk
                handle = self._send_read(offsets, pending, handle, chunk)
                continue
            magic, error, h = struct.unpack(">IIQ", self._recv(16))
            if magic != _REPLY_MAGIC or h not in pending:
                raise ImageUnreadable(self.path, "bad NBD reply from qemu-nbd")
            off, length = pending.pop(h)
            if error:
                raise ImageUnreadable(self.path, f"read error at offset {off} (NBD error {error})")
            ready[off] = self._recv(length)
        self.sock.sendall(struct.pack(">IHHQQI", _REQ_MAGIC, 0, _CMD_DISC, 0, 0, 0))

    def _send_read(self, offsets: Iterator[int], pending: dict[int, tuple[int, int]],
                   handle: int, chunk: int) -> int:
        off = next(offsets, None)
        if off is None:
            return handle
        length = min(chunk, self.size - off)
        handle += 1
        pending[handle] = (off, length)
        self.sock.sendall(struct.pack(">IHHQQI", _REQ_MAGIC, 0, _CMD_READ, handle, off, length))
        return handle


@contextlib.contextmanager
def _nbd_export(path: Path, fmt: str, deadline: float) -> Iterator[_NbdReader]:
    """Serve ``path`` read-only with qemu-nbd on a private unix socket; yield a reader."""
    tool = _tool(QEMU_NBD)
    with tempfile.TemporaryDirectory(prefix="shangyun-nbd-") as tmp:
        sock_path = os.path.join(tmp, "nbd.sock")
        proc = subprocess.Popen(
            [tool, "--read-only", "--shared=1", "--format", qemu_format(fmt),
             "--socket", sock_path, str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            start_by = min(deadline, time.monotonic() + 30.0)
            while True:
                if proc.poll() is not None:
                    check_not_interrupted(proc.returncode, f"qemu-nbd {path}")
                    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
                    raise ImageUnreadable(path, f"qemu-nbd cannot serve it: {_last_line(err)}")
                try:
                    sock.connect(sock_path)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    if time.monotonic() > start_by:
                        raise QemuTimeout(path, "qemu-nbd did not start in time") from None
                    time.sleep(0.02)
            sock.settimeout(max(1.0, min(300.0, deadline - time.monotonic())))
            yield _NbdReader(sock, path)
        finally:
            sock.close()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stderr:
                proc.stderr.close()
