"""The packer packs by the estimated time of each bureau's window, not only by its data.

Before, the packer checked a bureau's data against ``link × window`` and the estimate came
after packing: the sample's plan had 73 of 84 windows too short (wave 1 总部: 99h for a
6 h window), each a NO-GO in its own runbook. Now a move group goes into a wave only if
every bureau it touches still fits its window by the runbook's estimate; a system too long
even alone has its bureau's window to itself and the notes name it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.planner import PlanOptions, make_plan
from shangyun.wave.estimate import Rates, copy_seconds
from tests.planner.build import bureau, make_estate, system

# a host known by its ledger size: convert + upload + import of its size, +60 s pre-check,
# + 180 s adapt + 180 s launch (the estimator's fixed allowances)
FIXED = 60 + 180 + 180


def _alone(gb: float, link: float, disk_mbps: float = 150.0) -> float:
    return copy_seconds(gb, Rates(link_mbps=link, efficiency=0.8, disk_mbps=disk_mbps)) + FIXED


def _windows(plan: Any) -> dict[tuple[int, str], dict[str, Any]]:
    return {(w["number"], win["bureau_id"]): win for w in plan.waves for win in w["windows"]}


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 5), st.sampled_from([100, 1000]), st.sampled_from([4, 8]))
def test_systems_that_fit_alone_but_not_together_go_to_more_waves(
        n: int, link: int, hours: int) -> None:
    """``n`` systems of one bureau, each taking 60 % of the window alone: one link slot
    (100 Mbps) runs them one after another, so no two share a window; ten slots
    (1,000 Mbps, 4 at once) share the link and the workers. Every window holds the
    estimate."""
    # find a size whose copy alone takes ~60 % of the window
    gb = 1.0
    while _alone(gb * 1.1, link) < 0.6 * hours * 3600:
        gb *= 1.1
    est = make_estate([system(f"S{i}", "B0", hosts=1, data_gb=gb) for i in range(n)], [],
                      [bureau("B0", link_mbps=link, window_hours=hours)])
    plan = make_plan(est, PlanOptions(pilot_systems=0, max_tb=None))
    for win in _windows(plan).values():
        assert win["estimated_hours"] <= hours and win["fits"] == "yes", win
    if link == 100:  # one slot: one system per window
        assert len(plan.waves) == n
        later = next(r for r in plan.systems if r["wave"] == 2)
        assert any("wave 1 could not take it (bureau bureau B0 (B0) window full: estimated " in x
                   and f" of {hours} h, " in x for x in later["reasons"]), later["reasons"]
    assert any(x.startswith("all ") and "fit the estimated time" in x for x in plan.notes)


def test_a_system_too_long_even_alone_has_the_window_to_itself() -> None:
    """One system takes longer than its window alone (1.5 TB at 150 MB/s): it is planned
    in a window of its own, named in the notes with its figure and the fixes; the small
    system of the same bureau goes to another wave, whose window fits."""
    big, small = 1500.0, 10.0
    est = make_estate([system("BIG", "B0", hosts=1, data_gb=big),
                       system("SMALL", "B0", hosts=1, data_gb=small)], [],
                      [bureau("B0", link_mbps=10_000, window_hours=4)])
    plan = make_plan(est, PlanOptions(pilot_systems=0, max_tb=None))
    wave = plan.wave_of()
    assert wave["BIG"] != wave["SMALL"]
    wins = _windows(plan)
    assert wins[(wave["BIG"], "B0")]["fits"] == "no"
    assert wins[(wave["SMALL"], "B0")]["fits"] == "yes"
    note = next(x for x in plan.notes if "even alone" in x)
    assert "1 system takes longer than its bureau's window even alone" in note
    assert f"wave {wave['BIG']} bureau B0 (B0): system BIG (BIG) alone estimated " in note
    for fix in ("维护窗口时长", "专线带宽", "--disk-mbps 150", "--link-efficiency 0.8",
                "--exclude"):
        assert fix in note
    # at a fast array's disk speed it fits, with the small one in the same window
    fast = make_plan(est, PlanOptions(pilot_systems=0, max_tb=None, disk_mbps=2000))
    assert len(fast.waves) == 1 and not any("even alone" in x for x in fast.notes)
