"""Target writes and audit records fenced by the system lock's token (docs/safety.md L5),
against the real Redis, the libvirt test-driver target and the real journal (SQLite): a
worker whose lease another worker took over cannot import, create, start, stop or delete
on the target, nor write an audit record about the system; the new holder can. Nothing
mocked: the guard is the lock manager's own check against Redis."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prefect.results import ResultStore

from actions.context import RunContext
from connectors.journal import open_journal
from connectors.locks import (
    LeasedRedisLockManager,
    LeaseLostError,
    LockServerError,
    check_redis,
    fence_guard,
    fence_name,
    system_lock_key,
)
from connectors.targets import base
from connectors.targets.fenced import FencedTarget
from shangyun.journal.fence import FencedWriteError, fenced, guard_writes
from shangyun.wave.steps import RunOptions
from tests.targets.conftest import Cloud, Converted

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def system() -> Iterator[str]:
    """A system id of this test's own on the machine's Redis; its lock keys are deleted."""
    try:
        check_redis(REDIS_URL)
    except LockServerError as exc:
        pytest.fail(f"{exc} — run scripts/setup")
    sid = f"t{os.getpid()}-{secrets.token_hex(4)}-target"
    yield sid
    name = LeasedRedisLockManager._lock_name_for_key(system_lock_key(sid))
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    client.delete(name, fence_name(name))
    client.close()


def test_a_holder_whose_lease_was_taken_over_cannot_write_to_the_target(
        system: str, libvirt_cloud: Cloud, converted_disks: dict[str, Converted],
        tmp_path: Path) -> None:
    src = converted_disks["qcow2"]
    labels = base.Labels(wave="1", bureau="b-1", system=system)
    key = system_lock_key(system)
    ours = LeasedRedisLockManager(connection_url=REDIS_URL, lease_seconds=30, wait_seconds=0)
    theirs = LeasedRedisLockManager(connection_url=REDIS_URL, lease_seconds=30, wait_seconds=5)
    ctx = RunContext(RunOptions(target="libvirt", target_options={
        "uri": libvirt_cloud.uri, "pool": libvirt_cloud.pool}))
    target = ctx.target()
    assert isinstance(target, FencedTarget)
    (tmp_path / "estate").mkdir()
    with open_journal(tmp_path / "estate") as j:
        assert ours.acquire_lock(key, "our-worker")
        mine = ours.fencing_token(key)
        our_guard = fence_guard(ResultStore(lock_manager=ours), key, mine)
        with fenced(system, mine, our_guard):  # the holder writes: allowed
            disk = target.import_disk(src.path, name="disk0", fmt="qcow2",
                                      digest=src.digest, labels=labels)
            inst = target.create_instance(base.InstanceSpec("app", 1, 512, labels), [disk],
                                          test_mode=True)
            j.audit("wave.system.test", "ok", system=system)
        # our lease runs out (a long pause) and another worker takes the lock
        redis.Redis.from_url(REDIS_URL).delete(ours._lock_name_for_key(key))
        assert theirs.acquire_lock(key, "other-worker")
        newer = theirs.fencing_token(key)
        assert newer > mine
        with fenced(system, newer):  # the new holder's journal writes: its token is newest
            j.audit("wave.system.test", "ok", system=system)
        pool_before = sorted(p.name for p in libvirt_cloud.pool_path.iterdir())
        audit_before = [e.to_dict() for e in j.audit_entries()]
        with fenced(system, mine, our_guard):
            writes = {
                "import": lambda: target.import_disk(src.path, name="disk1", fmt="qcow2",
                                                     digest=src.digest, labels=labels),
                "create": lambda: target.create_instance(
                    base.InstanceSpec("app2", 1, 512, labels), [disk], test_mode=True),
                "start": lambda: target.start(inst),
                "stop": lambda: target.stop(inst),
                "delete instance": lambda: target.delete_instance(inst),
                "delete disk": lambda: target.delete_disk(disk),
            }
            for what, write in writes.items():
                with pytest.raises(LeaseLostError, match=f"fencing token {mine}") as err:
                    write()
                assert f"a newer holder has token {newer}" in str(err.value), what
            with pytest.raises(FencedWriteError, match=f"older than the newest {newer}"):
                j.audit("wave.system.failed", "failed", system=system)
            # reads are not fenced
            assert target.status(inst) == base.InstanceState.STOPPED
            assert target.has_disk(disk)
        assert sorted(p.name for p in libvirt_cloud.pool_path.iterdir()) == pool_before
        assert [e.to_dict() for e in j.audit_entries()] == audit_before
        assert target.status(inst) == base.InstanceState.STOPPED  # never started
        # the new holder (its own guard) writes
        their_guard = fence_guard(ResultStore(lock_manager=theirs), key, newer)
        with fenced(system, newer, their_guard):
            guard_writes()
            target.delete_instance(inst)
            target.delete_disk(disk)
        assert target.status(inst) == base.InstanceState.ABSENT
        assert j.verify_audit().ok
    ours.release_lock(key, "our-worker")
    theirs.release_lock(key, "other-worker")
    guard_writes()  # no system fenced here: nothing to check
    ctx.close()
