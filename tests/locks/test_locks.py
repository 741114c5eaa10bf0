"""The cross-machine system lock against the real Redis: processes exclude each other on
one key and not across keys, the lease is renewed while the holder lives and frees itself
when the holder is killed, and an unreachable Redis is one clear error."""

from __future__ import annotations

import itertools
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from prefect.transactions import IsolationLevel, transaction

from connectors.locks import (
    LeasedRedisLockManager,
    LockConfigError,
    LockServerError,
    SystemBusyError,
    check_redis,
    lock_holder,
    system_lock_key,
    system_lock_store,
)
from connectors.locks import redis_url as configured_redis_url
from tests.locks.conftest import Holders, notes, wait_note
from tests.support import free_port


def _lease_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("shangyun-lock-lease")]


def test_one_key_serialises_processes_other_keys_do_not_wait(
        holders: Holders, system_id: Callable[[str], str], tmp_path: Path) -> None:
    """Two processes on one system: the second enters only after the first left. Two
    processes on two other systems are inside their transactions at the same time."""
    release = tmp_path / "release"
    same = system_id("same")
    (p1, n1), (p2, n2) = (holders.start(same, f"until:{release}", "same1"),
                          holders.start(same, f"until:{release}", "same2"))
    (q1, m1), (q2, m2) = (holders.start(system_id("a"), f"until:{release}", "a"),
                          holders.start(system_id("b"), f"until:{release}", "b"))
    # the two other systems are both inside at once, while neither has left
    wait_note(m1, "enter")
    wait_note(m2, "enter")
    deadline = time.monotonic() + 30                    # one of the two is inside (which
    while not any("enter" in notes(n) for n in (n1, n2)) and time.monotonic() < deadline:
        time.sleep(0.05)                                # one is not known until it enters)
    first, second = (n1, n2) if "enter" in notes(n1) else (n2, n1)
    wait_note(first, "enter")
    wait_note(second, "ready")
    time.sleep(1.0)                                     # the second one is waiting meanwhile
    assert "enter" not in notes(second), "two processes inside one system's lock"
    holder = lock_holder(system_lock_key(same), holders.redis_url)
    first_proc = p1 if first is n1 else p2
    assert holder is not None and f"pid {first_proc.pid}" in holder
    release.touch()
    for proc in (p1, p2, q1, q2):
        assert proc.wait(timeout=30) == 0
    a, b = notes(first), notes(second)
    assert a["leave"] <= b["enter"], (a, b)            # no overlap on one key
    assert b["ready"] < a["leave"]                     # and the second really waited
    x, y = notes(m1), notes(m2)
    assert max(x["enter"], y["enter"]) < min(x["leave"], y["leave"]), (x, y)
    assert lock_holder(system_lock_key(same), holders.redis_url) is None


