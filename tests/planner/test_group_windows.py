"""A move group whose systems sit in bureaus with different maintenance windows.

The systems of a move group must move together (a database and its application), but each
bureau moves on its own window day within the wave: 数据中心库 (二局, Wednesday) and 审批系统
(一局, Saturday) in one move group were cut over three days apart, while ``plan explain``
said "moves with 数据中心库" and gave both the wave's first day as their start. The plan
says when each system moves and warns about a group its windows split."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.planner import PlanOptions, make_plan
from tests.planner.build import bureau, make_estate, system


def _estate(day_b2: str):
    return make_estate(
        [{**system("s-0376574aea", "b-1"), "name": "审批系统"},
         {**system("s-12e73d1d12", "b-2"), "name": "数据中心库"}],
        [("s-0376574aea", "s-12e73d1d12", "database")],
        bureaus=[{**bureau("b-1", 100, 6, "sat"), "name": "一局"},
                 {**bureau("b-2", 1000, 4, day_b2), "name": "二局"}])


@pytest.mark.parametrize(("day_b2", "apart"), [("wed", 3), ("fri", 1), ("sat", 0)])
def test_a_group_split_by_windows_is_named_with_both_dates(day_b2: str, apart: int) -> None:
    plan = make_plan(_estate(day_b2), PlanOptions(start=dt.date(2027, 1, 4)))
    by = {s["system"]: s for s in plan.systems}
    app, db = by["s-0376574aea"], by["s-12e73d1d12"]
    assert app["move_group"] == db["move_group"] and app["wave"] == db["wave"]
    text = " | ".join(app["reasons"])
    if apart:
        assert ("its move group moves in different windows: 一局 2027-01-09 22:00 (审批系统), "
                f"二局 {(dt.date(2027, 1, 9) - dt.timedelta(days=apart)).isoformat()} 22:00 "
                f"(数据中心库) — {apart} day{'s' if apart > 1 else ''} apart") in text, text
    else:
        assert "different windows" not in text, text


def test_explain_gives_the_systems_own_window(tmp_path: Path) -> None:
    _estate("wed").save(tmp_path / "est")
    res = CliRunner().invoke(main, ["plan", "--estate", str(tmp_path / "est"), "--start",
                                    "2027-01-04"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["plan", "explain", "审批系统", "--estate",
                                    str(tmp_path / "est")])
    said = " ".join(res.output.split())
    assert "moves 2027-01-09 22:00 in 一局's window (6 h)" in said, said
    info = json.loads(CliRunner().invoke(main, ["plan", "explain", "数据中心库", "--estate",
                                                str(tmp_path / "est"), "--json"]).output)
    assert info["window"] == {"bureau": "二局", "date": "2027-01-06", "start": "22:00",
                              "hours": 4.0}, info
