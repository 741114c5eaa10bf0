"""Fixtures of the demo's tests: a fresh lab folder under /tmp and a demo work folder,
both removed afterwards (dashboard server stopped, the demo's database copies on the local
PostgreSQL/MariaDB dropped, lab down)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def demo_dirs() -> Iterator[tuple[Path, Path]]:
    """``(out, lab_dir)``: unique folders under /tmp (the lab's databases need o+x)."""
    import lab
    from connectors.prefect_server import default_state_dir, stop
    from tests.lab_support import can_run_lab

    reason = can_run_lab()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="shangyun-demo-test-"))
    root.chmod(0o755)
    out, lab_dir = root / "out", root / "lab"
    lab_dir.mkdir()
    lab_dir.chmod(0o755)
    try:
        yield out, lab_dir
    finally:
        from demo import drop_demo_databases

        stop(default_state_dir(out))
        if (lab_dir / "lab.json").exists():
            drop_demo_databases(lab.LabState.load(lab_dir))
        lab.down(lab_dir)
        shutil.rmtree(root, ignore_errors=True)
