"""Helpers shared by several test areas (and the benchmarks that start the same services):
free ports, moto's server on 127.0.0.1, throw-away PostgreSQL databases, process trees and
the Redis lock keys of distributed waves."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# moto accepts any credentials; these are not secrets.
MOTO_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1"}


def cli_process(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """``shangyun ARGS`` started as a terminal starts a command: its own process group (so
    a test's SIGINT or SIGKILL reaches it and what it started), output captured as text."""
    return subprocess.Popen(
        [sys.executable, "-c", "from shangyun.cli import main; main()", *args],
        cwd=Path(__file__).resolve().parents[1], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def tmpfs_mounted(mnt: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted on ``mnt`` (made here) with ``options`` (``size=8m``, ``ro,size=4m``)
    for the test, unmounted after; the test is skipped where mounting is not allowed."""
    import pytest

    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@contextmanager
def moto_env() -> Iterator[None]:
    """The dummy AWS credentials moto accepts (and no AWS_PROFILE) for the duration; the
    environment is restored afterwards."""
    keys = [*MOTO_ENV, "AWS_PROFILE"]
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(MOTO_ENV)
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's ThreadedMotoServer (S3, EC2, Route53) on 127.0.0.1; yields its URL.

    Sets the dummy AWS credentials moto accepts for the duration (and drops AWS_PROFILE),
    restoring the environment afterwards.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with moto_env():
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@contextmanager
def pg_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database on 127.0.0.1 (dropped afterwards); yields its name."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, found through /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal a process and everything it started (a worker's flow-run children live in
    their own sessions, so its process group is not enough); reap it (bounded)."""
    if proc.poll() is None:
        for pid in [*descendants(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def flush_lock_keys(url: str) -> int:
    """Delete the ``lock:shangyun/*`` keys (distributed system locks) and their
    ``fence:lock:shangyun/*`` fencing counters of Redis ``url``; returns how many locks
    there were. Never raises (cleanup)."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
    except Exception:
        return 0
    try:
        keys = list(client.scan_iter("lock:shangyun/*", count=500))
        fences = list(client.scan_iter("fence:lock:shangyun/*", count=500))
        if keys or fences:
            client.delete(*keys, *fences)
        return len(keys)
    except Exception:
        return 0
    finally:
        client.close()
