"""One writer at a time per estate: an advisory lock file in the estate folder.

Every command that writes the estate (``inventory import``, …) holds
:func:`estate_lock` from before it reads the estate until after it has saved it, so two
writers never merge into the same old copy (no lost update) and a writer's recovery of a
crashed save never touches another writer's live staging folder.

The lock is ``fcntl.flock`` on ``<estate>/.estate.lock`` (released by the kernel when the
holder dies, so a ``kill -9`` never leaves a stale lock). The holder writes who it is
(pid, host, time, command) into the file. A second writer waits up to ``wait`` seconds
(default :data:`DEFAULT_WAIT`, or ``SHANGYUN_ESTATE_LOCK_WAIT``) and is then refused with
:class:`EstateLockedError` naming the holder. Readers take no lock: they never write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import inspect
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

from shangyun.errors import EstateError

LOCK_FILE = ".estate.lock"
#: Seconds a writer waits for the holder before it is refused.
DEFAULT_WAIT = 30.0
_POLL = 0.05
_P = ParamSpec("_P")
_R = TypeVar("_R")


class EstateLockedError(EstateError):
    """Another process holds the estate's write lock (its pid, host, start and command)."""


def lock_wait() -> float:
    """The wait from ``SHANGYUN_ESTATE_LOCK_WAIT`` (seconds), else :data:`DEFAULT_WAIT`."""
    raw = os.environ.get("SHANGYUN_ESTATE_LOCK_WAIT", "")
    try:
        return max(0.0, float(raw)) if raw.strip() else DEFAULT_WAIT
    except ValueError:
        raise EstateError(f"SHANGYUN_ESTATE_LOCK_WAIT={raw!r} is not a number of seconds") \
            from None


def holder(root: str | os.PathLike[str]) -> str:
    """Who holds (or last held) the lock of the estate at ``root``, as a sentence."""
    try:
        info = json.loads((Path(root) / LOCK_FILE).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or not info:
        return "another process (no holder recorded yet)"
    return (f"pid {info.get('pid', '?')} on host {info.get('host', '?')} since "
            f"{info.get('since', '?')} ({info.get('command', '?')})")


@contextlib.contextmanager
def estate_lock(root: str | os.PathLike[str], command: str,
                wait: float | None = None, *, create: bool = False) -> Iterator[Path]:
    """Hold the write lock of the estate folder ``root`` for ``command``.

    A missing folder is an :class:`EstateError` ("no such estate folder"), or is created
    when ``create`` is true (an import makes the estate). Raises
    :class:`EstateLockedError` ("estate … is locked by pid N on host H since T (command
    C)") when another process still holds it after ``wait`` seconds. If nothing but the
    lock file is left in the folder at the end, the lock file goes (and the folder too, if
    this call created it): a command refused on a folder that is not an estate leaves it
    as it was.
    """
    folder = Path(root)
    created = not folder.exists()
    if created and not create:
        raise EstateError(f"{folder}: no such estate folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EstateError(f"{folder}: cannot create the estate folder: "
                          f"{exc.strerror or exc}") from exc
    path = folder / LOCK_FILE
    deadline = time.monotonic() + (lock_wait() if wait is None else wait)
    fd = _acquire(path, deadline, folder)
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                "since": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            if {p.name for p in folder.iterdir()} == {LOCK_FILE}:
                path.unlink()  # while still locked: a waiter sees the inode change
                if created:
                    folder.rmdir()
        os.close(fd)


def _acquire(path: Path, deadline: float, folder: Path) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder was removed by a holder that created it
            folder.mkdir(parents=True, exist_ok=True)
            continue
        except OSError as exc:
            raise EstateError(f"{path}: cannot open the estate's lock file: "
                              f"{exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise EstateLockedError(
                    f"estate {folder} is locked by {holder(folder)}; try again when it "
                    "has finished (SHANGYUN_ESTATE_LOCK_WAIT sets how long to wait)") from None
            time.sleep(_POLL)
            continue
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # we locked a lock file its holder removed: take the new one


def writes_estate(command: str, *, folder: str = "estate_dir", unless: str | None = "dry_run"
                  ) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a function that reads and saves an estate: it runs holding
    :func:`estate_lock` on its ``folder`` argument, except when its ``unless`` argument is
    true (a dry run writes nothing and takes no lock)."""

    def decorate(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            if unless is not None and bound.arguments.get(unless):
                return fn(*args, **kwargs)
            with estate_lock(bound.arguments[folder], command, create=True):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
