"""A wave planned from ledgers alone (hosts with a 硬盘 size, no disk rows, before discovery):
the runbook says the wave converts nothing for those hosts and is NO-GO, and its data agrees
with the plan's (the plan counts a host's ``disk_gb`` when its disks are unknown) — it showed
0 GB beside the plan's 256 GB and a passed "every disk has an image path" check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shangyun.planner import make_plan
from shangyun.planner.files import write_plan
from shangyun.runbook import render_runbook
from shangyun.runbook.context import build_context
from shangyun.runbook.i18n import translator
from shangyun.wave.estimate import Rates, copy_seconds, human_duration
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


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gb=st.integers(min_value=50, max_value=2000),
       link=st.sampled_from([50, 100, 200, 1000]), hours=st.sampled_from([2, 4, 8, 10]))
def test_the_estimate_copies_the_ledgers_size_as_the_plan_does(
        tmp_path_factory: pytest.TempPathFactory, gb: int, link: int, hours: int) -> None:
    """A host known only by its ledger size is estimated at that size (the window table
    said "1m 00s" for 300 GB — the pre-check alone — and "fits" its window): at least the
    plan's copy time (GB × 8000 / (link × efficiency)), and the window check fails when
    that time does not fit."""
    copy = gb * 8000 / (link * 0.8)  # the plan's figure (shangyun.planner.plan)
    assume(copy <= hours * 3600)  # the planner refuses a system its window cannot carry
    est = make_estate([system("OA", "B1", hosts=1, data_gb=gb)],
                      bureaus=[bureau("B1", link_mbps=link, window_hours=hours)])
    root = tmp_path_factory.mktemp("estate")
    est.save(root)
    write_plan(make_plan(est), root)
    for lang in ("en", "zh"):
        t = translator(lang)
        ctx = build_context(root, 1, t, lang=lang)
        (s,) = ctx["systems"]
        (w,) = ctx["windows"]
        assert s["seconds"] >= copy, (s["seconds"], copy)
        assert w["estimate"] == s["estimate"]  # one system: the bureau's span is its own
        window = next(c for c in ctx["checks"] if c["text"] == t("chk_window"))
        if s["seconds"] > hours * 3600:  # the copy fits, the other steps push it over
            assert w["ok"] is False and "time" in w["why"], w
            assert window["ok"] is False, window
        else:
            assert w["ok"] is True and window["ok"] is True, (w, window)
        texts = [x["text"] for x in ctx["warnings"]]
        # the system is alone on its bureau's link: it gets the whole of it
        host = human_duration(copy_seconds(gb, Rates(link_mbps=link)))
        assert any("oa-h0" in x and host in x for x in texts), (host, texts)


def test_a_host_of_no_known_size_leaves_the_estimate_unknown(tmp_path: Path) -> None:
    est = make_estate([system("OA", "B1", hosts=1)],
                      bureaus=[bureau("B1", link_mbps=1000, window_hours=10)],
                      host_extra={"disk_gb": None})
    root = tmp_path / "estate"
    est.save(root)
    write_plan(make_plan(est), root)
    for lang in ("en", "zh"):
        t = translator(lang)
        ctx = build_context(root, 1, t, lang=lang)
        (s,) = ctx["systems"]
        (w,) = ctx["windows"]
        assert s["estimate"] == w["estimate"] == t("unknown"), (s["estimate"], w["estimate"])
        assert w["ok"] is None and "hosts.disk_gb" in w["missing"], w
        window = next(c for c in ctx["checks"] if c["text"] == t("chk_window"))
        assert window["ok"] is False and "hosts.disk_gb" in window["result"], window
