"""Pure helpers for disk images: format names, target-format choice, size maths, progress.

No process is started here; :mod:`connectors.qemu` runs ``qemu-img`` and uses these.

Format names: the estate says ``raw``, ``qcow2``, ``vmdk``, ``vhd``, ``vhdx``
(:data:`shangyun.estate.schema.DISK_FORMATS`); qemu calls ``vhd`` ``vpc``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

ESTATE_TO_QEMU: dict[str, str] = {
    "raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc", "vhdx": "vhdx",
}
QEMU_TO_ESTATE: dict[str, str] = {v: k for k, v in ESTATE_TO_QEMU.items()}

# Formats a target can take natively, best first, when a disk arrives in a given format.
_PREFERENCE: tuple[str, ...] = ("qcow2", "raw", "vmdk", "vhd", "vhdx")

# Metadata allowance for formats we cannot measure (bytes per GiB of virtual size + fixed).
_OVERHEAD_PER_GIB = 256 * 1024
_OVERHEAD_FIXED = 4 * 1024 * 1024

_PROGRESS = re.compile(r"\(\s*(\d+(?:\.\d+)?)/100%\)")
_BYTES_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


class UnknownFormat(ValueError):
    """A disk format name that is neither an estate name nor a qemu driver name."""


def qemu_format(fmt: str) -> str:
    """The qemu-img driver name for an estate (or qemu) format name: ``vhd`` → ``vpc``."""
    f = fmt.strip().lower()
    if f in ESTATE_TO_QEMU:
        return ESTATE_TO_QEMU[f]
    if f in QEMU_TO_ESTATE:
        return f
    raise UnknownFormat(f"unknown disk format {fmt!r}; known: {', '.join(ESTATE_TO_QEMU)}")


def estate_format(fmt: str) -> str:
    """The estate's name for a qemu-img driver name: ``vpc`` → ``vhd``."""
    f = fmt.strip().lower()
    if f in QEMU_TO_ESTATE:
        return QEMU_TO_ESTATE[f]
    if f in ESTATE_TO_QEMU:
        return f
    raise UnknownFormat(f"unknown disk format {fmt!r}; known: {', '.join(ESTATE_TO_QEMU)}")


def choose_target_format(source_format: str, accepted: Sequence[str]) -> str:
    """The format to convert a disk into for a target that accepts ``accepted``.

    Keeps the source format when the target takes it (no conversion needed), otherwise the
    first of qcow2, raw, vmdk, vhd, vhdx that the target accepts.
    """
    if not accepted:
        raise ValueError("the target accepts no disk format")
    acc = [estate_format(a) for a in accepted]
    src = estate_format(source_format)
    if src in acc:
        return src
    for f in _PREFERENCE:
        if f in acc:
            return f
    return acc[0]


