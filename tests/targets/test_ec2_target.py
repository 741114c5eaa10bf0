"""The EC2-compatible target against moto's server (S3 + EC2). moto has no VM import, so
``import_snapshot``/``describe_import_snapshot_tasks`` go through botocore's Stubber on the
target's import client; the snapshot they report is a real one in moto."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from connectors.targets import base
from connectors.targets.ec2 import Ec2Target
from shangyun.errors import TransientError
from tests.targets.conftest import Converted

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials for moto; nothing leaves 127.0.0.1."""
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                 ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def labels() -> base.Labels:
    """Labels unique to one test (moto's state is shared by the whole session)."""
    return base.Labels(wave="7", bureau="b-sz", system=f"sys-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    """A fresh staging bucket."""
    name = f"shangyun-stage-{uuid.uuid4().hex[:10]}"
    _client("s3", moto_endpoint).create_bucket(Bucket=name)
    return name


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        config=Config(request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))


@pytest.fixture
def target(moto_endpoint: str, bucket: str) -> Iterator[tuple[Ec2Target, Stubber]]:
    """An Ec2Target on moto whose import calls are stubbed (botocore Stubber)."""
    importer = _client("ec2", moto_endpoint)
    t = Ec2Target(moto_endpoint, REGION, bucket=bucket, import_client=importer,
                  poll_interval=0.01, import_timeout=5, stop_timeout=5)
    with Stubber(importer) as stub:
        yield t, stub
    t.close()


def _moto_snapshot(ec2: Any, size_bytes: int) -> str:
    """The snapshot the cloud's import service would have made (a real one in moto)."""
    gib = max(1, -(-size_bytes // (1 << 30)))
    vol = ec2.create_volume(Size=gib, AvailabilityZone=f"{REGION}a")
    return str(ec2.create_snapshot(VolumeId=vol["VolumeId"])["SnapshotId"])


def _stub_import(stub: Stubber, bucket: str, key: str | Any, fmt: str, snapshot: str,
                 task: str = "import-snap-0123456789abcdef0") -> None:
    stub.add_response(
        "import_snapshot", {"ImportTaskId": task},
        {"Description": ANY, "ClientToken": ANY, "TagSpecifications": ANY,
         "DiskContainer": {"Description": ANY, "Format": fmt,
                           "UserBucket": {"S3Bucket": bucket, "S3Key": key}}})
    stub.add_response("describe_import_snapshot_tasks", {"ImportSnapshotTasks": [
        {"ImportTaskId": task, "SnapshotTaskDetail": {"Status": "active", "Progress": "40"}}]},
        {"ImportTaskIds": [task]})
    stub.add_response("describe_import_snapshot_tasks", {"ImportSnapshotTasks": [
        {"ImportTaskId": task, "SnapshotTaskDetail": {"Status": "completed",
                                                      "SnapshotId": snapshot}}]},
        {"ImportTaskIds": [task]})


def test_full_path_upload_import_test_launch_and_idempotent_undo(
        target: tuple[Ec2Target, Stubber], bucket: str, labels: base.Labels,
        converted_disks: dict[str, Converted]) -> None:
    t, stub = target
    src = converted_disks["vmdk"]
    snapshot = _moto_snapshot(t.ec2, src.size)
    _stub_import(stub, bucket, ANY, "VMDK", snapshot)

    disk = t.import_disk(src.path, name="disk0", fmt="vmdk", digest=src.digest, labels=labels)
    stub.assert_no_pending_responses()
    assert disk.disk_id == snapshot and disk.size_bytes == src.size
    # the staged object holds exactly the image file, with our digests in its metadata
    obj = t.s3.get_object(Bucket=bucket, Key=disk.extra["key"])
    body = obj["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(src.path.read_bytes()).digest()
    assert obj["Metadata"]["shangyun-content-digest"] == src.digest
    tags = {x["Key"]: x["Value"] for x in
            t.ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["Tags"]}
    assert tags["shangyun:system"] == labels.system and tags["shangyun:wave"] == "7"
    assert tags["shangyun:content-digest"] == src.digest
    # EC2 cannot read the snapshot back: the disk records the digest but never claims it
    # was verified by the target (safety: "verification that can fail")
    assert not disk.verified
    assert disk.verification.startswith("not verifiable by the target")
    assert f"s3://{bucket}/{disk.extra['key']}" in disk.verification

    # a resumed step finds the tagged snapshot: no second upload, no import call
    again = t.import_disk(src.path, name="disk0", fmt="vmdk", digest=src.digest,
                          labels=labels)
    assert again.disk_id == disk.disk_id and again.format == "vmdk"
    assert not again.verified and "reused" in again.verification

    spec = base.InstanceSpec(name="tax-app", vcpus=2, memory_mb=4096, labels=labels)
    inst = t.create_instance(spec, [disk], test_mode=True)
    assert inst.name == "tax-app-test" and inst.test_mode
    assert t.create_instance(spec, [disk], test_mode=True).instance_id == inst.instance_id
    described = t.ec2.describe_instances(InstanceIds=[inst.instance_id])
    raw = described["Reservations"][0]["Instances"][0]
    itags = {x["Key"]: x["Value"] for x in raw["Tags"]}
    assert itags["shangyun:bureau"] == "b-sz" and itags["shangyun:test-mode"] == "true"
    # isolated: its VPC has no internet gateway, its security group allows nothing
    igws = t.ec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [raw["VpcId"]]}])["InternetGateways"]
    assert igws == []
    group = t.ec2.describe_security_groups(
        GroupIds=inst.extra["security_groups"].split(","))["SecurityGroups"][0]
    assert group["IpPermissions"] == [] and group["IpPermissionsEgress"] == []
    image = t.ec2.describe_images(ImageIds=[inst.extra["image_id"]])["Images"][0]
    # (moto makes its own root snapshot for register_image, so the mapping is not checked)
    assert image["Name"] == "shangyun-tax-app-test" and image["RootDeviceName"] == "/dev/sda1"

    assert t.status(inst) in (base.InstanceState.PENDING, base.InstanceState.RUNNING)
    t.start(inst)
    t.stop(inst)
    assert t.status(inst) == base.InstanceState.STOPPED
    t.start(inst)
    assert t.status(inst) in (base.InstanceState.PENDING, base.InstanceState.RUNNING)

    rebuilt_inst = base.Instance.from_record(inst.to_record())
    rebuilt_disk = base.ImportedDisk.from_record(disk.to_record())
    assert t.has_disk(rebuilt_disk) and not t.takes_local_files
    for _ in range(2):  # undo twice: the second finds everything gone
        t.delete_instance(rebuilt_inst)
        t.delete_disk(rebuilt_disk)
    assert t.status(inst) == base.InstanceState.ABSENT
    assert not t.has_disk(rebuilt_disk)
    assert t.ec2.describe_images(Owners=["self"], Filters=[
        {"Name": "name", "Values": ["shangyun-tax-app-test"]}])["Images"] == []
    assert t.ec2.describe_snapshots(Filters=[
        {"Name": "tag:shangyun:system", "Values": [labels.system]}])["Snapshots"] == []
    listed = t.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert listed == []
    t.stop(inst)  # stopping a terminated instance is fine
    with pytest.raises(base.TargetError, match="does not exist"):
        t.start(inst)


def test_object_ref_import_keeps_the_staged_object(
        target: tuple[Ec2Target, Stubber], bucket: str, labels: base.Labels,
        converted_disks: dict[str, Converted]) -> None:
    t, stub = target
    src = converted_disks["raw"]
    t.s3.put_object(Bucket=bucket, Key="staged/disk.raw", Body=src.path.read_bytes())
    snapshot = _moto_snapshot(t.ec2, src.size)
    _stub_import(stub, bucket, "staged/disk.raw", "RAW", snapshot)
    disk = t.import_disk(base.ObjectRef(bucket, "staged/disk.raw"), name="root", fmt="raw",
                         digest=src.digest, labels=labels)
    assert disk.extra["uploaded"] == "false" and disk.size_bytes == 1 << 30
    assert not disk.verified and "not verifiable by the target" in disk.verification
    t.delete_disk(disk)
    t.delete_disk(disk)
    # the object belongs to the staging store, not to this disk: it stays
    assert t.s3.head_object(Bucket=bucket, Key="staged/disk.raw")["ContentLength"] == src.size


def test_production_launch_uses_production_subnet(
        target: tuple[Ec2Target, Stubber], labels: base.Labels) -> None:
    t, _ = target
    vpc = t.ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet = t.ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    snap = _moto_snapshot(t.ec2, 1)
    disk = base.ImportedDisk("ec2", snap, "root", "raw", 1 << 30, "sha256:" + "1" * 64, labels)
    spec = base.InstanceSpec(name="tax-db", vcpus=1, memory_mb=1024, labels=labels, network=subnet)
    inst = t.create_instance(spec, [disk], test_mode=False)
    assert inst.name == "tax-db" and inst.extra["subnet"] == subnet
    assert inst.extra["security_groups"] == ""
    t.delete_instance(inst)
    assert t.status(inst) == base.InstanceState.ABSENT


def test_failed_import_task_is_named(target: tuple[Ec2Target, Stubber], bucket: str,
                                     labels: base.Labels) -> None:
    t, stub = target
    task = "import-snap-00000000000000bad"
    stub.add_response("import_snapshot", {"ImportTaskId": task})
    stub.add_response("describe_import_snapshot_tasks", {"ImportSnapshotTasks": [
        {"ImportTaskId": task, "SnapshotTaskDetail": {
            "Status": "deleted", "StatusMessage": "ClientError: Unsupported VMDK"}}]})
    with pytest.raises(base.TargetError, match=f"{task}.*Unsupported VMDK"):
        t.import_disk(base.ObjectRef(bucket, "x.vmdk"), name="d", fmt="vmdk",
                      digest="sha256:" + "2" * 64, labels=labels)


def test_throttled_import_is_transient(target: tuple[Ec2Target, Stubber], bucket: str,
                                       labels: base.Labels) -> None:
    t, stub = target
    stub.add_client_error("import_snapshot", service_error_code="RequestLimitExceeded",
                          http_status_code=503)
    with pytest.raises(TransientError, match="RequestLimitExceeded"):
        t.import_disk(base.ObjectRef(bucket, "x.raw"), name="d", fmt="raw",
                      digest="sha256:" + "3" * 64, labels=labels)


def test_refuses_formats_it_cannot_import(target: tuple[Ec2Target, Stubber], labels: base.Labels,
                                          converted_disks: dict[str, Converted]) -> None:
    t, _ = target
    q = converted_disks["qcow2"]
    with pytest.raises(base.TargetError, match="not qcow2"):
        t.import_disk(q.path, name="d", fmt="qcow2", digest=q.digest, labels=labels)
    with pytest.raises(base.TargetError, match="at least one disk"):
        t.create_instance(base.InstanceSpec("x", 1, 512, labels), [], test_mode=True)


def test_capacity(moto_endpoint: str, bucket: str) -> None:
    t = Ec2Target(moto_endpoint, REGION, bucket=bucket)
    cap = t.check_capacity(base.CapacityRequest(instances=1))
    assert cap.ok and cap.free_instances is not None and cap.free_instances <= 20
    over = t.check_capacity(base.CapacityRequest(instances=10_000))
    assert not over.ok and "quota" in over.reasons[0]
    missing = Ec2Target(moto_endpoint, REGION, bucket="no-such-bucket-here", max_instances="5")
    cap2 = missing.check_capacity(base.CapacityRequest(instances=1))
    assert not cap2.ok and any("no-such-bucket-here" in r for r in cap2.reasons)
    # non-AWS endpoint: boto3's default checksums are off
    assert t.s3.meta.config.request_checksum_calculation == "when_required"
    assert t.s3.meta.config.response_checksum_validation == "when_required"


def test_upload_without_bucket_is_refused(moto_endpoint: str, labels: base.Labels,
                                          converted_disks: dict[str, Converted]) -> None:
    t = Ec2Target(moto_endpoint, REGION)
    raw = converted_disks["raw"]
    with pytest.raises(base.TargetError, match="no staging bucket"):
        t.import_disk(Path(raw.path), name="d", fmt="raw", digest=raw.digest, labels=labels)
