"""Hostile disk images against the real qemu-img/qemu-nbd (docs/safety.md): a qcow2 whose
backing file is a local secret, a vmdk whose extent is one, protocol backings, an external
data file, and source paths outside the datastore roots are refused with one clear error —
before qemu opens the file they point to (its access time does not move) and with no output
written."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors import qemu

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not for the cloud\n" * 100


def _img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A "private key" outside the datastore, 1 MiB so it can back a 1 MiB disk."""
    path = tmp_path / "home" / ".ssh" / "id_ed25519"
    path.parent.mkdir(parents=True)
    path.write_bytes(SECRET.ljust(1 << 20, b"\0"))
    return path


@pytest.fixture
def datastore(tmp_path: Path) -> Path:
    folder = tmp_path / "datastore"
    folder.mkdir()
    return folder


def _untouched(path: Path) -> None:
    """Make any later read of ``path`` visible: atime far older than mtime (relatime)."""
    os.utime(path, (0, path.stat().st_mtime))


def _every_read(image: Path, out: Path, fmt: str) -> list[Callable[[], Any]]:
    return [lambda: qemu.admit(image, fmt), lambda: qemu.info(image, fmt),
            lambda: qemu.info(image), lambda: qemu.check(image, fmt),
            lambda: qemu.measure(image, "raw", fmt), lambda: qemu.content_digest(image, fmt=fmt),
            lambda: qemu.convert(image, out, "raw", src_format=fmt),
            lambda: qemu.convert_verified(image, out, "raw", src_format=fmt),
            lambda: qemu.compare(image, image, a_format=fmt, b_format=fmt)]


def _refused_everywhere(image: Path, fmt: str, secret: Path, out: Path, match: str) -> None:
    _untouched(secret)
    for call in _every_read(image, out, fmt):
        with pytest.raises(qemu.ImageRefused, match=match):
            call()
    assert secret.stat().st_atime == 0, "the secret was read"
    assert not out.exists() and not list(out.parent.glob(".*partial*"))


def test_qcow2_backed_by_a_local_secret_is_refused(datastore: Path, secret: Path) -> None:
    evil = datastore / "evil.qcow2"
    _img("create", "-f", "qcow2", "-b", str(secret), "-F", "raw", str(evil), "1M")
    # the hazard, shown once with qemu-img itself: converting leaks the secret's bytes
    leak = datastore.parent / "leak.raw"
    _img("convert", "-f", "qcow2", "-O", "raw", str(evil), str(leak))
    assert leak.read_bytes().startswith(SECRET)
    leak.unlink()
    _refused_everywhere(evil, "qcow2", secret, datastore / "out.raw",
                        rf"backing file '{secret}' points outside its folder")


def test_backing_file_escaping_by_dotdot_or_deeper_in_the_chain(datastore: Path,
                                                                secret: Path) -> None:
    relative = datastore / "rel.qcow2"
    _img("create", "-f", "qcow2", "-u", "-b", "../home/.ssh/id_ed25519", "-F", "raw",
         str(relative), "1M")
    _refused_everywhere(relative, "qcow2", secret, datastore / "out.raw", "points outside")
    # top → base (both in the folder) → the secret: the base's backing is checked too
    base = datastore / "base.qcow2"
    _img("create", "-f", "qcow2", "-b", str(secret), "-F", "raw", str(base), "1M")
    top = datastore / "top.qcow2"
    _img("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", str(top), "1M")
    _refused_everywhere(top, "qcow2", secret, datastore / "out.raw", "points outside")


@pytest.mark.parametrize("backing", [
    "nbd://127.0.0.1:1/x", "http://169.254.169.254/latest/meta-data", "file:{secret}",
    'json:{{"file": {{"driver": "file", "filename": "{secret}"}}}}'])
def test_protocol_backing_is_never_followed(datastore: Path, secret: Path, backing: str) -> None:
    evil = datastore / "proto.qcow2"
    _img("create", "-f", "qcow2", "-u", "-b", backing.format(secret=secret), "-F", "raw",
         str(evil), "1M")
    _refused_everywhere(evil, "qcow2", secret, datastore / "out.raw",
                        "is not a file in its folder|points outside its folder")


def test_qcow2_external_data_file_outside_is_refused(datastore: Path, secret: Path,
                                                     tmp_path: Path) -> None:
    evil = datastore / "data.qcow2"
    _img("create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'elsewhere.raw'}",
         str(evil), "1M")
    _refused_everywhere(evil, "qcow2", secret, datastore / "out.raw",
                        "external data file .* points outside")


def _descriptor(extent: str) -> str:
    """A monolithicFlat vmdk descriptor whose one extent is the file ``extent``."""
    return ("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
            'createType="monolithicFlat"\n\n# Extent description\n'
            f'RW 2048 FLAT "{extent}" 0\n\n# The Disk Data Base\nddb.virtualHWVersion = "4"\n')


@pytest.mark.parametrize("extent", ["{secret}", "../home/.ssh/id_ed25519"])
def test_vmdk_extent_pointing_at_a_secret_is_refused(datastore: Path, secret: Path,
                                                     extent: str) -> None:
    evil = datastore / "evil.vmdk"
    evil.write_text(_descriptor(extent.format(secret=secret)))
    # the hazard: qemu-img follows the extent and serves the secret as the disk
    leak = datastore.parent / "leak.raw"
    _img("convert", "-f", "vmdk", "-O", "raw", str(evil), str(leak))
    assert leak.read_bytes().startswith(SECRET)
    leak.unlink()
    _refused_everywhere(evil, "vmdk", secret, datastore / "out.raw",
                        "its extent .* points outside")


def test_images_inside_their_folder_are_admitted(datastore: Path) -> None:
    base = datastore / "base.raw"
    base.write_bytes(b"base data".ljust(1 << 20, b"\0"))
    top = datastore / "top.qcow2"
    _img("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", str(top), "1M")
    info = qemu.admit(top, "qcow2", roots=[datastore])
    assert info.format == "qcow2" and info.backing_file is not None
    assert qemu.content_digest(top, fmt="qcow2") == qemu.content_digest(base, fmt="raw")
    flat = datastore / "flat.vmdk"
    flat.write_text(_descriptor("base.raw"))
    assert qemu.admit(flat, "vmdk", roots=[datastore]).virtual_size == 1 << 20


def test_source_paths_only_under_the_datastore_roots(datastore: Path, secret: Path) -> None:
    disk = datastore / "disk.raw"
    disk.write_bytes(b"\0" * 4096)
    assert qemu.source_path(disk, [datastore]) == disk.resolve()
    link = datastore / "innocent.raw"
    link.symlink_to(secret)
    refused = {
        f"{datastore}/../home/.ssh/id_ed25519": "contains '..'",
        "/dev/../" + str(secret).lstrip("/"): "contains '..'",
        str(link): "outside the datastore roots",
        str(secret): "outside the datastore roots",
        "/dev/null": "device or system file",
        "/proc/self/environ": "device or system file",
    }
    _untouched(secret)
    for path, why in refused.items():
        with pytest.raises(qemu.ImageRefused, match=why):
            qemu.admit(path, "raw", roots=[datastore])
    with pytest.raises(qemu.ImageRefused, match="no datastore roots"):
        qemu.source_path(disk, [])
    for root in ("/", "/dev", "/proc/1"):
        with pytest.raises(qemu.ImageRefused, match="is not allowed"):
            qemu.source_path(disk, [root])
    assert secret.stat().st_atime == 0
