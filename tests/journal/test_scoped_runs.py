"""Bureau-scoped wave runs (distributed mode) in the wave journal, on SQLite and PostgreSQL:
which live runs overlap, which run ``last_run`` answers, and the wave's aggregate state."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.journal import open_journal
from connectors.journal.liveness import this_host
from connectors.journal.wave import SqlWaveJournal
from shangyun.errors import StepError
from shangyun.wave.journal_port import WaveJournal, wave_status

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def wj(journal_target: str) -> Iterator[WaveJournal]:
    """A wave journal over a fresh journal (SQLite estate or PostgreSQL database)."""
    j = open_journal(journal_target)
    try:
        yield SqlWaveJournal(j)
    finally:
        j.close()


def _bureau(b: str) -> dict[str, object]:
    return {"options": {}, "only": None, "bureau": b, "flow_run_id": f"flow-{b}"}


def _dead_run(target: str, wave: int, bureau: str) -> str:
    """A run of ``bureau`` begun by a process that then exited (left ``running``)."""
    code = f"""
        from connectors.journal import open_journal
        from connectors.journal.wave import SqlWaveJournal
        with open_journal({target!r}) as j:
            print(SqlWaveJournal(j).begin_run({wave}, {{"bureau": {bureau!r}}}), flush=True)
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_ensure_idle_refuses_only_overlapping_scopes(wj: WaveJournal,
                                                     journal_target: str) -> None:
    whole = wj.begin_run(1, {"options": {}, "only": None})
    for asked in (None, "b1"):
        with pytest.raises(StepError) as err:
            wj.ensure_idle(1, bureau=asked)
        msg = str(err.value)
        assert whole in msg and f"pid {os.getpid()}" in msg and this_host() in msg
        assert "the whole wave" in msg
    wj.ensure_idle(2)  # another wave is free
    wj.finish_run(whole, "done")

    b1 = wj.begin_run(1, _bureau("b1"))
    wj.ensure_idle(1, bureau="b2")  # two bureaus do not overlap
    with pytest.raises(StepError, match=f"bureau b1 \\(run {b1}, pid {os.getpid()} on host"):
        wj.ensure_idle(1, bureau="b1")
    with pytest.raises(StepError, match=f"run {b1}.*overlaps the whole wave"):
        wj.ensure_idle(1)
    b2 = wj.begin_run(1, _bureau("b2"))
    with pytest.raises(StepError, match=f"run {b2}"):
        wj.ensure_idle(1, bureau="b2")
    wj.finish_run(b1, "failed")
    wj.ensure_idle(1, bureau="b1")
    wj.finish_run(b2, "done")
    wj.ensure_idle(1)

    # a run left 'running' by a dead process is reconciled first, so it blocks nothing
    dead = _dead_run(journal_target, 1, "b3")
    wj.ensure_idle(1)
    assert {r["id"]: r["status"] for r in wj.runs(1)}[dead] == "crashed"


def test_last_run_by_scope(wj: WaveJournal) -> None:
    assert wj.last_run(1) is None and wj.last_runs_by_bureau(1) == {}
    whole = wj.begin_run(1, {"options": {"verify": "full"}, "only": None})
    wj.finish_run(whole, "failed")
    b1 = wj.begin_run(1, _bureau("b1"))
    wj.finish_run(b1, "failed")
    b2 = wj.begin_run(1, _bureau("b2"))
    wj.finish_run(b2, "done")
    undo = wj.begin_run(1, _bureau("b1"), kind="rollback")  # never taken up by resume
    wj.finish_run(undo, "done")

    # the wave alone: the latest run-kind run of any scope, as before scopes existed
    assert wj.last_run(1)["id"] == b2  # type: ignore[index]
    assert wj.last_run(1, bureau="b9", any_scope=True)["id"] == b2  # type: ignore[index]
    # bureau=None explicitly: whole-wave runs only
    last_whole = wj.last_run(1, bureau=None)
    assert last_whole is not None and last_whole["id"] == whole
    assert last_whole["options"] == {"verify": "full"} and last_whole["status"] == "failed"
    last_b1 = wj.last_run(1, bureau="b1")
    assert last_b1 is not None and last_b1["id"] == b1
    assert last_b1["flow_run_id"] == "flow-b1" and last_b1["bureau"] == "b1"
    assert wj.last_run(1, bureau="b9") is None
    assert wj.last_run(2, bureau=None) is None

    latest = wj.last_runs_by_bureau(1)
    assert list(latest) == [None, "b1", "b2"]
    assert {k: v["id"] for k, v in latest.items()} == {None: whole, "b1": b1, "b2": b2}
    assert latest["b2"]["status"] == "done" and latest["b2"]["kind"] == "run"


def test_wave_status_aggregates_the_scopes_since_the_last_whole_wave_run(
        wj: WaveJournal, journal_target: str) -> None:
    empty = wave_status(wj, 1)
    assert empty["state"] == "never run" and empty["bureaus"] == {} and empty["runs"] == []

    whole = wj.begin_run(1, {"options": {}, "only": None})
    wj.finish_run(whole, "failed")
    st = wave_status(wj, 1)
    assert st["state"] == "failed" and st["bureaus"] == {}
    assert set(st) >= {"wave", "state", "runs", "systems"} and st["wave"] == 1
    assert "bureau" not in st["runs"][0]  # a whole-wave run's entry is as it was

    b1 = wj.begin_run(1, _bureau("b1"))
    b2 = wj.begin_run(1, _bureau("b2"))
    wj.finish_run(b2, "done")
    st = wave_status(wj, 1)
    assert st["state"] == "running"
    assert st["bureaus"] == {
        "b1": {"run": b1, "status": "running", "kind": "run", "flow_run_id": "flow-b1"},
        "b2": {"run": b2, "status": "done", "kind": "run", "flow_run_id": "flow-b2"}}
    assert [r.get("bureau") for r in st["runs"]] == [None, "b1", "b2"]

    wj.finish_run(b1, "failed")
    assert wave_status(wj, 1)["state"] == "failed"
    dead = _dead_run(journal_target, 1, "b3")
    st = wave_status(wj, 1)  # reconciles: b3's process is gone
    assert st["state"] == "crashed" and st["bureaus"]["b3"]["run"] == dead

    # each bureau resumes and finishes: its latest run is the one that counts
    for rid in (b1, dead):
        wj.resume_run(rid)
        wj.finish_run(rid, "done")
    # ... but the failed whole-wave run before them still does (it is in the span)
    assert wave_status(wj, 1)["state"] == "failed"

    # a new whole-wave run starts a new span: the bureau runs before it no longer count
    again = wj.begin_run(1, {"options": {}, "only": None})
    st = wave_status(wj, 1)
    assert st["state"] == "running" and st["bureaus"] == {}
    wj.finish_run(again, "done")
    b2_again = wj.begin_run(1, _bureau("b2"))
    wj.finish_run(b2_again, "done")
    st = wave_status(wj, 1)
    assert st["state"] == "done" and list(st["bureaus"]) == ["b2"]
    assert st["bureaus"]["b2"]["run"] == b2_again
