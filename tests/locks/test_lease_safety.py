"""Lease loss, fencing tokens and Redis URLs against real Redis servers (docs/safety.md):
a holder whose lease is lost is stopped in the middle of its step, every holder of a system
lock gets a larger fencing token, and a Redis URL needs a password unless it is loopback."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis
from prefect.results import ResultStore
from prefect.transactions import IsolationLevel, transaction

from connectors.journal.wave import open_journal
from connectors.locks import (
    LeasedRedisLockManager,
    LeaseLostError,
    LockConfigError,
    LockServerError,
    SystemBusyError,
    check_url,
    fence_name,
    system_lock_key,
)
from shangyun.errors import LockLostError
from shangyun.wave.engine import execute, undo_system
from shangyun.wave.steps import Step
from tests.support import free_port


@contextlib.contextmanager
def private_redis(tmp_path: Path, *args: str, port: int | None = None
                  ) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own on a free loopback port (``args`` may move it to
    ``--tls-port port``); ended by its pid."""
    port = port or free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
                             *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                        timeout=0.2):
                break
            time.sleep(0.05)
        yield port, proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _step(writes: list[float], stop_after: float = 15.0) -> None:
    """A long step that writes every 50 ms (what must stop when the lease is lost)."""
    deadline = time.monotonic() + stop_after
    while time.monotonic() < deadline:
        writes.append(time.monotonic())
        time.sleep(0.05)


def test_lease_taken_over_stops_the_holders_step(redis_url: str,
                                                 system_id: Callable[[str], str]) -> None:
    key = system_lock_key(system_id("lost"))
    ours = LeasedRedisLockManager(connection_url=redis_url, lease_seconds=1.5, wait_seconds=0)
    theirs = LeasedRedisLockManager(connection_url=redis_url, lease_seconds=30,
                                    wait_seconds=5)
    writes: list[float] = []
    taken: list[float] = []
    client = redis.Redis.from_url(redis_url)

    def other_worker() -> None:  # the lock expires under us and another worker takes it
        time.sleep(0.5)
        client.delete(ours._lock_name_for_key(key))
        theirs.acquire_lock(key, "other-worker")
        taken.append(time.monotonic())

    first = 0
    with pytest.raises(LeaseLostError) as err, transaction(
            key=key, store=ResultStore(lock_manager=ours),
            isolation_level=IsolationLevel.SERIALIZABLE, write_on_commit=False, overwrite=True):
        first = ours.fencing_token(key)
        threading.Thread(target=other_worker, daemon=True).start()
        _step(writes)
    assert isinstance(err.value, SystemBusyError)  # the wave leaves the system alone
    assert "was lost" in str(err.value) and f"fencing token {first}" in str(err.value)
    # stopped within a renewal period (lease/3) of the takeover, not after the 15 s step
    assert taken and writes[-1] - taken[0] < 1.5
    newer = theirs.fencing_token(key)
    assert newer > first
    with pytest.raises(LeaseLostError, match="newer holder"):
        ours.check_fence(key, first)
    theirs.check_fence(key, newer)
    assert theirs.is_lock_holder(key, "other-worker")  # the new holder keeps it
    theirs.release_lock(key, "other-worker")
    client.delete(fence_name(ours._lock_name_for_key(key)))


def test_redis_gone_for_a_whole_lease_stops_the_holder(tmp_path: Path) -> None:
    with private_redis(tmp_path) as (port, proc):
        url = f"redis://127.0.0.1:{port}/0"
        manager = LeasedRedisLockManager(connection_url=url, lease_seconds=1.5, wait_seconds=0)
        key = system_lock_key("sys-partitioned")
        writes: list[float] = []
        assert manager.acquire_lock(key, "holder")
        os.kill(proc.pid, signal.SIGSTOP)  # Redis unreachable: renewals time out
        stopped = time.monotonic()
        try:
            with pytest.raises(LeaseLostError, match="no renewal"):
                _step(writes, stop_after=30)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert writes[-1] - stopped < 1.5 + 5.0 + 1.0  # one lease + one socket timeout
        with pytest.raises(LeaseLostError):
            manager.fencing_token(key)


def test_fencing_tokens_grow_with_every_holder(redis_url: str,
                                               system_id: Callable[[str], str]) -> None:
    key = system_lock_key(system_id("fence"))
    tokens = []
    for i in range(3):
        m = LeasedRedisLockManager(connection_url=redis_url, lease_seconds=5, wait_seconds=1)
        m.acquire_lock(key, f"holder-{i}")
        tokens.append(m.fencing_token(key))
        assert m.current_fence(key) == tokens[-1]
        m.check_fence(key, tokens[-1])
        m.release_lock(key, f"holder-{i}")
        with pytest.raises(LeaseLostError, match="does not hold"):
            m.fencing_token(key)
    assert tokens == sorted(tokens) and len(set(tokens)) == 3
    other = system_lock_key(system_id("fence-other"))
    m = LeasedRedisLockManager(connection_url=redis_url, lease_seconds=5, wait_seconds=1)
    m.acquire_lock(other, "h")
    assert m.fencing_token(other) == 1  # per system lock
    m.release_lock(other, "h")
    client = redis.Redis.from_url(redis_url)
    client.delete(*(fence_name(m._lock_name_for_key(k)) for k in (key, other)))


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6379/0", "redis://localhost/1", "redis://[::1]:6379/0",
    "redis://:pw@10.1.2.3:6379/0", "rediss://shangyun:pw@redis.example:6380/0",
    "unix:///run/redis/redis.sock"])
