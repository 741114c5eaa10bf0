"""The ``wave run`` summary of a system the run left alone says what the journal says it
is: cut over (awaiting finalize), or done once ``wave finalize`` has run."""

from __future__ import annotations

import pytest

from shangyun.cli.wave import _report


def _result(journal_state: str) -> dict[str, object]:
    return {"wave": 1, "state": "done", "wave_state": journal_state,
            "summary": f"1 system {journal_state}",
            "systems": [{"id": "s-1", "name": "审批系统", "state": "cut_over",
                         "journal_state": journal_state, "error": None}]}


@pytest.mark.parametrize(("journal_state", "word", "not_word"), [
    ("cut_over", "审批系统: cut over (left alone)", "finalized"),
    ("done", "审批系统: done (finalized; left alone)", "cut over"),
])
def test_a_system_left_alone_reads_as_the_journal_has_it(
        capsys: pytest.CaptureFixture[str], journal_state: str, word: str,
        not_word: str) -> None:
    _report(_result(journal_state), as_json=False)
    out = " ".join(capsys.readouterr().out.split())
    assert word in out, out
    assert not_word not in out.split("审批系统:", 1)[1], out
