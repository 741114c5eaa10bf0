"""The cross-machine system lock: Redis (through prefect-redis) with a renewed lease.

In distributed mode every system is moved inside a SERIALIZABLE Prefect transaction keyed
on :func:`system_lock_key`; its lock lives in Redis, so no two workers anywhere run the same
system's steps::

    with transaction(key=system_lock_key(sid), store=system_lock_store(),
                     isolation_level=IsolationLevel.SERIALIZABLE,
                     write_on_commit=False, overwrite=True):
        ...                                      # every step of the system

Why a subclass of ``prefect_redis.RedisLockManager``: Prefect 3.9's transaction calls
``acquire_lock(key, holder, None)`` — wait forever, hold forever (the Redis key never
expires) — and ignores a ``False`` return. A worker killed with ``kill -9`` would leave its
systems locked for good. :class:`LeasedRedisLockManager` gives every lock a lease
(``SHANGYUN_LOCK_LEASE``, 30 s) that a daemon thread renews every lease/3 while the holder
lives; a dead holder stops renewing and its lock frees itself within one lease. It waits
at most ``SHANGYUN_LOCK_WAIT`` (3 leases) and then raises :class:`SystemBusyError`, so a
transaction can never begin without the lock.

Safety (docs/safety.md):

* **A lost lease aborts the holder.** When a renewal finds the lock no longer ours (it
  expired, maybe another worker took it), or no renewal succeeded for a whole lease (Redis
  unreachable: the key has expired there), the renewing thread raises
  :class:`LeaseLostError` *in the thread that took the lock* — the step running there stops
  at its next Python instruction — instead of only logging. ``LeaseLostError`` is a
  :class:`SystemBusyError`, so the wave leaves the system to the worker that has it now.
* **Fencing tokens.** Every acquisition increments ``fence:<lock name>`` in Redis (never
  expires): a number that grows with each holder of one system lock.
  :meth:`LeasedRedisLockManager.fencing_token` gives the holder its token and
  :meth:`LeasedRedisLockManager.check_fence` raises :class:`LeaseLostError` when a newer
  holder exists; a store (the journal) that keeps the highest token it saw per system can
  refuse a stale holder's writes.
* **Redis URLs.** ``redis://`` and ``rediss://`` (TLS) with ``user:password@`` are accepted;
  a URL without a password is refused unless the server is on a loopback address
  (:func:`check_url`) — any worker on the network could otherwise take or free locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio
from prefect.results import ResultStore
from prefect_redis import RedisLockManager
from prefect_redis.connection import redis_from_url
from redis.lock import Lock

from shangyun.errors import ConnectorError, LockLostError, ShangyunError

URL_ENV = "SHANGYUN_REDIS_URL"
LEASE_ENV = "SHANGYUN_LOCK_LEASE"
WAIT_ENV = "SHANGYUN_LOCK_WAIT"
DEFAULT_LEASE = 30.0
SYSTEM_PREFIX = "shangyun/system/"
SOCKET_TIMEOUT = 5.0
"""Seconds a single Redis command may take before it counts as a failure."""

log = logging.getLogger("shangyun.locks")


class LockConfigError(ShangyunError):
    """The lock settings (``SHANGYUN_REDIS_URL``, ``SHANGYUN_LOCK_*``) are missing or bad."""


class LockServerError(ConnectorError):
    """Redis cannot be reached or refused a command (names the URL, password hidden)."""


class SystemBusyError(ShangyunError):
    """Another worker holds the system's lock and did not let go within the wait."""

    def __init__(self, key: str, holder: str | None, waited: float) -> None:
        self.key, self.holder, self.waited = key, holder, waited
        system = key.removeprefix(SYSTEM_PREFIX)
        who = describe_holder(holder) if holder else "a holder that just let go"
        super().__init__(f"system {system} is being moved by another worker (lock {key} "
                         f"held by {who}) — waited {waited:g} s")


