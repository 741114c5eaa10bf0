"""Read the stage files a runbook or report needs: estate, plan tables, assessment.

Every reader returns plain rows (lists of dicts); a missing optional file gives ``[]`` or
``None``, a malformed one raises :class:`shangyun.errors.EstateError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from shangyun.errors import EstateError


def read_csv_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a stage CSV (UTF-8 with BOM) as text dicts; ``[]`` when it is absent."""
    if not path.is_file():
        return []
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise EstateError(f"{path}: cannot be read as CSV: {exc}") from exc
    return df.to_dict(orient="records")


def read_yaml(path: Path) -> dict[str, Any] | None:
    """A stage's YAML mapping, or None when the file is absent."""
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EstateError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise EstateError(f"{path}: expected a mapping at the top level")
    return doc


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
    return {"plan": read_yaml(folder / "plan.yaml"),
            "waves": read_csv_rows(folder / "waves.csv"),
            "windows": read_csv_rows(folder / "windows.csv"),
            "systems": read_csv_rows(folder / "systems.csv"),
            "move_groups": read_csv_rows(folder / "move_groups.csv"),
            "excluded": read_csv_rows(folder / "excluded.csv")}


def assessment_files(root: Path) -> dict[str, Any]:
    """The assessment: ``meta`` (yaml, None if not assessed) and ``systems`` rows."""
    folder = root / "assessment"
    return {"meta": read_yaml(folder / "assessment.yaml"),
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


__all__ = ["assessment_files", "plan_files", "read_csv_rows", "read_yaml", "to_float",
           "wave_of_systems"]
