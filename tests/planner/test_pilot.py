"""The pilot wave: never beyond its size (systems, hosts, data), never silent.

A pilot proves the process on small, low-risk systems. When nothing qualifies the plan says
so (a note, and each wave-1 system's reasons) instead of calling a big system the pilot.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shangyun.errors import PlanError
from shangyun.planner import PlanOptions, make_plan
from shangyun.sample.generator import generate_estate
from tests.planner.build import bureau, make_estate, system

START = dt.date(2027, 1, 4)
EXAMPLES = int(os.environ.get("PLANNER_EXAMPLES", "60"))


def _reasons(plan: Any) -> dict[str, list[str]]:
    return {s["system"]: s["reasons"] for s in plan.systems}


def _check_pilot(est: Any, opts: PlanOptions, plan: Any) -> None:
    """The pilot's promises, for any plan of any estate."""
    sysrows = {s["id"]: s for s in est.rows("systems")}
    reasons = _reasons(plan)
    # every planned system's placement is explained
    assert set(reasons) == set(plan.wave_of()) and all(reasons.values())
    if not plan.waves:
        return
    first = plan.waves[0]
    assert first["number"] == 1
    pinned_1 = any(w == 1 for w in opts.pins.values())
    pilot_lines = [[r for r in reasons[s] if r.startswith(("wave 1 is the pilot — ",
                                                           "no pilot wave"))]
                   for s in first["systems"]]
    # each wave-1 system says why it is in the pilot, or why there is none
    assert all(len(lines) == 1 for lines in pilot_lines), pilot_lines
    if first["pilot"]:
        assert all(x[0].startswith("wave 1 is the pilot — ") for x in pilot_lines)
        if not pinned_1:  # the planner's own choice: within every documented limit
            assert len(first["systems"]) <= opts.pilot_systems
            assert first["hosts"] <= opts.pilot_hosts
            assert opts.pilot_tb is None or first["data_gb"] <= opts.pilot_tb * 1000 + 0.1
            for s in first["systems"]:
                assert sysrows[s]["criticality"] in ("low", "medium"), s
                assert sysrows[s].get("kind") != "shared-service", s
        elif any("beyond the pilot size" in r for x in pilot_lines for r in x):
            assert any("beyond the pilot size" in n for n in plan.notes), plan.notes
    else:
        assert all(x[0].startswith("no pilot wave") for x in pilot_lines), pilot_lines
        if opts.pilot_systems > 0:  # asked for and none found: the plan says so up front
            assert any(n.startswith("no pilot wave") for n in plan.notes), plan.notes
    # no other wave claims to be the pilot
    assert not any(w["pilot"] for w in plan.waves[1:])


@st.composite
def estates(draw: Any) -> tuple[Any, PlanOptions, list[str]]:
    """Small hand-built estates with big and small, risky and low-risk systems; no bureau
    windows and loose wave limits, so any lone low-risk system small enough could be a
    pilot (``candidates``)."""
    n = draw(st.integers(1, 10))
    systems = []
    for i in range(n):
        systems.append(system(
            f"S{i}", f"B{draw(st.integers(0, 1))}",
            hosts=draw(st.sampled_from([0, 1, 2, 4, 12, 59])),
            data_gb=draw(st.sampled_from([0.0, 5.0, 300.0, 1900.0, 2500.0, 14785.0])),
            criticality=draw(st.sampled_from(["low", "medium", "high", "critical"])),
            kind=draw(st.sampled_from(["business", "business", "shared-service"]))))
    deps = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1),
                                   st.sampled_from(["database", "async", "file"])),
                         max_size=12))
    rows = [(f"S{a}", f"S{b}", t) for a, b, t in deps if a != b]
    opts = PlanOptions(
        max_hosts=None, max_systems=draw(st.sampled_from([None, 3, 6])), max_tb=None,
        order=draw(st.sampled_from(["before-or-with", "before", "off"])),
        pilot_systems=draw(st.integers(0, 3)), pilot_hosts=draw(st.sampled_from([1, 4, 10])),
        pilot_tb=draw(st.sampled_from([None, 0.5, 2.0])), start=START)
    linked = {x for a, b, _t in rows for x in (a, b)}
    candidates = [s["id"] for s in systems
                  if s["id"] not in linked and s["criticality"] in ("low", "medium")
                  and s["kind"] == "business" and s["_hosts"] <= opts.pilot_hosts
                  and (opts.pilot_tb is None or s["_data"] <= opts.pilot_tb * 1000)]
    est = make_estate(systems, rows, [bureau("B0"), bureau("B1")])
    return est, opts, candidates


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_the_pilot_never_exceeds_its_size_and_is_always_explained(
        case: tuple[Any, PlanOptions, list[str]]) -> None:
    est, opts, candidates = case
    plan = make_plan(est, opts)
    _check_pilot(est, opts, plan)
    event(f"pilot: {bool(plan.waves and plan.waves[0]['pilot'])}")
    # a lone, low-risk system small enough exists: then there is a pilot
    if candidates and opts.pilot_systems > 0:
        assert plan.waves[0]["pilot"], (candidates, plan.notes)