class LeaseLostError(SystemBusyError, LockLostError):
    """This worker's lease on a system lock was lost: its step was stopped, and another
    worker may be moving the system now (so nothing of it is undone here)."""

    def __init__(self, key: str = "", fence: int | None = None, why: str = "") -> None:
        ShangyunError.__init__(self, f"system {key.removeprefix(SYSTEM_PREFIX)}: the lease on "
                               f"lock {key} (fencing token {fence}) was lost ({why}); this "
                               "worker stopped its step and leaves the system alone")
        self.key, self.holder, self.waited, self.fence = key, None, 0.0, fence


def hide_password(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed Redis URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def check_url(url: str) -> str:
    """Accept ``redis://``/``rediss://``/``unix://`` URLs; refuse one without a password
    unless its server is on a loopback address (or a unix socket). Returns ``url``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise LockConfigError(f"Redis URL {hide_password(url)} is malformed: {exc}") from None
    if parts.scheme == "unix":
        return url
    if parts.scheme not in ("redis", "rediss") or not host:
        raise LockConfigError(f"Redis URL {hide_password(url)}: use redis://[user:password@]"
                              "host:port/db or rediss:// (TLS)")
    if parts.password:
        return url
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LockConfigError(f"Redis URL {url} has no password: the system locks on "
                              f"{host} could be taken or freed by anyone who reaches it; use "
                              "redis://:PASSWORD@host:port/db (or user:password, or rediss:// "
                              "for TLS); only a loopback Redis may go without")
    return url


def redis_url() -> str:
    """The Redis URL of the system locks, from ``SHANGYUN_REDIS_URL`` (required; checked
    by :func:`check_url`)."""
    url = os.environ.get(URL_ENV, "").strip()
    if not url:
        raise LockConfigError(f"distributed mode needs Redis for the system locks: set "
                              f"{URL_ENV}=redis://host:6379/0 on the submitter and every worker")
    return check_url(url)


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise LockConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise LockConfigError(f"{name}={raw!r} must be more than 0 seconds")
    return value


@contextlib.contextmanager
def _closing(client: redis.Redis) -> Iterator[redis.Redis]:
    """Close ``client`` when the block ends, ignoring whatever closing raises."""
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()


def check_redis(url: str, timeout: float = 2.0) -> None:
    """PING Redis at ``url`` within ``timeout`` seconds; :class:`LockServerError` if not."""
    try:
        client = redis_from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError as exc:
        raise LockServerError(f"Redis URL {hide_password(url)} ({URL_ENV}) is malformed: "
                              f"{exc}") from None
    with _closing(client):
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            raise LockServerError(f"Redis at {hide_password(url)} ({URL_ENV}) is not reachable: "
                                  f"{exc}") from None


def system_lock_key(system_id: str) -> str:
    """The transaction key (and, behind ``lock:``, the Redis key) of a system's lock."""
    return f"{SYSTEM_PREFIX}{system_id}"


def _token(holder: str) -> str:
    """What Redis stores for a holder: Prefect's holder id plus where it runs."""
    return f"{holder}|{socket.gethostname()} pid {os.getpid()}"


def _holder_of(token: str) -> str:
    return token.rsplit("|", 1)[0]


def describe_holder(token: str | None) -> str:
    """A stored token for people: ``host pid N (transaction <holder>)``."""
    if not token:
        return "nobody"
    holder, _, where = token.rpartition("|")
    return f"{where} (transaction {holder})" if holder else token


def fence_name(lock_name: str) -> str:
    """The Redis key of a lock's fencing counter."""
    return f"fence:{lock_name}"


def _interrupt(thread_id: int, exc_type: type[BaseException]) -> bool:
    """Raise ``exc_type`` in the thread ``thread_id`` at its next Python instruction."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                                      ctypes.py_object(exc_type))
    return int(done) == 1


@dataclass
class _Held:
    """One lock this process holds, the thread renewing its lease, the thread that took it
    (stopped when the lease is lost) and its fencing token."""

    holder: str
    lock: Lock
    owner: int = 0
    fence: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class LeasedRedisLockManager(RedisLockManager):
    """A Redis lock manager whose locks expire unless their live holder renews them.

    ``lease_seconds`` (default ``$SHANGYUN_LOCK_LEASE`` or 30): the lock's time to live in
    Redis, renewed every lease/3 by one daemon thread per held lock until it is released.
    ``wait_seconds`` (default ``$SHANGYUN_LOCK_WAIT`` or 3 leases): the longest
    :meth:`acquire_lock` waits when Prefect passes no timeout; then it raises
    :class:`SystemBusyError` instead of returning ``False``. Safe to share between threads;
    pickles like its parent (settings only, no held locks).
    """

    def __init__(self, *, lease_seconds: float | None = None,
                 wait_seconds: float | None = None, connection_url: str | None = None,
                 abort_on_loss: bool = True, **kwargs: Any) -> None:
        self.lease_seconds = (lease_seconds if lease_seconds is not None
                              else _env_seconds(LEASE_ENV, DEFAULT_LEASE))
        self.wait_seconds = (wait_seconds if wait_seconds is not None
                             else _env_seconds(WAIT_ENV, 3 * self.lease_seconds))
        if self.lease_seconds <= 0 or self.wait_seconds < 0:
            raise LockConfigError(f"lock lease {self.lease_seconds:g} s must be > 0 and wait "
                                  f"{self.wait_seconds:g} s >= 0")
        if connection_url is not None:
            check_url(connection_url)
        self.abort_on_loss = abort_on_loss
        super().__init__(connection_url=connection_url, **kwargs)
        self._setup_local()

    def _setup_local(self) -> None:
        self._guard = threading.Lock()
        self._held: dict[str, _Held] = {}

    # ---------- pickling: settings only ----------
    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update(lease_seconds=self.lease_seconds, wait_seconds=self.wait_seconds,
                     abort_on_loss=self.abort_on_loss)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._setup_local()

    def _init_clients(self) -> None:
        """The parent's clients, with socket timeouts so a dead Redis cannot hang a renewal."""
        opts = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT}
        if self.connection_url is not None:
            self.client = redis_from_url(self.connection_url, **opts)
            self.async_client = redis_from_url(self.connection_url, asynchronous=True, **opts)
            return
        conn = {"host": self.host, "port": self.port, "db": self.db, "username": self.username,
                "password": self.password, "ssl": self.ssl, **opts}
        self.client = redis.Redis(**conn)
        self.async_client = redis.asyncio.Redis(**conn)

    @property
    def where(self) -> str:
        """The Redis server, for messages (password hidden)."""
        if self.connection_url:
            return hide_password(self.connection_url)
        return f"redis://{self.host}:{self.port}/{self.db}"

    def _server_error(self, exc: Exception, key: str) -> LockServerError:
        return LockServerError(f"Redis at {self.where} failed on lock {key}: {exc}")

    def _current(self, key: str) -> str | None:
        try:
            value = self.client.get(self._lock_name_for_key(key))
        except (redis.RedisError, OSError) as exc:
            raise self._server_error(exc, key) from None
        return value.decode() if isinstance(value, bytes) else value

    # ---------- the lock protocol ----------
    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                     hold_timeout: float | None = None) -> bool:
        """Take ``key``'s lock for ``holder``: True, or :class:`SystemBusyError` after the
        wait (``acquire_timeout``, else ``wait_seconds``). With no ``hold_timeout`` the
        lock has a renewed lease; with one, it simply expires after that long."""
        return self._acquire(key, holder, acquire_timeout, hold_timeout, threading.get_ident())

    def _acquire(self, key: str, holder: str, acquire_timeout: float | None,
                 hold_timeout: float | None, owner: int) -> bool:
        name = self._lock_name_for_key(key)
        if self.is_lock_holder(key, holder):
            return True
        wait = self.wait_seconds if acquire_timeout is None else max(acquire_timeout, 0.0)
        lease = self.lease_seconds if hold_timeout is None else hold_timeout
        lock = Lock(self.client, name, timeout=lease, sleep=min(0.1, lease / 10),
                    thread_local=False)
        try:
            acquired = lock.acquire(token=_token(holder), blocking_timeout=wait)
        except (redis.RedisError, OSError) as exc:
            raise self._server_error(exc, key) from None
        if not acquired:
            raise SystemBusyError(key, self._current(key), wait)
        try:
            fence = int(self.client.incr(fence_name(name)))
        except (redis.RedisError, OSError) as exc:
            with contextlib.suppress(redis.RedisError, OSError):
                lock.release()
            raise self._server_error(exc, key) from None
        held = _Held(holder=holder, lock=lock, owner=owner, fence=fence)
        if hold_timeout is None:
            held.thread = threading.Thread(target=self._renew, args=(key, held), daemon=True,
                                           name=f"shangyun-lock-lease {key}")
        with self._guard:
            self._held[name] = held
        if held.thread is not None:
            held.thread.start()
        return True

    async def aacquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                            hold_timeout: float | None = None) -> bool:
        """:meth:`acquire_lock` without blocking the event loop (the awaiting thread is
        the one stopped if the lease is lost)."""
        return await asyncio.to_thread(self._acquire, key, holder, acquire_timeout,
                                       hold_timeout, threading.get_ident())

    def _renew(self, key: str, held: _Held) -> None:
        """Renew ``held``'s lease every lease/3 until released; when it is lost (not ours
        any more, or no renewal for a whole lease) stop the holder (:meth:`_lose`)."""
        interval = self.lease_seconds / 3
        last_ok = time.monotonic()
        while not held.stop.wait(interval):
            try:
                held.lock.reacquire()
                last_ok = time.monotonic()
            except redis.exceptions.LockNotOwnedError:
                self._lose(key, held, "it expired and may be held by another worker")
                return
            except (redis.RedisError, OSError) as exc:  # try again at the next tick
                log.warning("lock %s: lease renewal failed at %s: %s", key, self.where, exc)
                if time.monotonic() - last_ok >= self.lease_seconds:
                    self._lose(key, held, f"no renewal for {self.lease_seconds:g} s: {exc}")
                    return

    def _lose(self, key: str, held: _Held, why: str) -> None:
        """Record the loss and raise :class:`LeaseLostError` in the holder's thread."""
        fence = held.fence

        class _Lost(LeaseLostError):
            def __init__(self) -> None:
                super().__init__(key, fence, why)

        _Lost.__name__ = _Lost.__qualname__ = "LeaseLostError"
        with self._guard:  # not released meanwhile (release removes it under this guard)
            if self._held.get(self._lock_name_for_key(key)) is not held:
                return
            held.lost.set()
            log.error("lock %s: lease lost (%s); stopping the holder's step", key, why)
            if self.abort_on_loss and held.owner:
                _interrupt(held.owner, _Lost)

    # ---------- fencing ----------
    def fencing_token(self, key: str) -> int:
        """The fencing token of ``key``'s lock held by this manager (grows with every
        holder); :class:`LeaseLostError` when it is not held or its lease was lost."""
        held = self._held_for(key)
        return held.fence

    def current_fence(self, key: str) -> int:
        """The newest fencing token handed out for ``key``'s lock (0: never taken)."""
        try:
            value = self.client.get(fence_name(self._lock_name_for_key(key)))
        except (redis.RedisError, OSError) as exc:
            raise self._server_error(exc, key) from None
        return int(value or 0)

    def check_fence(self, key: str, token: int) -> None:
        """Raise :class:`LeaseLostError` unless ``token`` is still the newest for ``key``
        and this manager still holds the lock (ask before a write that must be fenced)."""
        current = self.current_fence(key)
        if current != token:
            raise LeaseLostError(key, token, f"a newer holder has token {current}")
        held = self._held_for(key)
        if held.fence != token:
            raise LeaseLostError(key, token, f"this manager holds token {held.fence}")

    def _held_for(self, key: str) -> _Held:
        with self._guard:
            held = self._held.get(self._lock_name_for_key(key))
        if held is None:
            raise LeaseLostError(key, None, "this manager does not hold it")
        if held.lost.is_set():
            raise LeaseLostError(key, held.fence, "its lease ran out")
        return held

    def release_lock(self, key: str, holder: str) -> None:
        """Stop renewing and free ``key``'s lock if ``holder`` still holds it.

        A lock that is not (or no longer) ``holder``'s is left alone with a warning rather
        than an error: Prefect would answer an error by running rollback hooks, i.e. undo
        steps of a system another worker is moving."""
        name = self._lock_name_for_key(key)
        with self._guard:
            held = self._held.get(name)
            if held is not None and held.holder == holder:
                del self._held[name]
            else:
                held = None
        if held is not None:
            held.stop.set()
            if held.thread is not None and held.thread is not threading.current_thread():
                held.thread.join(timeout=SOCKET_TIMEOUT + 1)
            try:
                held.lock.release()
            except redis.exceptions.LockNotOwnedError:
                log.warning("lock %s: lease had expired before release (held by %s now)",
                            key, self._current(key))
            except (redis.RedisError, OSError) as exc:
                log.warning("lock %s: release failed at %s (it expires within %g s): %s",
                            key, self.where, self.lease_seconds, exc)
            return
        current = self._current(key)
        if current is None:
            return
        if _holder_of(current) == holder:  # ours, from another manager: free it safely
            with contextlib.suppress(redis.exceptions.LockNotOwnedError):
                lock = Lock(self.client, name, thread_local=False)
                lock.local.token = current.encode()
                lock.release()
            return
        log.warning("lock %s: %s asked to release it but %s holds it; left alone",
                    key, holder, current)

    def is_lock_holder(self, key: str, holder: str) -> bool:
        """Whether ``holder`` holds ``key``'s lock now (as Redis says, not memory)."""
        current = self._current(key)
        return current is not None and _holder_of(current) == holder

    def is_locked(self, key: str) -> bool:
        """Whether anyone holds ``key``'s lock."""
        return self._current(key) is not None

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Wait until ``key``'s lock is free (at most ``timeout`` s); never takes it, so a
        waiter killed meanwhile leaves nothing behind."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """:meth:`wait_for_lock` without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for_lock, key, timeout)

    def held_keys(self) -> list[str]:
        """The Redis lock names this manager holds and renews now."""
        with self._guard:
            return sorted(self._held)