def test_lease_renewed_while_the_holder_lives(
        holders: Holders, system_id: Callable[[str], str], redis_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Lease 1 s, held 4 s: after 2.5 and 3 s the holder still has it; another transaction
    and another acquirer give up after 0.5 s with SystemBusyError naming the key and the
    holder's process."""
    sid = system_id("renew")
    key = system_lock_key(sid)
    proc, out = holders.start(sid, "4", "renew", lease=1)
    entered = wait_note(out, "enter")
    monkeypatch.setenv("SHANGYUN_LOCK_LEASE", "1")
    monkeypatch.setenv("SHANGYUN_LOCK_WAIT", "0.5")
    time.sleep(max(0.0, entered + 2.5 - time.time()))
    inside = False
    with pytest.raises(SystemBusyError, match=f"pid {proc.pid}"), transaction(
            key=key, store=system_lock_store(redis_url), write_on_commit=False,
            isolation_level=IsolationLevel.SERIALIZABLE, overwrite=True):
        inside = True
    assert not inside                                  # Prefect's begin did not go on
    other = LeasedRedisLockManager(connection_url=redis_url, lease_seconds=1, wait_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(SystemBusyError) as err:
        other.acquire_lock(key, "intruder")
    assert 0.3 <= time.monotonic() - started < 2.0
    assert key in str(err.value) and f"pid {proc.pid}" in str(err.value)
    assert sid in str(err.value) and "waited 0.5 s" in str(err.value)
    assert 0 < other.client.pttl(f"lock:{key}") <= 1000      # a lease, never forever
    assert proc.wait(timeout=30) == 0, holders.log("renew")
    assert notes(out)["leave"] - notes(out)["enter"] >= 3.9
    assert lock_holder(key, redis_url) is None
    assert other.acquire_lock(key, "intruder", 0) is True
    other.release_lock(key, "intruder")


def test_killed_holder_frees_the_lock_within_a_lease(
        holders: Holders, system_id: Callable[[str], str], redis_url: str,
        tmp_path: Path) -> None:
    """A holder killed with SIGKILL inside the transaction: a new acquirer gets the lock
    within about one lease."""
    lease = 1.0
    sid = system_id("killed")
    key = system_lock_key(sid)
    proc, out = holders.start(sid, f"until:{tmp_path / 'never'}", "killed", lease=lease)
    wait_note(out, "enter")
    assert f"pid {proc.pid}" in (lock_holder(key, redis_url) or "")
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    killed = time.monotonic()
    heir = LeasedRedisLockManager(connection_url=redis_url, lease_seconds=lease,
                                  wait_seconds=10)
    assert heir.acquire_lock(key, "heir") is True
    assert time.monotonic() - killed < lease * 2 + 2
    assert "leave" not in notes(out)
    assert heir.is_lock_holder(key, "heir")
    heir.release_lock(key, "heir")
    assert lock_holder(key, redis_url) is None


def test_threads_of_one_process_share_one_manager(
        system_id: Callable[[str], str], redis_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Several systems' threads with one store: one key is held by one thread at a time,
    and every lease thread stops when its lock is released."""
    monkeypatch.setenv("SHANGYUN_LOCK_LEASE", "1")
    store = system_lock_store(redis_url)
    assert store is system_lock_store(redis_url)                       # one per process
    key = system_lock_key(system_id("threads"))
    spans: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with transaction(key=key, store=store, isolation_level=IsolationLevel.SERIALIZABLE,
                             write_on_commit=False, overwrite=True):
                start = time.monotonic()
                time.sleep(0.2)
                spans.append((start, time.monotonic()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not errors and len(spans) == 4
    spans.sort()
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans
    assert store.lock_manager.held_keys() == []
    deadline = time.monotonic() + 5
    while _lease_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _lease_threads() == []
    assert lock_holder(key, redis_url) is None


def test_lease_ttl_reentry_pickle_and_release_of_others(
        system_id: Callable[[str], str], redis_url: str) -> None:
    """The Redis key expires (a lease), the same holder re-enters, a pickled manager keeps
    its settings, and releasing someone else's lock leaves it alone."""
    key = system_lock_key(system_id("ttl"))
    mgr = LeasedRedisLockManager(connection_url=redis_url, lease_seconds=2, wait_seconds=0)
    assert mgr.acquire_lock(key, "h1") is True
    assert 0 < mgr.client.pttl(f"lock:{key}") <= 2000
    assert mgr.acquire_lock(key, "h1") is True                          # re-entrant
    copy = pickle.loads(pickle.dumps(mgr))
    assert (copy.lease_seconds, copy.wait_seconds, copy.held_keys()) == (2, 0, [])
    assert copy.is_locked(key) and copy.is_lock_holder(key, "h1")
    with pytest.raises(SystemBusyError):
        copy.acquire_lock(key, "h2")
    copy.release_lock(key, "h2")                                        # not h2's: kept
    assert mgr.is_lock_holder(key, "h1")
    mgr.release_lock(key, "h1")
    assert not mgr.is_locked(key) and mgr.held_keys() == []


def test_unreachable_redis_is_one_clear_error(redis_url: str) -> None:
    """A closed port: check_redis and acquire_lock name the URL, never the password."""
    port = free_port()
    url = f"redis://:s3cret@127.0.0.1:{port}/0"
    started = time.monotonic()
    with pytest.raises(LockServerError) as err:
        check_redis(url)
    assert time.monotonic() - started < 5
    assert f"127.0.0.1:{port}" in str(err.value) and "s3cret" not in str(err.value)
    assert "SHANGYUN_REDIS_URL" in str(err.value)
    mgr = LeasedRedisLockManager(connection_url=url, lease_seconds=1)
    with pytest.raises(LockServerError) as err2:
        mgr.acquire_lock("shangyun/system/nowhere", "h")
    assert f"127.0.0.1:{port}" in str(err2.value) and "s3cret" not in str(err2.value)
    with pytest.raises(LockServerError):
        lock_holder("shangyun/system/nowhere", url)
    check_redis(redis_url)                                              # the real one answers
    assert redis.Redis.from_url(redis_url).ping()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                            redis_url: str) -> None:
    """SHANGYUN_REDIS_URL is required; lease and wait come from the environment."""
    monkeypatch.delenv("SHANGYUN_REDIS_URL", raising=False)
    with pytest.raises(LockConfigError, match="SHANGYUN_REDIS_URL"):
        configured_redis_url()
    with pytest.raises(LockConfigError, match="SHANGYUN_REDIS_URL"):
        system_lock_store()
    monkeypatch.setenv("SHANGYUN_REDIS_URL", redis_url)
    monkeypatch.setenv("SHANGYUN_LOCK_LEASE", "6")
    monkeypatch.delenv("SHANGYUN_LOCK_WAIT", raising=False)
    mgr = system_lock_store().lock_manager
    assert isinstance(mgr, LeasedRedisLockManager)
    assert (mgr.lease_seconds, mgr.wait_seconds) == (6, 18)
    monkeypatch.setenv("SHANGYUN_LOCK_WAIT", "2")
    assert LeasedRedisLockManager(connection_url=redis_url).wait_seconds == 2
    monkeypatch.setenv("SHANGYUN_LOCK_LEASE", "soon")
    with pytest.raises(LockConfigError, match="SHANGYUN_LOCK_LEASE"):
        LeasedRedisLockManager(connection_url=redis_url)
