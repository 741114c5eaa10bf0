"""An audit chain that cannot be cut (issue 13, item 4): the head keyed with a secret kept
outside the journal, and every record published to an append-only head log.

Each attack is made with plain SQL on the real store (SQLite and PostgreSQL), as someone
who can write the journal's database but not the key or the head log would make it.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from connectors.journal import Journal, open_journal
from connectors.journal.heads import HeadKeeper, clear_append_only, is_append_only
from connectors.journal.store import resolve
from connectors.journal.wave import SqlWaveJournal
from shangyun.cli import main
from shangyun.journal.audit import canonical_json, record_hash
from shangyun.journal.records import JournalError
from shangyun.journal.status import DONE, STARTED
from shangyun.wave.engine import undo_system
from shangyun.wave.steps import Step


@pytest.fixture
def keydir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A key folder of this test's own, outside the estate."""
    folder = tmp_path / "keys"
    monkeypatch.setenv("SHANGYUN_AUDIT_KEY", str(folder / "audit.key"))
    monkeypatch.delenv("SHANGYUN_AUDIT_HEADS", raising=False)
    yield folder
    for log in (folder / "audit-heads").glob("*.log"):
        clear_append_only(log)


def _sql(target: str, *statements: str, **params: object) -> list[Any]:
    url, _ = resolve(target)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            out = [conn.execute(text(s), params) for s in statements]
            return [r.fetchall() if r.returns_rows else None for r in out]
    finally:
        engine.dispose()


def _head(target: str) -> str:
    rows = _sql(target, "SELECT value FROM journal_meta WHERE key = 'audit_head'")[0]
    return str(rows[0][0])


def _steps(j: Journal, n: int) -> None:
    for i in range(1, n + 1):
        j.audit(f"step s{i}/copy/pg", "done", system=f"s{i}", run="r1", details={"i": i})


def _cut(target: str, after: int, head: str) -> None:
    _sql(target, "DELETE FROM audit_log WHERE seq > :n",
         "UPDATE journal_meta SET value = :v WHERE key = 'audit_head'", n=after, v=head)


@pytest.mark.parametrize("algorithm", ["sha256", "sm3"])
def test_cut_tail_with_head_rewritten_is_named(journal_target: str, keydir: Path,
                                               algorithm: str) -> None:
    with open_journal(journal_target, algorithm=algorithm) as j:
        _steps(j, 6)
        four = next(e for e in j.audit_entries() if e.seq == 4)
        # the intruder deletes records 5 and 6 and points the head at record 4
        _cut(journal_target, 4, canonical_json({"seq": 4, "hash": four.hash}))
        report = j.verify_audit()
    kinds = {p.kind for p in report.problems}
    assert not report.ok and {"unkeyed-head", "cut"} <= kinds
    cut = next(p for p in report.problems if p.kind == "cut")
    assert cut.seq == 5 and "record(s) 5-6" in cut.message
    assert "step s5/copy/pg" in cut.message and "step s6/copy/pg" in cut.message
    assert "system s6" in cut.message and "run r1" in cut.message


def test_cut_tail_with_an_old_keyed_head_replayed_is_named(journal_target: str,
                                                           keydir: Path) -> None:
    with open_journal(journal_target) as j:
        _steps(j, 4)
        old_head = _head(journal_target)  # a genuine keyed head, saved by the intruder
        assert "mac" in json.loads(old_head)
        _steps(j, 3)
        _cut(journal_target, 4, old_head)
        report = j.verify_audit()
    # the keyed head is genuine: only the published heads show the cut
    assert [p.kind for p in report.problems] == ["cut"]
    assert "record(s) 5-7" in report.problems[0].message


