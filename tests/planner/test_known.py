"""Hand-built estates whose right plan is known."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from shangyun.errors import PlanError
from shangyun.planner import PlanOptions, make_plan
from tests.planner.build import bureau, make_estate, system


def _group_of(plan, sid):  # type: ignore[no-untyped-def]
    return next(g["id"] for g in plan.move_groups if sid in g["systems"])


def test_shared_database_moves_with_every_system_that_queries_it(opts: PlanOptions) -> None:
    est = make_estate([system("DB", kind="shared-service"), system("A"), system("B"),
                       system("C"), system("D")],
                      [("A", "DB", "database"), ("B", "DB", "database"), ("C", "DB", "database"),
                       ("D", "A", "async")])
    plan = make_plan(est, opts)
    waves = plan.wave_of()
    assert waves["DB"] == waves["A"] == waves["B"] == waves["C"]
    assert {_group_of(plan, s) for s in ("DB", "A", "B", "C")} == {_group_of(plan, "DB")}
    assert _group_of(plan, "D") != _group_of(plan, "DB")
    assert plan.metrics["cut_strong_dependencies"] == 0
    reasons = next(s for s in plan.systems if s["system"] == "A")["reasons"]
    assert any("moves with" in r and "DB" in r for r in reasons)


def test_chain_of_shared_services_strictly_in_order(opts: PlanOptions) -> None:
    est = make_estate([system("S1", kind="shared-service"), system("S2", kind="shared-service"),
                       system("S3", kind="shared-service"), system("APP")],
                      [("S2", "S1"), ("S3", "S2"), ("APP", "S3")])
    plan = make_plan(est, dataclasses.replace(opts, order="before"))
    w = plan.wave_of()
    assert w["S1"] < w["S2"] < w["S3"] < w["APP"]
    assert plan.metrics["lower_bound_waves"] == 4 == plan.metrics["waves"]
    reasons = next(s for s in plan.systems if s["system"] == "S3")["reasons"]
    assert any("uses shared service system S2" in r for r in reasons)
    # no pin bounds the chain: no reason gives a latest wave (each shared service's read
    # "by wave 999999999 at the latest: its consumer … must move by wave 1000000000")
    assert not [r for s in plan.systems for r in s["reasons"] if "at the latest" in r]
    # before-or-with lets the whole chain share one wave
    plan2 = make_plan(est, opts)
    assert plan2.metrics["waves"] == 1 and plan2.metrics["cut_dependencies"] == 0


def test_strong_chain_is_one_move_group(opts: PlanOptions) -> None:
    est = make_estate([system(x) for x in "ABCD"],
                      [("A", "B", "sync"), ("B", "C", "sync"), ("C", "D", "database")])
    plan = make_plan(est, opts)
    assert [g["systems"] for g in plan.move_groups] == [["A", "B", "C", "D"]]


def test_clique_larger_than_a_wave_is_split_where_cheapest(opts: PlanOptions) -> None:
    names = [f"K{i}" for i in range(6)]
    deps = [(a, b, "sync") for i, a in enumerate(names) for b in names[i + 1:]]
    # a second, separate small clique must not be touched
    deps += [("X", "Y", "sync")]
    est = make_estate([system(n) for n in [*names, "X", "Y"]], deps)
    plan = make_plan(est, opts)
    parts = [g for g in plan.move_groups if g["systems"][0].startswith("K")]
    assert len(parts) >= 2 and all(len(g["systems"]) <= 4 for g in parts)
    assert sorted(s for g in parts for s in g["systems"]) == names
    assert plan.metrics["split_groups"] == len(parts)
    # the cheapest cut of K6 into waves of at most 4 systems is 4 + 2: 8 dependencies
    w = plan.wave_of()
    assert sorted(Counter(w[n] for n in names).values()) == [2, 4]
    assert plan.metrics["cut_dependencies"] == 8 and plan.metrics["waves"] == 2
    assert ["X", "Y"] in [g["systems"] for g in plan.move_groups]
    reasons = next(s for s in plan.systems if s["system"] == "K0")["reasons"]
    assert any("split from 6" in r for r in reasons)
    with pytest.raises(PlanError, match=r"systems per wave: 6 > 4.*K0.*splitting is off"):
        make_plan(est, dataclasses.replace(opts, allow_split=False))


def test_classified_system_is_excluded_with_the_reason(opts: PlanOptions) -> None:
    est = make_estate([system("SECRET", classified=True), system("A")],
                      [("A", "SECRET", "database")])
    plan = make_plan(est, opts)
    assert "SECRET" not in plan.wave_of()
    assert plan.to_json()["excluded"] == [
        {"system": "SECRET", "reason": "classified (涉密) system: never moves to the cloud"}]
    reasons = next(s for s in plan.systems if s["system"] == "A")["reasons"]
    assert any("SECRET, which does not move" in r for r in reasons)
    with pytest.raises(PlanError, match=r"system SECRET \(SECRET\) cannot be planned"):
        make_plan(est, dataclasses.replace(opts, pins={"SECRET": 1}))


def test_bureau_window_too_small_for_a_system_is_an_error(opts: PlanOptions) -> None:
    # 10 Mbit/s × 2 h × 0.8 = 7.2 GB per window; the system holds 50 GB
    est = make_estate([system("BIG", "SLOW", data_gb=50), system("OK", "B1")],
                      bureaus=[bureau("B1"), bureau("SLOW", link_mbps=10, window_hours=2)])
    with pytest.raises(PlanError, match=r"bureau SLOW \(SLOW\) window: 50\.0 GB > 7\.2 GB.*BIG"):
        make_plan(est, opts)


def test_every_system_too_big_for_its_window_is_named_with_its_copy_time(
        opts: PlanOptions) -> None:
    """A team fixing its ledgers sees every system its link cannot copy in one window (not
    one per run), each with how long the copy takes and what would make it fit."""
    # 100 Mbit/s × 6 h × 0.8 = 216 GB a window; 400 GB take 11.1 h, 300 GB 8.3 h
    est = make_estate([system("IAM", "HB", data_gb=400), system("DOC", "HB", data_gb=300),
                       system("OK", "HB", data_gb=100), system("BIG", "YC", data_gb=50)],
                      bureaus=[bureau("HB", link_mbps=100, window_hours=6),
                               bureau("YC", link_mbps=10, window_hours=2)])
    with pytest.raises(PlanError) as err:
        make_plan(est, opts)
    text = str(err.value)
    # (the test estate names system X "system X" and bureau B "bureau B")
    assert text.startswith("constraint bureau bureau HB (HB) window: 400.0 GB > 216.0 GB"), text
    assert "3 systems each alone does not fit one wave (a system is never split)" in text
    assert ("system system IAM (IAM) of bureau bureau HB (HB): 400.0 GB take 11.1 h over "
            "100 Mbps at 80 % efficiency; the window is 6 h (216.0 GB)") in text
    assert "system system DOC (DOC) of bureau bureau HB (HB): 300.0 GB take 8.3 h" in text
    assert ("system system BIG (BIG) of bureau bureau YC (YC): 50.0 GB take 13.9 h over "
            "10 Mbps at 80 % efficiency; the window is 2 h (7.2 GB)") in text
    assert "(OK)" not in text
    assert "a longer window (维护窗口时长) or a faster link (专线带宽)" in text
    # the way out is a command the operator can type: each system by its name
    assert ("or --exclude 'system IAM' --exclude 'system DOC' --exclude 'system BIG'"
            in text), text


def test_bureau_window_spreads_its_systems_over_waves(opts: PlanOptions) -> None:
    est = make_estate([system("P", "SLOW", data_gb=5), system("Q", "SLOW", data_gb=5),
                       system("R", "SLOW", data_gb=2)],
                      bureaus=[bureau("SLOW", link_mbps=10, window_hours=2)])
    plan = make_plan(est, opts)
    w = plan.wave_of()
    # P and R hold 7 GB, within the 7.2 GB the link moves in 2 h, but their copies and the
    # fixed allowances (pre-check, adapt, launch) take 2h 15m one after another on the
    # link's one slot: the runbook's estimate puts each in a window of its own
    assert len({w["P"], w["Q"], w["R"]}) == 3 == plan.metrics["waves"]
    assert plan.metrics["lower_bound_waves"] == 2
    for wave in plan.waves:
        (win,) = wave["windows"]
        assert win["data_gb"] <= win["capacity_gb"] == 7.2
        assert win["estimated_hours"] <= 2 and win["fits"] == "yes"
        assert win["date"] >= "2027-01-09" and win["start"] == "22:00"
    later = next(s for s in plan.systems if s["wave"] == 2)
    # the reason names the bureau as people read it (its name), with its id
    assert any("binding constraint" in r and "bureau bureau SLOW (SLOW) window" in r
               for r in later["reasons"]), later["reasons"]


def test_contradictory_pins(opts: PlanOptions) -> None:
    est = make_estate([system("A"), system("B"), system("SH", kind="shared-service"),
                       system("C")],
                      [("A", "B", "database"), ("C", "SH", "async")])
    with pytest.raises(PlanError, match=r"contradictory pins --pin 'system A=2' and "
                                        r"--pin 'system B=3'.*move group MG-1"):
        make_plan(est, dataclasses.replace(opts, pins={"A": 2, "B": 3}))
    with pytest.raises(PlanError, match=r"pins vs dependency order.*SH.*wave ≥ 3.*≤ 1"):
        make_plan(est, dataclasses.replace(opts, pins={"C": 1, "SH": 3}))
    with pytest.raises(PlanError, match="both pinned and excluded"):
        make_plan(est, dataclasses.replace(opts, pins={"A": 1}, exclude=("A",)))
    with pytest.raises(PlanError, match="unknown system 'NOPE'"):
        make_plan(est, dataclasses.replace(opts, pins={"NOPE": 1}))


def test_pins_overloading_a_wave(opts: PlanOptions) -> None:
    est = make_estate([system(x) for x in "ABCDE"])
    with pytest.raises(PlanError, match=r"systems per wave: 5 > 4.*pins put too much into wave 2"):
        make_plan(est, dataclasses.replace(opts, pins={x: 2 for x in "ABCDE"}))


def test_pins_and_exclusions_are_honoured(opts: PlanOptions) -> None:
    est = make_estate([system(x) for x in "ABCDE"],
                      [("A", "B", "database")])
    plan = make_plan(est, dataclasses.replace(opts, pins={"B": 3}, exclude=("E",)))
    w = plan.wave_of()
    assert w["A"] == w["B"] == 3 and "E" not in w
    assert {"system": "E", "reason": "excluded by the user (--exclude)"} in plan.excluded
    reasons = next(s for s in plan.systems if s["system"] == "B")["reasons"]
    assert "pinned to wave 3 (--pin)" in reasons


def test_pilot_first_and_criticality_last() -> None:
    est = make_estate([system("L1", criticality="low"), system("L2", criticality="low"),
                       system("M1", criticality="medium"), system("CRIT", criticality="critical"),
                       system("H1", criticality="high"), system("SH", kind="shared-service",
                                                              criticality="low")],
                      [("M1", "SH")])
    plan = make_plan(est, PlanOptions(max_systems=2, pilot_systems=2, pilot_hosts=5))
    w = plan.wave_of()
    assert w["L1"] == w["L2"] == 1 and plan.waves[0]["pilot"]
    assert w["CRIT"] == max(w.values()) and w["H1"] >= w["M1"]
    assert w["SH"] <= w["M1"]


def test_calendar_skips_blackout_dates(opts: PlanOptions) -> None:
    est = make_estate([system("A", "B1")],
                      bureaus=[bureau("B1", 1000, 8, "sat", blackout="2027-01-09")])
    plan = make_plan(est, opts)
    assert plan.waves[0]["start"] == "2027-01-16"
    plan2 = make_plan(est, dataclasses.replace(opts, blackout=(
        __import__("datetime").date(2027, 1, 16),)))
    assert plan2.waves[0]["start"] == "2027-01-23"


def test_few_bureaus_per_wave(opts: PlanOptions) -> None:
    est = make_estate([system(f"S{i}", f"B{i % 3}") for i in range(6)],
                      bureaus=[bureau(f"B{i}") for i in range(3)])
    plan = make_plan(est, dataclasses.replace(opts, max_systems=6, max_bureaus=1))
    assert all(len(w["bureaus"]) == 1 for w in plan.waves)
    assert plan.metrics["waves"] == 3 == plan.metrics["lower_bound_waves"]
    # without a hard limit, waves still prefer one bureau at a time
    plan2 = make_plan(est, dataclasses.replace(opts, max_systems=2))
    assert all(len(w["bureaus"]) == 1 for w in plan2.waves)


def test_mlps_and_dr_tier_placement(opts: PlanOptions) -> None:
    est = make_estate([system("L4", mlps_level=4, network_zone="intranet", dr_tier=3),
                       system("L5", mlps_level=5)])
    plan = make_plan(est, opts)
    row = next(s for s in plan.systems if s["system"] == "L4")
    assert row["zones"] == "intranet-l4"
    assert row["placement"] == "primary;same_city_backup;remote_backup"
    assert plan.excluded == [{"system": "L5", "reason": "no security zone accepts MLPS level 5"}]


def test_not_ready_systems_are_excluded_unless_asked(opts: PlanOptions) -> None:
    est = make_estate([system("OLD")], host_extra={"os": "AIX", "arch": "ppc64"})
    plan = make_plan(est, opts)
    assert plan.excluded[0]["system"] == "OLD" and "not ready" in plan.excluded[0]["reason"]
    assert make_plan(est, dataclasses.replace(opts, include_not_ready=True)).wave_of() == {
        "OLD": 1}


def test_shared_service_cycle_too_large_is_relaxed_or_an_error(opts: PlanOptions) -> None:
    est = make_estate([system("S1", kind="shared-service", hosts=60),
                       system("S2", kind="shared-service", hosts=60)],
                      [("S1", "S2"), ("S2", "S1", "async")])
    plan = make_plan(est, opts)
    assert plan.metrics["relaxed_order"] == 1
    assert any("dependency order relaxed" in r for s in plan.systems for r in s["reasons"])
    with pytest.raises(PlanError, match=r"cycle \(system S1 \(S1\), system S2 \(S2\)\)"):
        make_plan(est, dataclasses.replace(opts, cycles="error"))
    small = make_estate([system("S1", kind="shared-service"),
                         system("S2", kind="shared-service")], [("S1", "S2"), ("S2", "S1")])
    w = make_plan(small, opts).wave_of()
    assert w["S1"] == w["S2"]


def test_dependencies_from_hosts_and_db_ports_count(opts: PlanOptions) -> None:
    est = make_estate([system("A"), system("B")])
    est.set_rows("dependencies", [{"id": "D1", "source_host": "A-h0", "target_host": "B-h0",
                                   "port": 5432, "origin": "observed"}])
    plan = make_plan(est, opts)
    assert [g["systems"] for g in plan.move_groups] == [["A", "B"]]


def test_reasons_name_systems_by_their_names_not_their_ids(opts: PlanOptions) -> None:
    """``plan explain`` read "pulled in by dependencies on s-7365abf92e" for a ledger whose
    system is called 统一身份认证: every reason names a system by its name."""
    named = {"s-7365abf92e": "统一身份认证", "s-0b6f192884": "行政审批 (一期)",
             "s-4f1f97f93a": "【统一门户】网站", "s-secret0001": "涉密 系统"}
    rows = [system(sid) for sid in named]
    for r in rows:
        r["name"] = named[r["id"]]
    rows[-1]["classified"] = True
    est = make_estate(rows, [("s-4f1f97f93a", "s-0b6f192884", "async"),
                             ("s-0b6f192884", "s-7365abf92e", "async"),
                             ("s-0b6f192884", "s-secret0001", "async")])
    plan = make_plan(est, opts)
    reasons = [r for s in plan.systems for r in s["reasons"]]
    assert reasons
    assert not [r for r in reasons if any(sid in r for sid in named)], reasons


def test_pins_overloading_wave_1_say_which_systems_they_pulled_along(
        opts: PlanOptions) -> None:
    """Pinning two consumers to wave 1 brings their shared service along: the error says
    the shared service came with them, not only that wave 1 holds too much."""
    est = make_estate([system("S", kind="shared-service"), system("C1"), system("C2")],
                      [("C1", "S"), ("C2", "S")])
    with pytest.raises(PlanError) as err:
        make_plan(est, dataclasses.replace(opts, max_systems=2, pilot_systems=3,
                                           pins={"C1": 1, "C2": 1}))
    text = str(err.value)
    assert text.startswith("constraint systems per wave: 3 > 2: the pilot and pins put too "
                           "much into wave 1"), text
    assert ("system S (S) comes along: its consumer system C1 (C1) must move by wave 1 "
            "(pinned to wave 1)") in text, text


def test_a_bureau_without_link_or_window_is_named_in_the_notes(opts: PlanOptions) -> None:
    """A bureau whose ledger lacks its link bandwidth or its window hours cannot be
    checked: the plan says so, with how long the copy takes when the link is known —
    before, 3,000 GB over 100 Mbps (83 h) were planned into one wave without a word."""
    est = make_estate([system("A", "NOLINK", data_gb=5000), system("B", "NOWIN", data_gb=3000),
                       system("C", "OK", data_gb=10)],
                      bureaus=[{**bureau("NOLINK", 100, 4, "sun"), "link_mbps": None},
                               {**bureau("NOWIN"), "link_mbps": 100},
                               bureau("OK", 100, 4)])
    plan = make_plan(est, opts)
    note = next(n for n in plan.notes if "not checked" in n)
    assert note.startswith("2 bureaus' windows are not checked: "), note
    assert ("bureau NOLINK (NOLINK): no link bandwidth (专线带宽) in the ledgers; 5,000.0 GB "
            "in wave 1") in note, note
    assert ("bureau NOWIN (NOWIN): no maintenance window (维护窗口) in the ledgers; 3,000.0 "
            "GB in wave 1 take 83.3 h over 100 Mbps at 80 % efficiency") in note, note
    assert "bureau OK" not in note


def test_contradictory_pins_name_the_systems_as_the_cli_takes_them(opts: PlanOptions) -> None:
    """A ledger's ids are hashes: the refusal echoes the pins as the operator typed them
    (names), not ``s-0376574aea=1``."""
    est = make_estate([{**system("s-0376574aea"), "name": "审批系统"},
                       {**system("s-12e73d1d12"), "name": "数据中心库"}],
                      [("s-0376574aea", "s-12e73d1d12", "database")])
    with pytest.raises(PlanError) as err:
        make_plan(est, dataclasses.replace(opts, pins={"s-0376574aea": 1, "s-12e73d1d12": 2}))
    said = str(err.value)
    assert "contradictory pins --pin 审批系统=1 and --pin 数据中心库=2" in said, said
    assert "s-0376574aea=1" not in said and "MG-1: 审批系统" in said, said


def test_many_bureaus_without_link_are_named_up_to_a_few(opts: PlanOptions) -> None:
    """Twelve bureaus without a link bandwidth: the note names the first eight and counts
    the rest (it was one line naming all twelve)."""
    names = [f"B{n:02d}" for n in range(12)]
    est = make_estate([system(f"S{b}", b, data_gb=100) for b in names],
                      bureaus=[{**bureau(b, 100, 4, "sun"), "link_mbps": None} for b in names])
    plan = make_plan(est, opts)
    note = next(n for n in plan.notes if "not checked" in n)
    assert note.startswith("12 bureaus' windows are not checked: "), note
    assert "bureau B07 (B07)" in note and "bureau B08" not in note, note
    assert "; and 4 more bureaus (plan/windows.csv)" in note, note