@settings(max_examples=max(EXAMPLES // 6, 8), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(10, 24),
       pilot_systems=st.integers(1, 3), pilot_hosts=st.sampled_from([3, 10]),
       pilot_tb=st.sampled_from([0.3, 2.0]), pin=st.booleans())
def test_sample_estates_keep_the_pilot_small(seed: int, n: int, pilot_systems: int,
                                             pilot_hosts: int, pilot_tb: float,
                                             pin: bool) -> None:
    est = generate_estate(bureaus=3, systems=n, seed=seed)
    pins = {str(est.rows("systems")[0]["id"]): 1} if pin else {}
    opts = PlanOptions(pilot_systems=pilot_systems, pilot_hosts=pilot_hosts,
                       pilot_tb=pilot_tb, start=START, pins=pins)
    try:
        plan = make_plan(est, opts)
    except PlanError as exc:  # a pin against the order or a window: named, nothing else
        assert pin and str(exc).startswith("constraint"), exc
        return
    _check_pilot(est, opts, plan)
    event(f"pilot: {plan.waves[0]['pilot']}")


def test_a_big_low_risk_system_is_no_pilot_and_the_plan_says_why() -> None:
    # the README programme's case: the only lone system is large (59 hosts, 14.8 TB)
    est = make_estate([system("BIG", hosts=59, data_gb=14785.0, criticality="low"),
                       system("CRIT", criticality="critical"),
                       system("HUGE", hosts=2, data_gb=2500.0, criticality="medium")])
    plan = make_plan(est, PlanOptions(start=START))
    assert not any(w["pilot"] for w in plan.waves)
    note = plan.notes[0]
    assert note.startswith("no pilot wave: no move group is small and low-risk enough"), note
    assert "at most 3 systems, 10 hosts, 2 TB" in note
    assert "2 are larger than the pilot" in note and "1 is high or critical" in note, note
    w1 = plan.waves[0]["systems"]
    for s in w1:
        assert note in _reasons(plan)[s]
    # a 2 TB limit keeps HUGE (2.5 TB) out; without a data limit it is the pilot
    loose = make_plan(est, PlanOptions(start=START, pilot_tb=None))
    assert loose.waves[0]["pilot"] and loose.waves[0]["systems"] == ["HUGE"], loose.waves
    # no note on the pilot (B1's window, unknown here, is noted as not checked)
    assert not any("pilot" in n for n in loose.notes), loose.notes
    why = _reasons(loose)["HUGE"]
    assert any(r.startswith("wave 1 is the pilot — pilot wave: 1 system, 2 hosts, "
                            "2,500.0 GB within the pilot size (3 systems, 10 hosts, no data "
                            "limit)") for r in why), why


def test_small_systems_fill_the_pilot_up_to_each_limit() -> None:
    est = make_estate([system(f"L{i}", hosts=3, data_gb=600.0, criticality="low")
                       for i in range(5)])
    plan = make_plan(est, PlanOptions(start=START, pilot_systems=3, pilot_hosts=10,
                                      pilot_tb=2.0))
    first = plan.waves[0]
    # 3 systems fit the systems (3) and hosts (9 ≤ 10) limits, and 1.8 TB ≤ 2 TB
    assert first["pilot"] and len(first["systems"]) == 3 and first["data_gb"] == 1800.0
    tight = make_plan(est, PlanOptions(start=START, pilot_systems=3, pilot_hosts=10,
                                       pilot_tb=1.0))
    assert tight.waves[0]["pilot"] and len(tight.waves[0]["systems"]) == 1  # 1.2 TB > 1 TB


def test_pins_beyond_the_pilot_size_are_said_so() -> None:
    est = make_estate([system("BIG", hosts=12, criticality="low"),
                       system("SMALL", criticality="low")])
    plan = make_plan(est, PlanOptions(start=START, pins={"BIG": 1}))
    assert plan.wave_of()["BIG"] == 1 and plan.wave_of()["SMALL"] != 1
    assert "beyond the pilot size (12 hosts > 10)" in plan.notes[0], plan.notes
    assert "pinned to wave 1 (system BIG (BIG))" in plan.notes[0], plan.notes  # named
    assert any("beyond the pilot size" in r for r in _reasons(plan)["BIG"])


def test_no_pilot_note_counts_move_groups_as_the_plan_does() -> None:
    """Two shared services using each other move together (one unit of 2 move groups):
    the note's tally counts them as 2 move groups, as the plan's summary does (it said
    'of 3 move groups' beside '4 move groups')."""
    est = make_estate([system("IAM", kind="shared-service"), system("SEAL", kind="shared-service"),
                       system("C"), system("D")],
                      [("IAM", "SEAL"), ("SEAL", "IAM"), ("C", "IAM"), ("D", "SEAL")])
    plan = make_plan(est, PlanOptions(start=START))
    assert plan.metrics["move_groups"] == 4
    note = plan.notes[0]
    assert "of 4 move groups: 2 are shared services; 2 use a shared service" in note, note
