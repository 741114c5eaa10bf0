"""Fixtures for the wave tests: a small estate whose hosts have real disk images in every
legacy format (made with qemu-img, known content), a source hypervisor node XML, and a plan.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from shangyun.estate import Estate
from tests.support import moto_server, tmpfs_mounted

MIB = 1024 * 1024
IMAGE_MIB = 12
FORMATS: list[tuple[str, str, list[str]]] = [
    # (estate format, file suffix, extra qemu-img convert args)
    ("vmdk", "vmdk", ["-O", "vmdk"]),
    ("vhd", "vhd", ["-O", "vpc", "-o", "force_size=on"]),
    ("vhdx", "vhdx", ["-O", "vhdx"]),
    ("qcow2", "qcow2", ["-O", "qcow2"]),
    ("raw", "img", ["-O", "raw"]),
    ("vmdk", "stream.vmdk", ["-O", "vmdk", "-o", "subformat=streamOptimized"]),
]


@dataclass
class WaveEstate:
    """A test estate: its folder, the images (disk id -> path) and content digests."""

    root: Path
    images: dict[str, Path] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    node_xml: Path | None = None


def make_raw(path: Path, seed: int, mib: int = IMAGE_MIB) -> str:
    """A raw image with a deterministic pattern, a sparse hole and a tail; its SHA-256."""
    block = hashlib.sha256(f"seed-{seed}".encode()).digest() * (MIB // 32)
    with path.open("wb") as f:
        for i in range(mib):
            if mib // 3 <= i < 2 * mib // 3:
                f.seek(MIB, os.SEEK_CUR)  # hole: reads as zeros
                continue
            f.write(bytes([i % 251]) + block[1:])
        f.truncate(mib * MIB)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_image(src_raw: Path, dst: Path, args: list[str]) -> None:
    """Convert the raw pattern image into a legacy format with qemu-img."""
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", *args, str(src_raw), str(dst)],
                   check=True)


def node_xml(path: Path, domains: list[tuple[str, list[Path]]]) -> None:
    """A libvirt test-driver node XML whose domains use the given disk images."""
    doms = []
    for name, disks in domains:
        devs = "".join(
            f"<disk type='file' device='disk'><source file='{d}'/>"
            f"<target dev='vd{chr(97 + i)}' bus='virtio'/></disk>" for i, d in enumerate(disks))
        doms.append(f"<domain type='test'><name>{name}</name><memory>1048576</memory>"
                    f"<vcpu>1</vcpu><os><type>hvm</type></os><devices>{devs}</devices>"
                    "</domain>")
    path.write_text(f"<node>{''.join(doms)}</node>", encoding="utf-8")


def build_estate(root: Path, images_dir: Path, n_systems: int = 3,
                 formats: list[tuple[str, str, list[str]]] | None = None,
                 mib: int = IMAGE_MIB, groups: list[list[str]] | None = None) -> WaveEstate:
    """An estate of ``n_systems`` systems over two bureaus; every format appears once."""
    formats = formats or FORMATS
    images_dir.mkdir(parents=True, exist_ok=True)
    out = WaveEstate(root=root)
    bureaus = [{"id": "bureau-01", "name": "一局", "kind": "bureau", "link_mbps": 100},
               {"id": "bureau-02", "name": "二局", "kind": "bureau", "link_mbps": 50}]
    systems, hosts, disks = [], [], []
    names = ["审批系统", "档案系统", "办公系统", "财务系统", "门户网站", "监测系统"]
    domains: list[tuple[str, list[Path]]] = []
    xml = images_dir / "source-node.xml"
    for i in range(n_systems):
        sid = f"sys-{i + 1:02d}"
        systems.append({"id": sid, "name": names[i % len(names)] + ("" if i < 6 else str(i)),
                        "bureau_id": bureaus[i % 2]["id"]})
        hid = f"host-{i + 1:02d}"
        hosts.append({"id": hid, "hostname": f"vm{i + 1:02d}", "system_id": sid,
                      "bureau_id": bureaus[i % 2]["id"], "kind": "vm",
                      "hypervisor": f"test://{xml}", "cpu_cores": 1, "memory_gb": 1})
        paths = []
        for j in range(2):
            fmt, suffix, args = formats[(2 * i + j) % len(formats)]
            did = f"disk-{i + 1:02d}-{j}"
            raw = images_dir / f"{did}.src.raw"
            out.digests[did] = make_raw(raw, seed=10 * i + j, mib=mib)
            img = images_dir / f"{did}.{suffix}"
            make_image(raw, img, args)
            raw.unlink()
            out.images[did] = img
            paths.append(img)
            disks.append({"id": did, "host_id": hid, "name": f"disk{j}",
                          "size_gb": mib / 1024, "format": fmt, "path": str(img)})
        domains.append((f"vm{i + 1:02d}", paths))
    node_xml(xml, domains)
    out.node_xml = xml
    # the images may be read from their folder only (docs/safety.md Q4): per bureau
    roots = {b["id"]: [str(images_dir)] for b in bureaus}
    est = Estate.from_records({"name": "wave-test", "datastore_roots": roots}, {
        "bureaus": bureaus, "systems": systems, "hosts": hosts, "disks": disks})
    est.save(root)
    write_plan(root, {1: groups or [[s["id"]] for s in systems]})
    return out


def write_plan(root: Path, waves: dict[int, list[list[str]]]) -> None:
    """The planner's files (plan.yaml + move_groups.csv) for wave number -> move groups."""
    est = Estate.load(root, check=False)
    plan = {"schema_version": 1, "estate_fingerprint": est.fingerprint(), "waves": [
        {"number": n, "systems": sum(len(g) for g in groups)} for n, groups in waves.items()]}
    (root / "plan").mkdir(exist_ok=True)
    (root / "plan" / "plan.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True),
                                            encoding="utf-8")
    lines = ["id,wave,systems"] + [f"mg-{n}-{k},{n},{';'.join(g)}"
                                   for n, groups in waves.items() for k, g in enumerate(groups)]
    (root / "plan" / "move_groups.csv").write_text("\n".join(lines) + "\n",
                                                  encoding="utf-8-sig")


