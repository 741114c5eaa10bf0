"""Read the stage files a runbook or report needs: estate, plan tables, assessment.

Every reader returns plain rows (lists of dicts); a missing optional file gives ``[]`` or
``None``, a malformed one raises :class:`shangyun.errors.EstateError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from shangyun.assess.assessment import ASSESSMENT_SCHEMA_VERSION
from shangyun.assess.folder import read_meta
from shangyun.errors import EstateError
from shangyun.planner.files import PLAN_FILE, no_such_wave, read_plan_meta


def read_csv_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a stage CSV (UTF-8 with BOM) as text dicts; ``[]`` when it is absent."""
    if not path.is_file():
        return []
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise EstateError(f"{path}: cannot be read as CSV: {exc}") from exc
    return df.to_dict(orient="records")


def to_float(value: Any, default: float = 0.0) -> float:
    """A number from a CSV cell (blank or bad: ``default``)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def plan_files(root: Path) -> dict[str, Any]:
    """The planner's files: ``plan`` (yaml), ``waves``, ``windows``, ``systems``,
    ``move_groups``, ``excluded`` (rows)."""
    folder = root / "plan"
    return {"plan": read_plan_meta(root) if (root / PLAN_FILE).is_file() else None,
            "waves": read_csv_rows(folder / "waves.csv"),
            "windows": read_csv_rows(folder / "windows.csv"),
            "systems": read_csv_rows(folder / "systems.csv"),
            "move_groups": read_csv_rows(folder / "move_groups.csv"),
            "excluded": read_csv_rows(folder / "excluded.csv")}


def assessment_files(root: Path) -> dict[str, Any]:
    """The assessment: ``meta`` (yaml, None if not assessed) and ``systems`` rows."""
    folder = root / "assessment"
    meta = folder / "assessment.yaml"
    return {"meta": read_meta(meta, ASSESSMENT_SCHEMA_VERSION) if meta.is_file() else None,
            "systems": read_csv_rows(folder / "systems.csv")}


def wave_of_systems(plan: dict[str, Any]) -> dict[str, int]:
    """System id -> its planned wave (from ``move_groups.csv``, else ``plan/systems.csv``)."""
    out: dict[str, int] = {}
    for g in plan["move_groups"]:
        for sid in str(g.get("systems", "")).split(";"):
            if sid and g.get("wave"):
                out[sid] = int(to_float(g["wave"]))
    for s in plan["systems"]:
        if s.get("system") and s.get("wave") and s["system"] not in out:
            out[s["system"]] = int(to_float(s["wave"]))
    return out


def refuse_unplanned(root: Path, number: int) -> None:
    """Raise :class:`PlanError` when the estate at ``root`` has a plan and wave ``number`` is
    not in it, naming the plan's waves (``wave status 99`` or ``wave finalize 0`` on a plan
    of 7 waves is a typo, not a wave waiting to run). Without a plan, nothing is said."""
    waves = sorted(set(wave_of_systems(plan_files(Path(root))).values()))
    if waves and number not in waves:
        raise no_such_wave(number, waves)


__all__ = ["assessment_files", "plan_files", "read_csv_rows", "refuse_unplanned", "to_float",
           "wave_of_systems"]
