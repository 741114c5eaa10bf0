"""Fixtures for the image pipeline tests: source images in every legacy format, made with the
real qemu-img from one raw disk of known content (data blocks with holes between them)."""

from __future__ import annotations

import hashlib
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

MIB = 1024 * 1024
DISK_MIB = 8
# (name, estate format, qemu-img convert arguments)
SOURCES: list[tuple[str, str, list[str]]] = [
    ("vmdk-sparse", "vmdk", ["-O", "vmdk"]),
    ("vmdk-stream", "vmdk", ["-O", "vmdk", "-o", "subformat=streamOptimized"]),
    ("vhd", "vhd", ["-O", "vpc", "-o", "force_size=on"]),
    ("vhdx", "vhdx", ["-O", "vhdx"]),
    ("qcow2", "qcow2", ["-O", "qcow2"]),
    ("raw", "raw", ["-O", "raw"]),
]


@dataclass(frozen=True)
class Disk:
    """One source image and what its guest-visible content is."""

    path: Path
    fmt: str
    content: bytes

    @property
    def sha256(self) -> str:
        """``sha256:<hex>`` of the content, computed here independently of our code."""
        return "sha256:" + hashlib.sha256(self.content).hexdigest()


def make_content(seed: int = 5, size_mib: int = DISK_MIB) -> bytes:
    """A disk's bytes: random data in some 64 KiB blocks, zeros (holes) elsewhere."""
    rng = random.Random(seed)
    buf = bytearray(size_mib * MIB)
    block = 64 * 1024
    for i in range(0, len(buf), block):
        if rng.random() < 0.4:
            buf[i:i + block] = rng.randbytes(block)
    buf[:512] = b"SHANGYUN-BOOT" + bytes(499)
    return bytes(buf)


def write_raw(path: Path, content: bytes) -> None:
    """Write ``content`` as a sparse raw file (holes where it is all zeros)."""
    block = 64 * 1024
    with path.open("wb") as fh:
        for i in range(0, len(content), block):
            part = content[i:i + block]
            if part.count(0) == len(part):
                fh.seek(len(part), 1)
            else:
                fh.write(part)
        fh.truncate(len(content))


@pytest.fixture(scope="session")
def source_disks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Disk]:
    """Every legacy format of one known disk, keyed by source name."""
    root = tmp_path_factory.mktemp("images-src")
    content = make_content()
    raw = root / "seed.raw"
    write_raw(raw, content)
    disks: dict[str, Disk] = {}
    for name, fmt, args in SOURCES:
        out = root / f"disk-{name}.{fmt}"
        subprocess.run(["qemu-img", "convert", "-f", "raw", *args, str(raw), str(out)],
                       check=True, capture_output=True)
        disks[name] = Disk(out, fmt, content)
    return disks
