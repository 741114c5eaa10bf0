"""The target interface's plain data: journal round trips and cloud-safe names."""

from __future__ import annotations

import json

from connectors.targets.base import Capacity, ImportedDisk, Instance, Labels


def test_slug_is_safe_and_distinct() -> None:
    assert Labels("3", "b", "sys-tax").slug("disk0") == "w3-sys-tax-disk0"
    a = Labels("3", "b", "税务系统").slug("disk0")
    b = Labels("3", "b", "社保系统").slug("disk0")
    assert a != b
    assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in a)


def test_records_survive_json() -> None:
    labels = Labels("1", "b-hz", "sys")
    disk = ImportedDisk("libvirt", "key-1", "w1-sys-d.qcow2", "qcow2", 1 << 30,
                        "sm3:" + "a" * 64, labels, {"pool": "p"})
    inst = Instance("ec2", "i-1", "app-test", True, labels, ("snap-1",), {"image_id": "ami-1"})
    assert ImportedDisk.from_record(json.loads(json.dumps(disk.to_record()))) == disk
    assert Instance.from_record(json.loads(json.dumps(inst.to_record()))) == inst
    assert labels.to_dict() == {"shangyun:wave": "1", "shangyun:bureau": "b-hz",
                                "shangyun:system": "sys"}
    cap = Capacity(False, ("a", "b"), free_vcpus=1)
    assert json.loads(json.dumps(cap.to_dict()))["reasons"] == ["a", "b"]
