"""The Done-when test on the real lab (``lab``): every VM of the lab's bureau
hypervisors (disks in every legacy format, known content digests) replicated onto the lab's
libvirt cloud through S3 staging (moto), every byte verified. Slow: the lab starts sshd
hosts and databases too."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors import qemu
from connectors.journal.wave import open_journal
from flows.move import move_wave
from lab import LabState
from shangyun.estate import Estate
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import write_plan

pytestmark = [pytest.mark.slow, pytest.mark.lab]


@pytest.fixture(scope="module")
def lab() -> Iterator[LabState]:
    """A lab with two bureaus, up for this module."""
    from tests.lab_support import lab_session

    with lab_session(None, bureaus=2) as state:  # under /tmp: the lab DBs need o+x
        yield state


def _estate_from_lab(lab: LabState, root: Path) -> dict[str, str]:
    """One system per lab domain with images; returns image path -> content sha256."""
    bureaus, systems, hosts, disks = [], [], [], []
    digests: dict[str, str] = {}
    by_domain: dict[tuple[str, str], list] = {}
    for img in lab.images:
        by_domain.setdefault((img.bureau, img.domain), []).append(img)
        digests[img.path] = img.sha256
    uris = {hv.bureau: hv.uri for hv in lab.hypervisors}
    for b in sorted({k[0] for k in by_domain}):
        bureaus.append({"id": b, "name": b, "kind": "bureau", "link_mbps": 200})
    for i, ((b, dom), imgs) in enumerate(sorted(by_domain.items())):
        sid, hid = f"sys-{i:02d}", f"host-{i:02d}"
        systems.append({"id": sid, "name": f"{dom} 系统", "bureau_id": b})
        hosts.append({"id": hid, "hostname": dom, "system_id": sid, "bureau_id": b,
                      "kind": "vm", "hypervisor": uris[b], "cpu_cores": 1,
                      "memory_gb": 0.25})  # the lab cloud is small: 12 test launches
        for j, img in enumerate(imgs):
            disks.append({"id": f"disk-{i:02d}-{j}", "host_id": hid, "format": img.format,
                          "size_gb": img.virtual_size / 2**30, "path": img.path})
    meta = {"name": "lab-wave", "datastore_roots": lab.datastore_roots()}
    Estate.from_records(meta, {"bureaus": bureaus, "systems": systems, "hosts": hosts,
                               "disks": disks}).save(root)
    write_plan(root, {1: [[s["id"]] for s in systems]})
    return digests


def test_lab_wave_every_legacy_format_onto_libvirt_cloud_through_s3(
        prefect_harness: None, lab: LabState, tmp_path: Path, moto_endpoint: str,
        bucket: str) -> None:
    root = tmp_path / "estate"
    digests = _estate_from_lab(lab, root)
    formats = {(i.format, i.subformat) for i in lab.images}
    assert {f for f, _ in formats} >= {"vmdk", "vhd", "vhdx", "qcow2", "raw"}
    pool = ET.parse(lab.cloud_node_xml).getroot().find("pool/name")
    assert pool is not None and pool.text  # the lab's cloud names its pool in the node XML
    opts = RunOptions(target="libvirt",
                      target_options={"uri": lab.cloud_uri, "pool": pool.text},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket, part_size=5 * 2**20)
    result = move_wave(str(root), 1, options=opts.to_dict())
    assert result["state"] == "done", result
    est = Estate.load(root, check=False)
    with open_journal(root) as j:
        recs = {r.key: r for r in j.records(1)}
    for d in est.rows("disks"):
        sid = "sys-" + d["id"].split("-")[1]
        conv = recs[f"{sid}/convert/{d['id']}"].payload
        assert conv["content_digest"] == f"sha256:{digests[d['path']]}"
        vol = Path(recs[f"{sid}/import/{d['id']}"].payload["disk"]["disk_id"])
        assert qemu.content_digest(vol, "sha256", fmt="qcow2") == conv["content_digest"]
