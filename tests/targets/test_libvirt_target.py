"""The libvirt target against the libvirt test driver (an empty cloud from a node XML)."""

from __future__ import annotations

import hashlib
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

from connectors import qemu
from connectors.objectstore import ObjectStore
from connectors.targets import base
from connectors.targets.libvirt import NS, LibvirtTarget
from shangyun.errors import VerificationError
from tests.targets.conftest import Cloud, Converted

LABELS = base.Labels(wave="3", bureau="b-hz", system="sys-tax")


def _target(cloud: Cloud) -> LibvirtTarget:
    return LibvirtTarget(cloud.uri, pool=cloud.pool, isolated_network="cloud-isolated",
                         production_network="cloud-prod", stop_timeout=2)


def _spec(name: str = "tax-app") -> base.InstanceSpec:
    return base.InstanceSpec(name=name, vcpus=2, memory_mb=1024, labels=LABELS)


def test_full_path_test_launch_and_idempotent_undo(libvirt_cloud: Cloud,
                                                   converted_disks: dict[str, Converted]) -> None:
    src = converted_disks["qcow2"]
    with _target(libvirt_cloud) as target:
        cap = target.check_capacity(base.CapacityRequest(vcpus=2, memory_mb=1024,
                                                         disk_bytes=src.size))
        assert cap.ok and cap.free_disk_bytes == 100 << 30

        disk = target.import_disk(src.path, name="disk0", fmt="qcow2", digest=src.digest,
                                  labels=LABELS)
        vol_path = Path(disk.extra["path"])
        assert vol_path.parent == libvirt_cloud.pool_path
        assert disk.name == "w3-sys-tax-disk0.qcow2" and disk.size_bytes == src.size
        assert qemu.content_digest(vol_path) == src.digest
        # the target read the volume back: this disk is verified, and says so
        assert disk.verified
        assert disk.verification == f"verified: content digest of {vol_path} read back"
        # a journal round trip gives back an equal record
        assert base.ImportedDisk.from_record(disk.to_record()) == disk
        # the wave's import step hands it local files, and a resume asks it for the disk
        assert target.takes_local_files and target.has_disk(disk)

        # importing again (a resumed step) reuses the verified volume
        again = target.import_disk(src.path, name="disk0", fmt="qcow2", digest=src.digest,
                                   labels=LABELS)
        assert again == disk

        inst = target.create_instance(_spec(), [disk], test_mode=True)
        assert inst.name == "tax-app-test" and inst.test_mode
        assert target.status(inst) == base.InstanceState.STOPPED
        xml = ET.fromstring(target.domain_xml(inst))
        nets = [s.get("network") for s in xml.findall("./devices/interface/source")]
        assert nets == ["cloud-isolated"]  # never the production network
        assert xml.find("./devices/disk/source").get("file") == str(vol_path)
        meta = xml.find(f"./metadata/{{{NS}}}labels")
        assert meta is not None and meta.find(f"{{{NS}}}system").text == "sys-tax"
        assert target.create_instance(_spec(), [disk], test_mode=True) == inst

        target.start(inst)
        assert target.status(inst) == base.InstanceState.RUNNING
        target.start(inst)  # already running: no-op
        used = target.check_capacity(base.CapacityRequest(memory_mb=1))
        assert used.free_memory_mb == cap.free_memory_mb - 1024
        target.stop(inst)
        assert target.status(inst) == base.InstanceState.STOPPED
        target.start(inst)

        rebuilt = base.Instance.from_record(inst.to_record())
        for _ in range(2):  # undo twice: the second finds nothing and is fine
            target.delete_instance(rebuilt)
            target.delete_disk(base.ImportedDisk.from_record(disk.to_record()))
        assert target.status(inst) == base.InstanceState.ABSENT
        assert not vol_path.exists()
        assert target.conn.storagePoolLookupByName("cloud-pool").listVolumes() == []
        assert not target.has_disk(disk)
        target.stop(inst)  # stopping something gone is fine too
        with pytest.raises(base.TargetError, match="does not exist"):
            target.start(inst)


def test_production_launch_uses_production_network(libvirt_cloud: Cloud,
                                                   converted_disks: dict[str, Converted]) -> None:
    raw = converted_disks["raw"]
    with _target(libvirt_cloud) as target:
        d0 = target.import_disk(raw.path, name="root", fmt="raw", digest=raw.digest,
                                labels=LABELS)
        d1 = target.import_disk(raw.path, name="data", fmt="raw", digest=raw.digest,
                                labels=LABELS)
        inst = target.create_instance(_spec("tax-db"), [d0, d1], test_mode=False)
        xml = ET.fromstring(target.domain_xml(inst))
        assert [s.get("network") for s in xml.findall("./devices/interface/source")] == \
            ["cloud-prod"]
        assert [t.get("dev") for t in xml.findall("./devices/disk/target")] == ["vda", "vdb"]
        assert inst.name == "tax-db" and not inst.test_mode


