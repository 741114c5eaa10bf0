"""Loading never writes: an estate on a read-only mount validates and shows (issue 13,
item 5). Root ignores file permissions (``chmod -R a-w`` proves nothing here), so the estate
is bind-mounted read-only by the test — the kernel refuses every write, root's too — and the
original folder's files are compared before and after. Writers on it fail with one clear
error, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SHANGYUN = str(Path(sys.executable).with_name("shangyun"))


def shangyun(*args: str) -> tuple[int, str]:
    p = subprocess.run([SHANGYUN, *args], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "SHANGYUN_ESTATE_LOCK_WAIT": "1"})
    out = p.stdout + p.stderr
    assert "Traceback" not in out, out
    return p.returncode, " ".join(out.split())


def state(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``root``: mode, mtime (ns) and content (files)."""
    out = {}
    for p in sorted([root, *root.rglob("*")]):
        st = p.lstat()
        out[p.relative_to(root).as_posix()] = (
            st.st_mode, st.st_mtime_ns, p.read_bytes() if p.is_file() else b"")
    return out


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(the estate, the same estate bind-mounted read-only); unmounted after."""
    estate = tmp_path / "estate"
    code, out = shangyun("inventory", "sample", "--out", str(estate), "--bureaus", "1",
                         "--systems", "10")
    assert code == 0, out
    for args in (["assess"], ["plan"]):
        code, out = shangyun(*args, "--estate", str(estate))
        assert code == 0, out
    ro = tmp_path / "read-only"
    ro.mkdir()
    r = subprocess.run(["mount", "--bind", str(estate), str(ro)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {r.stderr.strip()}")
    try:
        r = subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], capture_output=True,
                           text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot make a bind mount read-only here: {r.stderr.strip()}")
        with pytest.raises(OSError):
            (ro / "probe").write_text("x")  # the kernel refuses, root included
        yield estate, ro
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)


def test_a_read_only_estate_validates_and_shows(read_only: tuple[Path, Path]) -> None:
    estate, ro = read_only
    before = state(estate)
    for args in (["inventory", "validate"], ["inventory", "show"],
                 ["inventory", "show", "--json"], ["inventory", "conflicts"],
                 ["plan", "--dry-run"], ["wave", "status", "1"], ["report", "--json"],
                 ["wave", "run", "1", "--dry-run"]):
        code, out = shangyun(*args, "--estate", str(ro))
        assert code == 0, (args, out)
    assert state(estate) == before, "loading wrote into the estate"


def test_writers_on_a_read_only_estate_are_one_clear_error(read_only: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    estate, ro = read_only
    before = state(estate)
    for args in (["assess"], ["plan"], ["report"]):
        code, out = shangyun(*args, "--estate", str(ro))
        assert code == 1, (args, out)
        assert "Read-only file system" in out, (args, out)
    assert state(estate) == before
