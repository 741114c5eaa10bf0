"""The planning flow runs the pure planner under Prefect and leaves the same plan files."""

from __future__ import annotations

from pathlib import Path

from shangyun.planner import explain
from tests.planner.build import make_estate, system


def test_planning_flow_writes_plan_and_assessment(prefect_harness: None, tmp_path: Path) -> None:
    from prefect.artifacts import Artifact

    from flows.planning import planning

    est = make_estate([system("DB", kind="shared-service"), system("A"), system("L",
                                                                                criticality="low")],
                      [("A", "DB", "database")])
    root = est.save(tmp_path / "estate")
    result = planning(str(root), {"start": "2027-01-04", "max_systems": 2})
    assert result["metrics"]["waves"] == 2
    assert [w["systems"] for w in result["waves"]] == [["L"], ["DB", "A"]]
    assert (root / "assessment" / "assessment.yaml").is_file()
    assert explain(root, "A")["wave"] == 2
    art = Artifact.get("plan-summary")
    assert art is not None and "Migration plan" in str(art.data)
