"""Reusable test support: bring a lab up once for a test session and down after.

Usage in another area's ``conftest.py``::

    from tests.lab_support import lab_session

    @pytest.fixture(scope="session")
    def lab(tmp_path_factory):
        with lab_session(bureaus=2, hosts=12) as state:
            yield state

The lab lives in a fresh folder under ``/tmp`` (world-searchable, as the lab's databases
need), so its tag, namespace names and network differ from a developer's own lab and from
other sessions running at the same time.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.build import down, up
from lab.state import LabState


def can_run_lab() -> str | None:
    """``None`` if this machine can run the lab, else the reason it cannot (for skips)."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces)"
    if not Path("/usr/sbin/sshd").exists():
        return "sshd is not installed"
    return None


@contextmanager
def lab_session(tmp_dir: Path | str | None = None, bureaus: int = 2,
                hosts: int | None = None, guests: int = 0) -> Iterator[LabState]:
    """Bring a lab up in a new folder (under ``tmp_dir`` or /tmp), yield it, tear it down."""
    parent = Path(tmp_dir) if tmp_dir else Path(tempfile.gettempdir())
    lab_dir = Path(tempfile.mkdtemp(prefix="shangyun-lab-", dir=parent))
    lab_dir.chmod(0o755)
    try:
        yield up(lab_dir, bureaus=bureaus, hosts=hosts, guests=guests)
    finally:
        down(lab_dir)
