"""Streaming SHA-256 and SM3 digests against published test vectors and hashlib."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from shangyun.digest import (
    Digest,
    DigestError,
    HashingReader,
    digest_bytes,
    digest_file,
    digest_stream,
    label,
    parse_label,
)

# GB/T 32905-2016 appendix A examples
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM3_ABCD16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm3_vectors() -> None:
    assert digest_bytes(b"abc", "sm3") == SM3_ABC
    assert digest_bytes(b"abcd" * 16, "SM3") == SM3_ABCD16


def test_chunked_equals_whole(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "blob"
    path.write_bytes(data)
    for alg in ("sha256", "sm3"):
        whole = digest_bytes(data, alg)
        d = Digest(alg)
        for i in range(0, len(data), 65_537):
            d.update(memoryview(data)[i:i + 65_537])
            assert d.size == min(i + 65_537, len(data))
        assert d.hexdigest() == whole == digest_file(path, alg, chunk_size=100_000)
        seen: list[int] = []
        assert digest_stream(io.BytesIO(data), alg, progress=seen.append) == (whole, len(data))
        assert sum(seen) == len(data)
    assert digest_bytes(data) == hashlib.sha256(data).hexdigest()


def test_hashing_reader_hashes_what_passes_through() -> None:
    data = os.urandom(100_000)
    reader = HashingReader(io.BytesIO(data), "sm3")
    got = reader.read(1000) + reader.read()
    assert got == data and reader.bytes_read == len(data)
    assert reader.labelled() == f"sm3:{digest_bytes(data, 'sm3')}"


def test_labels() -> None:
    h = digest_bytes(b"x")
    assert parse_label(label("SHA-256", h)) == ("sha256", h)
    with pytest.raises(DigestError, match="unknown digest algorithm 'md5'"):
        Digest("md5")
    with pytest.raises(DigestError, match="not a labelled digest"):
        parse_label(h)
    with pytest.raises(DigestError, match="has 2 bytes"):
        parse_label("sm3:abcd")
