"""The pure image helpers: format names, target choice, size maths, progress parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shangyun import images
from shangyun.images import ImageInfo, ProgressParser

QEMU_OUTPUT = "    (0.00/100%)\r    (12.50/100%)\r    (50.00/100%)\r    (100.00/100%)\r\n"


def test_format_names_round_trip() -> None:
    assert images.qemu_format("vhd") == "vpc"
    assert images.qemu_format("VPC") == "vpc"
    assert images.estate_format("vpc") == "vhd"
    for f in ("raw", "qcow2", "vmdk", "vhd", "vhdx"):
        assert images.estate_format(images.qemu_format(f)) == f
    with pytest.raises(images.UnknownFormat, match="ova"):
        images.qemu_format("ova")


def test_choose_target_format_keeps_source_when_accepted() -> None:
    assert images.choose_target_format("raw", ["qcow2", "raw"]) == "raw"
    assert images.choose_target_format("vmdk", ["qcow2", "raw"]) == "qcow2"
    assert images.choose_target_format("vhdx", ["raw", "vmdk", "vhd"]) == "raw"
    assert images.choose_target_format("vpc", ["vhd"]) == "vhd"
    with pytest.raises(ValueError):
        images.choose_target_format("raw", [])


def test_estimate_output_bytes() -> None:
    gib = 1 << 30
    assert images.estimate_output_bytes(10 * gib, 1 * gib, "raw") == 10 * gib
    est = images.estimate_output_bytes(10 * gib, 1 * gib, "qcow2")
    assert gib < est < gib + 16 * 1024 * 1024
    # unknown allocation counts the full virtual size
    assert images.estimate_output_bytes(gib, None, "vmdk") > gib
    assert images.staging_shortfall(100, 60, reserve=10) == 50
    assert images.staging_shortfall(10, 60) == 0


def test_parse_progress() -> None:
    assert images.parse_progress(QEMU_OUTPUT) == [0.0, 12.5, 50.0, 100.0]
    assert images.parse_progress("no progress here") == []


def test_progress_parser_handles_partial_chunks() -> None:
    p = ProgressParser()
    assert p.feed("    (12.5") == []
    assert p.feed("0/100%)\r    (30.00/1") == [12.5]
    assert p.feed("00%)\r") == [30.0]
    assert p.feed("    (20.00/100%)\r") == []  # never goes backwards
    assert p.last == 30.0


@given(st.lists(st.integers(min_value=1, max_value=len(QEMU_OUTPUT)), max_size=20))
def test_progress_parser_any_chunking_same_result(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks, prev = [], 0
    for c in [*points, len(QEMU_OUTPUT)]:
        chunks.append(QEMU_OUTPUT[prev:c])
        prev = c
    p = ProgressParser()
    seen = [v for ch in chunks for v in p.feed(ch)]
    assert seen == [12.5, 50.0, 100.0]


def test_image_info_from_qemu_json() -> None:
    data = {
        "virtual-size": 8388608, "filename": "x.vmdk", "cluster-size": 65536,
        "format": "vmdk", "actual-size": 90112, "dirty-flag": False,
        "format-specific": {"type": "vmdk", "data": {"create-type": "streamOptimized",
                                                     "cid": 1}},
    }
    info = ImageInfo.from_qemu_json(data, path="/x.vmdk")
    assert (info.format, info.subformat, info.virtual_size) == ("vmdk", "streamOptimized",
                                                                8388608)
    assert info.to_dict()["path"] == "/x.vmdk"
    vpc = ImageInfo.from_qemu_json({"virtual-size": 1, "format": "vpc", "dirty-flag": True})
    assert vpc.format == "vhd" and vpc.dirty and vpc.actual_size is None


def test_digest_strings() -> None:
    hexd = "ab" * 32
    assert images.digest_string("SHA256", hexd.upper()) == f"sha256:{hexd}"
    assert images.split_digest(f"sm3:{hexd}") == ("sm3", hexd)
    assert images.split_digest(hexd) == ("sha256", hexd)
    with pytest.raises(ValueError, match="not a digest"):
        images.split_digest("xyz")
    assert images.human_bytes(1536) == "1.5 KiB"
    assert images.human_bytes(12) == "12 B"
