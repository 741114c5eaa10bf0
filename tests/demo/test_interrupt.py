"""Ctrl-C in the middle of the demo (SIGINT to the terminal's foreground process group: the
demo, its wave child and whatever they started), as a team trying it for the first time
would press it: during ``lab up`` on a fresh lab, and during wave 1. Each time the demo must
stop promptly with one clear sentence naming the stage it stopped in and what to do next
(no traceback, no bare ``Aborted!``), exit 130, leave no run ``running`` in the journal —
and a demo run afterwards must go through every stage."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]


class Demo:
    """``python -m demo --quick --no-guest`` in its own session, its output collected."""

    def __init__(self, out: Path, lab_dir: Path | None, home: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_SERVER_ANALYTICS_ENABLED":
               "false", "DO_NOT_TRACK": "1", "SHANGYUN_AUDIT_KEY": str(home / "audit.key"),
               "COLUMNS": "200"}
        where = ["--quick", "--no-guest", "--lab-dir", str(lab_dir)] if lab_dir else \
            ["--sample"]  # None: the lab-free path (the default sample, 35 bureaus)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "demo", *where, "--out", str(out)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
            # a terminal's Ctrl-C reaches a process whose SIGINT is not ignored, whatever
            # the harness that runs this test did with its own
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        """Everything it printed so far."""
        return "".join(self.lines)

    def wait_for(self, ready: object, seconds: float = 240) -> None:
        """Until ``ready()`` is true (the demo must still run)."""
        deadline = time.monotonic() + seconds
        while not ready():  # type: ignore[operator]
            assert self.proc.poll() is None, f"the demo ended first:\n{self.text[-3000:]}"
            assert time.monotonic() < deadline, f"never got there:\n{self.text[-3000:]}"
            time.sleep(0.05)

    def ctrl_c(self) -> tuple[int, float]:
        """SIGINT to its process group; its exit code and how long it took to exit."""
        os.killpg(self.proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        try:
            rc = self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the demo still runs 120 s after Ctrl-C:\n"
                                 f"{self.text[-3000:]}") from None
        self._reader.join(timeout=10)
        return rc, time.monotonic() - t0

    def kill(self) -> None:
        """Whatever is left of it (a failed test)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=30)


def _journal_started(estate: Path) -> bool:
    """Whether wave 1's run has journaled a step yet."""
    from connectors.journal.wave import open_journal
    from shangyun.journal.records import NoJournal

    if not (estate / "journal.db").exists():
        return False
    with contextlib.suppress(NoJournal, Exception), open_journal(estate, create=False) as j:
        return bool(j.records(1))
    return False


def _group_alive(pgid: int) -> list[str]:
    """The processes of process group ``pgid`` still alive (not zombies): what the demo
    started in its own group (the lab's daemons and the dashboard have sessions of their
    own and stay up on purpose)."""
    alive = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append((d / "cmdline").read_text().replace("\0", " ")[:200])
        except (OSError, IndexError, ValueError):
            continue
    return alive


def _assert_clean_stop(demo: Demo, rc: int, took: float, stage: str) -> None:
    text = demo.text
    assert rc == 130 and took < 90, (rc, took, text[-3000:])
    assert "Traceback" not in text, text[-4000:]
    assert "Aborted!" not in text, text[-2000:]
    tail = text[text.find("interrupted in stage"):] if "interrupted in stage" in text else ""
    assert f"interrupted in stage {stage}" in tail, text[-2000:]
    assert "run the demo again" in tail, tail


def test_ctrl_c_during_lab_up_and_wave_1_then_the_demo_runs_again(
        demo_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    out, lab_dir = demo_dirs
    estate = out / "estate"

    # 1. during lab up, on a fresh lab: namespaces and daemons half started
    demo = Demo(out, lab_dir, tmp_path)
    try:
        demo.wait_for(lambda: "1. lab up" in demo.text)
        time.sleep(2)
        rc, took = demo.ctrl_c()
    finally:
        demo.kill()
    _assert_clean_stop(demo, rc, took, "1 (lab up)")

    # 2. during wave 1, once its run has journaled a step
    demo = Demo(out, lab_dir, tmp_path)
    try:
        demo.wait_for(lambda: _journal_started(estate))
        rc, took = demo.ctrl_c()
    finally:
        demo.kill()
    _assert_clean_stop(demo, rc, took, "7 (wave 1)")
    text = demo.text[demo.text.find("interrupted in stage"):]
    assert "shangyun wave status 1" in text, text  # where to see what the wave left
    from connectors.journal.wave import open_journal

    with open_journal(estate, create=False) as j:
        runs = j.runs(1)
    assert runs and all(r["status"] != "running" for r in runs), runs
    deadline = time.monotonic() + 10  # the wave's child process is gone with it
    while left := _group_alive(demo.proc.pid):
        assert time.monotonic() < deadline, f"processes of the demo outlived it: {left}"
        time.sleep(0.1)

    # 3. the demo afterwards: every stage, wave 1 as it should end
    demo = Demo(out, lab_dir, tmp_path)
    try:
        rc = demo.proc.wait(timeout=420)
        demo._reader.join(timeout=10)
    finally:
        demo.kill()
    assert rc == 0 and "demo finished" in demo.text, demo.text[-4000:]
    assert "Traceback" not in demo.text, demo.text[-4000:]


def test_ctrl_c_during_the_sample_import_then_the_sample_demo_runs_again(tmp_path: Path) -> None:
    """The lab-free path (``--sample``): Ctrl-C while it imports the bureaus' ledgers (one
    import per bureau, seconds in all) says the imported estate holds only what was
    imported so far (no lab, no dashboard to speak of), and the next ``--sample`` run goes
    through."""
    out = tmp_path / "out"
    demo = Demo(out, None, tmp_path)
    try:
        demo.wait_for(lambda: "2. import" in demo.text)
        time.sleep(0.5)
        rc, took = demo.ctrl_c()
    finally:
        demo.kill()
    _assert_clean_stop(demo, rc, took, "2 (import)")
    said = " ".join(demo.text[demo.text.find("interrupted in stage"):].split())
    assert "lab" not in said and "holds only the ledgers imported so far" in said, said
    assert "./scripts/demo --sample" in said, said
    demo = Demo(out, None, tmp_path)
    try:
        rc = demo.proc.wait(timeout=300)
        demo._reader.join(timeout=10)
    finally:
        demo.kill()
    assert rc == 0 and "demo finished" in demo.text, demo.text[-3000:]
