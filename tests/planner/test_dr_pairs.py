"""DR pairs: a primary and its disaster-recovery standby never share a wave (nor a move
group); the standby moves first unless the dependency order or the pins say otherwise."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.errors import PlanError
from shangyun.estate import Estate
from shangyun.planner import PlanOptions, explain, make_plan, write_plan
from shangyun.planner.history import RanWave, RanWaves
from shangyun.runbook import render_runbook
from tests.planner.build import bureau, make_estate, system

IAM = "统一身份认证平台"
IAM_DR = "统一身份认证平台灾备"


def _iam(**standby: object) -> list[dict[str, object]]:
    """The outside team's case: the identity platform, its DR standby, and a consumer."""
    return [system("IAM", criticality="high", name=IAM),
            system("IAMDR", criticality="medium", name=IAM_DR, **standby),
            system("OA", criticality="low", name="办公系统")]


def test_the_standby_moves_first_in_another_wave_and_the_plan_says_why(
        tmp_path: Path, opts: PlanOptions) -> None:
    est = make_estate(_iam(dr_primary="IAM"), [("OA", "IAM", "async")])
    # without the pair the planner packs both into one wave (the bug the outside team saw)
    free = make_estate(_iam(), [("OA", "IAM", "async")])
    assert len(set(make_plan(free, opts).wave_of().values())) == 1
    plan = make_plan(est, opts)
    wave = plan.wave_of()
    assert wave["IAMDR"] < wave["IAM"]
    write_plan(plan, est.save(tmp_path / "e"))
    standby = explain(tmp_path / "e", "IAMDR")
    assert standby["dr_partners"] == f"standby of {IAM} (wave {wave['IAM']})"
    assert any(r.startswith(f"DR pair: DR standby of {IAM} (wave {wave['IAM']}; declared by "
                            "the estate (对应主系统)); it moves before its primary — standby "
                            "first") for r in standby["reasons"])
    primary = explain(tmp_path / "e", "IAM")
    assert primary["dr_partners"] == f"standby {IAM_DR} (wave {wave['IAMDR']})"
    assert any(r.startswith(f"DR pair: its DR standby {IAM_DR} moves in wave "
                            f"{wave['IAMDR']}, before it") for r in primary["reasons"])
    # systems.csv: the new column comes last, the old ones keep their order
    with open(tmp_path / "e" / "plan" / "systems.csv", encoding="utf-8-sig") as f:
        header = next(csv.reader(f))
    assert header[-2:] == ["reasons", "dr_partners"]


def test_a_strong_dependency_binding_the_pair_is_refused_naming_both(
        opts: PlanOptions) -> None:
    est = make_estate(_iam(dr_primary="IAM"), [("IAMDR", "OA", "database"),
                                               ("OA", "IAM", "sync")])
    with pytest.raises(PlanError) as e:
        make_plan(est, opts)
    text = str(e.value)
    assert text.startswith("constraint DR pair: a primary and its DR standby never move "
                           "together")
    assert f"{IAM_DR} (IAMDR) is the DR standby of {IAM} (IAM)" in text
    assert f"({IAM_DR} (IAMDR) — 办公系统 (OA) — {IAM} (IAM))" in text
    # only database dependencies bind: the pair moves apart again
    plan = make_plan(est, PlanOptions(**{**opts.__dict__, "strong_types": ("database",)}))
    assert plan.wave_of()["IAMDR"] != plan.wave_of()["IAM"]


def test_pins_of_the_pair_to_one_wave_are_refused(opts: PlanOptions) -> None:
    est = make_estate(_iam(dr_primary="IAM"))
    with pytest.raises(PlanError, match=r"^constraint DR pair: --pin .*=2 and --pin .*=2: "):
        make_plan(est, PlanOptions(**{**opts.__dict__, "pins": {"IAM": 2, "IAMDR": 2}}))
    # pins in the other order are followed, and the reasons say the pins decided
    plan = make_plan(est, PlanOptions(**{**opts.__dict__, "pins": {"IAM": 1, "IAMDR": 2}}))
    assert plan.wave_of() == {"IAM": 1, "IAMDR": 2, "OA": 1}
    why = {s["system"]: s["reasons"] for s in plan.systems}
    assert any("primary first: the pins put" in r for r in why["IAMDR"])


def test_the_dependency_order_can_put_the_primary_first(opts: PlanOptions) -> None:
    # the standby uses its primary as a shared service: it cannot move before it
    est = make_estate([system("P", kind="shared-service"), system("S", dr_primary="P")],
                      [("S", "P", "async")])
    plan = make_plan(est, opts)
    assert plan.wave_of()["P"] < plan.wave_of()["S"]
    why = {s["system"]: s["reasons"] for s in plan.systems}
    assert any("primary first: the dependency order puts system P before system S"
               in r for r in why["S"])