def test_test_mode_without_isolated_network_has_no_nic(
        libvirt_cloud: Cloud, converted_disks: dict[str, Converted]) -> None:
    raw = converted_disks["raw"]
    with LibvirtTarget(libvirt_cloud.uri, pool=libvirt_cloud.pool,
                       production_network="cloud-prod") as target:
        d0 = target.import_disk(raw.path, name="root", fmt="raw", digest=raw.digest,
                                labels=LABELS)
        inst = target.create_instance(_spec(), [d0], test_mode=True)
        assert ET.fromstring(target.domain_xml(inst)).findall("./devices/interface") == []


def test_forwarding_network_refused_as_isolated(libvirt_cloud: Cloud) -> None:
    with pytest.raises(base.TargetError, match="forwards traffic"):
        LibvirtTarget(libvirt_cloud.uri, pool=libvirt_cloud.pool, isolated_network="cloud-prod")


def test_wrong_digest_deletes_volume(libvirt_cloud: Cloud,
                                     converted_disks: dict[str, Converted]) -> None:
    src = converted_disks["qcow2"]
    wrong = "sha256:" + "0" * 64
    with _target(libvirt_cloud) as target:
        with pytest.raises(VerificationError, match=r"w3-sys-tax-disk0\.qcow2"):
            target.import_disk(src.path, name="disk0", fmt="qcow2", digest=wrong, labels=LABELS)
        assert target.conn.storagePoolLookupByName("cloud-pool").listVolumes() == []
        assert list(libvirt_cloud.pool_path.iterdir()) == []


def test_rejects_formats_and_objects_it_cannot_take(
        libvirt_cloud: Cloud, converted_disks: dict[str, Converted]) -> None:
    vmdk = converted_disks["vmdk"]
    with _target(libvirt_cloud) as target:
        with pytest.raises(base.TargetError, match="not vmdk"):
            target.import_disk(vmdk.path, name="d", fmt="vmdk", digest=vmdk.digest,
                               labels=LABELS)
        with pytest.raises(base.TargetError, match="at least one disk"):
            target.create_instance(_spec(), [], test_mode=True)


def test_capacity_lists_every_reason(libvirt_cloud: Cloud) -> None:
    with _target(libvirt_cloud) as target:
        cap = target.check_capacity(base.CapacityRequest(vcpus=10_000, memory_mb=10**9,
                                                         disk_bytes=10**15))
        assert not cap.ok and len(cap.reasons) == 3
        assert any("cloud-pool" in r for r in cap.reasons)


def test_state_lives_in_the_connection(libvirt_cloud: Cloud,
                                       converted_disks: dict[str, Converted]) -> None:
    """The test driver keeps objects per connection: a second connection sees none of them."""
    raw = converted_disks["raw"]
    with _target(libvirt_cloud) as first:
        d0 = first.import_disk(raw.path, name="root", fmt="raw", digest=raw.digest,
                               labels=LABELS)
        inst = first.create_instance(_spec(), [d0], test_mode=True)
        with _target(libvirt_cloud) as second:
            assert second.status(inst) == base.InstanceState.ABSENT
        assert first.status(inst) == base.InstanceState.STOPPED


def test_name_taken_by_someone_else_is_refused(libvirt_cloud: Cloud,
                                               converted_disks: dict[str, Converted]) -> None:
    raw = converted_disks["raw"]
    with _target(libvirt_cloud) as target:
        target.conn.defineXML("<domain type='test'><name>tax-app-test</name>"
                              "<memory>1024</memory><os><type>hvm</type></os></domain>")
        d0 = target.import_disk(raw.path, name="root", fmt="raw", digest=raw.digest,
                                labels=LABELS)
        with pytest.raises(base.TargetError, match="not this run's"):
            target.create_instance(_spec(), [d0], test_mode=True)


def test_bad_uri_is_a_connector_error() -> None:
    with pytest.raises(base.TargetError, match="cannot connect"):
        LibvirtTarget("test:///nonexistent/node.xml", pool="p")
    assert libvirt is not None


