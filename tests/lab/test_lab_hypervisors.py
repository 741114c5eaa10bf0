"""The lab's hypervisors, images and ledgers, read with the real hypervisor connector."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import libvirt
import pytest
from openpyxl import load_workbook

from connectors import hypervisor as hv
from connectors.grid import read_grids
from lab import LabState
from lab.images import FORMATS, expected_digest
from lab.ledgers import HOST_HEADERS
from shangyun.discovery.domains import to_estate_rows
from shangyun.errors import AuthError, TransientError
from shangyun.estate.schema import DISKS, HOSTS


def test_connector_lists_domains_matching_the_node_xml(lab: LabState) -> None:
    for hyp in lab.hypervisors:
        doms = {d.name: d for d in hv.list_domains(hyp.uri)}
        assert set(doms) == {d.name for d in hyp.domains}
        for want in hyp.domains:
            got = doms[want.name]
            assert got.uuid == want.uuid
            assert got.state == want.state
            assert got.vcpus == want.vcpus and got.memory_mib == want.memory_mib
            assert got.firmware == want.firmware
            assert [n.mac for n in got.nics] == want.macs
            assert got.nics[0].network == want.network and got.nics[0].type == "network"
            assert [d.path for d in got.disks] == want.disks
        states = {d.state for d in doms.values()}
        assert states == {"running", "shutoff"}
        assert {d.firmware for d in doms.values()} == {"bios", "uefi"}


def test_connector_disk_sizes_and_formats_come_from_the_images(lab: LabState) -> None:
    images = {i.path: i for i in lab.images}
    seen_formats = set()
    for hyp in lab.hypervisors:
        roots = lab.datastore_roots()[hyp.bureau]  # the images are read under these only
        for d in hv.list_domains(hyp.uri, datastore_roots=roots):
            for disk in d.disks:
                img = images[disk.path]
                assert disk.format == img.format
                assert disk.capacity == img.virtual_size
                assert disk.allocation is not None and 0 < disk.allocation <= Path(
                    disk.path).stat().st_blocks * 512 + 4096
                seen_formats.add(disk.format)
    assert seen_formats == {"raw", "qcow2", "vmdk", "vhd", "vhdx"}


def test_images_exist_in_every_format_with_their_recorded_content(lab: LabState,
                                                                   tmp_path: Path) -> None:
    kinds = {(i.format, i.subformat) for i in lab.images}
    assert kinds == {(f[0], f[2]) for f in FORMATS}
    assert len(lab.images) == len(FORMATS) * len(lab.hypervisors)
    for img in lab.images:
        info = json.loads(subprocess.run(
            ["qemu-img", "info", "--output=json", img.path], capture_output=True, text=True,
            check=True, timeout=30).stdout)
        assert info["format"] == {"vhd": "vpc"}.get(img.format, img.format)
        assert info["virtual-size"] == img.virtual_size
        if img.format == "vmdk":
            assert info["format-specific"]["data"]["create-type"] == img.subformat
        raw = tmp_path / "out.raw"
        subprocess.run(["qemu-img", "convert", "-O", "raw", img.path, str(raw)], check=True,
                       timeout=60)
        digest = hashlib.sha256(raw.read_bytes()).hexdigest()
        assert digest == img.sha256 == expected_digest(Path(img.path).name.split(".")[0])
        raw.unlink()
    assert len({i.sha256 for i in lab.images}) == len(lab.images)  # each image differs


def test_images_are_partly_sparse(lab: LabState) -> None:
    raw = next(i for i in lab.images if i.format == "raw")
    st = Path(raw.path).stat()
    assert st.st_blocks * 512 < st.st_size * 0.8
    data = Path(raw.path).read_bytes()
    mib = 1024 * 1024
    assert data[2 * mib:3 * mib] == bytes(mib)
    assert data[:mib] != bytes(mib)


def test_cloud_is_an_empty_hypervisor_with_a_pool(lab: LabState) -> None:
    assert hv.list_domains(lab.cloud_uri) == []
    with hv.connect(lab.cloud_uri) as conn:
        pools = conn.listAllStoragePools()
        assert [p.name() for p in pools] == ["cloud-pool"]
        assert lab.cloud_pool in pools[0].XMLDesc()
    assert Path(lab.cloud_pool).is_dir()


def test_estate_rows_use_schema_columns(lab: LabState) -> None:
    hyp = lab.hypervisors[0]
    domains = hv.list_domains(hyp.uri, datastore_roots=lab.datastore_roots()[hyp.bureau])
    rows = to_estate_rows(domains, bureau_id=hyp.bureau, hypervisor=hyp.name,
                          system_id="SYS-X")
    assert len(rows["hosts"]) == len(hyp.domains) == len(rows["disks"])
    for r in rows["hosts"]:
        assert set(r) <= set(HOSTS.column_names)
        assert r["kind"] == "vm" and r["power_state"] in ("on", "off")
        assert r["disk_gb"] == pytest.approx(16 / 1024, abs=0.001)
    for r in rows["disks"]:
        assert set(r) <= set(DISKS.column_names)
        assert r["size_gb"] == 16 / 1024 and r["format"] in ("raw", "qcow2", "vmdk", "vhd",
                                                              "vhdx")
    on = {r["id"] for r in rows["hosts"] if r["power_state"] == "on"}
    assert on == {d.name for d in hyp.domains if d.state == "running"}


def test_connection_errors_name_the_uri(tmp_path: Path) -> None:
    missing = f"test://{tmp_path}/none.xml"
    with pytest.raises(hv.HypervisorError, match=r"none\.xml"):
        hv.list_domains(missing)
    bad = tmp_path / "bad.xml"
    bad.write_text("<node><domain>")
    with pytest.raises(hv.HypervisorError, match=re.escape(str(bad))):
        hv.list_domains(hv.test_uri(bad))
    uri = "qemu+ssh://root@127.0.0.1:1/system?no_verify=0"
    with pytest.raises(hv.HypervisorUnreachable, match=r"127\.0\.0\.1:1") as exc:
        hv.list_domains(uri)
    assert isinstance(exc.value, TransientError)
    with pytest.raises(hv.HypervisorAuthError) as auth:
        hv.list_domains("esx://127.0.0.1:1/?no_verify=0")
    assert isinstance(auth.value, AuthError)


def test_uri_helpers() -> None:
    assert hv.kvm_ssh_uri("10.1.2.3", keyfile="/k/id", known_hosts="/k/kh", port=2222) == (
        "qemu+ssh://root@10.1.2.3:2222/system?keyfile=/k/id&known_hosts=/k/kh&no_verify=0")
    assert hv.xen_ssh_uri("xen1", user="ops") == "xen+ssh://ops@xen1/system?no_verify=0"
    assert hv.esx_uri("esx1") == "esx://esx1/?no_verify=0"
    assert hv.esx_uri("vc", user="ro", vcenter_path="/DC/c1/h1") == (
        "vpx://ro@vc/DC/c1/h1?no_verify=0")
    assert hv.test_uri("/a/b.xml") == "test:///a/b.xml"


def test_parse_domain_xml_is_pure() -> None:
    xml = ("<domain type='kvm'><name>x</name><uuid>u</uuid><memory unit='GiB'>2</memory>"
           "<vcpu>3</vcpu><os><type arch='aarch64'>hvm</type><loader type='pflash'>"
           "/usr/share/AAVMF/AAVMF_CODE.fd</loader></os><devices>"
           "<disk type='block' device='disk'><driver name='qemu' type='raw'/>"
           "<source dev='/dev/vg/x'/><target dev='sda' bus='scsi'/></disk>"
           "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>"
           "<interface type='bridge'><mac address='52:54:00:AA:BB:CC'/>"
           "<source bridge='br0'/><model type='virtio'/></interface></devices></domain>")
    d = hv.parse_domain_xml(xml, "paused")
    assert (d.memory_mib, d.vcpus, d.firmware, d.arch, d.power_state) == (
        2048, 3, "uefi", "aarch64", "suspended")
    assert [(x.path, x.device, x.bus) for x in d.disks] == [("/dev/vg/x", "disk", "scsi"),
                                                             ("", "cdrom", "ide")]
    assert d.disks[1].readonly and d.disks[0].capacity is None
    assert (d.nics[0].mac, d.nics[0].network, d.nics[0].model) == (
        "52:54:00:aa:bb:cc", "br0", "virtio")


def test_error_handler_is_silenced(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(libvirt.libvirtError):
        libvirt.open(f"test://{tmp_path}/missing-dir/x.xml")
    assert "libvirt:" not in capfd.readouterr().err


def test_ledgers_describe_the_lab(lab: LabState) -> None:
    assert len(lab.ledgers) == len(lab.bureaus)
    rows_seen = 0
    for path, bureau in zip(lab.ledgers, lab.bureaus, strict=True):
        wb = load_workbook(path)
        ws = wb["服务器台账"]
        rows = list(ws.iter_rows(values_only=True))
        assert bureau["name"] in rows[0][0]
        assert tuple(rows[1]) == HOST_HEADERS
        mine = {h.hostname: h for h in lab.hosts if h.bureau == bureau["id"]}
        body = rows[2:]
        assert {r[2] for r in body} == set(mine)
        for r in body:
            assert r[3] == mine[r[2]].ip and r[4] == mine[r[2]].os_pretty
        rows_seen += len(body)
        deps = list(wb["依赖关系"].iter_rows(values_only=True))
        assert deps[0] == ("源系统", "目标系统", "端口")
        assert any(r[1] == "统一身份认证平台" and r[2] == 8443 for r in deps[1:])
    assert rows_seen == len(lab.hosts)


def test_ledgers_import_cleanly_into_an_estate(lab: LabState, tmp_path: Path) -> None:
    from shangyun.estate import Estate
    from shangyun.ledgers.importer import import_ledgers

    report = import_ledgers(lab.ledgers, tmp_path / "estate", reader=read_grids)
    assert report.conflicts == []
    estate = Estate.load(tmp_path / "estate", check=True)
    summary = estate.summary()
    assert summary["counts"]["hosts"] == len(lab.hosts)
    assert summary["counts"]["systems"] == len(lab.systems)
    again = import_ledgers(lab.ledgers, tmp_path / "estate", reader=read_grids)
    assert again.conflicts == []