def test_a_pair_declared_on_the_command_line(tmp_path: Path) -> None:
    est = make_estate(_iam(), bureaus=[bureau("B1", 1000, 8, "sat")])
    folder = est.save(tmp_path / "e")
    res = CliRunner().invoke(main, ["plan", "--estate", str(folder), "--start", "2027-01-04",
                                    "--pilot-systems", "0", "--dr-pair", f"{IAM_DR}={IAM}",
                                    "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    waves = {s: w["number"] for w in json.loads(res.output)["waves"] for s in w["systems"]}
    assert waves["IAMDR"] < waves["IAM"]
    # recorded in plan.yaml as given, and read back (the Prefect flow takes options so)
    options = yaml.safe_load((folder / "plan" / "plan.yaml").read_text("utf-8"))["options"]
    assert options["dr_pairs"] == [["IAMDR", "IAM"]]
    assert PlanOptions.from_dict(options).dr_pairs == (("IAMDR", "IAM"),)
    res = CliRunner().invoke(main, ["plan", "explain", "IAMDR", "--estate", str(folder)],
                             catch_exceptions=False)
    assert "declared by --dr-pair" in res.output
    bad = CliRunner().invoke(main, ["plan", "--estate", str(folder), "--dr-pair", IAM])
    assert bad.exit_code != 0 and "is not STANDBY=PRIMARY" in bad.output


def test_a_partner_that_does_not_move_is_named(opts: PlanOptions) -> None:
    est = make_estate([system("P"), system("S", dr_primary="P", classified=True)])
    plan = make_plan(est, opts)
    (p,) = plan.systems
    assert p["dr_partners"] == "standby system S (does not move)"
    assert any(r.startswith("DR pair: its DR standby system S, which does not move "
                            "(classified") for r in p["reasons"])


def test_an_estate_from_before_the_column_loads_with_its_fingerprint(tmp_path: Path) -> None:
    est = make_estate(_iam())
    folder = est.save(tmp_path / "e")
    before = Estate.load(folder).fingerprint()
    path = folder / "systems.csv"
    old = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    old.drop(columns=["dr_primary"]).to_csv(path, index=False, encoding="utf-8-sig")
    again = Estate.load(folder)
    assert again.fingerprint() == before
    assert all(not r["dr_primary"] for r in again.rows("systems"))


def test_a_system_cannot_be_its_own_standby() -> None:
    est = make_estate(_iam())
    rows = est.rows("systems")
    rows[0]["dr_primary"] = rows[0]["id"]
    est.set_rows("systems", rows)
    problems = [p for p in est.validate() if p.column == "dr_primary"]
    assert [p.message for p in problems] == ["a system cannot be the DR standby of itself"]


def test_the_runbook_names_the_dr_partner_and_its_wave(tmp_path: Path) -> None:
    est = make_estate(_iam(dr_primary="IAM"), bureaus=[bureau("B1", 1000, 8, "sat")])
    root = est.save(tmp_path / "e")
    plan = make_plan(est, PlanOptions(pilot_systems=0))
    write_plan(plan, root)
    w = plan.wave_of()
    standby_md, _ = render_runbook(root, w["IAMDR"], "md", "en")
    assert f"DR partner: DR standby of {IAM} (in wave {w['IAM']})" in standby_md
    primary_html, _ = render_runbook(root, w["IAM"], "html", "zh")
    assert f"灾备对端: 灾备系统 {IAM_DR}（在第 {w['IAMDR']} 波次）" in primary_html
    other, _ = render_runbook(root, w["OA"], "md", "en")
    assert other.count("DR partner") == (1 if w["OA"] in (w["IAM"], w["IAMDR"]) else 0)


def test_a_re_plan_names_the_partner_that_moved_in_a_wave_that_ran(
        opts: PlanOptions) -> None:
    est = make_estate(_iam(dr_primary="IAM"))
    ran = RanWaves({1: RanWave(1, {"IAMDR": "done"}, planned_start="2027-01-04")})
    plan = make_plan(est, opts, history=ran)
    wave = plan.wave_of()
    assert wave["IAMDR"] == 1 and wave["IAM"] >= 2
    (iam,) = [s for s in plan.systems if s["system"] == "IAM"]
    assert iam["dr_partners"] == f"standby {IAM_DR} (wave 1, ran)"
    assert f"DR pair: its DR standby {IAM_DR}, which moved in wave 1 (it ran there): no " \
           "wave holds both" in iam["reasons"]