@pytest.fixture
def staged(moto_endpoint: str, converted_disks: dict[str, Converted],
           monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """The qcow2 disk staged in a fresh bucket on moto: (bucket, key, object digest)."""
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(k, v)
    bucket = f"stage-{uuid.uuid4().hex[:10]}"
    src = converted_disks["qcow2"].path
    with ObjectStore(moto_endpoint, region="us-east-1") as store:
        store.ensure_bucket(bucket)
        result = store.upload_file(src, bucket, "w3/sys-tax/disk0.qcow2")
    assert result.digest == "sha256:" + hashlib.sha256(src.read_bytes()).hexdigest()
    return bucket, "w3/sys-tax/disk0.qcow2", result.digest


def test_import_from_s3_staging(libvirt_cloud: Cloud, moto_endpoint: str,
                                converted_disks: dict[str, Converted],
                                staged: tuple[str, str, str]) -> None:
    bucket, key, object_digest = staged
    src = converted_disks["qcow2"]
    with LibvirtTarget(libvirt_cloud.uri, pool=libvirt_cloud.pool,
                       s3_endpoint=moto_endpoint) as target:
        ref = base.ObjectRef(bucket, key, size=src.path.stat().st_size, digest=object_digest)
        disk = target.import_disk(ref, name="disk0", fmt="qcow2", digest=src.digest,
                                  labels=LABELS)
        path = Path(disk.extra["path"])
        assert qemu.content_digest(path) == src.digest
        assert path.read_bytes() == src.path.read_bytes()  # renamed into place, not rewritten
        assert [p.name for p in libvirt_cloud.pool_path.iterdir()] == [path.name]

        bad = base.ObjectRef(bucket, key, digest="sha256:" + "f" * 64)
        with pytest.raises(VerificationError, match="downloaded bytes"):
            target.import_disk(bad, name="disk1", fmt="qcow2", digest=src.digest,
                               labels=LABELS)
        assert [p.name for p in libvirt_cloud.pool_path.iterdir()] == [path.name]
        with pytest.raises(base.TargetError, match="cannot download"):
            target.import_disk(base.ObjectRef(bucket, "missing.qcow2"), name="disk2", fmt="qcow2",
                               digest=src.digest, labels=LABELS)
        assert target.conn.storagePoolLookupByName("cloud-pool").listVolumes() == [path.name]


def test_free_memory_of_the_default_test_node_is_not_negative() -> None:
    """test:///default: a 3072 MiB node running one domain of 8192 MiB maximum memory,
    2048 MiB of it current. The pre-check said "memory: needs 1024 MiB, -5120 MiB free"
    (node less the maxima); the maxima are more than the node, so what the domains hold
    now counts: 1024 MiB free."""
    with LibvirtTarget("test:///default", pool="default-pool") as target:
        cap = target.check_capacity(base.CapacityRequest(vcpus=1, memory_mb=1024))
        assert cap.free_memory_mb == 1024 and cap.ok, cap
        over = target.check_capacity(base.CapacityRequest(memory_mb=1025))
        assert not over.ok and over.reasons == ("memory: needs 1025 MiB, 1024 MiB free",)


def test_domains_holding_more_than_the_node_is_one_sentence_naming_the_target(
        tmp_path: Path) -> None:
    """A node of 1 GiB whose running domain holds 2 GiB now: free memory is 0 (not
    -1024), and a request for memory is refused in one sentence naming the target's URI
    and both figures."""
    pool_path = tmp_path / "pool"
    pool_path.mkdir()
    node = tmp_path / "small-node.xml"
    node.write_text(f"""<node>
  <cpu><mhz>2000</mhz><model>i686</model><nodes>1</nodes><sockets>1</sockets>
    <cores>2</cores><threads>1</threads><active>2</active></cpu>
  <memory>1048576</memory>
  <domain type='test'>
    <name>big</name>
    <memory>2097152</memory><currentMemory>2097152</currentMemory><vcpu>1</vcpu>
    <os><type>hvm</type></os>
  </domain>
  <pool type='dir'>
    <name>cloud-pool</name><uuid>{uuid.uuid4()}</uuid>
    <capacity unit='GiB'>10</capacity><allocation>0</allocation>
    <available unit='GiB'>10</available><source/><target><path>{pool_path}</path></target>
  </pool>
</node>""")
    uri = f"test://{node}"
    with LibvirtTarget(uri, pool="cloud-pool") as target:
        none = target.check_capacity(base.CapacityRequest(vcpus=1))
        assert none.ok and none.free_memory_mb == 0, none
        cap = target.check_capacity(base.CapacityRequest(vcpus=1, memory_mb=512))
        assert not cap.ok and cap.free_memory_mb == 0, cap
        (why,) = cap.reasons
        assert why == (f"memory: needs 512 MiB, but the running domains of {uri} hold 2048 "
                       "MiB, more than its 1024 MiB (the hypervisor's figures are "
                       "inconsistent, or its memory is overcommitted): no free memory can be "
                       "counted on"), why
        assert "-" not in why.split(uri)[1], why