def test_forged_head_without_the_key_is_caught(journal_target: str, keydir: Path) -> None:
    with open_journal(journal_target, algorithm="sm3") as j:
        _steps(j, 3)
        last = j.audit_entries()[-1]
        forged = {"seq": 4, "ts": last.ts, "operator": "intruder", "system": None,
                  "run_id": None, "action": "wave finalize", "result": "done",
                  "details": "{}"}
        digest = record_hash("sm3", forged, last.hash)
        _sql(journal_target,
             "INSERT INTO audit_log (seq, ts, operator, system, run_id, action, result, "
             "details, prev_hash, hash) VALUES (4, :ts, 'intruder', NULL, NULL, "
             "'wave finalize', 'done', '{}', :p, :h)",
             "UPDATE journal_meta SET value = :v WHERE key = 'audit_head'",
             ts=last.ts, p=last.hash, h=digest,
             v=canonical_json({"seq": 4, "hash": digest, "mac": "0" * 64}))
        report = j.verify_audit()
    assert [p.kind for p in report.problems] == ["forged-head"]
    assert "without the key" in report.problems[0].message


def test_rewritten_record_is_caught_by_its_published_head(journal_target: str,
                                                          keydir: Path) -> None:
    with open_journal(journal_target) as j:
        _steps(j, 3)
        entries = [e.to_dict() for e in j.audit_entries()]
        entries[1]["result"] = "failed"
        prev = entries[0]["hash"]
        for e in entries[1:]:
            e["details"] = canonical_json(e["details"])
            e["hash"] = record_hash("sha256", e, prev)
            _sql(journal_target, "UPDATE audit_log SET result = :r, hash = :h, "
                 "prev_hash = :p WHERE seq = :s", r=e["result"], h=e["hash"], p=prev,
                 s=e["seq"])
            prev = e["hash"]
        # the intruder even replaces the head's MAC field with a guess
        _sql(journal_target, "UPDATE journal_meta SET value = :v WHERE key = 'audit_head'",
             v=canonical_json({"seq": 3, "hash": prev}))
        report = j.verify_audit()
    kinds = [p.kind for p in report.problems]
    assert "rewritten" in kinds and "unkeyed-head" in kinds
    assert any(p.kind == "rewritten" and p.seq == 2 for p in report.problems)


def test_forged_head_log_line_is_caught(journal_target: str, keydir: Path) -> None:
    with open_journal(journal_target) as j:
        _steps(j, 2)
        log = next((keydir / "audit-heads").glob("*.log"))
        line = json.loads(log.read_text().splitlines()[-1])
        line.update(seq=3, hash="f" * 64)
        clear_append_only(log)
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        report = j.verify_audit()
    assert [p.kind for p in report.problems] == ["forged-head"]
    assert "line 3" in report.problems[0].message


