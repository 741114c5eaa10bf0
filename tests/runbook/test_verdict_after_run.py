"""The verdict of a wave that has run (outside team's item 1): a window check is a pre-run
judgement, so once the wave ran the first screen says what the journal says, and judges the
window only for the systems still to run — never NO-GO for a bureau whose system moved
already (its bureau without a window after a re-imported ledger moved it elsewhere).
Rendered from the real journal of :func:`tests.runbook.conftest.ran_wave`: sys-01 (bureau
一局, no window) moved, sys-02 (bureau 二局) was rolled back."""

from __future__ import annotations

import shutil
from pathlib import Path

from connectors.journal.history import open_reader
from shangyun.runbook import render_runbook, runbook_context
from shangyun.runbook.context import _window_check, verdict
from shangyun.runbook.i18n import translator
from shangyun.wave.estimate import window_verdict
from tests.runbook.conftest import RanWave
from tests.wave.conftest import write_plan


def _copy(ran_wave: RanWave, tmp_path: Path) -> Path:
    copy = tmp_path / "estate"
    shutil.copytree(ran_wave.root, copy)
    return copy


def _window_row(copy: Path, wave: int, bureau: str) -> None:
    """A window for ``bureau`` in wave ``wave`` that fits the copy's few MiB."""
    (copy / "plan" / "windows.csv").write_text(
        "wave,bureau_id,date,start,hours,capacity_gb,data_gb\n"
        f"{wave},{bureau},2026-12-12,22:00,8,1000,0.1\n", encoding="utf-8")


def test_a_wave_that_ran_whole_reads_its_journal_not_a_window_no_go(
        ran_wave: RanWave, tmp_path: Path) -> None:
    copy = _copy(ran_wave, tmp_path)
    # re-planned: wave 1 holds only sys-01, which moved; its bureau has no window
    write_plan(copy, {1: [["sys-01"]], 2: [["sys-02"]]})
    for lang, words in (("en", "done: every system moved"), ("zh", "完成：全部系统已迁移")):
        with open_reader(copy) as history:
            ctx = runbook_context(copy, 1, lang, journal=history)
            text, _ = render_runbook(copy, 1, "md", lang, journal=history)
        assert ctx["outcome"]["state"] == "done"
        v = ctx["verdict"]
        assert v["go"] is None and v["reasons"] == [], v
        assert words in v["label"] and "NO-GO" not in v["label"], v
        head = text.split("##")[0]
        assert "NO-GO" not in head and words in head, head


def test_a_wave_that_ran_in_part_judges_the_window_of_what_is_left(
        ran_wave: RanWave, tmp_path: Path) -> None:
    copy = _copy(ran_wave, tmp_path)
    # sys-02 (rolled back, to run again) has a window that fits; sys-01 moved, none
    _window_row(copy, 1, "bureau-02")
    with open_reader(copy) as history:
        ctx = runbook_context(copy, 1, "en", journal=history)
    assert ctx["outcome"]["state"] == "failed"
    v = ctx["verdict"]
    assert v["go"] is True, v
    assert "failed: a system did not move" in v["label"] and "GO" in v["label"], v
    assert "1 system left to run" in v["label"], v
    # the window of what is left fails: NO-GO, naming that bureau, not the moved one's
    (copy / "plan" / "windows.csv").write_text(
        "wave,bureau_id,date,start,hours,capacity_gb,data_gb\n"
        "1,bureau-02,2026-12-12,22:00,0.0001,1000,0.1\n", encoding="utf-8")
    with open_reader(copy) as history:
        ctx = runbook_context(copy, 1, "zh", journal=history)
    v = ctx["verdict"]
    assert v["go"] is False and "NO-GO" in v["label"], v
    assert any("二局" in r for r in v["reasons"]) and not any("一局" in r
                                                           for r in v["reasons"]), v


def test_the_verdict_once_run() -> None:
    for lang in ("en", "zh"):
        t = translator(lang)
        failing = _window_check([{"bureau": "b", "name": "局",
                                  **window_verdict(None, None, None, 1.0, 6.0)}], t)
        v = verdict([failing], t, ran="cut over — awaiting finalize", left=0)
        assert v["go"] is None and v["reasons"] == [] and "NO-GO" not in v["label"]
        assert v["label"].startswith("cut over — awaiting finalize"), v
        v = verdict([failing], t, ran="failed", left=2)
        assert v["go"] is False and "NO-GO" in v["label"] and v["reasons"], v
        assert verdict([failing], t)["go"] is False  # never ran: the checks decide
