"""N19's check (:func:`actions.data.production_elsewhere`) on SQLite and PostgreSQL: which
system of the journal counts as in production on a copy's target, and which one is named.

Two orders meet here and both are pinned: whether a system is in production reads its
``cutover``/``dns`` step as :meth:`WaveJournal.last` does (the most recently *updated*
record of the key over every run), while its copies are read as :meth:`WaveJournal.records`
does (the record of the key in the *newest* run, by insertion). Records are written
straight through the SQL journal so the corners where the two orders disagree (an older
run's record updated after a newer run's) are reached on purpose."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from actions.data import production_elsewhere
from connectors.journal import Journal, open_journal
from connectors.journal.wave import SqlWaveJournal
from shangyun.wave.stepargs import DataItem, as_record


@pytest.fixture
def jj(journal_target: str) -> Iterator[tuple[Journal, SqlWaveJournal]]:
    """The SQL journal and the wave journal over it (fresh, SQLite or PostgreSQL)."""
    j = open_journal(journal_target)
    try:
        yield j, SqlWaveJournal(j)
    finally:
        j.close()


def _db(name: str, item_id: str = "main") -> DataItem:
    return DataItem(item_id, "db", "postgresql",
                    {"host": "src.example", "port": 5432, "dbname": name},
                    {"host": "DB.cloud", "port": 5432, "dbname": name})


def _step(j: Journal, run: str, system: str, kind: str, *, item: DataItem | None = None,
          item_id: str = "main", done: bool = True) -> str:
    """Journal ``kind``'s step of ``system`` in ``run`` started (and done); its key."""
    key = f"{system}/{kind}/{item_id}" if kind == "copy" else f"{system}/{kind}"
    undo: dict[str, Any] = {"_kind": kind}
    if item is not None:
        undo["item"] = as_record(item)
    j.step_started(run, system, key, undo=undo)
    if done:
        j.step_done(run, system, key, result={})
    time.sleep(0.002)  # distinct updated_at values
    return key


def _undo(j: Journal, run: str, system: str, key: str) -> None:
    j.mark_undoing(run, system, key)
    j.mark_undone(run, system, key)
    time.sleep(0.002)


def test_a_system_counts_while_cut_over_or_switched_and_its_copy_is_not_undone(
        jj: tuple[Journal, SqlWaveJournal]) -> None:
    j, wj = jj
    run = j.begin_run(1).id
    t = _db("people")
    copy = _step(j, run, "A", "copy", item=t)
    assert production_elsewhere(wj, 2, "B", t) is None  # copied, not in production
    dns = _step(j, run, "A", "dns", done=False)
    assert production_elsewhere(wj, 2, "B", t) == (1, "A")  # DNS switched: users write
    # the same target under another item id; another database is not it
    assert production_elsewhere(wj, 2, "B", _db("people", "other-id")) == (1, "A")
    assert production_elsewhere(wj, 2, "B", _db("orders")) is None
    assert production_elsewhere(wj, 1, "A", t) is None  # its own copy is not elsewhere
    assert production_elsewhere(wj, 1, "B", t) == (1, "A")  # another system, same wave
    _undo(j, run, "A", dns)
    assert production_elsewhere(wj, 2, "B", t) is None
    cut = _step(j, run, "A", "cutover")
    assert production_elsewhere(wj, 2, "B", t) == (1, "A")
    _undo(j, run, "A", copy)  # its copy undone: it wrote nothing there that is still kept
    assert production_elsewhere(wj, 2, "B", t) is None
    assert cut


def test_in_production_reads_the_most_recently_updated_record_over_runs(
        jj: tuple[Journal, SqlWaveJournal]) -> None:
    """``last()``'s order: an older run's ``dns`` record undone after a newer run's was
    done is the latest; an older run's record started again after a newer run's was
    undone is the latest too."""
    j, wj = jj
    old, new = j.begin_run(1).id, j.begin_run(1).id
    t, u = _db("people"), _db("orders")
    _step(j, old, "A", "copy", item=t)
    dns = _step(j, old, "A", "dns")
    _step(j, new, "A", "dns")
    assert production_elsewhere(wj, 2, "B", t) == (1, "A")
    _undo(j, old, "A", dns)  # the old run's record, updated last: undone
    assert wj.last(1, "A", dns).status == "undone"  # type: ignore[union-attr]
    assert [r.status for r in wj.records(1, "A") if r.key == dns] == ["done"]
    assert production_elsewhere(wj, 2, "B", t) is None

    _step(j, old, "C", "copy", item=u)
    dns = _step(j, old, "C", "dns", done=False)
    _step(j, new, "C", "dns", done=False)
    _undo(j, new, "C", dns)
    assert production_elsewhere(wj, 2, "B", u) is None
    _step(j, old, "C", "dns", done=False)  # the old run's record started again, last
    assert wj.last(1, "C", dns).status == "started"  # type: ignore[union-attr]
    assert [r.status for r in wj.records(1, "C") if r.key == dns] == ["undone"]
    assert production_elsewhere(wj, 2, "B", u) == (1, "C")


def test_copies_are_read_as_records_reads_them_the_newest_runs_record(
        jj: tuple[Journal, SqlWaveJournal]) -> None:
    """``records()``'s order for the copies: the newest run's record of the key counts,
    whichever record was updated last."""
    j, wj = jj
    old, new = j.begin_run(1).id, j.begin_run(1).id
    t, u = _db("people"), _db("orders")
    _step(j, old, "D", "cutover")
    key = _step(j, old, "D", "copy", item=t, done=False)
    _step(j, new, "D", "copy", item=t, done=False)
    _undo(j, new, "D", key)
    j.step_done(old, "D", key, result={})  # the old run's copy, updated last: done
    assert wj.last(1, "D", key).status == "done"  # type: ignore[union-attr]
    assert production_elsewhere(wj, 2, "B", t) is None  # the newest run's is undone

    _step(j, old, "E", "cutover")
    key = _step(j, old, "E", "copy", item=u, done=False)
    _step(j, new, "E", "copy", item=u)
    _undo(j, old, "E", key)  # the old run's copy, updated last: undone
    assert wj.last(1, "E", key).status == "undone"  # type: ignore[union-attr]
    assert production_elsewhere(wj, 2, "B", u) == (1, "E")  # the newest run's is done


def test_the_first_wave_and_the_first_started_system_in_it_is_named(
        jj: tuple[Journal, SqlWaveJournal]) -> None:
    j, wj = jj
    t = _db("people")
    w3, w2 = j.begin_run(3).id, j.begin_run(2).id
    for run, sid in ((w3, "E"), (w2, "F")):
        _step(j, run, sid, "copy", item=t)
        _step(j, run, sid, "cutover")
    assert production_elsewhere(wj, 9, "B", t) == (2, "F")
    # in one wave: the system that started first, not the one whose copy came first
    w4 = j.begin_run(4).id
    _step(j, w4, "G", "precheck")
    _step(j, w4, "H", "copy", item=_db("orders"))
    _step(j, w4, "G", "copy", item=_db("orders"))
    for sid in ("H", "G"):
        _step(j, w4, sid, "cutover")
    assert production_elsewhere(wj, 9, "B", _db("orders")) == (4, "G")
    assert production_elsewhere(wj, 4, "G", _db("orders")) == (4, "H")
