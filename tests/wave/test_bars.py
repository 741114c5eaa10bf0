"""The progress bars of a wave run (``shangyun/cli/bars.py``) and what feeds the boot proof's
bar (console milestones): fast, no lab, no Prefect."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from rich.console import Console

from connectors.bootproof import LOGIN_PCT, milestone, watch_console
from shangyun.cli.bars import StepBars, phase_bar, step_label, wave_progress
from shangyun.wave.stepargs import AdaptArgs
from shangyun.wave.steps import Step

BOOT = ("SeaBIOS\nLinux version 6.1.0-28-amd64\nRun /init as init process\n"
        "Welcome to Debian GNU/Linux 12 (bookworm)!\n[  OK  ] Reached target basic.target\n")


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120, force_terminal=False), out


def test_a_long_step_gets_a_bar_and_its_time_is_listed() -> None:
    console, out = _console()
    adapt = Step("adapt", "sys-1", "sys-1/adapt/h1", "adapt",
                 args=AdaptArgs(host_id="h1", hostname="legacy-web01", disks=[],
                                   target_format="qcow2", subformat=None, digest="sha256"))
    with wave_progress(console) as bar:
        bars = StepBars(bar, "wave 1", 3)
        bars.ended("sys-1/precheck", "done")  # a short step: counted, no bar
        bars.on_progress(adapt, 30.0)
        (long,) = [t for t in bar.tasks if "adapt" in t.description]
        assert long.description.strip() == "adapt legacy-web01" and long.completed == 30.0
        bars.on_progress(adapt, 70.0)
        assert long.completed == 70.0
        bars._long["sys-1/adapt/h1"] = (long.id, bars._long["sys-1/adapt/h1"][1] - 6, "x")
        bars.on_step(adapt, "done")
        bars.on_progress(adapt, 99.0)  # a late report of an ended step: no new bar
        assert [t.description for t in bar.tasks] == ["wave 1: steps 2/3"]
        bars.apply(("progress", "sys-1/launch/h1", "test launch + boot proof x", 10.0))
        bars.apply(("ended", "sys-1/launch/h1", "failed"))
    assert bars.finished == 3 and [t[2] for t in bars.timings] == ["done", "failed"]
    assert "x: done in 6" in out.getvalue()
    assert "test launch + boot proof x: failed in" in out.getvalue()  # failures always listed


def test_bars_are_thread_safe_and_close_drops_what_never_ended() -> None:
    console, _ = _console()
    with wave_progress(console) as bar:
        bars = StepBars(bar, "wave 1", None)

        def work(n: int) -> None:
            for pct in range(0, 101, 10):
                bars.progress(f"s/convert/{n}", f"convert d{n}", pct)
            if n % 2:
                bars.ended(f"s/convert/{n}", "done")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert bars.finished == 4 and len(bar.tasks) == 1 + 4
        bars.close()
        assert [t.description for t in bar.tasks] == ["wave 1: steps 4"]


def test_step_labels_and_the_phase_bar() -> None:
    assert step_label(Step("convert", "s", "s/convert/legacy-web01:sda", "c")) == \
        "convert legacy-web01:sda"
    console, out = _console()
    with phase_bar(console, "guest image") as told:
        told("debootstrap", 0.0)
        told("disk", 68.0)
    assert "guest image: disk" in out.getvalue() and "68%" in out.getvalue()
    assert "debootstrap" not in out.getvalue()


def test_console_milestones_feed_the_boot_proof_bar(tmp_path: Path) -> None:
    assert milestone("") == 0.0 and milestone("Linux version 6.1") == 10.0
    assert milestone(BOOT) == 50.0 < LOGIN_PCT
    console = tmp_path / "guest.console.log"
    console.write_text(BOOT + "\nDebian GNU/Linux 12 legacy-web01 ttyS0\n\nlegacy-web01 login: ")
    told: list[float] = []
    text, _ = watch_console(console, 10, progress=told.append)
    assert "login:" in text and told == [50.0]  # each new milestone once, highest reached
