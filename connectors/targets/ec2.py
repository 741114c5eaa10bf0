"""The EC2-compatible target (AWS and clouds that speak its API), through boto3.

* ``import_disk``: a local image is first put into object storage (``bucket``, through
  :class:`connectors.objectstore.ObjectStore`: verified multipart upload), then
  ``import_snapshot`` turns the object into an EBS snapshot; we poll
  ``describe_import_snapshot_tasks`` (bounded by ``import_timeout``) and tag the snapshot
  with the labels, the disk name and its content digest. A second call finds that tagged
  snapshot and returns it (idempotent).
* ``create_instance``: ``register_image`` from the snapshots (first = root), then
  ``run_instances`` with the labels as tags. EC2 has no "defined but stopped" instance, so
  the instance starts on creation. A test launch goes into an *isolated* subnet (the given
  ``test_subnet`` or a VPC of our own with no internet gateway) with a security group
  whose ingress and egress are empty: it can reach nothing and nothing can reach it.
* Undo: ``delete_instance`` terminates and deregisters the image; ``delete_disk`` deletes
  the snapshot and the object we uploaded. Things already gone are fine.

The import calls go through ``import_client`` (by default the EC2 client itself), so tests
can stand botocore's Stubber in for them where no server implements VM import (moto).
For non-AWS endpoints boto3's default checksums are switched to ``when_required``.
We cannot read an imported snapshot's bytes back through the EC2 API, so the content
digest is recorded (tag) but proven only up to the uploaded object: every
:class:`ImportedDisk` this target returns says ``"not verifiable by the target: …"`` in its
``verification`` (never "verified"), and the test launch checks the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from connectors import qemu
from connectors.objectstore import ObjectStore
from connectors.targets.base import (
    Capacity,
    CapacityRequest,
    CloudTarget,
    DiskSource,
    ImportedDisk,
    Instance,
    InstanceSpec,
    InstanceState,
    Labels,
    ObjectRef,
    TargetError,
)
from shangyun.errors import TransientError
from shangyun.images import estate_format, split_digest

_AWS_FORMATS = {"raw": "RAW", "vmdk": "VMDK", "vhd": "VHD"}
_NOT_VERIFIABLE = ("not verifiable by the target: the EC2 API cannot read an imported "
                   "snapshot's bytes back")
_TRANSIENT_CODES = {
    "Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable",
    "InternalError", "Unavailable", "RequestTimeout", "SlowDown",
}
_GONE_CODES = {
    "InvalidInstanceID.NotFound", "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable",
    "InvalidSnapshot.NotFound", "NoSuchKey", "NoSuchBucket", "404",
}
_STATES = {
    "pending": InstanceState.PENDING, "running": InstanceState.RUNNING,
    "stopping": InstanceState.STOPPING, "stopped": InstanceState.STOPPED,
    "shutting-down": InstanceState.STOPPING, "terminated": InstanceState.ABSENT,
}
ISOLATED_CIDR = "10.251.0.0/16"
ISOLATED_SUBNET_CIDR = "10.251.0.0/20"
DISK_TAG = "shangyun:disk"
DIGEST_TAG = "shangyun:content-digest"
ISOLATED_TAG = "shangyun:isolated"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error(what: str, exc: Exception) -> TargetError | TransientError:
    if isinstance(exc, ClientError):
        code = _code(exc)
        msg = f"ec2 target: {what}: {code}: {exc.response.get('Error', {}).get('Message', '')}"
        return TransientError(msg) if code in _TRANSIENT_CODES else TargetError(msg)
    if isinstance(exc, EndpointConnectionError):
        return TransientError(f"ec2 target: {what}: {exc}")
    return TargetError(f"ec2 target: {what}: {exc}")


def _tags(labels: Labels, **more: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in {**labels.to_dict(), **more}.items()]


def _filters(labels: Labels, **more: str) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in {**labels.to_dict(), **more}.items()]


class Ec2Target(CloudTarget):
    """An EC2-compatible cloud. ``endpoint`` = None means AWS itself (region endpoints).

    ``bucket`` stages local images for import; ``import_role`` is the VM-import service
    role (AWS default ``vmimport``); ``production_subnet`` is used by non-test launches
    without ``spec.network``; ``test_subnet`` (optional) for test launches.
    """

    name = "ec2"
    accepted_formats = ("raw", "vmdk", "vhd")

    def __init__(
        self,
        endpoint: str | None = None,
        region: str = "us-east-1",
        *,
        bucket: str | None = None,
        prefix: str = "shangyun/",
        import_role: str | None = None,
        production_subnet: str | None = None,
        test_subnet: str | None = None,
        instance_type: str = "t3.medium",
        max_instances: int | str | None = None,
        poll_interval: float | str = 5.0,
        import_timeout: float | str = 4 * 3600.0,
        stop_timeout: float | str = 300.0,
        ec2_client: Any = None,
        store: ObjectStore | None = None,
        import_client: Any = None,
        session: boto3.Session | None = None,
    ) -> None:
        config = Config(retries={"mode": "standard", "max_attempts": 5})
        if endpoint:
            config = config.merge(Config(request_checksum_calculation="when_required",
                                         response_checksum_validation="when_required"))
        sess = session or boto3.Session()
        kw = {"region_name": region, "endpoint_url": endpoint or None, "config": config}
        self.ec2 = ec2_client or sess.client("ec2", **kw)
        self.store = store or ObjectStore(endpoint or None, region=region, session=sess)
        self.s3 = self.store.client
        self.importer = import_client or self.ec2
        self.endpoint, self.region, self.bucket, self.prefix = endpoint, region, bucket, prefix
        self.import_role = import_role
        self.production_subnet, self.test_subnet = production_subnet, test_subnet
        self.instance_type = instance_type
        self.max_instances = int(max_instances) if max_instances not in (None, "") else None
        self.poll_interval = float(poll_interval)
        self.import_timeout = float(import_timeout)
        self.stop_timeout = float(stop_timeout)

    # ------------------------------------------------------------------ capacity
    def check_capacity(self, request: CapacityRequest) -> Capacity:
        """Instance quota (``max-instances`` or ``max_instances``) and the staging bucket."""
        reasons: list[str] = []
        try:
            limit = self.max_instances
            if limit is None:
                attrs = self.ec2.describe_account_attributes(
                    AttributeNames=["max-instances"])["AccountAttributes"]
                values = [int(v["AttributeValue"]) for a in attrs
                          if a["AttributeName"] == "max-instances" for v in a["AttributeValues"]]
                limit = values[0] if values else None
            live = 0
            pages = self.ec2.get_paginator("describe_instances").paginate(Filters=[
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping",
                                                           "stopped"]}])
            for page in pages:
                live += sum(len(r["Instances"]) for r in page["Reservations"])
            if self.bucket:
                try:
                    self.s3.head_bucket(Bucket=self.bucket)
                except ClientError as exc:
                    reasons.append(f"staging bucket {self.bucket}: {_code(exc) or exc}")
        except (ClientError, BotoCoreError) as exc:
            raise _error("capacity query", exc) from exc
        free = None if limit is None else limit - live
        if free is not None and request.instances > free:
            reasons.append(f"instances: needs {request.instances}, quota leaves {free} "
                           f"({live} of {limit} in use)")
        return Capacity(ok=not reasons, reasons=tuple(reasons), free_instances=free)

    # ------------------------------------------------------------------ disks
    def import_disk(self, source: DiskSource, *, name: str, fmt: str, digest: str,
                    labels: Labels) -> ImportedDisk:
        """Stage (if local), import as a snapshot, tag it; reuse a tagged snapshot if there."""
        fmt = estate_format(fmt)
        if fmt not in _AWS_FORMATS:
            raise TargetError(f"ec2 target imports {', '.join(_AWS_FORMATS)}, not {fmt} "
                              f"({source})")
        found = self._find_snapshot(labels, name, digest)
        if found is not None:
            return found
        uploaded = False
        if isinstance(source, Path):
            ref = self._upload(source, labels, name, fmt, digest)
            uploaded = True
            size = qemu.info(source, fmt).virtual_size
        else:
            ref, size = source, 0
        task_id, snapshot_id = self._import(ref, fmt, labels, name, digest)
        try:
            self.ec2.create_tags(Resources=[snapshot_id], Tags=_tags(
                labels, **{DISK_TAG: name, DIGEST_TAG: digest.lower(), "Name": name,
                           "shangyun:format": fmt, "shangyun:bucket": ref.bucket,
                           "shangyun:key": ref.key,
                           "shangyun:uploaded": "true" if uploaded else "false"}))
            if not size:
                snap = self.ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
                size = int(snap.get("VolumeSize", 0)) << 30
        except (ClientError, BotoCoreError) as exc:
            raise _error(f"tagging snapshot {snapshot_id}", exc) from exc
        staged = (f"the staged object s3://{ref.bucket}/{ref.key} was verified on upload "
                  f"({ref.digest})" if uploaded else
                  f"it was imported from s3://{ref.bucket}/{ref.key}, staged earlier")
        return ImportedDisk(
            target=self.name, disk_id=snapshot_id, name=name, format=fmt, size_bytes=size,
            digest=digest.lower(), labels=labels,
            extra={"bucket": ref.bucket, "key": ref.key, "import_task": task_id,
                   "uploaded": "true" if uploaded else "false", "region": self.region},
            verification=f"{_NOT_VERIFIABLE}; {staged}")

    def _find_snapshot(self, labels: Labels, name: str, digest: str) -> ImportedDisk | None:
        try:
            snaps = self.ec2.describe_snapshots(OwnerIds=["self"], Filters=_filters(
                labels, **{DISK_TAG: name, DIGEST_TAG: digest.lower()}))["Snapshots"]
        except (ClientError, BotoCoreError) as exc:
            raise _error(f"looking for an earlier import of {name}", exc) from exc
        for snap in snaps:
            if snap.get("State") == "completed":
                tags = {t["Key"]: t["Value"] for t in snap.get("Tags", [])}
                return ImportedDisk(
                    target=self.name, disk_id=snap["SnapshotId"], name=name,
                    format=tags.get("shangyun:format", ""),
                    size_bytes=int(snap["VolumeSize"]) << 30,
                    digest=digest.lower(), labels=labels,
                    extra={"bucket": tags.get("shangyun:bucket", ""),
                           "key": tags.get("shangyun:key", ""), "import_task": "",
                           "uploaded": tags.get("shangyun:uploaded", "false"),
                           "region": self.region},
                    verification=f"{_NOT_VERIFIABLE}; an earlier import's snapshot "
                                 f"{snap['SnapshotId']} was reused by its tags")
        return None

    def _upload(self, source: Path, labels: Labels, name: str, fmt: str,
                digest: str) -> ObjectRef:
        """Stage a local image with :class:`connectors.objectstore.ObjectStore` (verified
        multipart upload carrying our digest)."""
        if not self.bucket:
            raise TargetError(f"ec2 target: no staging bucket configured to upload {source}")
        key = f"{self.prefix}{labels.slug(name)}.{fmt}"
        result = self.store.upload_file(
            source, self.bucket, key, algorithm=split_digest(digest)[0],
            metadata={"shangyun-content-digest": digest.lower()})
        return ObjectRef(self.bucket, key, result.size, result.digest)

    def _import(self, ref: ObjectRef, fmt: str, labels: Labels, name: str,
                digest: str) -> tuple[str, str]:
        token = hashlib.sha256(f"{labels.slug(name)}|{digest}|{ref.bucket}/{ref.key}"
                               .encode()).hexdigest()[:64]
        args: dict[str, Any] = {
            "Description": f"shangyun {labels.slug(name)}",
            "DiskContainer": {"Description": name, "Format": _AWS_FORMATS[fmt],
                              "UserBucket": {"S3Bucket": ref.bucket, "S3Key": ref.key}},
            "ClientToken": token,
            "TagSpecifications": [{"ResourceType": "import-snapshot-task",
                                   "Tags": _tags(labels, **{DISK_TAG: name})}],
        }
        if self.import_role:
            args["RoleName"] = self.import_role
        try:
            task_id = self.importer.import_snapshot(**args)["ImportTaskId"]
        except (ClientError, BotoCoreError) as exc:
            raise _error(f"import_snapshot of s3://{ref.bucket}/{ref.key}", exc) from exc
        deadline = time.monotonic() + self.import_timeout
        while True:
            try:
                tasks = self.importer.describe_import_snapshot_tasks(
                    ImportTaskIds=[task_id])["ImportSnapshotTasks"]
            except (ClientError, BotoCoreError) as exc:
                raise _error(f"import task {task_id}", exc) from exc
            detail = tasks[0].get("SnapshotTaskDetail", {}) if tasks else {}
            status = detail.get("Status", "")
            if status == "completed" and detail.get("SnapshotId"):
                return task_id, str(detail["SnapshotId"])
            if status in ("deleted", "deleting", "cancelled", "error"):
                raise TargetError(f"ec2 target: import task {task_id} of {name} ended "
                                  f"{status}: {detail.get('StatusMessage', '')}")
            if time.monotonic() + self.poll_interval > deadline:
                raise TransientError(f"ec2 target: import task {task_id} of {name} not done "
                                     f"after {self.import_timeout:.0f} s (last: {status})")
            time.sleep(self.poll_interval)

    def has_disk(self, disk: ImportedDisk) -> bool:
        """Whether the disk's snapshot is still in the target."""
        try:
            found = self.ec2.describe_snapshots(SnapshotIds=[disk.disk_id])["Snapshots"]
        except ClientError as exc:
            if _code(exc) in _GONE_CODES:
                return False
            raise _error(f"looking up snapshot {disk.disk_id}", exc) from exc
        except BotoCoreError as exc:
            raise _error(f"looking up snapshot {disk.disk_id}", exc) from exc
        return bool(found)

    def delete_disk(self, disk: ImportedDisk) -> None:
        """Delete the snapshot and the staged object we uploaded. Idempotent."""
        try:
            self.ec2.delete_snapshot(SnapshotId=disk.disk_id)
        except ClientError as exc:
            if _code(exc) not in _GONE_CODES:
                raise _error(f"deleting snapshot {disk.disk_id}", exc) from exc
        except BotoCoreError as exc:
            raise _error(f"deleting snapshot {disk.disk_id}", exc) from exc
        if disk.extra.get("uploaded") == "true" and disk.extra.get("bucket"):
            try:
                self.s3.delete_object(Bucket=disk.extra["bucket"], Key=disk.extra["key"])
            except ClientError as exc:
                if _code(exc) not in _GONE_CODES:
                    raise _error(f"deleting s3://{disk.extra['bucket']}/{disk.extra['key']}",
                                 exc) from exc

    # ------------------------------------------------------------------ instances
    def create_instance(self, spec: InstanceSpec, disks: list[ImportedDisk], *,
                        test_mode: bool) -> Instance:
        """Register an image from the snapshots and run one instance (it starts at once)."""
        if not disks:
            raise TargetError(f"instance {spec.name}: at least one disk is needed")
        name = f"{spec.name}-test" if test_mode else spec.name
        mode = "true" if test_mode else "false"
        try:
            existing = self._find_instance(spec.labels, name, mode)
            if existing is not None:
                return existing
            image_id = self._image(spec, name, disks)
            if test_mode:
                subnet, groups = self._isolated_network()
            else:
                subnet, groups = spec.network or self.production_subnet, []
            args: dict[str, Any] = {
                "ImageId": image_id, "InstanceType": spec.flavour or self.instance_type,
                "MinCount": 1, "MaxCount": 1,
                "TagSpecifications": [
                    {"ResourceType": "instance",
                     "Tags": _tags(spec.labels, Name=name, **{"shangyun:test-mode": mode})},
                    {"ResourceType": "volume", "Tags": _tags(spec.labels, Name=name)}],
            }
            if subnet:
                args["SubnetId"] = subnet
            if groups:
                args["SecurityGroupIds"] = groups
            inst = self.ec2.run_instances(**args)["Instances"][0]
        except (ClientError, BotoCoreError) as exc:
            raise _error(f"creating instance {name}", exc) from exc
        return Instance(target=self.name, instance_id=inst["InstanceId"], name=name,
                        test_mode=test_mode, labels=spec.labels,
                        disk_ids=tuple(d.disk_id for d in disks),
                        extra={"image_id": image_id, "subnet": str(inst.get("SubnetId", "")),
                               "security_groups": ",".join(groups), "region": self.region})

    def _find_instance(self, labels: Labels, name: str, mode: str) -> Instance | None:
        filters = [*_filters(labels, Name=name, **{"shangyun:test-mode": mode}),
                   {"Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"]}]
        for res in self.ec2.describe_instances(Filters=filters)["Reservations"]:
            for inst in res["Instances"]:
                disks = tuple(m["Ebs"].get("VolumeId", "") for m in
                              inst.get("BlockDeviceMappings", []) if "Ebs" in m)
                groups = ",".join(g["GroupId"] for g in inst.get("SecurityGroups", []))
                return Instance(target=self.name, instance_id=inst["InstanceId"], name=name,
                                test_mode=mode == "true", labels=labels, disk_ids=disks,
                                extra={"image_id": inst.get("ImageId", ""),
                                       "subnet": str(inst.get("SubnetId", "")),
                                       "security_groups": groups, "region": self.region})
        return None

    def _image(self, spec: InstanceSpec, name: str, disks: list[ImportedDisk]) -> str:
        images = self.ec2.describe_images(Owners=["self"], Filters=[
            {"Name": "name", "Values": [f"shangyun-{name}"]}])["Images"]
        if images:
            return str(images[0]["ImageId"])
        mappings = [{"DeviceName": "/dev/sda1",
                     "Ebs": {"SnapshotId": disks[0].disk_id, "DeleteOnTermination": True}}]
        for i, d in enumerate(disks[1:]):
            mappings.append({"DeviceName": f"/dev/sd{chr(ord('f') + i)}",
                             "Ebs": {"SnapshotId": d.disk_id, "DeleteOnTermination": True}})
        image_id = str(self.ec2.register_image(
            Name=f"shangyun-{name}",
            Architecture="arm64" if spec.arch == "aarch64" else spec.arch,
            RootDeviceName="/dev/sda1", BlockDeviceMappings=mappings, VirtualizationType="hvm",
            BootMode="uefi" if spec.firmware == "uefi" else "legacy-bios",
            EnaSupport=True)["ImageId"])
        self.ec2.create_tags(Resources=[image_id], Tags=_tags(spec.labels, Name=name))
        return image_id

    def _isolated_network(self) -> tuple[str, list[str]]:
        """A subnet with no route out and a security group that allows nothing."""
        subnet = self.test_subnet
        if subnet:
            vpc = self.ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
        else:
            vpcs = self.ec2.describe_vpcs(Filters=[
                {"Name": f"tag:{ISOLATED_TAG}", "Values": ["true"]}])["Vpcs"]
            if vpcs:
                vpc = vpcs[0]["VpcId"]
            else:
                tags = [{"Key": ISOLATED_TAG, "Value": "true"},
                        {"Key": "Name", "Value": "shangyun-test-launch"}]
                vpc = self.ec2.create_vpc(CidrBlock=ISOLATED_CIDR, TagSpecifications=[
                    {"ResourceType": "vpc", "Tags": tags}])["Vpc"]["VpcId"]
            subnets = self.ec2.describe_subnets(Filters=[
                {"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
            subnet = subnets[0]["SubnetId"] if subnets else self.ec2.create_subnet(
                VpcId=vpc, CidrBlock=ISOLATED_SUBNET_CIDR)["Subnet"]["SubnetId"]
        group_name = "shangyun-isolated"
        groups = self.ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "group-name", "Values": [group_name]}])["SecurityGroups"]
        if groups:
            group = groups[0]
        else:
            gid = self.ec2.create_security_group(
                GroupName=group_name, VpcId=vpc,
                Description="shangyun test launch: no traffic in or out")["GroupId"]
            group = self.ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
        if group.get("IpPermissionsEgress"):
            self.ec2.revoke_security_group_egress(GroupId=group["GroupId"],
                                                  IpPermissions=group["IpPermissionsEgress"])
        if group.get("IpPermissions"):
            self.ec2.revoke_security_group_ingress(GroupId=group["GroupId"],
                                                   IpPermissions=group["IpPermissions"])
        return str(subnet), [str(group["GroupId"])]

    def _describe(self, instance: Instance) -> dict[str, Any] | None:
        try:
            res = self.ec2.describe_instances(InstanceIds=[instance.instance_id])["Reservations"]
        except ClientError as exc:
            if _code(exc) in _GONE_CODES:
                return None
            raise _error(f"describing {instance.name}", exc) from exc
        except BotoCoreError as exc:
            raise _error(f"describing {instance.name}", exc) from exc
        insts = [i for r in res for i in r["Instances"]]
        return insts[0] if insts else None

    def status(self, instance: Instance) -> InstanceState:
        """The instance's state; terminated or unknown = ``ABSENT``."""
        inst = self._describe(instance)
        if inst is None:
            return InstanceState.ABSENT
        return _STATES.get(inst["State"]["Name"], InstanceState.OTHER)

    def start(self, instance: Instance) -> None:
        """Start a stopped instance; no-op when pending or running."""
        state = self.status(instance)
        if state == InstanceState.ABSENT:
            raise TargetError(f"ec2 target: instance {instance.name} "
                              f"({instance.instance_id}) does not exist")
        if state in (InstanceState.STOPPED, InstanceState.STOPPING):
            try:
                self.ec2.start_instances(InstanceIds=[instance.instance_id])
            except (ClientError, BotoCoreError) as exc:
                raise _error(f"starting {instance.name}", exc) from exc

    def stop(self, instance: Instance) -> None:
        """Stop the instance and wait (bounded) until it is stopped; no-op when stopped/gone."""
        if self.status(instance) in (InstanceState.ABSENT, InstanceState.STOPPED):
            return
        try:
            self.ec2.stop_instances(InstanceIds=[instance.instance_id])
        except ClientError as exc:
            if _code(exc) in _GONE_CODES:
                return
            raise _error(f"stopping {instance.name}", exc) from exc
        deadline = time.monotonic() + self.stop_timeout
        while self.status(instance) == InstanceState.STOPPING:
            if time.monotonic() > deadline:
                raise TransientError(f"ec2 target: {instance.name} still stopping after "
                                     f"{self.stop_timeout:.0f} s")
            time.sleep(min(self.poll_interval, 2.0))

    def delete_instance(self, instance: Instance) -> None:
        """Terminate the instance and deregister its image. Idempotent."""
        try:
            if self.status(instance) != InstanceState.ABSENT:
                self.ec2.terminate_instances(InstanceIds=[instance.instance_id])
        except ClientError as exc:
            if _code(exc) not in _GONE_CODES:
                raise _error(f"terminating {instance.name}", exc) from exc
        image_id = instance.extra.get("image_id")
        if image_id:
            try:
                self.ec2.deregister_image(ImageId=image_id)
            except ClientError as exc:
                if _code(exc) not in _GONE_CODES:
                    raise _error(f"deregistering image {image_id}", exc) from exc

    def close(self) -> None:
        """Close the HTTP connection pools (safe twice)."""
        for client in {id(c): c for c in (self.ec2, self.s3, self.importer)}.values():
            with contextlib.suppress(Exception):
                client.close()


__all__ = ["Ec2Target"]
