"""A journal written by schema version 1 (run params as JSON in ``note``) is migrated on
open and reads back as that code read it: runs, params, step records, audit chain; one of
version 2 (no ``fences`` table) gains the table and takes fenced writes.

``data/journal-v1.db`` and ``data/journal-v1.json`` were made by the version-1 code
(``data/make_v1_journal.py``); ``data/journal-v1.postgresql.sql`` is that code's schema on
PostgreSQL, filled here with the same rows.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text

from connectors.journal import open_journal
from connectors.journal.models import SCHEMA_VERSION
from connectors.journal.store import resolve
from connectors.journal.wave import SqlWaveJournal
from shangyun.errors import SchemaVersionError
from shangyun.journal import JournalError
from shangyun.journal.fence import FencedWriteError, fenced
from shangyun.wave.journal_port import run_kind

DATA = Path(__file__).parent / "data"
WANT: dict[str, Any] = json.loads((DATA / "journal-v1.json").read_text(encoding="utf-8"))
TABLES = ("journal_meta", "runs", "steps", "audit_log")  # in foreign-key order


def _sql(target: str, statement: str) -> list[Any]:
    url, _ = resolve(target)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _pg_v1(url: str) -> None:
    """Today's PostgreSQL database of a version-1 journal, rows copied from the SQLite one."""
    src = sqlite3.connect(DATA / "journal-v1.db")
    with psycopg.connect(url) as conn:
        conn.execute((DATA / "journal-v1.postgresql.sql").read_text(encoding="utf-8"))
        for table in TABLES:
            cur = src.execute(f"SELECT * FROM {table}")
            cols = [d[0] for d in cur.description]
            marks = ", ".join(["%s"] * len(cols))
            names = ", ".join(f'"{c}"' for c in cols)
            conn.cursor().executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                                      cur.fetchall())
        conn.execute("SELECT setval('steps_id_seq', (SELECT max(id) FROM steps))")
    src.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def v1_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A version-1 journal: the SQLite file in an estate folder, or a PostgreSQL database."""
    if request.param == "sqlite":
        estate = tmp_path / "estate"
        estate.mkdir()
        shutil.copy(DATA / "journal-v1.db", estate / "journal.db")
        yield str(estate)
        return
    url: str = request.getfixturevalue("pg_url")
    _pg_v1(url)
    yield url
    _sql(url, "DROP TABLE IF EXISTS " + ", ".join(["fences", *reversed(TABLES)]))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def _params(old: dict[str, Any] | None) -> dict[str, Any] | None:
    """Version-1 params as version 2 gives them: the same values (a key given as None is
    simply not set) and always the run's kind."""
    if old is None:
        return None
    return {**{k: v for k, v in old.items() if v is not None}, "kind": run_kind(old)}


def _read(target: str) -> dict[str, Any]:
    with open_journal(target, create=False) as j:
        wj = SqlWaveJournal(j)
        wj.reconcile()
        return _jsonable({
            "runs": {w: wj.runs(w) for w in (1, 2, 3)},
            "params": {r.id: wj.run_params(r.id) for r in j.runs()},
            "last_run": wj.last_run(1), "last_run_b1": wj.last_run(1, bureau="b1"),
            "last_runs_by_bureau": {str(k): v for k, v in wj.last_runs_by_bureau(1).items()},
            "records": [r.__dict__ for r in wj.records(1)],
            "steps": [e.to_dict() for e in j.wave_steps(1)],
            "audit": [e.to_dict() for e in j.audit_entries()],
            "verify": j.verify_audit().to_dict(),
        })


def _version(target: str) -> int:
    [(value,)] = _sql(target, "SELECT value FROM journal_meta WHERE key = 'schema_version'")
    return int(value)


