"""Fixtures of the discovery tests: real sshd on 127.0.0.1 ports, a silent TCP listener,
keys and known_hosts files. Everything is started here and stopped after."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.discovery.sshd import Sshd, SshdFarm, free_port, keygen


@dataclass
class Hosts:
    """The servers of one test session and the files to reach them."""

    farm: SshdFarm
    good: list[Sshd]
    unknown: Sshd
    changed: Sshd
    wrong_key: Sshd
    no_forwarding: Sshd
    known_hosts: Path
    key: Path


@pytest.fixture(scope="session")
def sshd_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    """Three good sshd, one with a key not in known_hosts, one whose recorded key differs,
    one refusing our client key, one that cannot forward TCP (a broken jump host)."""
    root = tmp_path_factory.mktemp("sshd-discovery")
    farm = SshdFarm(root / "farm")
    try:
        good = farm.start(3)
        other = root / "other_client"
        (root / "other_authorized_keys").write_text(keygen(other) + "\n")
        unknown, changed = farm.start(2)
        (wrong_key,) = farm.start(1, authorized_keys=root / "other_authorized_keys")
        (no_fwd,) = farm.start(1, forwarding=False)
        kh = farm.write_known_hosts([*good, wrong_key, no_fwd], root / "known_hosts")
        impostor = keygen(root / "impostor_host_key")
        with kh.open("a") as f:
            f.write(f"[{changed.address}]:{changed.port} {impostor}\n")
        yield Hosts(farm, good, unknown, changed, wrong_key, no_fwd, kh, farm.client_key)
    finally:
        farm.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung host)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(srv.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    for c in held:
        c.close()
    srv.close()


@pytest.fixture
def dead_port() -> int:
    """A port nothing listens on."""
    return free_port()


@pytest.fixture(scope="module")
def lab() -> Iterator[object]:
    """A real lab (network namespaces, sshd, databases, long-lived connections) for the
    end-to-end discovery tests of one module (torn down after it, not at the end of the
    whole suite); skipped where the lab cannot run."""
    from tests.lab_support import can_run_lab, lab_session

    reason = can_run_lab()
    if reason:
        pytest.skip(reason)
    yield from _lab_with_retries(lab_session)


def _lab_with_retries(lab_session: Any) -> Iterator[object]:
    """Bring the lab up, retrying (at most 3 times) when its build fails — it can when
    several labs initialise MariaDB at the same moment (see the report)."""
    from lab import LabError

    for attempt in range(3):
        try:
            cm = lab_session(bureaus=2, hosts=8)
            state = cm.__enter__()
        except LabError:
            if attempt == 2:
                raise
            continue
        try:
            yield state
        finally:
            cm.__exit__(None, None, None)
        return
