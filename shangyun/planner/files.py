"""The plan as files in the estate's ``plan/`` folder, and ``explain`` that reads them.

``plan.yaml`` (schema_version, options, the estate fingerprint, metrics, waves, the
waves that had run when it was made and its notes), ``waves.csv`` (``ran``: a wave the
journal records as run, kept as it ran), ``windows.csv``, ``move_groups.csv``,
``systems.csv`` (wave, group, reasons joined with `` | ``, DR partners) and
``excluded.csv``. Written all-or-nothing; the person-written ``cutover.yaml`` beside them is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from shangyun.assess.folder import read_meta, write_folder
from shangyun.errors import EstateError, PlanError
from shangyun.estate import Estate
from shangyun.estate.model import META_FILE
from shangyun.planner.plan import PLAN_SCHEMA_VERSION, Plan

FOLDER = "plan"
PLAN_FILE = Path(FOLDER) / "plan.yaml"
SEP = " | "
KEPT = ("cutover.yaml",)
"""Files a person writes into ``plan/`` (the cutover file, docs/cutover.md): a new plan
keeps them. Replaced with the folder, a re-plan deleted the cutover file, and the next
``wave run`` moved the disks only — no freeze, no data copy, no DNS — and read done."""


def write_plan(plan: Plan, estate_dir: str | Path) -> Path:
    """Write ``plan`` into ``estate_dir/plan/`` (replacing an older plan atomically)."""
    meta = {"schema_version": PLAN_SCHEMA_VERSION, "created": plan.created,
            "estate_fingerprint": plan.fingerprint, "options": plan.options,
            "data": plan.data, "metrics": plan.metrics, "ran_waves": list(plan.ran),
            "notes": list(plan.notes),
            "waves": [{k: w[k] for k in ("number", "start", "hosts", "data_gb", "bureaus",
                                         "pilot")} | {"systems": len(w["systems"]),
                                                      "ran": bool(w.get("ran"))}
                      for w in plan.waves]}
    sname, bname = plan.names.get("system", {}), plan.names.get("bureau", {})

    def named(ids: list[str], names: dict[str, str]) -> str:
        return ";".join(names.get(i) or i for i in ids)

    waves = pd.DataFrame([{"wave": w["number"], "start": w["start"], "pilot": w["pilot"],
                           "ran": bool(w.get("ran")),
                           "systems": len(w["systems"]), "hosts": w["hosts"],
                           "data_gb": w["data_gb"], "bureaus": ";".join(w["bureaus"]),
                           "bureau_names": named(w["bureaus"], bname),
                           "move_groups": ";".join(w["move_groups"]),
                           "system_names": named(w["systems"], sname)} for w in plan.waves],
                         columns=["wave", "start", "pilot", "ran", "systems", "hosts",
                                  "data_gb", "bureaus", "bureau_names", "move_groups",
                                  "system_names"])
    windows = pd.DataFrame([{"wave": w["number"], **win,
                             "bureau_name": bname.get(win["bureau_id"], "")}
                            for w in plan.waves for win in w["windows"]],
                           columns=["wave", "bureau_id", "bureau_name", "date", "start", "hours",
                                    "capacity_gb", "data_gb", "estimated_hours", "fits"])
    groups = pd.DataFrame([{**g, "systems": ";".join(g["systems"]),
                            "system_names": named(g["systems"], sname)}
                           for g in plan.move_groups],
                          columns=["id", "wave", "systems", "system_names", "hosts", "data_gb",
                                   "split_from", "cut"])
    systems = pd.DataFrame([{**s, "name": sname.get(s["system"], ""),
                             "bureau_name": bname.get(s["bureau_id"], ""),
                             "reasons": SEP.join(s["reasons"])} for s in plan.systems],
                           columns=["system", "name", "wave", "start", "move_group", "bureau_id",
                                    "bureau_name", "hosts", "data_gb", "criticality", "zones",
                                    "placement", "strong_dependencies", "reasons",
                                    "dr_partners"])
    excluded = pd.DataFrame([{**e, "name": sname.get(e["system"], "")} for e in plan.excluded],
                            columns=["system", "name", "reason"])
    return write_folder(Path(estate_dir) / FOLDER, {
        "plan.yaml": meta, "waves.csv": waves, "windows.csv": windows,
        "move_groups.csv": groups, "systems.csv": systems, "excluded.csv": excluded},
        keep=KEPT)


def no_such_wave(number: int, waves: Iterable[int]) -> PlanError:
    """The one error for a wave number the plan does not have (``wave run 0``, ``wave
    status 99``, ``runbook 8`` on a plan of 7 waves): it names the plan's waves."""
    known = sorted(set(waves))
    shown = ", ".join(str(n) for n in known[:12]) + (" …" if len(known) > 12 else "")
    return PlanError(f"there is no wave {number} in the plan (its waves: {shown or 'none'}); "
                     "check the number, or re-plan with 'shangyun plan'")


