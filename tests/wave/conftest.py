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
                 formats: list[tuple[str, str, list[str]]] | None = None) -> WaveEstate:
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
            out.digests[did] = make_raw(raw, seed=10 * i + j)
            img = images_dir / f"{did}.{suffix}"
            make_image(raw, img, args)
            raw.unlink()
            out.images[did] = img
            paths.append(img)
            disks.append({"id": did, "host_id": hid, "name": f"disk{j}",
                          "size_gb": IMAGE_MIB / 1024, "format": fmt, "path": str(img)})
        domains.append((f"vm{i + 1:02d}", paths))
    node_xml(xml, domains)
    out.node_xml = xml
    est = Estate.from_records({"name": "wave-test"}, {
        "bureaus": bureaus, "systems": systems, "hosts": hosts, "disks": disks})
    est.save(root)
    write_plan(root, {1: [[s["id"]] for s in systems]})
    return out


def write_plan(root: Path, waves: dict[int, list[list[str]]]) -> None:
    """A plan.yaml: wave number -> move groups (lists of system ids)."""
    est = Estate.load(root, check=False)
    plan = {"schema_version": 1, "estate_fingerprint": est.fingerprint(), "waves": [
        {"number": n, "move_groups": [{"id": f"mg-{n}-{k}", "systems": g}
                                      for k, g in enumerate(groups)]}
        for n, groups in waves.items()]}
    (root / "plan").mkdir(exist_ok=True)
    (root / "plan" / "plan.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True),
                                            encoding="utf-8")


@pytest.fixture(scope="session")
def images_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session folder for source images."""
    return tmp_path_factory.mktemp("wave-images")


@pytest.fixture
def wave_estate(tmp_path: Path) -> Iterator[WaveEstate]:
    """A fresh three-system estate with images in every legacy format and a plan."""
    yield build_estate(tmp_path / "estate", tmp_path / "images")