_STORES: dict[tuple[str, float, float], ResultStore] = {}
_STORES_GUARD = threading.Lock()


def system_lock_store(url: str | None = None) -> ResultStore:
    """A Prefect result store whose lock manager is a :class:`LeasedRedisLockManager` on
    ``url`` (default ``$SHANGYUN_REDIS_URL``); one per process, URL and lease settings."""
    url = check_url(url) if url else redis_url()
    lease = _env_seconds(LEASE_ENV, DEFAULT_LEASE)
    wait = _env_seconds(WAIT_ENV, 3 * lease)
    with _STORES_GUARD:
        store = _STORES.get((url, lease, wait))
        if store is None:
            manager = LeasedRedisLockManager(connection_url=url, lease_seconds=lease,
                                             wait_seconds=wait)
            store = _STORES[(url, lease, wait)] = ResultStore(lock_manager=manager)
        return store


def system_fence(store: ResultStore, key: str) -> int:
    """The fencing token of ``key``'s lock that ``store``'s manager holds (taken by a
    SERIALIZABLE transaction on ``store``, see :func:`system_lock_store`)."""
    manager = store.lock_manager
    if not isinstance(manager, LeasedRedisLockManager):
        raise LockConfigError(f"lock {key}: the store's lock manager gives no fencing tokens")
    return manager.fencing_token(key)


def fence_guard(store: ResultStore, key: str, token: int) -> Callable[[], None]:
    """A check to run before each write the holder of ``key``'s lock (fencing ``token``,
    from :func:`system_fence`) makes outside the journal: it raises
    :class:`LeaseLostError` when a newer holder exists or the lease was lost
    (:func:`shangyun.journal.fence.guard_writes` runs it)."""
    manager = store.lock_manager
    if not isinstance(manager, LeasedRedisLockManager):
        raise LockConfigError(f"lock {key}: the store's lock manager gives no fencing tokens")
    return functools.partial(manager.check_fence, key, token)


def lock_holder(key: str, url: str | None = None) -> str | None:
    """Who holds ``key``'s lock (``<transaction holder>|<host>:pid <pid>``), or None."""
    url = check_url(url) if url else redis_url()
    client = redis_from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
    with _closing(client):
        try:
            value = client.get(RedisLockManager._lock_name_for_key(key))
        except (redis.RedisError, OSError) as exc:
            raise LockServerError(f"Redis at {hide_password(url)} failed on lock {key}: "
                                  f"{exc}") from None
    return value.decode() if isinstance(value, bytes) else value
