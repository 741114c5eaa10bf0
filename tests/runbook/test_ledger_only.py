"""A wave planned from ledgers alone (hosts with a 硬盘 size, no disk rows, before discovery):
the runbook says the wave converts nothing for those hosts and is NO-GO, and its data agrees
with the plan's (the plan counts a host's ``disk_gb`` when its disks are unknown) — it showed
0 GB beside the plan's 256 GB and a passed "every disk has an image path" check."""

from __future__ import annotations

import re
from pathlib import Path

from shangyun.planner import make_plan
from shangyun.planner.files import write_plan
from shangyun.runbook import render_runbook
from shangyun.runbook.context import build_context
from shangyun.runbook.i18n import translator
from tests.planner.build import bureau, make_estate, system


def test_hosts_without_disks_are_named_and_the_data_matches_the_plan(tmp_path: Path) -> None:
    est = make_estate([system("OA", "B1", hosts=1, data_gb=256)],
                      bureaus=[bureau("B1", link_mbps=1000, window_hours=10)])
    root = tmp_path / "estate"
    est.save(root)
    plan = make_plan(est)
    write_plan(plan, root)
    (planned,) = [w for w in plan.to_json()["waves"] if w["number"] == 1]
    assert planned["data_gb"] == 256.0
    for lang, words in (("en", "has no disk in the estate"), ("zh", "在资产清单中没有磁盘")):
        ctx = build_context(root, 1, translator(lang), lang=lang)
        (s,) = ctx["systems"]
        assert s["hosts_without_disks"] == ["oa-h0"]
        assert s["data_gb"] == 256.0 == ctx["windows"][0]["data_gb"]
        texts = [w["text"] for w in ctx["warnings"]]
        assert any(words in x and "oa-h0" in x and "256 GB" in x for x in texts), texts
        paths = next(c for c in ctx["checks"] if c["text"] == translator(lang)("chk_paths"))
        assert paths["ok"] is False
        assert ctx["verdict"]["go"] is False


def test_the_link_is_printed_as_the_window_table_prints_it(tmp_path: Path) -> None:
    est = make_estate([system("OA", "B1", hosts=1, data_gb=256)],
                      bureaus=[bureau("B1", link_mbps=1000, window_hours=10)])
    root = tmp_path / "estate"
    est.save(root)
    write_plan(make_plan(est), root)
    for fmt in ("md", "html"):
        text, _ = render_runbook(root, 1, fmt, "zh")
        assert re.search(r"专线带宽\(Mbps\): 1000(?![.\d])", text), fmt
        assert "专线带宽(Mbps): 1000.0" not in text