def test_urls_accepted(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize("url,why", [
    ("redis://10.1.2.3:6379/0", "has no password"),
    ("rediss://redis.example:6380/0", "has no password"),
    ("redis://shangyun@redis.example/0", "has no password"),
    ("http://127.0.0.1:6379", "use redis://"),
    ("redis://127.0.0.1:99999/0", "malformed"),
])
def test_urls_refused(url: str, why: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LockConfigError, match=why):
        check_url(url)
    with pytest.raises(LockConfigError, match=why):
        LeasedRedisLockManager(connection_url=url)
    monkeypatch.setenv("SHANGYUN_REDIS_URL", url)
    from connectors.locks import redis_url as configured

    with pytest.raises(LockConfigError, match=why):
        configured()


def test_password_and_acl_user_urls_against_a_real_redis(tmp_path: Path) -> None:
    with private_redis(tmp_path, "--requirepass", "s3cret-pw", "--user", "shangyun", "on",
                       ">acl-pw", "~*", "&*", "+@all") as (port, _):
        key = system_lock_key("sys-auth")
        for url in (f"redis://:s3cret-pw@127.0.0.1:{port}/0",
                    f"redis://shangyun:acl-pw@127.0.0.1:{port}/0"):
            m = LeasedRedisLockManager(connection_url=url, lease_seconds=5, wait_seconds=1)
            assert m.acquire_lock(key, "h") and m.fencing_token(key) >= 1
            m.release_lock(key, "h")
        wrong = LeasedRedisLockManager(connection_url=f"redis://:nope@127.0.0.1:{port}/0",
                                       lease_seconds=5, wait_seconds=1)
        with pytest.raises(LockServerError) as err:
            wrong.acquire_lock(key, "h")
        assert "nope" not in str(err.value) and "***" in str(err.value)


def test_tls_url_against_a_real_redis(tmp_path: Path) -> None:
    """``rediss://`` with a password and the server's CA: the lock works over TLS; the same
    server is not reachable in clear text."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = free_port()
    with private_redis(tmp_path, "--port", "0", "--tls-port", str(port), "--tls-cert-file",
                       str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                       "--tls-auth-clients", "no", "--requirepass", "tls-pw", port=port):
        lock = system_lock_key("sys-tls")
        url = f"rediss://:tls-pw@127.0.0.1:{port}/0?ssl_ca_certs={cert}"
        m = LeasedRedisLockManager(connection_url=url, lease_seconds=5, wait_seconds=1)
        assert m.acquire_lock(lock, "h") and m.fencing_token(lock) == 1
        m.release_lock(lock, "h")
        clear = LeasedRedisLockManager(connection_url=f"redis://:tls-pw@127.0.0.1:{port}/0",
                                       lease_seconds=5, wait_seconds=1)
        with pytest.raises(LockServerError):
            clear.acquire_lock(lock, "h")


class _SlowUndo:
    """A step action whose undo takes ``seconds`` (long enough to lose a lease in); it
    notes each payload it finished undoing."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.undone = seconds, []  # type: ignore[var-annotated]

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        return {"n": step.key}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        return False

    def undo(self, payload: Mapping[str, Any]) -> None:
        _step([], stop_after=self.seconds)
        self.undone.append(payload["n"])


def test_lease_lost_in_the_middle_of_an_undo_stops_it_with_a_clear_error(
        redis_url: str, system_id: Callable[[str], str], tmp_path: Path) -> None:
    """The lock lost while a system's undo runs: the undo stops at that step (journaled
    ``undo_failed`` with one sentence naming the system and the lock), the older steps are
    left to the new holder, and the error is the core's :class:`LockLostError`."""
    sid = system_id("undo")
    key = system_lock_key(sid)
    ours = LeasedRedisLockManager(connection_url=redis_url, lease_seconds=1.5, wait_seconds=0)
    slow = _SlowUndo(15.0)
    steps = [Step("slow", sid, f"{sid}/slow/{i}", f"slow {i}") for i in range(3)]
    client = redis.Redis.from_url(redis_url)
    with open_journal(tmp_path) as j:
        run = j.begin_run(1, {})
        for st in steps:
            execute(j, run, 1, st, slow, {})

        def other_worker() -> None:  # the lock expires under us mid-undo
            time.sleep(0.5)
            client.delete(ours._lock_name_for_key(key))

        with transaction(key=key, store=ResultStore(lock_manager=ours),
                         isolation_level=IsolationLevel.SERIALIZABLE, write_on_commit=False,
                         overwrite=True):
            threading.Thread(target=other_worker, daemon=True).start()
            t0 = time.monotonic()
            report = undo_system(j, run, 1, sid, {"slow": slow})
        assert time.monotonic() - t0 < 5.0  # stopped, not the 15 s undo (nor three)
        newest = steps[-1].key
        assert not report.ok and report.undone == [] and slow.undone == []
        assert list(report.failed) == [newest] and report.lock_lost == report.failed[newest]
        assert f"system {sid}" in report.lock_lost and "was lost" in report.lock_lost
        status = {r.key: r.status for r in j.records(1, sid)}
        assert status == {newest: "undo_failed", steps[0].key: "done", steps[1].key: "done"}
        assert "was lost" in (j.last(1, sid, newest).error or "")  # type: ignore[union-attr]
    with pytest.raises(LockLostError):  # the core's type (SystemBusyError too: left alone)
        ours.fencing_token(key)
    client.delete(fence_name(ours._lock_name_for_key(key)))
