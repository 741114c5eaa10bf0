"""One system state from the journal (issue #17, item 1): a refused pre-check is "refused",
never "rolled back"; ``wave status`` and the runbook read the same function."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shangyun.runbook import history
from shangyun.wave import journal_port
from shangyun.wave.state import (
    is_finalized,
    is_settled,
    latest_runs,
    progress_bucket,
    run_outcome,
    run_state,
    system_state,
    wave_state,
)


@pytest.mark.parametrize(("steps", "state"), [
    ([], "pending"),
    ([("precheck", "done"), ("convert", "done")], "done"),
    ([("precheck", "failed")], "refused"),
    ([("precheck", "failed"), ("convert", "undone")], "refused"),
    # the rollback marks the failed pre-check undone too: its error still says refused
    ([("precheck", "undone", "disk-02-1: not readable")], "refused"),
    ([("precheck", "undone", "not readable"), ("convert", "undone", None)], "refused"),
    ([("precheck", "undone", None), ("convert", "undone", "boom")], "rolled_back"),
    ([("precheck", "undone"), ("convert", "undone")], "rolled_back"),
    ([("precheck", "undone"), ("convert", "failed")], "failed"),
    ([("precheck", "done"), ("convert", "undo_failed")], "rollback_failed"),
    ([("precheck", "failed"), ("convert", "done")], "failed"),
    ([("precheck", "done"), ("convert", "started")], "partial"),
    # fail-back: home once its mark is done and the cutover is not; a refused fail-back
    # leaves a cut-over system cut over; a later cutover makes it cut over again
    ([("copy", "done"), ("cutover", "undone"), ("failback-freeze", "done"),
      ("failback", "done")], "failed_back"),
    ([("copy", "done"), ("cutover", "done"), ("failback-freeze", "undone")], "cut_over"),
    ([("copy", "done"), ("cutover", "done"), ("failback", "done")], "cut_over"),
    ([("copy", "done"), ("cutover", "done")], "cut_over"),  # not finalized: source kept
    ([("copy", "undone"), ("cutover", "undone"), ("failback", "undone")], "rolled_back"),
])
def test_system_state(steps: list[tuple[str, ...]], state: str) -> None:
    assert system_state(steps) == state


def test_a_cut_over_system_is_done_once_the_wave_is_finalized() -> None:
    steps = [("precheck", "done"), ("copy", "done"), ("cutover", "done")]
    assert system_state(steps) == "cut_over"
    assert system_state(steps, finalized=True) == "done"
    assert system_state(steps[:2]) == "done"  # no cutover step: nothing to finalize
    assert is_finalized([{"kind": "run", "status": "done"},
                         {"kind": "finalize", "status": "done"}])
    assert not is_finalized([{"kind": "run", "status": "done"},
                             {"kind": "finalize", "status": "failed"}])


@given(kinds=st.lists(st.sampled_from(["convert", "upload", "import", "launch", "copy",
                                       "freeze", "start", "dns", "cutover"]),
                      min_size=1, max_size=8, unique=True),
       by=st.lists(st.sampled_from(["rollback", "run", "failback", None]), min_size=9,
                   max_size=9),
       failed_at=st.none() | st.integers(min_value=1, max_value=8))
def test_a_rollback_is_the_operators_only_when_his_command_undid_every_step(
        kinds: list[str], by: list[str | None], failed_at: int | None) -> None:
    """Every step undone: ``rolled_back_by_operator`` exactly when the operator's
    ``wave rollback`` run undid them (his fail-back perhaps some before it) and none of
    them failed; otherwise (a failing run's automatic rollback, a failed step, a journal
    that does not say who) the failure's ``rolled_back``."""
    rows = [("precheck", "undone", None, by[0])]
    rows += [(k, "undone", "boom" if failed_at == i else None, by[i])
             for i, k in enumerate(kinds, start=1)]
    undoers = {r[3] for r in rows}
    deliberate = ((failed_at is None or failed_at > len(kinds)) and "rollback" in undoers
                  and undoers <= {"rollback", "failback"})
    state = system_state(rows)
    assert state == ("rolled_back_by_operator" if deliberate else "rolled_back")
    assert is_settled(state) is deliberate  # nothing to decide only for his own rollback
    assert progress_bucket(state) == ("pending" if deliberate else "failed")


