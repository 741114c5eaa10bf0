"""The journal on SQLite and on the real PostgreSQL: steps, idempotence, undo order, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connectors.journal import open_journal
from connectors.journal.store import resolve
from shangyun.errors import SchemaVersionError
from shangyun.journal import (
    DONE,
    FAILED,
    RUN_CRASHED,
    RUN_RUNNING,
    STARTED,
    UNDO_FAILED,
    UNDONE,
    JournalError,
)

ROOT = Path(__file__).resolve().parents[2]


def _sql(target: str, statement: str, **params: object) -> None:
    """Change the journal's database behind its back (as an intruder or a crash would)."""
    url, _ = resolve(target)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def _child(code: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _all_print_ok(kids: list[subprocess.Popen[str]]) -> None:
    """Wait for each child (120 s each): it exits 0 having printed ``ok``; kill any left."""
    try:
        for kid in kids:
            out, err = kid.communicate(timeout=120)
            assert kid.returncode == 0 and out.strip() == "ok", err
    finally:
        for kid in kids:
            if kid.poll() is None:
                kid.kill()


def test_step_lifecycle_and_idempotence(journal_target: str) -> None:
    with open_journal(journal_target, operator="li.na") as j:
        run = j.begin_run(3)
        assert run.status == RUN_RUNNING and run.operator == "li.na" and run.pid == os.getpid()
        first = j.step_started(run, "sys-1", "convert", undo={"path": "/staging/a.qcow2"})
        assert not first.skip and first.entry.status == STARTED and first.entry.attempt == 1
        j.step_progress(run, "sys-1", "convert", undo={"partial": True})
        done = j.step_done(run, "sys-1", "convert", result={"digest": "sha256:ab"},
                           undo={"size": 10})
        assert done.status == DONE
        assert done.undo == {"path": "/staging/a.qcow2", "partial": True, "size": 10}
        assert done.result == {"digest": "sha256:ab"}
        assert done.seconds is not None and done.seconds >= 0
        again = j.step_started(run, "sys-1", "convert", undo={"path": "/elsewhere"})
        assert again.skip and again.result == {"digest": "sha256:ab"}
        assert j.step(run, "sys-1", "convert").undo["path"] == "/staging/a.qcow2"
        # done twice changes nothing
        assert j.step_done(run, "sys-1", "convert", result={"x": 1}).result == done.result


def test_failed_step_restarts_with_next_attempt(journal_target: str) -> None:
    with open_journal(journal_target) as j:
        run = j.begin_run(1)
        j.step_started(run, "sys-1", "upload", undo={"upload_id": "u1"})
        failed = j.step_failed(run, "sys-1", "upload", TimeoutError("link down"))
        assert failed.status == FAILED and failed.error == "TimeoutError: link down"
        retry = j.step_started(run.id, "sys-1", "upload", undo={"upload_id": "u2"})
        assert not retry.skip and retry.entry.attempt == 2 and retry.entry.error is None
        assert retry.entry.undo == {"upload_id": "u2"}


def test_steps_to_undo_newest_first_and_undo_marks(journal_target: str) -> None:
    with open_journal(journal_target) as j:
        run = j.begin_run(2)
        for step in ("precheck", "convert", "upload", "import"):
            j.step_started(run, "sys-a", step)
            if step != "import":
                j.step_done(run, "sys-a", step)
        j.step_failed(run, "sys-a", "import", "quota exceeded")
        j.step_started(run, "sys-b", "convert")  # another system: not in sys-a's list
        order = [e.step for e in j.steps_to_undo(run, "sys-a")]
        assert order == ["import", "upload", "convert", "precheck"]

        j.mark_undoing(run, "sys-a", "import")
        blocked = pytest.raises(JournalError, match="undoing")
        with blocked:
            j.step_started(run, "sys-a", "import")
        j.mark_undone(run, "sys-a", "import", result={"deleted": ["ami-1"]})
        assert j.mark_undone(run, "sys-a", "import").status == UNDONE  # twice: no change
        bad = j.mark_undo_failed(run, "sys-a", "upload", RuntimeError("access denied"))
        assert bad.status == UNDO_FAILED and "access denied" in (bad.error or "")
        # an undo that failed stays to be undone, never reported as undone
        assert [e.step for e in j.steps_to_undo(run, "sys-a")] == ["upload", "convert",
                                                                  "precheck"]
        assert j.step(run, "sys-a", "import").result["undo"] == {"deleted": ["ami-1"]}


def test_transitions_that_make_no_sense_are_refused(journal_target: str) -> None:
    with open_journal(journal_target) as j:
        run = j.begin_run(4)
        with pytest.raises(JournalError, match="never started"):
            j.step_done(run, "sys-1", "cutover")
        j.step_started(run, "sys-1", "cutover")
        j.step_done(run, "sys-1", "cutover")
        with pytest.raises(JournalError, match="only a started step can fail"):
            j.step_failed(run, "sys-1", "cutover", "late")
        j.finish_run(run, "failed")
        with pytest.raises(JournalError, match="not running"):
            j.step_started(run, "sys-1", "verify")
        with pytest.raises(JournalError, match="no run"):
            j.get_run("w9-nope")


def test_records_survive_reopening(journal_target: str) -> None:
    with open_journal(journal_target, algorithm="sm3") as j:
        run = j.begin_run(5)
        j.step_started(run, "sys-1", "convert", undo={"path": "/p"})
        j.step_done(run, "sys-1", "convert", result={"n": 1})
    with open_journal(journal_target, create=False) as j2:
        assert j2.algorithm == "sm3"
        assert [e.result for e in j2.steps(run)] == [{"n": 1}]
        assert j2.latest_step(5, "sys-1", "convert").status == DONE
        assert j2.latest_run(5).id == run.id
        with pytest.raises(JournalError, match="sm3, not sha256"):
            open_journal(journal_target, algorithm="sha256")


def test_missing_journal_and_wrong_schema(tmp_path: Path, journal_target: str) -> None:
    with pytest.raises(JournalError, match="no journal"):
        open_journal(tmp_path, create=False)
    with pytest.raises(JournalError, match="does not exist"):
        open_journal(tmp_path / "absent")
    open_journal(journal_target).close()
    _sql(journal_target, "UPDATE journal_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        open_journal(journal_target)


def test_killed_run_is_reconciled_as_crashed_and_resumed(journal_target: str) -> None:
    child = _child(f"""
        import sys, time
        from connectors.journal import open_journal
        j = open_journal({journal_target!r}, operator="night-shift")
        run = j.begin_run(7)
        j.step_started(run, "sys-1", "upload", undo={{"upload_id": "u-7"}})
        print(run.id, flush=True)
        time.sleep(60)
    """)
    try:
        line = child.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("w7-"), child.stderr.read()  # type: ignore[union-attr]
        with open_journal(journal_target) as j:
            assert j.reconcile() == []  # alive: left alone
            with pytest.raises(JournalError, match="still running"):
                j.resume_run(line)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
            crashed = j.reconcile()
            assert [r.id for r in crashed] == [line]
            assert j.get_run(line).status == RUN_CRASHED
            with pytest.raises(JournalError, match="crashed"):
                j.step_done(line, "sys-1", "upload")
            run = j.resume_run(line)
            assert run.status == RUN_RUNNING and run.pid == os.getpid() and run.resumes == 1
            # the step the dead process left is restarted, keeping what its undo needs
            again = j.step_started(run, "sys-1", "upload")
            assert again.entry.attempt == 2 and again.entry.undo == {"upload_id": "u-7"}
            actions = [(e.action, e.result) for e in j.audit_entries(run=line)]
            assert ("run crashed", RUN_CRASHED) in actions and ("run resume", "running") in actions
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def test_run_of_another_host_crashes_when_its_heartbeat_stops(journal_target: str) -> None:
    with open_journal(journal_target) as j:
        run = j.begin_run(8, note='{"options": 1}')
        _sql(journal_target, "UPDATE runs SET host = 'bureau-17-orchestrator' WHERE id = :id",
             id=run.id)
        assert j.reconcile(stale_after=60) == []
        time.sleep(0.3)
        assert [r.id for r in j.reconcile(stale_after=0.1)] == [run.id]
        crashed = j.get_run(run.id)
        assert "no heartbeat from host bureau-17-orchestrator" in (crashed.reason or "")
        assert crashed.note == '{"options": 1}'  # what it began with is kept


def test_two_processes_write_one_journal(journal_target: str) -> None:
    with open_journal(journal_target, algorithm="sm3") as j:
        run = j.begin_run(9)
    code = """
        import sys
        from connectors.journal import open_journal
        j = open_journal({target!r})
        for i in range(25):
            s = j.step_started({run!r}, "sys-{who}-" + str(i), "sync")
            j.step_progress({run!r}, "sys-{who}-" + str(i), "sync", undo={{"i": i}})
            j.step_done({run!r}, "sys-{who}-" + str(i), "sync", result={{"rows": i}})
            j.step_started({run!r}, "shared", "step-" + str(i))
        print("ok", flush=True)
    """
    kids = [_child(code.format(target=journal_target, run=run.id, who=w)) for w in "ab"]
    _all_print_ok(kids)
    with open_journal(journal_target) as j:
        steps = j.steps(run)
        assert sum(1 for e in steps if e.status == DONE) == 50
        shared = [e for e in steps if e.system == "shared"]
        assert len(shared) == 25  # raced inserts became one record each
        assert sorted(e.attempt for e in shared) == [2] * 25  # started twice each
        report = j.verify_audit()
        assert report.ok, report.problems
        assert report.records == 1 + 2 * 50 + 50  # begin + started/done ×50 + shared ×50


def test_keepalive_beats_from_a_thread(journal_target: str) -> None:
    with open_journal(journal_target) as j:
        run = j.begin_run(10)
        with j.keepalive(run, interval=0.05):
            deadline = time.monotonic() + 5
            while j.get_run(run.id).heartbeat_at == run.heartbeat_at:
                assert time.monotonic() < deadline, "no heartbeat within 5 s"
                time.sleep(0.05)
        assert j.get_run(run.id).heartbeat_at > run.heartbeat_at


def test_many_processes_create_one_journal_at_once(journal_target: str) -> None:
    code = f"""
        from connectors.journal import open_journal
        with open_journal({journal_target!r}, algorithm="sm3") as j:
            j.audit("hello", "ok")
        print("ok", flush=True)
    """
    kids = [_child(code) for _ in range(4)]
    _all_print_ok(kids)
    with open_journal(journal_target) as j:
        report = j.verify_audit()
        assert report.ok and report.records == 4 and j.algorithm == "sm3"
