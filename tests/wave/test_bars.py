"""The progress bars of a wave run (``shangyun/cli/bars.py``) and what feeds the boot proof's
bar (console milestones): fast, no lab, no Prefect — but for one real wave run whose
system fails and rolls back, whose steps bar still ends full."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from connectors.bootproof import LOGIN_PCT, milestone, watch_console
from connectors.journal.wave import open_journal
from shangyun.cli.bars import StepBars, phase_bar, step_label, wave_progress
from shangyun.wave.builder import step_count, wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.stepargs import AdaptArgs
from shangyun.wave.steps import NOT_RUN, UNDONE, RunOptions, Step
from tests.wave.conftest import Cloud, build_estate

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


def test_a_rolled_back_system_still_ends_the_bar_full() -> None:
    console, _ = _console()
    with wave_progress(console) as bar:
        bars = StepBars(bar, "wave 1", 8)  # two systems of four steps
        for k in ("a/precheck", "a/convert/d", "b/precheck"):
            bars.ended(k, "done")
        bars.ended("b/convert/d", "failed")
        for k in ("b/convert/d", "b/precheck"):
            bars.ended(k, UNDONE)  # its rollback: listed, not counted again
        for k in ("b/upload/d", "b/import/d"):
            bars.ended(k, NOT_RUN)
        bars.ended("a/upload/d", "done")
        bars.ended("a/import/d", "done")
        (task,) = bar.tasks
        assert task.total == 6 and task.completed == 6 and task.finished
        assert task.description == ("wave 1: steps 6/6 (8 planned: 6 run, 2 not run; "
                                    "2 undone by rollback)")
    assert (bars.finished, bars.undone, bars.not_run) == (6, 2, 2)


def test_a_wave_whose_move_group_rolls_back_ends_its_bar_full(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,
        bucket: str) -> None:
    """sys-01 moves, then sys-02 of its move group is refused by the pre-check: sys-02's
    other steps never run and sys-01 is undone; the bar ends at the steps that ran."""
    from flows.move import move_wave

    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2, mib=1,
                       groups=[["sys-01", "sys-02"]])
    est.images["disk-02-1"].unlink()
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket, part_size=5 * 2**20)
    steps = wave_steps(load_wave(est.root, 1), opts)
    planned = step_count(steps)
    console, _ = _console()
    with wave_progress(console) as bar:
        bars = StepBars(bar, "wave 1", planned)
        result = move_wave(str(est.root), 1, options=opts.to_dict(), on_step=bars.on_step,
                           on_progress=bars.on_progress)
        bars.close()
        (task,) = bar.tasks
    assert {s["id"]: s["state"] for s in result["systems"]} == {
        "sys-01": "rolled_back", "sys-02": "refused"}
    ran = len(steps["sys-01"]) + 1  # sys-01's steps and sys-02's pre-check
    assert bars.not_run == len(steps["sys-02"]) - 1
    with open_journal(est.root) as j:
        undone = sum(r.status == "undone" for r in j.records(1))
    assert undone >= len(steps["sys-01"]) and bars.undone == undone
    assert bars.total == ran == bars.finished
    assert task.total == task.completed == ran and task.finished
    assert task.description == (f"wave 1: steps {ran}/{ran} ({planned} planned: {ran} run, "
                                f"{bars.not_run} not run; {undone} undone by rollback)")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["done", "skipped", "failed", NOT_RUN, UNDONE]),
                max_size=40), st.integers(min_value=0, max_value=10))
def test_the_steps_bar_words_add_up_to_the_planned_steps(outcomes: list[str],
                                                         spare: int) -> None:
    """Whatever the order of ends, not-runs and undos, the bar's words add up: the steps
    run, to run and not run make the planned count (a wave of 39 read "steps 25/25 (12
    undone, 14 not run)", its 39 said nowhere, its undone ones read as a third share)."""
    ends = [o for o in outcomes if o != UNDONE]
    planned = len(ends) + spare
    console, _ = _console()
    with wave_progress(console) as bar:
        bars = StepBars(bar, "wave 1", planned)
        for i, outcome in enumerate(outcomes):
            bars.ended(f"s/{i}", outcome)
            (task,) = bar.tasks
            text = task.description
            ran = len([o for o in outcomes[:i + 1] if o not in (UNDONE, NOT_RUN)])
            assert text.startswith(f"wave 1: steps {ran}/"), text
            if {NOT_RUN, UNDONE} & set(outcomes[:i + 1]):
                said = dict((w, int(n)) for n, w in re.findall(
                    r"(\d+) (run|to run|not run)(?=[,;)])", text.split("planned:")[1]))
                assert sum(said.values()) == planned, text
                assert said["run"] == ran, text