@pytest.mark.parametrize(("systems", "state"), [
    ({"a": "rolled_back_by_operator"}, "rolled_back"),
    ({"a": "rolled_back_by_operator", "b": "pending"}, "rolled_back"),
    ({"a": "done", "b": "rolled_back_by_operator"}, "partly_rolled_back"),
    ({"a": "failed_back", "b": "rolled_back_by_operator"}, "rolled_back"),
    ({"a": "rolled_back", "b": "rolled_back_by_operator"}, "failed"),  # a failure stays one
    ({"a": "cut_over", "b": "done"}, "cut_over"),
    ({"a": "done", "b": "done"}, "done"),
])
def test_the_operators_rollback_and_a_cut_over_wave(systems: dict[str, str],
                                                     state: str) -> None:
    assert wave_state(["rolled_back"], systems) == state


def test_wave_status_and_the_runbook_history_use_the_one_function() -> None:
    assert history.system_state is system_state
    assert journal_port.system_state is system_state


@pytest.mark.parametrize(("runs", "systems", "state"), [
    ([], {"a": "pending"}, "never run"),
    (["running"], {"a": "done"}, "running"),
    (["crashed"], {"a": "partial"}, "crashed"),
    (["done"], {"a": "done", "b": "cut_over"}, "cut_over"),  # awaiting finalize
    (["done"], {"a": "done", "b": "done"}, "done"),
    (["failed"], {"a": "done", "b": "rolled_back"}, "failed"),
    (["failed"], {"a": "done", "b": "refused"}, "failed"),
    (["done"], {"a": "done", "b": "pending"}, "partial"),
    (["done", "failed"], {"a": "done", "b": "rollback_failed"}, "failed"),
    (["failed"], {}, "failed"),
])
def test_wave_state(runs: list[str], systems: dict[str, str], state: str) -> None:
    assert wave_state(runs, systems) == state


@pytest.mark.parametrize(("kind", "status", "reason", "shown"), [
    ("rollback", "failed", "rolled_back", "rolled_back"),  # the operator's, every undo ok
    ("rollback", "failed", "failed", "failed"),            # an undo failed
    ("failback", "done", "done", "failed_back"),
    ("failback", "failed", "failed", "failed"),
    ("run", "failed", "failed", "failed"),
    ("run", "done", "done", "done"),
    ("finalize", "done", "done", "done"),
    ("run", "crashed", None, "crashed"),
])
def test_a_run_reads_as_what_it_did(kind: str, status: str, reason: str | None,
                                    shown: str) -> None:
    assert run_outcome(kind, status, reason) == shown


def test_every_reader_takes_a_runs_status_from_the_one_function() -> None:
    assert history.run_outcome is run_outcome
    assert journal_port.run_outcome is run_outcome


def test_a_run_is_done_only_when_every_system_it_ran_is() -> None:
    assert run_state({"a": "done", "b": "cut_over"}) == "done"
    for label in ("busy", "skipped", "refused", "rolled_back", "failed"):
        assert run_state({"a": "done", "b": label}) == "failed"


def test_the_latest_run_of_each_scope_since_the_last_whole_wave_run() -> None:
    runs = [{"id": "r1", "status": "failed"}, {"id": "r2", "status": "done"},
            {"id": "r3", "status": "failed", "bureau": "b1"},
            {"id": "r4", "status": "done", "bureau": "b2"}]
    assert {k: v["id"] for k, v in latest_runs(runs).items()} == {
        None: "r2", "b1": "r3", "b2": "r4"}


def test_every_reader_takes_the_wave_state_from_the_one_function() -> None:
    from flows import wave as flow
    from shangyun import report
    from shangyun.runbook import context

    assert journal_port.wave_state is wave_state
    assert report.wave_state is wave_state
    assert context.wave_state is wave_state
    assert flow.run_state is run_state


def test_the_verification_artifact_names_each_system() -> None:
    from flows.wave import verification_page

    page = verification_page(1, [{"id": "sys-01", "name": "审批系统", "verified": [
        {"disk": "d1", "source_digest": "a", "content_digest": "b", "compare": "identical",
         "target": "ok"}]}])
    assert "| 审批系统 | d1 |" in page  # by name; the id only when the name is shared
    page = verification_page(1, [{"id": "sys-01", "name": "审批系统", "label": "审批系统 (sys-01)",
                                  "verified": [{"disk": "d1", "source_digest": "a",
                                                "content_digest": "b", "compare": "identical",
                                                "target": "ok"}]}])
    assert "| 审批系统 (sys-01) | d1 |" in page
