"""Fixtures for the target tests: an empty libvirt "cloud" (test driver node XML with a
storage pool and networks), a moto server for S3 + EC2, and a small converted disk."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.images.conftest import make_content, write_raw
from tests.support import moto_server

CLOUD_NODE = """<node>
  <pool type='dir'>
    <name>cloud-pool</name>
    <uuid>{pool_uuid}</uuid>
    <capacity unit='GiB'>{pool_gib}</capacity>
    <allocation>0</allocation>
    <available unit='GiB'>{pool_gib}</available>
    <source/>
    <target><path>{pool_path}</path></target>
  </pool>
  <network>
    <name>cloud-isolated</name>
    <uuid>{iso_uuid}</uuid>
    <bridge name='{iso_bridge}'/>
  </network>
  <network>
    <name>cloud-prod</name>
    <uuid>{prod_uuid}</uuid>
    <forward mode='nat'/>
    <bridge name='{prod_bridge}'/>
    <ip address='10.99.0.1' netmask='255.255.255.0'/>
  </network>
</node>
"""


@dataclass(frozen=True)
class Cloud:
    """An empty libvirt cloud: its URI, pool name and pool folder."""

    uri: str
    pool: str
    pool_path: Path


@pytest.fixture
def libvirt_cloud(tmp_path: Path) -> Cloud:
    """A fresh test-driver node XML (its state lives only in the connection that opens it)."""
    tag = uuid.uuid4().hex[:6]
    pool_path = tmp_path / "pool"
    pool_path.mkdir()
    node = tmp_path / "cloud-node.xml"
    node.write_text(CLOUD_NODE.format(
        pool_uuid=uuid.uuid4(), pool_gib=100, pool_path=pool_path, iso_uuid=uuid.uuid4(),
        prod_uuid=uuid.uuid4(), iso_bridge=f"syi{tag}", prod_bridge=f"syp{tag}"))
    return Cloud(uri=f"test://{node}", pool="cloud-pool", pool_path=pool_path)


@dataclass(frozen=True)
class Converted:
    """A converted disk ready for import and its content digest."""

    path: Path
    fmt: str
    digest: str
    size: int


@pytest.fixture(scope="session")
def converted_disks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Converted]:
    """The same 8 MiB disk as raw, qcow2, vmdk (streamOptimized) and vhd."""
    root = tmp_path_factory.mktemp("targets-disks")
    content = make_content(seed=11)
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    raw = root / "disk.raw"
    write_raw(raw, content)
    out = {"raw": Converted(raw, "raw", digest, len(content))}
    for fmt, args in (("qcow2", ["-O", "qcow2"]),
                      ("vmdk", ["-O", "vmdk", "-o", "subformat=streamOptimized"]),
                      ("vhd", ["-O", "vpc", "-o", "force_size=on"])):
        path = root / f"disk.{fmt}"
        subprocess.run(["qemu-img", "convert", "-f", "raw", *args, str(raw), str(path)],
                       check=True, capture_output=True)
        out[fmt] = Converted(path, fmt, digest, len(content))
    return out


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's ThreadedMotoServer on 127.0.0.1 (a free port): S3 and EC2."""
    with moto_server() as url:
        yield url