@pytest.fixture(scope="session")
def images_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session folder for source images."""
    return tmp_path_factory.mktemp("wave-images")


@pytest.fixture
def wave_estate(tmp_path: Path) -> Iterator[WaveEstate]:
    """A fresh three-system estate with images in every legacy format and a plan."""
    yield build_estate(tmp_path / "estate", tmp_path / "images")


# 64 GiB of node memory: the test driver's default node has 3 GiB, which a wave of four
# 1 GiB systems outgrows when a system's pre-check comes after the others' test and
# production instances (seen in a full run: "memory: needs 1024 MiB, 0 MiB free").
CLOUD_NODE = """<node>
  <memory>67108864</memory>
  <pool type='dir'>
    <name>cloud-pool</name>
    <uuid>{pool_uuid}</uuid>
    <capacity unit='GiB'>100</capacity>
    <allocation>0</allocation>
    <available unit='GiB'>100</available>
    <source/>
    <target><path>{pool_path}</path></target>
  </pool>
</node>
"""


@dataclass(frozen=True)
class Cloud:
    """A libvirt test-driver "cloud": URI, pool name and pool folder."""

    uri: str
    pool: str
    pool_path: Path


@pytest.fixture
def cloud(tmp_path: Path) -> Cloud:
    """An empty target cloud with a dir pool (state lives in the connection)."""
    import uuid

    pool = tmp_path / "cloud-pool"
    pool.mkdir()
    node = tmp_path / "cloud-node.xml"
    node.write_text(CLOUD_NODE.format(pool_uuid=uuid.uuid4(), pool_path=pool))
    return Cloud(uri=f"test://{node}", pool="cloud-pool", pool_path=pool)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs mounted for the test (staging that fills up); unmounted after."""
    with tmpfs_mounted(tmp_path / "tmpfs-staging", "size=24m") as mnt:
        yield mnt


REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's ThreadedMotoServer on 127.0.0.1 (a free port): S3 and EC2 for the wave tests."""
    with moto_server() as url:
        yield url


def s3_client(endpoint: str) -> object:
    """A plain boto3 S3 client for checking what landed (when_required checksums)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                        config=Config(request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    """A fresh staging bucket for one test."""
    import uuid

    name = f"wave-stage-{uuid.uuid4().hex[:10]}"
    s3_client(moto_endpoint).create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name
