"""Read one wave of the plan (``<estate>/plan/plan.yaml``) together with the estate.

The planner (:mod:`shangyun.planner.files`) writes ``plan.yaml`` (the estate fingerprint)
and ``move_groups.csv`` (``id``, ``wave``, ``systems`` joined with ``;``), in wave order;
that is what is read when it exists. Without ``move_groups.csv``, the waves may be written
inline in ``plan.yaml`` (hand-made plans, see ``docs/wave.md``)::

    schema_version: 1                 # checked: another version is refused
    estate_fingerprint: <sha256 of the estate's tables when the plan was made>
    move_groups:                      # optional: id -> systems
      - {id: mg-01, systems: [sys-001, sys-002]}
    waves:
      - number: 1                     # or "wave" / "id"
        move_groups: [mg-01]          # ids, or inline {id, systems}
        systems: [sys-003]            # optional: systems not in a named group

A system without a named move group forms a group of its own (``mg:<system id>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from shangyun.errors import EstateError, PlanError
from shangyun.estate import Estate
from shangyun.planner.files import PLAN_FILE, no_such_wave, read_plan_meta
from shangyun.wave.model import SystemWork, WaveWork, estate_index, system_work


def _wave_number(entry: dict[str, Any], index: int) -> int:
    for key in ("number", "wave", "id"):
        if key in entry:
            text = str(entry[key]).lower().removeprefix("wave-").removeprefix("wave")
            try:
                return int(text)
            except ValueError:
                break
    return index + 1


def wave_groups(plan: dict[str, Any], number: int, file: str = "plan.yaml") -> list[
        tuple[str, list[str]]]:
    """The (move group id, system ids) of wave ``number``, in plan order."""
    named: dict[str, list[str]] = {}
    for i, g in enumerate(plan.get("move_groups") or []):
        if not isinstance(g, dict) or "id" not in g:
            raise EstateError(f"{file}: move_groups[{i}] needs an 'id' and 'systems'")
        named[str(g["id"])] = [str(s) for s in g.get("systems") or []]
    for i, entry in enumerate(plan["waves"]):
        if not isinstance(entry, dict):
            raise EstateError(f"{file}: waves[{i}] is not a mapping")
        if _wave_number(entry, i) != number:
            continue
        groups: list[tuple[str, list[str]]] = []
        for g in entry.get("move_groups") or []:
            if isinstance(g, dict):
                groups.append((str(g.get("id", f"mg-{len(groups) + 1}")),
                               [str(s) for s in g.get("systems") or []]))
            elif str(g) in named:
                groups.append((str(g), named[str(g)]))
            else:
                raise EstateError(f"{file}: wave {number} names move group {g!r}, "
                                  "which move_groups does not define")
        grouped = {s for _, ss in groups for s in ss}
        for s in entry.get("systems") or []:
            sid = str(s["id"] if isinstance(s, dict) else s)
            if sid not in grouped:
                owner = next((gid for gid, ss in named.items() if sid in ss), f"mg:{sid}")
                groups.append((owner, [sid]))
        return groups
    known = [_wave_number(e, i) for i, e in enumerate(plan["waves"]) if isinstance(e, dict)]
    raise no_such_wave(number, known)


def csv_groups(estate_dir: str | Path, number: int) -> list[tuple[str, list[str]]] | None:
    """The move groups of wave ``number`` from the planner's ``move_groups.csv`` (file
    order), or None when there is no such file."""
    path = Path(estate_dir) / "plan" / "move_groups.csv"
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for col in ("id", "wave", "systems"):
        if col not in df.columns:
            raise EstateError(f"{path}: column {col!r} is missing")
    groups: list[tuple[str, list[str]]] = []
    waves: set[int] = set()
    for i, row in enumerate(df.to_dict(orient="records")):
        try:
            w = int(float(row["wave"]))
        except ValueError:
            raise EstateError(f"{path}, row {i + 2}, column wave: {row['wave']!r} is not "
                              "a wave number") from None
        waves.add(w)
        if w == number:
            groups.append((row["id"], [s for s in row["systems"].split(";") if s]))
    if not groups:
        raise no_such_wave(number, waves)
    return groups


def load_wave(estate_dir: str | Path, number: int, *, only: str | None = None) -> WaveWork:
    """Wave ``number`` of the estate's plan with every system's hosts and disks.

    ``only`` keeps one system (by id or name). Raises :class:`PlanError` for an unknown
    wave or system and :class:`EstateError` for a host whose disk has no path.
    """
    root = Path(estate_dir)
    plan = read_plan_meta(root)
    estate = Estate.load(root, check=False)
    file = str(root / PLAN_FILE)
    groups = csv_groups(root, number)
    if groups is None:
        groups = wave_groups(plan, number, file)
    ix = estate_index(estate)
    systems, bureaus, hosts_by_sys, disks_by_host = ix.systems, ix.bureaus, ix.hosts, ix.disks
    out: list[SystemWork] = []
    for gid, sids in groups:
        for sid in sids:
            if sid not in systems:
                raise PlanError(f"{file}: wave {number} names system {sid!r}, "
                                "which is not in systems.csv")
            out.append(system_work(systems[sid], bureaus, hosts_by_sys.get(sid, []),
                                   disks_by_host, gid))
    if only is not None:
        out = [s for s in out if only in (s.id, s.name)]
        if not out:
            raise PlanError(f"{file}: system {only!r} is not in wave {number}")
    return WaveWork(number=number, estate_dir=str(root),
                    plan_fingerprint=str(plan.get("estate_fingerprint")
                                         or plan.get("fingerprint") or ""),
                    estate_fingerprint=estate.fingerprint(), systems=tuple(out),
                    datastore_roots=estate.datastore_roots(root))