def read_plan_meta(estate_dir: str | Path) -> dict[str, Any]:
    """``plan.yaml`` of the estate: the one reader of that file (the wave engine, the
    runbook, the report and ``plan explain`` all call it). Its ``schema_version`` is
    checked and it must hold a ``waves`` list; :class:`EstateError` names the file."""
    path = Path(estate_dir) / PLAN_FILE
    if not path.is_file():
        if not (Path(estate_dir) / META_FILE).is_file():
            # a folder that is no estate (a wrong --estate) says so, not "run shangyun
            # plan" — a command that fails there too (a committed save not rolled forward
            # yet has its estate.yaml staged: the load reads it, then no plan is said)
            Estate.load(estate_dir, check=False)
        raise EstateError(f"{path}: no plan yet; run 'shangyun plan --estate {estate_dir}'")
    doc = read_meta(path, PLAN_SCHEMA_VERSION)
    if not isinstance(doc.get("waves"), list):
        raise EstateError(f"{path}: expected a mapping with a 'waves' list")
    return doc


def plan_matches(estate: Estate, estate_dir: str | Path) -> bool:
    """True when the plan in ``estate_dir`` was made from exactly this estate's content."""
    return read_plan_meta(estate_dir).get("estate_fingerprint") == estate.fingerprint()


def _window(root: Path, row: pd.Series) -> dict[str, Any] | None:
    """The window ``row``'s system moves in (its bureau's in its wave, ``windows.csv``):
    ``{"bureau", "date", "start", "hours"}``, or None when the plan has none for it."""
    path = root / "windows.csv"
    if not path.exists() or "bureau_id" not in row:
        return None
    wins = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    hit = wins[(wins["wave"] == str(row["wave"])) & (wins["bureau_id"] == row["bureau_id"])]
    if not len(hit):
        return None
    w = hit.iloc[0]
    return {"bureau": w.get("bureau_name") or w["bureau_id"], "date": w["date"],
            "start": w["start"], "hours": float(w["hours"]) if w["hours"] else None}


def explain(estate_dir: str | Path, system: str) -> dict[str, Any]:
    """Why ``system`` is in its wave (or why it is excluded), read from the plan files.

    Returns ``{"system", "wave", "start", "window", "move_group", "reasons": [...],
    "excluded": bool, "stale": bool, "dr_partners"}`` (``dr_partners``: its DR pairs in a
    few words, ``standby of 统一身份认证平台 (wave 3)``, "" when none; ``start``: the
    wave's first day; ``window``: the system's own, its bureau's window in that wave:
    ``{"bureau", "date", "start", "hours"}``); ``stale`` is true when the estate changed
    since the plan was made.
    """
    meta = read_plan_meta(estate_dir)
    root = Path(estate_dir) / FOLDER
    estate = Estate.load(estate_dir, check=False)
    stale = meta.get("estate_fingerprint") != estate.fingerprint()
    systems = pd.read_csv(root / "systems.csv", dtype=str, keep_default_na=False,
                          encoding="utf-8-sig")
    hit = systems[systems["system"] == system]
    if len(hit):
        row = hit.iloc[0]
        return {"system": system, "wave": int(row["wave"]), "start": row["start"],
                "window": _window(root, row), "move_group": row["move_group"],
                "excluded": False, "stale": stale,
                "reasons": [x for x in row["reasons"].split(SEP) if x],
                "dr_partners": row.get("dr_partners", "")}
    excluded = pd.read_csv(root / "excluded.csv", dtype=str, keep_default_na=False,
                           encoding="utf-8-sig")
    hit = excluded[excluded["system"] == system]
    if len(hit):
        return {"system": system, "wave": None, "start": None, "window": None,
                "move_group": None,
                "excluded": True, "stale": stale, "reasons": [hit.iloc[0]["reason"]],
                "dr_partners": ""}
    raise PlanError(f"{root / 'systems.csv'}: system {system!r} is not in the plan "
                    "(unknown system, or added after the plan was made)")
