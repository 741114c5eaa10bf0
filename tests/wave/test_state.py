"""One system state from the journal (issue #17, item 1): a refused pre-check is "refused",
never "rolled back"; ``wave status`` and the runbook read the same function."""

from __future__ import annotations

import pytest

from shangyun.runbook import history
from shangyun.wave import journal_port
from shangyun.wave.state import system_state


@pytest.mark.parametrize(("steps", "state"), [
    ([], "pending"),
    ([("precheck", "done"), ("convert", "done")], "done"),
    ([("precheck", "failed")], "refused"),
    ([("precheck", "failed"), ("convert", "undone")], "refused"),
    ([("precheck", "undone"), ("convert", "undone")], "rolled_back"),
    ([("precheck", "undone"), ("convert", "failed")], "failed"),
    ([("precheck", "done"), ("convert", "undo_failed")], "rollback_failed"),
    ([("precheck", "failed"), ("convert", "done")], "failed"),
    ([("precheck", "done"), ("convert", "started")], "partial"),
    # fail-back: home once its mark is done and the cutover is not; a refused fail-back
    # leaves a cut-over system done; a later cutover makes it cut over again
    ([("copy", "done"), ("cutover", "undone"), ("failback-freeze", "done"),
      ("failback", "done")], "failed_back"),
    ([("copy", "done"), ("cutover", "done"), ("failback-freeze", "undone")], "done"),
    ([("copy", "done"), ("cutover", "done"), ("failback", "done")], "done"),
    ([("copy", "undone"), ("cutover", "undone"), ("failback", "undone")], "rolled_back"),
])
def test_system_state(steps: list[tuple[str, str]], state: str) -> None:
    assert system_state(steps) == state


def test_wave_status_and_the_runbook_history_use_the_one_function() -> None:
    assert history.system_state is system_state
    assert journal_port.system_state is system_state
