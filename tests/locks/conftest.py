"""Fixtures for the lock tests: the real Redis on 127.0.0.1:6379, a unique system-id prefix
per test (its keys deleted afterwards) and lock holders as separate OS processes."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of the machine's Redis (``scripts/setup`` starts it); fails if it is down."""
    from connectors.locks import LockServerError, check_redis

    try:
        check_redis(REDIS_URL)
    except LockServerError as exc:
        pytest.fail(f"{exc} — run scripts/setup")
    return REDIS_URL


@pytest.fixture
def system_id(redis_url: str) -> Iterator[Callable[[str], str]]:
    """A maker of system ids unique to this test; their lock keys are deleted afterwards."""
    import redis

    prefix = f"t{os.getpid()}-{secrets.token_hex(4)}"
    yield lambda name: f"{prefix}-{name}"
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    for pattern in (f"lock:shangyun/system/{prefix}-*", f"fence:lock:shangyun/system/{prefix}-*"):
        for key in client.scan_iter(pattern, count=500):
            client.delete(key)
    client.close()


def notes(path: Path) -> dict[str, float]:
    """The ``word time`` lines a holder wrote (``busy`` lines keep their message out)."""
    out: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            word, _, value = line.partition(" ")
            if word in ("ready", "enter", "leave"):
                out[word] = float(value)
    return out


def wait_note(path: Path, word: str, timeout: float = 30) -> float:
    """Wait (bounded) until the holder noted ``word``; its time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if word in notes(path):
            return notes(path)[word]
        time.sleep(0.05)
    raise AssertionError(f"{path.name}: no '{word}' within {timeout:g} s: "
                         f"{path.read_text() if path.exists() else 'no file'}")


@dataclass
class Holders:
    """Starts ``tests.locks.holder`` processes; kills what is left at the end."""

    redis_url: str
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, system: str, hold: str, name: str, lease: float = 30
              ) -> tuple[subprocess.Popen[bytes], Path]:
        """A holder of ``system``'s lock for ``hold``; its process and notes file."""
        out = self.tmp / f"{name}.notes"
        env = {**os.environ, "SHANGYUN_REDIS_URL": self.redis_url,
               "SHANGYUN_LOCK_LEASE": str(lease), "PYTHONPATH": str(ROOT),
               "PREFECT_HOME": str(self.tmp / "prefect-home"),
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("SHANGYUN_LOCK_WAIT", None)
        with (self.tmp / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "tests.locks.holder", system, hold,
                                     str(out)], env=env, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc, out

    def log(self, name: str) -> str:
        """A holder's output, for failure messages."""
        path = self.tmp / f"{name}.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def holders(redis_url: str, tmp_path: Path) -> Iterator[Holders]:
    """Lock holders in their own processes, killed (SIGKILL) if still running at the end."""
    h = Holders(redis_url, tmp_path)
    yield h
    for proc in h.procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
