"""Two runs of one wave at the same instant (issue 13, item 5): real processes race to begin
a run of the same wave; exactly one begins, every other is refused naming the holder's run,
pid and host. The idle check and the new run are one transaction under the journal's write
lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``LOCK TABLE``), so no two can both pass it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from connectors.journal import open_journal
from connectors.journal.liveness import this_host

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 6
ROUNDS = 3

# each racer says "ready" (journal open), waits for the start file, begins a run of wave 1
# (bureau from argv, "" = whole wave) and, if it got it, holds it (alive) until the stop
# file appears
RACER = r"""
import json, os, sys, time
from pathlib import Path
from connectors.journal.wave import SqlWaveJournal
from connectors.journal import open_journal
from shangyun.journal.records import RunBusyError
target, start, stop, bureau = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
j = open_journal(target)
wj = SqlWaveJournal(j)
print("ready", flush=True)
for _ in range(600):
    if start.exists():
        break
    time.sleep(0.01)
try:
    run = wj.begin_run(1, {"bureau": bureau or None}, exclusive=True)
except RunBusyError as exc:
    print(json.dumps({"refused": str(exc)}), flush=True)
    sys.exit(3)
print(json.dumps({"run": run, "pid": os.getpid()}), flush=True)
for _ in range(600):
    if stop.exists():
        break
    time.sleep(0.02)
wj.finish_run(run, "done")
j.close()
"""


def _race(target: str, tmp: Path, bureaus: list[str]) -> list[dict[str, object]]:
    start, stop = tmp / "start", tmp / "stop"
    for f in (start, stop):
        f.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", RACER, target, str(start), str(stop), b],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
             for b in bureaus]
    try:
        for p in procs:  # all imported, the journal open, waiting for the start file
            ready = p.stdout.readline() if p.stdout else ""
            assert ready == "ready\n", (ready, p.poll())
        start.touch()
        outs: list[dict[str, object]] = []
        for p in procs:  # each prints one line at once: its run, or its refusal (then exits)
            line = p.stdout.readline() if p.stdout else ""
            outs.append(json.loads(line) if line.strip() else {"exit": p.poll()})
        stop.touch()
        for p in procs:
            p.wait(timeout=60)
        return outs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


def test_racing_runs_of_one_wave_one_begins_the_others_name_it(journal_target: str,
                                                               tmp_path: Path) -> None:
    with open_journal(journal_target):
        pass  # created once, before the race
    for _ in range(ROUNDS):
        outs = _race(journal_target, tmp_path, [""] * PROCESSES)
        winners = [o for o in outs if "run" in o]
        refused = [str(o["refused"]) for o in outs if "refused" in o]
        assert len(winners) == 1, outs
        assert len(refused) == PROCESSES - 1, outs
        win = winners[0]
        for text in refused:
            assert f"run {win['run']}, pid {win['pid']} on host {this_host()}" in text
            assert "is being run right now for the whole wave" in text
    with open_journal(journal_target) as j:
        runs = j.runs(1)
        assert len(runs) == ROUNDS and all(r.status == "done" for r in runs)
        assert j.verify_audit().ok


def test_bureau_runs_of_different_bureaus_both_begin(journal_target: str,
                                                     tmp_path: Path) -> None:
    with open_journal(journal_target):
        pass
    outs = _race(journal_target, tmp_path, ["bureau-01", "bureau-02", "bureau-01"])
    got = sorted(str(o.get("run", "")) != "" for o in outs)
    assert got == [False, True, True], outs
    refused = [str(o["refused"]) for o in outs if "refused" in o]
    assert "for bureau bureau-01" in refused[0] and "overlaps bureau bureau-01" in refused[0]
