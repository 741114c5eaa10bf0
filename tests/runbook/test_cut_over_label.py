"""The runbook's cut-over label is true of every system it speaks of (outside team's item
3): beside a system moved disks-only (plan/cutover.yaml does not list it: every step done,
nothing switched, its source still production — docs/cutover.md), the wave reads cut over,
but "every system runs in production on the target" was untrue of that one. The label now
names which systems run on the target and which moved disks-only; a wave all cut over
keeps its words."""

from __future__ import annotations

from typing import Any

from shangyun.runbook.context import outcome
from shangyun.runbook.i18n import translator

RUNS = [{"status": "done", "kind": "run"}]


def _systems(*rows: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [{"id": sid, "name": name, "state": st, "history": {"steps": []}}
            for sid, name, st in rows]


def test_a_wave_mixing_cut_over_and_disks_only_says_which_is_which() -> None:
    mixed = _systems(("sys-1", "审批系统", "cut_over"), ("sys-2", "档案系统", "done"))
    for lang, every, on_target, disks in (
            ("en", "every system runs in production", "in production on the target: 审批系统",
             "moved disks-only: 档案系统"),
            ("zh", "全部系统已在目标端", "已在目标端生产运行：审批系统", "仅迁移了磁盘：档案系统")):
        out = outcome(1, mixed, RUNS, translator(lang))
        assert out["state"] == "cut_over"
        assert every not in out["label"], out["label"]
        assert on_target in out["label"] and disks in out["label"], out["label"]


def test_a_wave_all_cut_over_says_every_system_runs_on_the_target() -> None:
    cut = _systems(("sys-1", "审批系统", "cut_over"), ("sys-2", "档案系统", "cut_over"))
    for lang, every in (("en", "every system runs in production on the target"),
                        ("zh", "全部系统已在目标端生产运行")):
        assert every in outcome(1, cut, RUNS, translator(lang))["label"]