def estimate_output_bytes(virtual_size: int, allocated: int | None, dst_format: str) -> int:
    """A safe upper estimate of the bytes a converted image takes on disk.

    ``raw`` counts the whole virtual size (a staging file system may not keep holes, and a
    raw image may be copied by tools that fill them); other formats count the allocated
    data (or the virtual size when unknown) plus metadata. ``qemu-img measure`` is more
    exact when the source is readable; this is the fallback.
    """
    if virtual_size < 0:
        raise ValueError("virtual size must not be negative")
    fmt = estate_format(dst_format)
    if fmt == "raw":
        return virtual_size
    data = virtual_size if allocated is None else min(max(allocated, 0), virtual_size)
    gib = -(-virtual_size // (1 << 30))
    return data + gib * _OVERHEAD_PER_GIB + _OVERHEAD_FIXED


def staging_shortfall(needed: int, free: int, reserve: int = 0) -> int:
    """How many bytes are missing to write ``needed`` bytes keeping ``reserve`` free (0 = fits)."""
    return max(0, needed + reserve - free)


def parse_progress(text: str) -> list[float]:
    """Every percentage in ``qemu-img -p`` output, e.g. ``"    (12.50/100%)\\r"`` → ``[12.5]``."""
    return [float(m) for m in _PROGRESS.findall(text)]


@dataclass
class ProgressParser:
    """Incremental parser of ``qemu-img -p`` output that may arrive in arbitrary chunks.

    :meth:`feed` returns the new percentages (0–100) found, never decreasing.
    """

    _buf: str = ""
    last: float = 0.0

    def feed(self, chunk: str) -> list[float]:
        """Add a chunk of output; return the percentages it completed."""
        self._buf += chunk
        cut = max(self._buf.rfind("\r"), self._buf.rfind("\n"))
        if cut < 0:
            if len(self._buf) > 4096:  # garbage without separators: keep the memory bounded
                self._buf = self._buf[-256:]
            return []
        done, self._buf = self._buf[: cut + 1], self._buf[cut + 1 :]
        out: list[float] = []
        for value in parse_progress(done):
            value = min(100.0, value)
            if value > self.last:
                out.append(value)
                self.last = value
        return out


@dataclass(frozen=True)
class ImageInfo:
    """What ``qemu-img info --output=json`` says about one image.

    ``format`` is the estate name (``vhd``, not ``vpc``); ``subformat`` is the vmdk create
    type (``monolithicSparse``, ``streamOptimized`` …) when known; ``dirty`` is True when the
    image was not closed cleanly (qcow2 ``dirty-flag``/``corrupt``).
    """

    path: str
    format: str
    virtual_size: int
    actual_size: int | None
    backing_file: str | None = None
    dirty: bool = False
    corrupt: bool = False
    subformat: str | None = None
    cluster_size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_qemu_json(cls, data: dict[str, Any], path: str | None = None) -> ImageInfo:
        """Build from the parsed JSON of ``qemu-img info --output=json``."""
        specific = (data.get("format-specific") or {}).get("data") or {}
        subformat = specific.get("create-type")
        return cls(
            path=str(path if path is not None else data.get("filename", "")),
            format=estate_format(str(data["format"])),
            virtual_size=int(data["virtual-size"]),
            actual_size=int(data["actual-size"]) if "actual-size" in data else None,
            backing_file=data.get("full-backing-filename") or data.get("backing-filename"),
            dirty=bool(data.get("dirty-flag", False)),
            corrupt=bool(specific.get("corrupt", False)),
            subformat=str(subformat) if subformat else None,
            cluster_size=int(data["cluster-size"]) if "cluster-size" in data else None,
            extra={k: v for k, v in specific.items() if isinstance(v, str | int | bool)},
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (for the journal and ``--json``)."""
        return {
            "path": self.path, "format": self.format, "virtual_size": self.virtual_size,
            "actual_size": self.actual_size, "backing_file": self.backing_file,
            "dirty": self.dirty, "corrupt": self.corrupt, "subformat": self.subformat,
            "cluster_size": self.cluster_size,
        }


def human_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    value = float(n)
    for unit in _BYTES_UNITS:
        if abs(value) < 1024 or unit == _BYTES_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def digest_string(algorithm: str, hexdigest: str) -> str:
    """The one spelling of a digest the journal stores: ``"sha256:<hex>"`` / ``"sm3:<hex>"``."""
    return f"{algorithm.lower()}:{hexdigest.lower()}"


def split_digest(digest: str) -> tuple[str, str]:
    """``"sha256:ab…"`` → ``("sha256", "ab…")``; a bare 64-hex string is taken as SHA-256."""
    if ":" in digest:
        algo, _, hexd = digest.partition(":")
        return algo.lower(), hexd.lower()
    if re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        return "sha256", digest.lower()
    raise ValueError(f"not a digest: {digest!r} (expected 'sha256:<hex>' or 'sm3:<hex>')")


def total_bytes(infos: Iterable[ImageInfo]) -> int:
    """The sum of the virtual sizes of some images."""
    return sum(i.virtual_size for i in infos)
