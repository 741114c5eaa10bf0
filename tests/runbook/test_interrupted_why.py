"""The runbook's outcome after a wave run stopped by Ctrl-C (the journal ends the run
``failed`` with the reason ``interrupted`` and the run rolls back what it was moving, no step
failing on its own). Each system rolled back said "another system of its move group failed,
so it was undone with it" — of two systems in different move groups, each blaming the
other, when nothing failed: the run was interrupted. It must say so."""

from __future__ import annotations

from typing import Any

from shangyun.runbook.context import outcome
from shangyun.runbook.i18n import translator


def _system(sid: str, name: str, run_id: str) -> dict[str, Any]:
    step = {"key": f"{sid}/precheck", "kind": "precheck", "status": "undone", "error": "",
            "run_id": run_id, "undone": True, "undone_by": "run"}
    return {"id": sid, "name": name, "state": "rolled_back", "cmd": name,
            "history": {"steps": [step], "failures": [], "rolled_back": [step]}}


def _runs(reason: str) -> list[dict[str, Any]]:
    return [{"id": "w1-a", "status": "failed", "reason": reason, "kind": "run",
             "bureau": None}]


def test_an_interrupted_run_is_named_as_the_cause_in_both_languages() -> None:
    systems = [_system("s-1", "档案系统", "w1-a"), _system("s-2", "审批系统", "w1-a")]
    for lang, words, wrong in (("en", "interrupted", "another system of its move group"),
                               ("zh", "中断", "同一迁移组的其他系统失败")):
        out = outcome(1, systems, _runs("interrupted"), translator(lang))
        whys = [b["why"] for b in out["rolled_back"]]
        assert len(whys) == 2, out
        for why in whys:
            assert words in why and wrong not in why, why


def test_a_group_members_rollback_still_blames_its_group() -> None:
    systems = [_system("s-1", "档案系统", "w1-a")]
    out = outcome(1, systems, _runs(""), translator("en"))
    assert "another system of its move group failed" in out["rolled_back"][0]["why"], out
