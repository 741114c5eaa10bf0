"""connectors.qemu against the real qemu-img/qemu-nbd: every legacy format converted,
compared and digested; flipped bytes caught; failures leave nothing half-written."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from connectors import qemu
from shangyun.errors import VerificationError
from tests.images.conftest import MIB, SOURCES, Disk, make_content, write_raw

SOURCE_NAMES = [name for name, _, _ in SOURCES]


def test_info_reports_each_format(source_disks: dict[str, Disk]) -> None:
    for name, disk in source_disks.items():
        info = qemu.info(disk.path)
        assert info.format == disk.fmt, name
        assert info.virtual_size == len(disk.content), name
        assert info.backing_file is None and not info.dirty
        assert qemu.detect_format(disk.path) == disk.fmt
    assert qemu.info(source_disks["vmdk-stream"].path).subformat == "streamOptimized"
    assert qemu.info(source_disks["vmdk-sparse"].path).subformat == "monolithicSparse"


@pytest.mark.parametrize("src_name", SOURCE_NAMES)
@pytest.mark.parametrize("dst_fmt", ["qcow2", "raw"])
def test_convert_compare_and_digest(source_disks: dict[str, Disk], tmp_path: Path,
                                    src_name: str, dst_fmt: str) -> None:
    disk = source_disks[src_name]
    seen: list[float] = []
    dst = tmp_path / f"out.{dst_fmt}"
    out = qemu.convert(disk.path, dst, dst_fmt, src_format=disk.fmt, progress=seen.append)
    assert out.format == dst_fmt and out.virtual_size == len(disk.content)
    assert len(seen) >= 3 and seen[-1] == 100.0 and seen == sorted(seen)  # real -p output
    assert qemu.compare(disk.path, dst)
    assert qemu.content_digest(dst) == disk.sha256
    assert qemu.content_digest(disk.path, fmt=disk.fmt) == disk.sha256
    assert qemu.verify_copy(disk.path, dst, expected_digest=disk.sha256) == disk.sha256
    assert [p.name for p in tmp_path.iterdir()] == [dst.name]  # no temp file left behind


def test_sm3_content_digest_matches_independent_sm3(source_disks: dict[str, Disk]) -> None:
    disk = source_disks["vhdx"]
    h = hashes.Hash(hashes.SM3())
    h.update(disk.content)
    expected = "sm3:" + h.finalize().hex()
    assert qemu.content_digest(disk.path, "sm3") == expected
    assert qemu.content_digest(source_disks["raw"].path, "sm3") == expected


def test_convert_to_legacy_formats_keeps_content(source_disks: dict[str, Disk],
                                                 tmp_path: Path) -> None:
    disk = source_disks["qcow2"]
    for fmt, sub in (("vmdk", "streamOptimized"), ("vhd", None), ("vhdx", None)):
        dst = tmp_path / f"x.{fmt}"
        qemu.convert(disk.path, dst, fmt, subformat=sub)
        assert qemu.info(dst).virtual_size == len(disk.content)  # vhd: force_size applied
        assert qemu.content_digest(dst) == disk.sha256


def test_flipped_byte_in_raw_output_is_detected(source_disks: dict[str, Disk],
                                                tmp_path: Path) -> None:
    disk = source_disks["vmdk-sparse"]
    dst = tmp_path / "out.raw"
    qemu.convert(disk.path, dst, "raw")
    offset = 3 * MIB + 17
    with dst.open("r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))
    assert not qemu.compare(disk.path, dst)
    assert qemu.content_digest(dst) != disk.sha256
    with pytest.raises(VerificationError, match="differs"):
        qemu.verify_copy(disk.path, dst, expected_digest=disk.sha256)


def test_flipped_byte_in_qcow2_output_is_detected(source_disks: dict[str, Disk],
                                                  tmp_path: Path) -> None:
    disk = source_disks["vhd"]
    dst = tmp_path / "out.qcow2"
    qemu.convert(disk.path, dst, "qcow2")
    flipped = bytes([disk.content[512] ^ 0xFF])
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P {flipped[0]} 512 1", str(dst)],
                   check=True, capture_output=True)
    assert not qemu.compare(disk.path, dst)
    assert qemu.content_digest(dst) != disk.sha256
    # the digest alone (compare passing is impossible here) also names the file
    with pytest.raises(VerificationError, match=str(dst)):
        qemu.verify_copy(disk.path, dst, expected_digest=disk.sha256)


def test_check_reports_supported_and_unsupported(source_disks: dict[str, Disk]) -> None:
    ok = qemu.check(source_disks["qcow2"].path)
    assert ok.supported and ok.ok and ok.corruptions == 0
    raw = qemu.check(source_disks["raw"].path)
    assert not raw.supported and raw.ok


def test_check_finds_corrupt_qcow2(source_disks: dict[str, Disk], tmp_path: Path) -> None:
    bad = tmp_path / "bad.qcow2"
    shutil.copyfile(source_disks["qcow2"].path, bad)
    # zero the first refcount table entry: every cluster loses its refcount
    with bad.open("r+b") as fh:
        header = fh.read(104)
        refcount_table = int.from_bytes(header[48:56], "big")
        fh.seek(refcount_table)
        fh.write(bytes(8))
    result = qemu.check(bad)
    assert result.supported and not result.ok and result.corruptions > 0


def test_missing_and_garbage_images_raise_clear_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.vmdk"
    with pytest.raises(qemu.ImageUnreadable, match=r"nope\.vmdk.*does not exist"):
        qemu.info(missing)
    garbage = tmp_path / "garbage.qcow2"
    garbage.write_bytes(b"this is not a qcow2 image" * 100)
    with pytest.raises(qemu.ImageUnreadable, match=r"garbage\.qcow2"):
        qemu.info(garbage, "qcow2")
    dst = tmp_path / "out.raw"
    dst.write_bytes(b"previous good image")
    with pytest.raises(qemu.QemuImgError, match=r"garbage\.qcow2"):
        qemu.convert(garbage, dst, "raw", src_format="qcow2", check_space=False)
    assert dst.read_bytes() == b"previous good image"  # the old dst is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.qcow2", "out.raw"]


def test_missing_qemu_img_is_named(source_disks: dict[str, Disk], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without qemu-img
    with pytest.raises(qemu.QemuImgMissing, match="qemu-img is not installed"):
        qemu.info(source_disks["qcow2"].path)
    with pytest.raises(qemu.QemuImgMissing, match="qemu-nbd"):
        qemu.content_digest(source_disks["qcow2"].path, fmt="qcow2")


def test_timeout_kills_and_leaves_nothing(source_disks: dict[str, Disk],
                                          tmp_path: Path) -> None:
    dst = tmp_path / "slow.qcow2"
    with pytest.raises(qemu.QemuTimeout, match=r"slow\.qcow2"):
        qemu.convert(source_disks["vhdx"].path, dst, "qcow2", src_format="vhdx",
                     timeout=1e-9, check_space=False)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of our own (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / f"staging-{uuid.uuid4().hex[:8]}"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "shangyun-test", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_staging_full_is_caught_before_writing(small_tmpfs: Path, tmp_path: Path) -> None:
    src = tmp_path / "big.raw"
    write_raw(src, make_content(seed=9))
    with pytest.raises(qemu.StagingFullError, match="staging full") as err:
        qemu.convert(src, small_tmpfs / "big.qcow2", "qcow2", src_format="raw")
    assert err.value.needed is not None and err.value.free is not None
    assert err.value.needed > err.value.free
    assert list(small_tmpfs.iterdir()) == []


def test_enospc_during_convert_leaves_no_partial_and_rerun_works(small_tmpfs: Path,
                                                                 tmp_path: Path) -> None:
    src = tmp_path / "big.raw"
    content = make_content(seed=9)
    write_raw(src, content)
    dst = small_tmpfs / "big.qcow2"
    with pytest.raises(qemu.StagingFullError, match="no space left on device"):
        qemu.convert(src, dst, "qcow2", src_format="raw", check_space=False)
    assert list(small_tmpfs.iterdir()) == []
    # space freed (the tmpfs grows): the same call now succeeds and verifies
    subprocess.run(["mount", "-o", "remount,size=32m", str(small_tmpfs)], check=True)
    qemu.convert(src, dst, "qcow2", src_format="raw")
    assert qemu.content_digest(dst) == "sha256:" + hashlib.sha256(content).hexdigest()


def test_ensure_space(tmp_path: Path) -> None:
    free = qemu.free_bytes(tmp_path)
    assert qemu.ensure_space(tmp_path, 1) == free or qemu.ensure_space(tmp_path, 1) > 0
    with pytest.raises(qemu.StagingFullError, match=str(tmp_path)):
        qemu.ensure_space(tmp_path, free + (1 << 40))


def test_measure_is_at_least_the_data(source_disks: dict[str, Disk]) -> None:
    disk = source_disks["vmdk-sparse"]
    data = sum(1 for i in range(0, len(disk.content), 65536)
               if disk.content[i:i + 65536].count(0) != 65536) * 65536
    assert qemu.measure(disk.path, "qcow2") >= data
    assert qemu.measure(disk.path, "raw") == len(disk.content)


@pytest.mark.parametrize("src_name", ["vmdk-stream", "vhdx"])
def test_convert_verified_hashes_source_while_converting(
        source_disks: dict[str, Disk], tmp_path: Path, src_name: str) -> None:
    disk = source_disks[src_name]
    dst = tmp_path / "out.qcow2"
    seen: list[float] = []
    v = qemu.convert_verified(disk.path, dst, "qcow2", src_format=disk.fmt,
                              use_compare=True, progress=seen.append)
    assert v.source_digest == v.digest == disk.sha256 and v.compared
    assert v.info.format == "qcow2" and seen[-1] == 100.0
    assert v.to_dict()["digest"] == disk.sha256
    sm3 = qemu.convert_verified(disk.path, tmp_path / "out.raw", "raw", algorithm="sm3")
    assert sm3.digest.startswith("sm3:") and sm3.digest == sm3.source_digest


def test_convert_verified_removes_output_on_mismatch(source_disks: dict[str, Disk],
                                                     tmp_path: Path) -> None:
    disk = source_disks["vhd"]
    dst = tmp_path / "out.qcow2"
    wrong = "sha256:" + "0" * 64
    with pytest.raises(VerificationError, match=r"out\.qcow2.*differs"):
        qemu.convert_verified(disk.path, dst, "qcow2", source_digest=wrong)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("chunk", [4096, 65536, 3 * MIB])
def test_nbd_digest_in_many_requests(source_disks: dict[str, Disk], chunk: int) -> None:
    """Small and odd chunk sizes: many NBD requests in flight, the last one short."""
    disk = source_disks["vhdx"]
    assert qemu.content_digest(disk.path, fmt="vhdx", chunk_size=chunk) == disk.sha256
    assert qemu.content_digest(source_disks["raw"].path, chunk_size=chunk) == disk.sha256


def test_convert_never_overwrites_its_source(source_disks: dict[str, Disk],
                                             tmp_path: Path) -> None:
    src = tmp_path / "same.qcow2"
    shutil.copyfile(source_disks["qcow2"].path, src)
    before = src.read_bytes()
    with pytest.raises(qemu.QemuImgError, match="source image itself"):
        qemu.convert(src, tmp_path / "." / "same.qcow2", "raw")
    assert src.read_bytes() == before