def test_a_version_1_journal_reads_back_unchanged(v1_target: str) -> None:
    assert _version(v1_target) == 1
    got = _read(v1_target)
    assert _version(v1_target) == SCHEMA_VERSION == 3
    assert got["runs"] == WANT["runs"]
    assert got["records"] == WANT["records"] and got["steps"] == WANT["steps"]
    assert got["params"] == {rid: _params(p) for rid, p in WANT["params"].items()}
    assert got["last_run"] == _params(WANT["last_run"])
    assert got["last_run_b1"] == _params(WANT["last_run_b1"])
    assert got["last_runs_by_bureau"] == {k: _params(v)
                                          for k, v in WANT["last_runs_by_bureau"].items()}
    old = WANT["audit"]
    assert got["audit"][:len(old)] == old  # the chain is kept as it was, and continued
    [migrated] = got["audit"][len(old):]
    assert (migrated["action"], migrated["details"]) == ("journal migrate", {"from": 1, "to": 3})
    report = got["verify"]
    assert report["ok"] and report["algorithm"] == "sm3"
    assert report["records"] == WANT["verify"]["records"] + 1
    # the params are real columns now
    rows = dict(_sql(v1_target, "SELECT id, bureau FROM runs WHERE kind = 'run'"))
    assert sorted(b for b in rows.values() if b) == ["b1", "b2", "b3"]
    # idempotent: opening again migrates nothing and adds no audit record
    again = _read(v1_target)
    assert again["audit"] == got["audit"] and again["params"] == got["params"]


def test_a_migrated_journal_takes_new_runs(v1_target: str) -> None:
    with open_journal(v1_target) as j:
        wj = SqlWaveJournal(j)
        run = wj.begin_run(1, {"options": {"verify": "full"}, "only": None, "bureau": "b9",
                               "flow_run_id": "fr-9"})
        wj.finish_run(run, "done")
        assert wj.last_run(1, bureau="b9") == {
            "id": run, "status": "done", "options": {"verify": "full"}, "bureau": "b9",
            "flow_run_id": "fr-9", "kind": "run"}
        assert j.verify_audit().ok


def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    estate.mkdir()
    shutil.copy(DATA / "journal-v1.db", estate / "journal.db")
    target = str(estate)
    crashed = WANT["runs"]["3"][0]["id"]
    _sql(target, f"CREATE TRIGGER boom BEFORE UPDATE ON runs WHEN OLD.id = '{crashed}' "
                 "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    with pytest.raises(JournalError, match="disk on fire"):
        open_journal(target, create=False)
    assert _version(target) == 1
    url, _ = resolve(target)
    engine = create_engine(url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("runs")}
    finally:
        engine.dispose()
    assert "kind" not in columns and "bureau" not in columns
    _sql(target, "DROP TRIGGER boom")
    assert _read(target)["runs"] == WANT["runs"]


def test_a_journal_of_a_newer_version_is_refused(v1_target: str) -> None:
    _sql(v1_target, "UPDATE journal_meta SET value = '4' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="schema version 4, newer than this"):
        open_journal(v1_target, create=False)
    assert _version(v1_target) == 4


def _v2(target: str) -> str:
    """A version-2 journal with one run and step: what version 2 wrote is today's schema
    without the ``fences`` table (version 3 added only that)."""
    with open_journal(target) as j:
        run = j.begin_run(1, bureau="b1")
        j.step_started(run, "s1", "copy")
        j.step_done(run, "s1", "copy", result={"bytes": 1})
    _sql(target, "DROP TABLE fences")
    _sql(target, "UPDATE journal_meta SET value = '2' WHERE key = 'schema_version'")
    return run.id


def test_a_version_2_journal_gains_the_fences_table(journal_target: str) -> None:
    rid = _v2(journal_target)
    assert _version(journal_target) == 2
    with open_journal(journal_target, create=False) as j:
        assert _version(journal_target) == SCHEMA_VERSION == 3
        [step] = j.steps(rid)
        assert (step.system, step.step, step.status, step.result) == (
            "s1", "copy", "done", {"bytes": 1})
        migrated = j.audit_entries()[-1].to_dict()
        assert (migrated["action"], migrated["details"]) == (
            "journal migrate", {"from": 2, "to": 3})
        assert j.verify_audit().ok
        with fenced("s1", 5):  # the new table takes fenced writes
            j.step_started(rid, "s1", "convert")
        with fenced("s1", 4), pytest.raises(FencedWriteError, match="newest 5"):
            j.step_done(rid, "s1", "convert")
    assert _sql(journal_target, "SELECT system, token FROM fences") == [("s1", 5)]
    with open_journal(journal_target, create=False) as j:  # idempotent: migrates nothing
        assert j.audit_entries()[-1].to_dict()["action"] == "step convert"
