"""Every command that writes the estate takes its lock (issue 13, item 5): while another
process holds it, ``assess``, ``plan``, ``discover``, ``runbook`` and ``report`` are refused
with "estate … is locked by pid N on host H since T (command)" and write nothing; readers
and dry runs still work. The holder is a real separate process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate.lock import LOCK_FILE

ROOT = Path(__file__).resolve().parents[2]
HOLDER = r"""
import sys, time
from pathlib import Path
from shangyun.estate.lock import estate_lock
with estate_lock(sys.argv[1], "inventory import"):
    print("HELD", flush=True)
    for _ in range(1200):
        if Path(sys.argv[2]).exists():
            break
        time.sleep(0.05)
"""


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != LOCK_FILE}


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SHANGYUN_JOURNAL", raising=False)
    monkeypatch.setenv("SHANGYUN_ESTATE_LOCK_WAIT", "0.3")
    root = tmp_path / "estate"
    r = CliRunner().invoke(main, ["inventory", "sample", "--out", str(root), "--bureaus", "1",
                                  "--systems", "10"])
    assert r.exit_code == 0, r.output
    assert CliRunner().invoke(main, ["assess", "--estate", str(root)]).exit_code == 0
    assert CliRunner().invoke(main, ["plan", "--estate", str(root)]).exit_code == 0
    return root


@pytest.fixture
def held(estate: Path, tmp_path: Path) -> Iterator[int]:
    """Another process holds the estate's lock; yields its pid."""
    stop = tmp_path / "stop-holder"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(estate), str(stop)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "HELD"
        yield proc.pid
    finally:
        stop.touch()
        proc.wait(timeout=30)


WRITERS = [
    ("assess", ["assess"]),
    ("plan", ["plan"]),
    ("discover", ["discover", "--key", "/nonexistent/key"]),
    ("runbook", ["runbook", "1"]),
    ("report", ["report"]),
]


@pytest.mark.parametrize(("name", "args"), WRITERS, ids=[w[0] for w in WRITERS])
def test_a_writer_is_refused_naming_the_holder_and_writes_nothing(
        estate: Path, held: int, name: str, args: list[str]) -> None:
    before = snapshot(estate)
    t0 = time.monotonic()
    r = CliRunner().invoke(main, [*args, "--estate", str(estate)])
    text = " ".join(r.output.split())
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), text
    assert f"is locked by pid {held} on host {socket.gethostname()} since 20" in text
    assert "(inventory import)" in text
    assert time.monotonic() - t0 < 30
    assert snapshot(estate) == before


def test_readers_and_dry_runs_work_while_the_estate_is_locked(estate: Path, held: int) -> None:
    before = snapshot(estate)
    for args in (["inventory", "validate"], ["inventory", "show"], ["plan", "--dry-run"],
                 ["report", "--json"]):
        r = CliRunner().invoke(main, [*args, "--estate", str(estate)])
        assert r.exit_code == 0 and "is locked by" not in r.output, (args, r.output)
    assert snapshot(estate) == before


def test_the_lock_is_released_when_the_writer_ends(estate: Path) -> None:
    for args in (["assess"], ["plan"], ["report"]):
        r = CliRunner().invoke(main, [*args, "--estate", str(estate)])
        assert r.exit_code == 0, r.output
        assert (estate / LOCK_FILE).read_text() == ""  # no holder left recorded
