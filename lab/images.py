"""Disk images in every legacy format, with known, partly sparse content.

Each image's guest-visible content is generated deterministically from its name: the
virtual disk is cut into 1 MiB chunks, every third chunk is left a hole (zeros, not
written) and the others are pseudo-random bytes seeded by the name and chunk number. The
raw content's SHA-256 is recorded in the lab state, so a conversion of the image can be
verified byte for byte (``qemu-img convert -O raw`` + SHA-256 must give the same digest).
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

from lab.hosts import run
from lab.state import LabImage

MIB = 1024 * 1024
VIRTUAL_SIZE = 16 * MIB

# (estate format, qemu-img format, subformat, -o options, file suffix)
FORMATS: tuple[tuple[str, str, str, str, str], ...] = (
    ("vmdk", "vmdk", "monolithicSparse", "subformat=monolithicSparse", "sparse.vmdk"),
    ("vmdk", "vmdk", "streamOptimized", "subformat=streamOptimized", "stream.vmdk"),
    ("vhd", "vpc", "dynamic", "subformat=dynamic,force_size=on", "vhd"),
    ("vhdx", "vhdx", "dynamic", "subformat=dynamic", "vhdx"),
    ("qcow2", "qcow2", "", "", "qcow2"),
    ("raw", "raw", "", "", "raw"),
)


def chunk(name: str, i: int) -> bytes | None:
    """The content of 1 MiB chunk ``i`` of image ``name``; ``None`` for a hole (zeros)."""
    if i % 3 == 2:
        return None
    seed = int.from_bytes(hashlib.sha256(f"{name}/{i}".encode()).digest()[:8], "big")
    return random.Random(seed).randbytes(MIB)


def write_raw(path: Path, name: str, size: int = VIRTUAL_SIZE) -> str:
    """Write the raw, sparse content of image ``name`` to ``path``; return its SHA-256."""
    h = hashlib.sha256()
    zeros = bytes(MIB)
    with open(path, "wb") as f:
        for i in range(size // MIB):
            data = chunk(name, i)
            if data is None:
                f.seek(MIB, os.SEEK_CUR)
                h.update(zeros)
            else:
                f.write(data)
                h.update(data)
        f.truncate(size)
    return h.hexdigest()


def build_image(folder: Path, name: str, spec: tuple[str, str, str, str, str],
                domain: str, bureau: str) -> LabImage:
    """Create one image (unless it exists with the right size) and describe it."""
    fmt, qfmt, sub, opts, suffix = spec
    path = folder / f"{name}.{suffix}"
    digest = expected_digest(name)
    if not path.exists():
        tmp_raw = folder / f".{name}.raw.tmp"
        write_raw(tmp_raw, name)
        if qfmt == "raw":
            tmp_raw.replace(path)
        else:
            tmp = folder / f".{name}.{suffix}.tmp"
            cmd = ["qemu-img", "convert", "-f", "raw", "-O", qfmt]
            if opts:
                cmd += ["-o", opts]
            run([*cmd, str(tmp_raw), str(tmp)], what=f"lab image {path}", timeout=120)
            tmp.replace(path)
            tmp_raw.unlink()
    return LabImage(path=str(path), format=fmt, subformat=sub, virtual_size=VIRTUAL_SIZE,
                    sha256=digest, domain=domain, bureau=bureau)


def expected_digest(name: str, size: int = VIRTUAL_SIZE) -> str:
    """The SHA-256 of image ``name``'s guest-visible content, computed without any file."""
    h = hashlib.sha256()
    zeros = bytes(MIB)
    for i in range(size // MIB):
        data = chunk(name, i)
        h.update(zeros if data is None else data)
    return h.hexdigest()
