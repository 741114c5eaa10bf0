"""A full disk, a damaged journal and a bad journal URL are one clear error each, exit code 1,
no traceback, nothing half-written (issue 13, item 5). The real CLI in real processes; the
full disk is a small tmpfs this test mounts (and unmounts)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.journal.wave import open_journal
from shangyun.journal.records import JournalError
from shangyun.wave.steps import Step
from tests.ledgers.conftest import HOST_HEADER, write_csv
from tests.support import tmpfs_mounted

SHANGYUN = str(Path(sys.executable).with_name("shangyun"))


def shangyun(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    p = subprocess.run([SHANGYUN, *args], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "SHANGYUN_ESTATE_LOCK_WAIT": "1", **(env or {})})
    out = p.stdout + p.stderr
    assert "Traceback" not in out, out
    return p.returncode, " ".join(out.split())


def contents(root: Path) -> dict[str, str]:
    """Every file under ``root`` (but the lock file and SQLite's -shm/-wal) by digest."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != ".estate.lock" and not p.name.endswith(("-shm", "-wal"))}


def sample(root: Path) -> Path:
    code, out = shangyun("inventory", "sample", "--out", str(root), "--bureaus", "1",
                         "--systems", "10")
    assert code == 0, out
    return root


def ledger(folder: Path) -> Path:
    return write_csv(folder / "new.csv", [
        HOST_HEADER,
        [1, "北京局", "新系统", "hx1", "10.9.9.9", "CentOS 7.9", 4, 8, 100, "二级", "否",
         "政务外网", "张三", "13800000000"]])


def journal_with_a_run(estate: Path) -> None:
    with open_journal(estate) as j:
        run = j.begin_run(1, {})
        step = Step("convert", "s0001", "s0001/convert/d", "convert d")
        j.record(run, 1, step, "started", {})
        j.record(run, 1, step, "done", {})
        j.finish_run(run, "failed")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs mounted for this test; unmounted after."""
    with tmpfs_mounted(tmp_path / "small-disk", "size=8m") as mnt:
        yield mnt


def fill(disk: Path) -> None:
    """Fill the disk to the last byte (bounded: chunks of 64 KiB, then 4 KiB, then 1 byte)."""
    fd = os.open(disk / f"filler-{len(list(disk.glob('filler-*')))}",
                 os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size, most in ((65536, 200), (4096, 64), (1, 8192)):
            for _ in range(most):
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0


def test_a_full_disk_during_import_plan_and_journal_writes(tmpfs: Path, tmp_path: Path) -> None:
    estate = sample(tmpfs / "estate")
    code, out = shangyun("assess", "--estate", str(estate))
    assert code == 0, out
    journal_with_a_run(estate)
    with open_journal(estate) as j:  # a journal already open when the disk fills
        fill(tmpfs)
        before = contents(estate)
        with pytest.raises(JournalError, match=r"disk is full.*nothing of this change"):
            j.audit("wave.note", None, "ok", {"x": 1})
    fill(tmpfs)  # closing the journal gave its write-ahead log's pages back
    before = contents(estate)
    for args in (["inventory", "import", str(ledger(tmp_path)), "--no-progress"],
                 ["plan"], ["assess"]):
        code, out = shangyun(*args, "--estate", str(estate))
        assert code == 1, (args, out)
        assert "No space left on device" in out and "nothing of this change was kept" in out
        assert contents(estate) == before, args  # nothing half-written
        assert not [p for p in estate.iterdir() if p.name.startswith(".")
                    and p.name != ".estate.lock"], "no staging left behind"
    code, out = shangyun("wave", "rollback", "1", "--estate", str(estate))
    assert code == 1 and "journal" in out and "full" in out, out
    assert contents(estate) == before


def test_a_damaged_journal_is_one_clear_error(tmp_path: Path) -> None:
    estate = sample(tmp_path / "estate")
    garbage = os.urandom(8192)
    (estate / "journal.db").write_bytes(garbage)
    for args in (["wave", "status", "1"], ["wave", "rollback", "1"], ["audit", "verify"],
                 ["audit", "show"], ["wave", "status", "1", "--json"]):
        code, out = shangyun(*args, "--estate", str(estate))
        assert code == 1, (args, out)
        assert "is not a readable journal database" in out and "restore it" in out, out
    assert (estate / "journal.db").read_bytes() == garbage


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql://nope:1/x", "cannot open journal postgresql+psycopg://nope:1/x"),
    ("foo://x/y", "'foo' databases cannot hold a journal"),
    ("not a url://", "is not a database URL"),
])
def test_a_bad_journal_url_is_one_clear_error(tmp_path: Path, url: str, says: str) -> None:
    estate = sample(tmp_path / "estate")
    before = contents(estate)
    for args in (["wave", "status", "1", "--estate", str(estate)],
                 ["audit", "verify", "--journal", url]):
        code, out = shangyun(*args, env={"SHANGYUN_JOURNAL": url})
        assert code == 1, (args, out)
        assert says in out, out
    assert contents(estate) == before
