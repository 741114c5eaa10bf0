"""``run_wave`` onto the EC2-compatible target: S3 staging and EC2 in moto's server; the VM
import calls (which moto lacks) answered by botocore's Stubber on the target's import
client, each reporting a real moto snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber
from click.testing import CliRunner
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from actions.context import TargetFactories
from connectors.journal.wave import open_journal
from connectors.objectstore import ObjectStore
from connectors.targets.ec2 import Ec2Target
from flows.move import move_wave
from shangyun.cli import main
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import FORMATS, REGION, build_estate


def _ec2(endpoint: str) -> Any:
    return boto3.client("ec2", endpoint_url=endpoint, region_name=REGION,
                        config=Config(request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))


@pytest.fixture
def stubbed_ec2(moto_endpoint: str) -> Iterator[tuple[list[str], TargetFactories]]:
    """An ec2 target factory whose import client is stubbed, to pass to ``run_wave``; yields
    the list the test fills with the snapshot ids the import service "makes", and the
    factories."""
    snapshots: list[str] = []
    stubs: list[Stubber] = []

    def factory(options: Mapping[str, str]) -> Ec2Target:
        importer = _ec2(moto_endpoint)
        stub = Stubber(importer)
        for i, snap in enumerate(snapshots):
            task = f"import-snap-{i:017x}"
            stub.add_response("import_snapshot", {"ImportTaskId": task}, {
                "Description": ANY, "ClientToken": ANY, "TagSpecifications": ANY,
                "DiskContainer": ANY})
            stub.add_response("describe_import_snapshot_tasks", {"ImportSnapshotTasks": [
                {"ImportTaskId": task, "SnapshotTaskDetail": {"Status": "completed",
                                                              "SnapshotId": snap}}]},
                {"ImportTaskIds": [task]})
        stub.activate()
        stubs.append(stub)
        snapshots.clear()  # a later target (the undo) gets no import answers
        return Ec2Target(moto_endpoint, REGION, import_client=importer, poll_interval=0.01,
                         import_timeout=5, stop_timeout=5)

    try:
        yield snapshots, {"ec2": factory}
    finally:
        for s in stubs:
            s.deactivate()


def _artifact(key: str) -> str:
    """The newest artifact ``key`` as the Prefect API holds it."""
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1)
    assert arts, key
    return str(arts[0].data)


def test_wave_onto_ec2_target_verified_and_rolled_back(
        prefect_harness: None, tmp_path: Path, moto_endpoint: str, bucket: str,
        stubbed_ec2: tuple[list[str], TargetFactories]) -> None:
    snapshots, factories = stubbed_ec2
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=1,
                       formats=FORMATS[2:4])
    ec2 = _ec2(moto_endpoint)
    for _ in range(2):
        vol = ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a")
        snapshots.append(ec2.create_snapshot(VolumeId=vol["VolumeId"])["SnapshotId"])
    snaps = list(snapshots)
    opts = RunOptions(target="ec2", target_options={"endpoint": moto_endpoint,
                                                    "region": REGION},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket, part_size=5 * 2**20)
    result = move_wave(str(est.root), 1, options=opts.to_dict(), targets=factories)
    assert result["state"] == "done", result
    with open_journal(est.root) as j, ObjectStore(moto_endpoint) as store:
        recs = {r.key: r for r in j.records(1)}
        for disk, raw_sha in est.digests.items():
            conv = recs[f"sys-01/convert/{disk}"].payload
            up = recs[f"sys-01/upload/{disk}"].payload
            # stream-optimized vmdk staged: same guest bytes as the source, and the object
            # read back from S3 is exactly the staged file
            assert conv["format"] == "vmdk" and conv["content_digest"] == f"sha256:{raw_sha}"
            assert store.verify(bucket, up["key"], f"sha256:{conv['file_digest']}")
            assert recs[f"sys-01/import/{disk}"].payload["disk"]["disk_id"] in snaps
        inst = recs["sys-01/launch/host-01"].payload["instance"]
    # what was verified comes from the journaled payloads: EC2 cannot read a snapshot back,
    # so the result and the verification artifact say "not verifiable", never "verified"
    verified = {v["disk"]: v for v in result["systems"][0]["verified"]}
    assert set(verified) == set(est.digests)
    for disk, v in verified.items():
        conv = recs[f"sys-01/convert/{disk}"].payload
        imp = recs[f"sys-01/import/{disk}"].payload["disk"]
        assert v["compare"] == conv["compare"] == "identical"
        assert v["source_digest"] == conv["source_digest"] == v["content_digest"]
        assert v["target"] == imp["verification"]
        assert v["target"].startswith("not verifiable by the target")
    page = _artifact("wave-1-verification")
    assert "not verifiable by the target" in page and "verified:" not in page
    assert all(f"`{v['content_digest']}`" in page for v in verified.values())
    described = ec2.describe_instances(InstanceIds=[inst["instance_id"]])
    raw = described["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
    assert raw["State"]["Name"] == "running" and tags["shangyun:test-mode"] == "true"
    assert tags["shangyun:system"] == "sys-01" and tags["shangyun:wave"] == "1"

    rb = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate", str(est.root),
                                   "--json"])
    assert rb.exit_code == 0, rb.output
    assert json.loads(rb.output)["ok"] is True
    state = ec2.describe_instances(InstanceIds=[inst["instance_id"]])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] in ("terminated",
                                                                         "shutting-down")
    left = [s for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
            if s["SnapshotId"] in snaps]
    assert left == []
    assert not boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION
                            ).list_objects_v2(Bucket=bucket).get("Contents")
