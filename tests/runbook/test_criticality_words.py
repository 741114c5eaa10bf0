"""The runbook's systems table gives each system's criticality in the document's language:
a zh runbook printed and signed by a team reads 低/中/高/核心, not low/high/critical."""

from __future__ import annotations

import re
from pathlib import Path

from shangyun.planner import PlanOptions, make_plan, write_plan
from shangyun.runbook import render_runbook
from tests.planner.build import make_estate, system


def test_criticality_in_the_runbooks_language(tmp_path: Path) -> None:
    est = make_estate([system("A", criticality="low"), system("B", criticality="medium"),
                       system("C", criticality="high"), system("D", criticality="critical")])
    root = est.save(tmp_path / "estate")
    write_plan(make_plan(est, PlanOptions(pilot_systems=0)), root)
    zh, _ = render_runbook(root, 1, "md", "zh")
    rows = {m.group(1): m.group(2) for m in
            re.finditer(r"^\| system (\w) \(\w\) \| [^|]*\| [^|]*\| [^|]*\| ([^|]*) \|", zh, re.M)}
    assert rows == {"A": "低", "B": "中", "C": "高", "D": "核心"}, rows
    en, _ = render_runbook(root, 1, "md", "en")
    rows = {m.group(1): m.group(2) for m in
            re.finditer(r"^\| system (\w) \(\w\) \| [^|]*\| [^|]*\| [^|]*\| ([^|]*) \|", en, re.M)}
    assert rows == {"A": "low", "B": "medium", "C": "high", "D": "critical"}, rows
