"""Fencing tokens on journal writes (docs/safety.md L2), against the real Redis and the
journal on SQLite and the real PostgreSQL: a holder whose lease another holder took over
(a higher token) has its next journal write refused, and nothing of it is written; writes
that carry no token (local runs) are not fenced."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import create_engine, text

from connectors.journal import open_journal
from connectors.journal.store import resolve
from connectors.locks import (
    LeasedRedisLockManager,
    LockServerError,
    check_redis,
    fence_name,
    system_fence,
    system_lock_key,
    system_lock_store,
)
from flows.wave import system_lock
from shangyun.journal.fence import FencedWriteError, fence_of, fenced

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def system() -> Iterator[str]:
    """A system id of this test's own on the machine's Redis; its lock keys are deleted."""
    try:
        check_redis(REDIS_URL)
    except LockServerError as exc:
        pytest.fail(f"{exc} — run scripts/setup")
    sid = f"t{os.getpid()}-{secrets.token_hex(4)}-fenced"
    yield sid
    name = LeasedRedisLockManager._lock_name_for_key(system_lock_key(sid))
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    client.delete(name, fence_name(name))
    client.close()


def _fences(target: str) -> list[tuple[str, int]]:
    url, _ = resolve(target)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT system, token FROM fences"))]
    finally:
        engine.dispose()


def test_a_holder_whose_lease_was_taken_over_has_its_next_write_refused(
        journal_target: str, system: str) -> None:
    key = system_lock_key(system)
    ours = LeasedRedisLockManager(connection_url=REDIS_URL, lease_seconds=30, wait_seconds=0)
    theirs = LeasedRedisLockManager(connection_url=REDIS_URL, lease_seconds=30,
                                    wait_seconds=5)
    with open_journal(journal_target) as j:
        run = j.begin_run(1)
        assert ours.acquire_lock(key, "our-worker")
        mine = ours.fencing_token(key)
        with fenced(system, mine):
            j.step_started(run, system, "copy")
        # our lease runs out (a long pause) and another worker takes the lock
        redis.Redis.from_url(REDIS_URL).delete(ours._lock_name_for_key(key))
        assert theirs.acquire_lock(key, "other-worker")
        newer = theirs.fencing_token(key)
        assert newer > mine
        ours.release_lock(key, "our-worker")  # stop our renewal thread (the lock is theirs)
        with fenced(system, newer):
            j.step_started(run, system, "convert")
        before_steps = [e.to_dict() for e in j.steps(run)]
        before_audit = [e.to_dict() for e in j.audit_entries()]
        with fenced(system, mine):
            for write in (lambda: j.step_done(run, system, "copy", result={"bytes": 9}),
                          lambda: j.step_failed(run, system, "copy", "boom"),
                          lambda: j.step_progress(run, system, "copy", undo={"upload": 1}),
                          lambda: j.mark_undoing(run, system, "copy"),
                          lambda: j.mark_undone(run, system, "copy"),
                          lambda: j.step_started(run, system, "import")):
                with pytest.raises(FencedWriteError) as err:
                    write()
                assert str(err.value) == (
                    f"system {system}: journal write refused: it carries fencing token "
                    f"{mine}, older than the newest {newer} (another holder took the "
                    f"system's lock); nothing was written")
                assert (err.value.system, err.value.token, err.value.newest) == (
                    system, mine, newer)
        assert [e.to_dict() for e in j.steps(run)] == before_steps  # nothing written
        assert [e.to_dict() for e in j.audit_entries()] == before_audit
        assert _fences(journal_target) == [(system, newer)]
        with fenced(system, newer):  # the current holder goes on
            j.step_done(run, system, "convert")
        with fenced("another-system", 1):  # tokens are per system
            j.step_started(run, "another-system", "copy")
        j.step_done(run, system, "copy")  # no token (a local run): not fenced
        assert j.verify_audit().ok
    theirs.release_lock(key, "other-worker")
    assert sorted(_fences(journal_target)) == sorted([(system, newer), ("another-system", 1)])


def test_system_lock_gives_distributed_steps_the_lock_token(
        system: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHANGYUN_REDIS_URL", REDIS_URL)
    with system_lock(system, distributed=False):
        assert fence_of(system) is None  # local runs carry no token
    tokens = []
    for _ in range(2):
        with system_lock(system, distributed=True):
            token = fence_of(system)
            assert token == system_fence(system_lock_store(), system_lock_key(system))
            tokens.append(token)
        assert fence_of(system) is None
    assert tokens[0] is not None and tokens[1] is not None and tokens[1] > tokens[0]
