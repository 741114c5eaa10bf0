"""Bureau hypervisors and the target cloud as libvirt ``test://`` node definitions.

Each bureau's node XML defines one domain per legacy image format (running and shut off,
BIOS and UEFI, one or two NICs), whose disk points at a real image file made by
:mod:`lab.images`. The cloud's node XML has no domains, one network and a
directory storage pool that later wave runs import converted images into.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lab.images import FORMATS, build_image
from lab.state import LabDomain, LabHypervisor, LabImage

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
STATE_CODES = {"running": 1, "shutoff": 5}


def test_uri(node_xml: Path) -> str:
    """The libvirt URI of a test-driver node file (``test:///abs/path/node.xml``)."""
    return f"test://{node_xml.resolve()}"


def _domain_xml(d: LabDomain, disks: list[LabImage]) -> str:
    devs = []
    for i, img in enumerate(disks):
        # libvirt has no name for vhdx: such a disk carries no driver type (the connector
        # then asks qemu-img), as a Hyper-V export imported by hand would
        qfmt = {"vhd": "vpc", "vhdx": ""}.get(img.format, img.format)
        drv = f"<driver name='qemu' type='{qfmt}'/>" if qfmt else "<driver name='qemu'/>"
        devs.append(f"<disk type='file' device='disk'>{drv}"
                    f"<source file={quoteattr(img.path)}/>"
                    f"<target dev='vd{chr(97 + i)}' bus='virtio'/></disk>")
    for i, mac in enumerate(d.macs):
        if i == 0:
            devs.append(f"<interface type='network'><mac address='{mac}'/>"
                        f"<source network={quoteattr(d.network)}/><model type='virtio'/>"
                        "</interface>")
        else:
            devs.append(f"<interface type='bridge'><mac address='{mac}'/>"
                        "<source bridge='br-mgmt'/><model type='e1000'/></interface>")
    fw = " firmware='efi'" if d.firmware == "uefi" else ""
    return (f"<domain type='test' xmlns:test='{TEST_NS}'><name>{d.name}</name>"
            f"<uuid>{d.uuid}</uuid><memory unit='MiB'>{d.memory_mib}</memory>"
            f"<currentMemory unit='MiB'>{d.memory_mib}</currentMemory><vcpu>{d.vcpus}</vcpu>"
            f"<os{fw}><type arch='x86_64'>hvm</type></os><devices>{''.join(devs)}</devices>"
            f"<test:runstate>{STATE_CODES[d.state]}</test:runstate></domain>")


def build_bureau(lab_dir: Path, bureau: str, tag: str) -> tuple[LabHypervisor, list[LabImage]]:
    """Create a bureau's images and node XML; return its hypervisor and images."""
    folder = lab_dir / "hypervisors" / bureau.lower()
    (folder / "images").mkdir(parents=True, exist_ok=True)
    b = int(bureau[1:])
    hv_name = f"{bureau.lower()}-kvm01"
    domains, images, xml = [], [], []
    for i, spec in enumerate(FORMATS):
        kind = spec[4].replace(".", "-")
        name = f"{bureau.lower()}-vm-{kind}"
        img = build_image(folder / "images", name, spec, name, bureau)
        macs = [f"52:54:00:{int(tag[:2], 16):02x}:{b:02x}:{i * 2:02x}"]
        if i % 2 == 0:
            macs.append(f"52:54:00:{int(tag[:2], 16):02x}:{b:02x}:{i * 2 + 1:02x}")
        d = LabDomain(name=name, uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"shangyun-lab/{name}")),
                      state="running" if i % 2 == 0 else "shutoff", vcpus=(1, 2, 4)[i % 3],
                      memory_mib=(512, 1024, 2048)[i % 3],
                      firmware="uefi" if i % 3 == 1 else "bios", macs=macs,
                      network=f"{bureau.lower()}-lan", disks=[img.path])
        domains.append(d)
        images.append(img)
        xml.append(_domain_xml(d, [img]))
    net = (f"<network><name>{bureau.lower()}-lan</name><bridge name='virbr{b}'/>"
           f"<ip address='192.168.{100 + b}.1' netmask='255.255.255.0'/></network>")
    node = folder / "node.xml"
    node.write_text("<node>\n" + "\n".join(xml) + "\n" + net + "\n</node>\n", encoding="utf-8")
    hv = LabHypervisor(bureau=bureau, name=hv_name, uri=test_uri(node), node_xml=str(node),
                       domains=domains)
    return hv, images


def build_cloud(lab_dir: Path) -> tuple[str, str, str]:
    """Create the target cloud's node XML and pool folder; return (uri, node xml, pool)."""
    folder = lab_dir / "cloud"
    pool = folder / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    node = folder / "node.xml"
    node.write_text(
        "<node>\n<network><name>cloud-vpc</name><bridge name='virbr-cloud'/>"
        "<ip address='172.30.0.1' netmask='255.255.0.0'/></network>\n"
        "<pool type='dir'><name>cloud-pool</name><capacity unit='GiB'>1024</capacity>"
        "<allocation unit='GiB'>0</allocation><available unit='GiB'>1024</available>"
        f"<target><path>{pool}</path></target></pool>\n</node>\n", encoding="utf-8")
    return test_uri(node), str(node), str(pool)