def test_verify_without_the_key_is_not_ok(journal_target: str, keydir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with open_journal(journal_target) as j:
        _steps(j, 2)
    monkeypatch.setenv("SHANGYUN_AUDIT_KEY", str(keydir / "elsewhere.key"))
    with open_journal(journal_target, create=False) as j:
        report = j.verify_audit()
    assert [p.kind for p in report.problems] == ["no-key"]
    assert not (keydir / "elsewhere.key").exists()  # verify never creates a key


def test_intact_chain_is_keyed_and_published(journal_target: str, keydir: Path) -> None:
    with open_journal(journal_target) as j:
        _steps(j, 5)
        report = j.verify_audit()
    assert report.ok and report.keyed and report.published == 5 and report.records == 5


def test_key_is_made_0600_outside_the_estate_with_a_message_and_never_shown(
        tmp_path: Path, keydir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    estate = tmp_path / "estate"
    estate.mkdir()
    with open_journal(estate) as j:
        _steps(j, 2)
    key_path = keydir / "audit.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    secret = key_path.read_text().strip()
    err = capfd.readouterr().err
    assert f"created the audit key {key_path}" in err and secret not in err
    assert secret not in (estate / "journal.db").read_bytes().decode("latin-1")
    log = next((keydir / "audit-heads").glob("*.log"))
    assert secret not in log.read_text()
    with open_journal(estate) as j:
        _steps(j, 1)
    assert "created the audit key" not in capfd.readouterr().err


def test_a_key_readable_by_others_is_refused(tmp_path: Path, keydir: Path) -> None:
    with open_journal(tmp_path / "a.db") as j:
        _steps(j, 1)
    os.chmod(keydir / "audit.key", 0o644)
    with open_journal(tmp_path / "a.db") as j, pytest.raises(JournalError, match="chmod 600"):
        _steps(j, 1)


def test_a_key_inside_the_estate_is_refused(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHANGYUN_AUDIT_KEY", str(tmp_path / "audit.key"))
    with pytest.raises(JournalError, match="inside the estate"):
        open_journal(tmp_path)


def test_head_log_is_append_only_where_the_filesystem_allows(
        tmp_path: Path, keydir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHANGYUN_AUDIT_HEADS_APPEND_ONLY", "1")
    with open_journal(tmp_path / "a.db") as j:
        _steps(j, 2)
    log = next((keydir / "audit-heads").glob("*.log"))
    if not is_append_only(log):
        pytest.skip("this filesystem or process cannot set the append-only attribute")
    with pytest.raises(PermissionError):
        open(log, "w").close()
    with pytest.raises(PermissionError):
        os.unlink(log)
    with open_journal(tmp_path / "a.db") as j:
        _steps(j, 1)  # appending still works
        assert j.verify_audit().published == 3


def test_cli_verify_names_the_cut_records(tmp_path: Path, keydir: Path) -> None:
    estate = tmp_path / "estate"
    estate.mkdir()
    with open_journal(estate) as j:
        _steps(j, 4)
        two = next(e for e in j.audit_entries() if e.seq == 2)
    _cut(str(estate), 2, canonical_json({"seq": 2, "hash": two.hash}))
    out = CliRunner().invoke(main, ["audit", "verify", "--estate", str(estate)])
    assert out.exit_code == 1
    assert "record(s) 3-4" in out.output and "step s4/copy/pg" in out.output
    data = CliRunner().invoke(main, ["audit", "verify", "--estate", str(estate), "--json"])
    kinds = {p["kind"] for p in json.loads(data.stdout)["problems"]}
    assert "cut" in kinds


class _Dropper:
    """A step action whose undo drops data (it only counts its calls)."""

    destructive_undo: ClassVar[bool] = True

    def __init__(self) -> None:
        self.undone: list[Mapping[str, Any]] = []

    def do(self, step: Step, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        return {}

    def still_valid(self, step: Step, payload: Mapping[str, Any]) -> bool:
        return True

    def undo(self, payload: Mapping[str, Any]) -> None:
        self.undone.append(payload)


def _copied(j: Journal) -> tuple[SqlWaveJournal, str]:
    wj = SqlWaveJournal(j)
    run = wj.begin_run(1, {})
    for key in ("s1/copy/pg", "s1/copy/files"):
        step = Step("copy", "s1", key, f"copy {key}")
        wj.record(run, 1, step, STARTED, {"item": key})
        wj.record(run, 1, step, DONE, {"item": key})
    return wj, run


def test_destructive_undo_refuses_when_its_audit_record_was_cut(journal_target: str,
                                                                keydir: Path) -> None:
    with open_journal(journal_target) as j:
        wj, run = _copied(j)
        entries = j.audit_entries()
        done = next(e for e in entries if e.action == "step s1/copy/files"
                    and e.result == "done")
        before = entries[entries.index(done) - 1]
        # cut the tail from the copy's "done" record on, head rewritten to the record before
        _cut(journal_target, before.seq, canonical_json({"seq": before.seq,
                                                         "hash": before.hash}))
        action = _Dropper()
        report = undo_system(wj, run, 1, "s1", {"copy": action})
        assert action.undone == [] and not report.ok
        err = report.failed["s1/copy/files"]
        assert "undo of s1/copy/files refused" in err and "nothing was dropped" in err
        # and a second attempt, now that the refusal itself was audited, still refuses
        action2 = _Dropper()
        report2 = undo_system(wj, run, 1, "s1", {"copy": action2})
        assert action2.undone == [] and "refused" in report2.failed["s1/copy/files"]


def test_destructive_undo_refuses_an_altered_audit_record(journal_target: str,
                                                          keydir: Path) -> None:
    with open_journal(journal_target) as j:
        wj, run = _copied(j)
        _sql(journal_target, "UPDATE audit_log SET details = '{}' WHERE action = "
             "'step s1/copy/pg' AND result = 'done'")
        action = _Dropper()
        report = undo_system(wj, run, 1, "s1", {"copy": action})
        assert "altered" in report.failed["s1/copy/pg"]
        assert [p["item"] for p in action.undone] == ["s1/copy/files"]


def test_destructive_undo_runs_when_its_audit_record_is_intact(journal_target: str,
                                                               keydir: Path) -> None:
    with open_journal(journal_target) as j:
        wj, run = _copied(j)
        action = _Dropper()
        report = undo_system(wj, run, 1, "s1", {"copy": action})
        assert report.ok and len(action.undone) == 2
        assert j.verify_audit().ok


CHECKS = 150


def test_audit_checks_beside_a_busy_writer_take_no_new_record_for_a_deleted_one(
        journal_target: str, keydir: Path) -> None:
    """Two workers on one journal: one keeps writing (each record committed, then
    published to the head log), the other checks a step's audit record before a
    destructive undo, and verifies the chain. A record committed after the checker's
    snapshot but published before it read the head log was taken for a deleted one
    ("published … but not in the journal"): the undo was refused and the system ended
    ``rollback_failed`` (tests/distributed/test_rollback, CI under load). The head log is
    now read before the snapshot, so no check here finds a problem."""
    with open_journal(journal_target) as j, open_journal(journal_target) as other:
        _, run = _copied(j)
        stop = threading.Event()
        written: list[int] = []

        def write() -> None:
            deadline = time.monotonic() + 120
            while not stop.is_set() and time.monotonic() < deadline:
                other.audit("step s2/copy/pg", "done", system="s2", run="r2")
                written.append(1)

        writer = threading.Thread(target=write, name="busy-writer", daemon=True)
        writer.start()
        problems: list[str] = []
        try:
            for _ in range(CHECKS):
                problem = j.step_audit_problem(run, "s1", "s1/copy/files", DONE)
                if problem is not None:
                    problems.append(problem)
                time.sleep(0.002)  # SQLite's checks take its write lock: let the writer in
            reports = [j.verify_audit() for _ in range(10)]
        finally:
            stop.set()
            writer.join(60)
        assert not writer.is_alive()
        assert len(written) >= 10, f"the writer wrote only {len(written)} record(s)"
        assert problems == [], f"{len(problems)} of {CHECKS} checks: {problems[:3]}"
        assert [r.problems for r in reports if not r.ok] == []
        assert j.verify_audit().ok


def test_the_dropping_undos_are_marked_destructive() -> None:
    from actions.data import CopyAction, DeltaAction
    from actions.images import ConvertAction, ImportAction, LaunchAction

    assert CopyAction.destructive_undo and ImportAction.destructive_undo
    assert LaunchAction.destructive_undo
    assert not getattr(DeltaAction, "destructive_undo", False)
    assert not getattr(ConvertAction, "destructive_undo", False)


def test_keeper_from_env_uses_the_heads_folder(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHANGYUN_AUDIT_KEY", str(tmp_path / "k" / "audit.key"))
    monkeypatch.setenv("SHANGYUN_AUDIT_HEADS", str(tmp_path / "worm"))
    keeper = HeadKeeper.from_env()
    assert keeper.heads_folder == tmp_path / "worm"
    with open_journal(tmp_path / "a.db") as j:
        _steps(j, 1)
    assert len(list((tmp_path / "worm").glob("*.log"))) == 1
