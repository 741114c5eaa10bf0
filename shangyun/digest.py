"""Streaming digests (SHA-256 or SM3) of files and byte streams.

Every byte a wave moves is verified end to end with one of these digests (DESIGN.md,
principle 4). SM3 (GB/T 32905) is what MLPS level-3 systems require; ``cryptography``
provides it. SHA-256 comes from :mod:`hashlib` (about four times faster here).

The API is chunked so that a stage can hash while it sends or writes::

    d = Digest("sm3")
    for chunk in chunks:
        d.update(chunk)          # e.g. right before the chunk is uploaded
        send(chunk)
    d.labelled()                 # "sm3:66c7f0f4…"

A *labelled* digest carries its algorithm (``"sha256:<hex>"``), so a digest stored in a
journal or in object metadata says how to recompute it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes

from shangyun.errors import ShangyunError

ALGORITHMS: tuple[str, ...] = ("sha256", "sm3")
DEFAULT_ALGORITHM = "sha256"
CHUNK_SIZE = 1 << 20

Buffer = bytes | bytearray | memoryview


class DigestError(ShangyunError):
    """An unknown digest algorithm or a malformed labelled digest."""


def check_algorithm(name: str) -> str:
    """The normalised algorithm name (``sha256`` or ``sm3``); :class:`DigestError` otherwise."""
    norm = name.strip().lower().replace("-", "").replace("_", "")
    if norm not in ALGORITHMS:
        raise DigestError(
            f"unknown digest algorithm {name!r}: choose one of {', '.join(ALGORITHMS)}")
    return norm


class Digest:
    """A running SHA-256 or SM3 digest; feed it with :meth:`update`, read it at any time."""

    def __init__(self, algorithm: str = DEFAULT_ALGORITHM) -> None:
        self.algorithm = check_algorithm(algorithm)
        self.size = 0
        self._sha = hashlib.sha256() if self.algorithm == "sha256" else None
        self._sm3 = hashes.Hash(hashes.SM3()) if self.algorithm == "sm3" else None

    def update(self, data: Buffer) -> None:
        """Add ``data`` to the digest."""
        if self._sha is not None:
            self._sha.update(data)
        else:
            assert self._sm3 is not None
            self._sm3.update(data)
        self.size += len(data)

    def hexdigest(self) -> str:
        """The hex digest of everything fed so far (the digest can still be updated)."""
        if self._sha is not None:
            return self._sha.hexdigest()
        assert self._sm3 is not None
        return self._sm3.copy().finalize().hex()

    def labelled(self) -> str:
        """The digest with its algorithm, e.g. ``"sm3:66c7…"``."""
        return f"{self.algorithm}:{self.hexdigest()}"


def label(algorithm: str, hexdigest: str) -> str:
    """``"<algorithm>:<hex>"`` for an algorithm and a hex digest."""
    return f"{check_algorithm(algorithm)}:{hexdigest.lower()}"


def parse_label(labelled: str) -> tuple[str, str]:
    """Split ``"sm3:<hex>"`` into ``("sm3", "<hex>")``; :class:`DigestError` if malformed."""
    alg, sep, hexpart = labelled.partition(":")
    if not sep or not hexpart:
        raise DigestError(f"not a labelled digest (want 'sha256:<hex>' or 'sm3:<hex>'): "
                          f"{labelled!r}")
    alg = check_algorithm(alg)
    try:
        raw = bytes.fromhex(hexpart)
    except ValueError:
        raise DigestError(f"digest {labelled!r} is not hexadecimal") from None
    if len(raw) != 32:
        raise DigestError(f"digest {labelled!r} has {len(raw)} bytes, want 32")
    return alg, hexpart.lower()


def digest_bytes(data: Buffer, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """The hex digest of ``data``."""
    d = Digest(algorithm)
    d.update(data)
    return d.hexdigest()


def digest_stream(stream: BinaryIO, algorithm: str = DEFAULT_ALGORITHM, *,
                  chunk_size: int = CHUNK_SIZE,
                  progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Read ``stream`` to its end; return ``(hex digest, bytes read)``.

    ``progress(n)`` is called with the number of bytes of each chunk read.
    """
    d = Digest(algorithm)
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    while True:
        n = stream.readinto(view)  # type: ignore[attr-defined]
        if not n:
            break
        d.update(view[:n])
        if progress is not None:
            progress(n)
    return d.hexdigest(), d.size


def digest_file(path: str | os.PathLike[str], algorithm: str = DEFAULT_ALGORITHM, *,
                chunk_size: int = CHUNK_SIZE,
                progress: Callable[[int], None] | None = None) -> str:
    """The hex digest of the file at ``path``, read in chunks of ``chunk_size`` bytes."""
    with open(path, "rb", buffering=0) as f:
        return digest_stream(f, algorithm, chunk_size=chunk_size, progress=progress)[0]


class HashingReader:
    """Wrap a binary stream so that every byte read through it is also hashed.

    Hand it to anything that reads a file object (an upload, a copy) and ask
    :meth:`hexdigest` at the end: the bytes are read once, for both purposes.
    """

    def __init__(self, stream: BinaryIO, algorithm: str = DEFAULT_ALGORITHM) -> None:
        self._stream = stream
        self.digest = Digest(algorithm)

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all when negative) and hash them."""
        data = self._stream.read(size)
        if data:
            self.digest.update(data)
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        """Read into ``buf`` and hash what was read."""
        n = self._stream.readinto(buf)  # type: ignore[attr-defined]
        if n:
            self.digest.update(memoryview(buf)[:n])
        return n or 0

    @property
    def bytes_read(self) -> int:
        """How many bytes went through the reader."""
        return self.digest.size

    def hexdigest(self) -> str:
        """The hex digest of the bytes read so far."""
        return self.digest.hexdigest()

    def labelled(self) -> str:
        """The labelled digest of the bytes read so far."""
        return self.digest.labelled()
