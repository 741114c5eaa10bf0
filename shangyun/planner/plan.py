"""``make_plan``: estate + options → move groups, waves, reasons (pure, no I/O).

The pipeline: :func:`~shangyun.planner.inputs.build_input` (what moves, what is excluded),
:func:`~shangyun.planner.groups.move_groups` (networkx components + community detection),
:func:`~shangyun.planner.order.build_units` (dependency order, pins),
:func:`~shangyun.planner.waves.schedule` (pilot, list scheduling, local search) and
:func:`~shangyun.planner.calendar.schedule_dates` (windows and blackout dates).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shangyun.assess.catalog import Catalog
from shangyun.assess.constraints import CLASSIFIED_REASON
from shangyun.errors import PlanError
from shangyun.estate import Estate
from shangyun.estate.names import command_arg, names_of, readable
from shangyun.planner.calendar import schedule_dates
from shangyun.planner.capacity import Limits
from shangyun.planner.drpairs import DrOrder, check_groups, order_pairs, partners
from shangyun.planner.drpairs import reasons as dr_reasons
from shangyun.planner.groups import MoveGroup, move_groups
from shangyun.planner.history import RanWaves
from shangyun.planner.inputs import CRITICALITY_RANK, PlanInput, build_input, held_facts
from shangyun.planner.options import PlanOptions
from shangyun.planner.order import INF, Unit, _topo, apply_pins, build_units
from shangyun.planner.timing import TimeModel
from shangyun.planner.waves import Schedule, schedule, unit_adjacency
from shangyun.wave.builder import wave_steps
from shangyun.wave.classified import classified_ids, way_home
from shangyun.wave.estimate import estimate_wave, human_duration, window_verdict
from shangyun.wave.model import WaveWork, estate_index, system_work
from shangyun.wave.steps import RunOptions
from shangyun.words import counted, verb

PLAN_SCHEMA_VERSION = 1


@dataclass
class Plan:
    """A plan: waves, move groups, exclusions, metrics and one explanation per system."""

    waves: list[dict[str, Any]]
    move_groups: list[dict[str, Any]]
    excluded: list[dict[str, str]]
    metrics: dict[str, Any]
    systems: list[dict[str, Any]]
    options: dict[str, Any]
    fingerprint: str
    #: id → name of the estate's systems and bureaus, for the files people open
    names: dict[str, dict[str, str]] = field(default_factory=dict)
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC)
                         .replace(microsecond=0).isoformat())
    #: the waves the journal records as run (kept as they ran; new systems come after)
    ran: list[int] = field(default_factory=list)
    #: what a reader of the plan must know about it as a whole (no pilot wave, or pins
    #: beyond its size; a re-plan: which waves ran, where new systems start, which
    #: systems are planned again)
    notes: list[str] = field(default_factory=list)
    #: the data files (security zones, support matrix) the plan read: a folder, or the
    #: packaged ``shangyun/data``
    data: str = "shangyun/data"

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape: waves (``ran``: a wave the journal records as run),
        move_groups, excluded, metrics, the waves that ran and the plan's notes."""
        return {
            "waves": [{k: w[k] for k in ("number", "start", "systems", "hosts", "data_gb",
                                         "bureaus")} | {"ran": bool(w.get("ran"))}
                      for w in self.waves],
            "ran_waves": list(self.ran), "notes": list(self.notes),
            "move_groups": [{"id": g["id"], "systems": g["systems"]} for g in self.move_groups],
            "excluded": [{"system": e["system"], "reason": e["reason"]} for e in self.excluded],
            "metrics": {k: self.metrics[k] for k in ("waves", "cut_dependencies",
                                                     "lower_bound_waves")},
        }

    def warnings(self, today: dt.date) -> list[str]:
        """What a reader of this plan must be told: waves starting before ``today``, and
        wave numbers that are skipped (a pin names a wave number, so pinning past the last
        wave leaves empty waves in between)."""
        out: list[str] = []
        past = [w for w in self.waves if not w.get("ran") and w["start"]
                and dt.date.fromisoformat(w["start"]) < today]
        if past:
            out.append(f"{counted(len(past), 'wave')} {verb(len(past), 'starts', 'start')} "
                       f"in the past (wave {past[0]['number']} on "
                       f"{past[0]['start']}, today is {today.isoformat()}); pass --start")
        numbers = [w["number"] for w in self.waves]
        last_ran = max(self.ran, default=0)
        never = sorted(set(range(1, last_ran)) - set(numbers))
        if never:
            out.append(f"{verb(len(never), 'wave', 'waves')} {', '.join(map(str, never))} "
                       f"never ran but wave {last_ran} did: "
                       f"{verb(len(never), 'it stays', 'they stay')} empty, new systems start "
                       f"at wave {last_ran + 1}")
        gaps = sorted(set(range(last_ran + 1, max(numbers, default=0) + 1)) - set(numbers))
        if gaps:
            names = self.names.get("system", {})
            pinned = sorted(f"{readable(s, names)} → wave {n}"
                            for s, n in (self.options.get("pins") or {}).items())
            span = f"{gaps[0]}" if len(gaps) == 1 else f"{gaps[0]}–{gaps[-1]}" \
                if gaps[-1] - gaps[0] + 1 == len(gaps) else ", ".join(map(str, gaps))
            out.append(f"{verb(len(gaps), 'wave', 'waves')} {span} "
                       f"{verb(len(gaps), 'is', 'are')} empty because of the pins "
                       f"({', '.join(pinned) or 'none'}): a pin names a wave number; pin to "
                       f"wave {gaps[0]} or lower to close the gap")
        return out

    def wave_of(self) -> dict[str, int]:
        """System id → wave number for every planned system."""
        return {s["system"]: s["wave"] for s in self.systems}


def make_plan(estate: Estate, options: PlanOptions | None = None,
              catalog: Catalog | None = None, history: RanWaves | None = None,
              estate_dir: str | Path | None = None) -> Plan:
    """Plan the migration of ``estate``; raises :class:`PlanError` when infeasible.

    ``history`` (:func:`shangyun.planner.history.ran_waves`: the journal) makes this a
    re-plan: every wave that has run keeps the systems it holds and takes nothing new;
    every other system — new, never run, or rolled back or refused where it ran — goes
    into waves numbered on from the last wave that ran.

    Each wave's time per bureau is estimated as the runbook estimates it
    (:func:`shangyun.wave.estimate.estimate_wave` on the wave engine's steps; with
    ``estate_dir``, the folder ``estate`` was read from, the steps of its
    ``plan/cutover.yaml`` count too): every window gets
    ``estimated_hours`` and ``fits``, and a window the estimate overruns is named in the
    plan's notes."""
    opts = options or PlanOptions()
    ran = history or RanWaves()
    known = {str(r["id"]) for r in estate.rows("systems")}
    held = {s: w for s, w in ran.held().items() if s in known}
    try:
        run_opts = _check_ran(estate, opts, ran, held)
        inp = build_input(estate, run_opts, catalog, held)
        if not inp.systems and not inp.excluded and not held:
            raise PlanError("nothing to plan: the estate has no systems (import ledgers with "
                            "'shangyun inventory import' or run 'shangyun discover')")
        timing = TimeModel(estate, inp, run_opts, str(estate_dir or ""))
        limits = Limits(inp, run_opts, timing=timing)
        groups = move_groups(inp, limits, allow_split=opts.allow_split, seed=opts.seed)
        timing.set_groups([g.members for g in groups])
        check_groups(inp, groups, opts.strong_types)
        units, u_of_sys = build_units(inp, groups, limits, opts.order, opts.cycles)
        apply_pins(inp, units, u_of_sys, groups, run_opts.pins)
        dr_orders = order_pairs(inp, units, u_of_sys, ran.last + 1)
        adj = unit_adjacency(inp, u_of_sys)
        sched = schedule(inp, units, limits, run_opts, adj, first_wave=ran.last + 1,
                         ran_note=_ran_sentence(ran))
    except PlanError as e:
        raise PlanError(_named(str(e), estate)) from None
    plan = _assemble(estate, inp, opts, limits, groups, units, u_of_sys, sched, ran,
                     str(estate_dir or ""), dr_orders)
    plan.data = catalog.source if catalog is not None else "shangyun/data"
    return plan


def _ran_sentence(ran: RanWaves) -> str:
    """``waves 1–2 have run; new systems start at wave 3`` ("" when nothing ran)."""
    if not ran.waves:
        return ""
    verb = "has" if len(ran.waves) == 1 else "have"
    return f"{ran.span()} {verb} run; new systems start at wave {ran.last + 1}"


def _check_ran(estate: Estate, opts: PlanOptions, ran: RanWaves,
               held: dict[str, int]) -> PlanOptions:
    """The options a re-plan runs with: a pin of a system a wave that ran holds, to that
    very wave, is dropped (it stays there anyway); any other pin into a wave that ran, a
    pin moving a held system, or an exclusion of one is a :class:`PlanError` naming the
    system and the wave."""
    if not ran.waves:
        return opts
    names = names_of(estate, "system")
    first = ran.last + 1
    pins: dict[str, int] = {}
    for sid, wave in opts.pins.items():
        arg = command_arg("system", sid, names, f"={wave}")
        if sid in held:
            if wave == held[sid]:
                continue
            state = ran.waves[held[sid]].systems[sid].replace("_", " ")
            raise PlanError(
                f"constraint pins: --pin {arg}: {sid} ran in wave {held[sid]} ({state}) and "
                f"stays there: a wave that has run keeps its systems; drop the pin (to move "
                f"it again, roll it back first: shangyun wave rollback {held[sid]} --system "
                f"{command_arg('system', sid, names)})")
        if wave <= ran.last:
            raise PlanError(
                f"constraint pins: --pin {arg}: {sid} cannot go into wave {wave}: "
                f"{_ran_sentence(ran)} (a wave that has run takes nothing new): pin it to "
                f"wave {first} or later")
        pins[sid] = wave
    for sid in opts.exclude:
        if sid in held:
            state = ran.waves[held[sid]].systems[sid].replace("_", " ")
            raise PlanError(
                f"constraint exclusions: --exclude {command_arg('system', sid, names)}: "
                f"{sid} ran in wave {held[sid]} ({state}); a wave that has run keeps its "
                f"systems (roll it back first: shangyun wave rollback {held[sid]} --system "
                f"{command_arg('system', sid, names)})")
    return opts if pins == opts.pins else replace(opts, pins=pins)


_COMMAND = re.compile(r"--pin (\S+)=(-?\d+)|--exclude (\S+)")


def _named(message: str, estate: Estate) -> str:
    """``message`` with each system and bureau id a person reads shown as ``name (id)``
    (a ledger's ids are hashes: ``s-1f0681c919``); a ``--pin ID=W`` or ``--exclude ID`` it
    echoes names the system as the CLI takes it (:func:`command_arg`: its name, quoted for
    a shell); an id that is its own name stays as it is."""
    systems = names_of(estate, "system")

    def command(m: re.Match[str]) -> str:
        ident, wave, excluded = m.group(1), m.group(2), m.group(3)
        if excluded is not None:
            return "--exclude " + (command_arg("system", excluded, systems)
                                   if excluded in systems else excluded)
        return "--pin " + (command_arg("system", ident, systems, f"={wave}")
                           if ident in systems else f"{ident}={wave}")

    names = {str(r["id"]): str(r.get(col) or "") for table, col in
             (("systems", "name"), ("bureaus", "name")) for r in estate.rows(table)}
    names = {i: n for i, n in names.items() if n and n != i}
    ids = "|".join(re.escape(i) for i in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w=-])({ids})(?![\w=-])") if names else None

    def plain(text: str) -> str:
        return pattern.sub(lambda m: f"{names[m.group(1)]} ({m.group(1)})", text) \
            if pattern else text

    out, pos = [], 0
    for m in _COMMAND.finditer(message):  # a command's words are not named again
        out += [plain(message[pos:m.start()]), command(m)]
        pos = m.end()
    return "".join([*out, plain(message[pos:])])


def _bureau_namer(bureau_names: dict[str, str]) -> Callable[[str], str]:
    """A function showing each bureau id in a text as ``name (id)`` (one regex for all)."""
    names = {i: n for i, n in bureau_names.items() if n and n != i}
    if not names:
        return lambda text: text
    pattern = re.compile(r"(?<![\w=(-])(" + "|".join(
        re.escape(i) for i in sorted(names, key=len, reverse=True)) + r")(?![\w=-])")
    return lambda text: pattern.sub(lambda m: f"{names[m.group(1)]} ({m.group(1)})", text)


def lower_bound_waves(inp: PlanInput, opts: PlanOptions, units: list[Unit],
                      pilot: set[int], timing: TimeModel | None = None) -> int:
    """A lower bound on the number of (non-empty) waves: capacity per measure, windows,
    bureaus per wave, the strict dependency chain and the distinct pinned waves.

    ``pilot`` holds the systems of the pilot wave; the bound is 1 (the pilot) plus the
    bound of everything else. With ``timing``, a bureau's systems too long for its window
    even alone each need a wave of their own.
    """
    rest = [i for i in range(len(inp.systems)) if i not in pilot]
    hosts = int(inp.hosts[rest].sum()) if rest else 0
    data = float(inp.data_gb[rest].sum()) if rest else 0.0
    lb = 1 if rest else 0
    if opts.max_hosts:
        lb = max(lb, math.ceil(hosts / opts.max_hosts - 1e-9))
    if opts.max_systems:
        lb = max(lb, math.ceil(len(rest) / opts.max_systems - 1e-9))
    if opts.max_tb:
        lb = max(lb, math.ceil(data / (opts.max_tb * 1000) - 1e-9))
    per: dict[str, float] = {}
    big: dict[str, int] = {}
    for i in rest:
        per.setdefault(inp.bureau[i], 0.0)
        for b, gb in inp.data_by_bureau[i].items():
            per[b] = per.get(b, 0.0) + gb
            cap = inp.bureaus[b].capacity_gb if b in inp.bureaus else None
            if cap and gb > cap / 2:
                big[b] = big.get(b, 0) + 1
    for b, gb in per.items():
        cap = inp.bureaus[b].capacity_gb if b in inp.bureaus else None
        if cap:
            # systems above half a window never share one: each needs its own wave
            lb = max(lb, math.ceil(gb / cap - 1e-6), big.get(b, 0))
    if timing is not None:
        alone: dict[str, int] = {}
        for i in rest:
            if i in timing.over:
                alone[inp.bureau[i]] = alone.get(inp.bureau[i], 0) + 1
        lb = max([lb, *alone.values()])
    if opts.max_bureaus:
        lb = max(lb, math.ceil(len(per) / opts.max_bureaus))
    total = lb + (1 if pilot else 0)
    delta = 1 if opts.order == "before" else 0
    if units and (delta or any(u.dr_succs for u in units)):
        # the chain of strict orders: shared services strictly before, DR pairs apart
        depth = [1] * len(units)
        for uid in _topo(units):
            for s in units[uid].succs:
                depth[s] = max(depth[s], depth[uid] + delta)
            for s in units[uid].dr_succs:
                depth[s] = max(depth[s], depth[uid] + 1)
        total = max(total, max(depth))
    pinned = {u.pin for u in units if u.pin is not None}
    return max(total, len(pinned))


def _assemble(estate: Estate, inp: PlanInput, opts: PlanOptions, limits: Limits,
              groups: list[MoveGroup], units: list[Unit], u_of_sys: list[int],
              sched: Schedule, ran: RanWaves, estate_dir: str = "",
              dr_orders: list[DrOrder] | None = None) -> Plan:
    names = inp.systems
    n = len(names)
    g_of = np.zeros(n, dtype=np.int64)
    for k, g in enumerate(groups):
        g_of[g.members] = k
    wave_sys = np.array([sched.wave_of[u_of_sys[i]] for i in range(n)], dtype=np.int64)
    pairs = inp.pairs
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    w = pairs["weight"].to_numpy()
    crossing = wave_sys[a] != wave_sys[b] if n else np.zeros(0, dtype=bool)
    cut = int(w[crossing].sum())
    cut_strong = int(w[crossing & pairs["strong"].to_numpy()].sum()) if len(pairs) else 0
    # waves
    by_wave: dict[int, list[int]] = {}
    for i in range(n):
        by_wave.setdefault(int(wave_sys[i]), []).append(i)
    wave_bureaus = {k: sorted({b for i in m for b in [inp.bureau[i], *inp.data_by_bureau[i]]})
                    for k, m in by_wave.items()}
    dates = schedule_dates(wave_bureaus, inp.bureaus, opts)
    pilot_wave = 1 if sched.pilot else None
    waves: list[dict[str, Any]] = []
    for k in sorted(by_wave):
        m = by_wave[k]
        load = sched.loads[k]
        waves.append({
            "number": k, "start": dates[k][0].isoformat(), "systems": [names[i] for i in m],
            "hosts": int(inp.hosts[m].sum()), "data_gb": round(float(inp.data_gb[m].sum()), 1),
            "bureaus": wave_bureaus[k], "pilot": k == pilot_wave,
            "move_groups": sorted({groups[int(g_of[i])].id for i in m}),
            "windows": [{**win, "capacity_gb": _cap(inp, win["bureau_id"]),
                         "data_gb": round(load.by_bureau.get(win["bureau_id"], 0.0), 1)}
                        for win in dates[k][1]],
        })
    mg = [{"id": g.id, "systems": [names[i] for i in g.members],
           "wave": int(wave_sys[g.members[0]]), "hosts": int(inp.hosts[g.members].sum()),
           "data_gb": round(float(inp.data_gb[g.members].sum()), 1),
           "split_from": g.split_from, "cut": g.cut} for g in groups]
    overrun = _estimate_windows(estate, inp, opts, waves, mg, estate_dir, limits.timing)
    excluded = [{"system": s, "reason": r} for s, r in sorted(inp.excluded.items())]
    pilot_members = {m for uid in sched.pilot for m in units[uid].members}
    system_names = names_of(estate, "system")
    ran_waves, ran_groups, ran_systems = _ran_part(estate, ran, inp.moved)
    waves = sorted([*ran_waves, *waves], key=lambda x: int(x["number"]))
    mg = [*ran_groups, *mg]
    metrics = {
        "waves": len(waves), "cut_dependencies": cut, "waves_run": len(ran.waves),
        "lower_bound_waves": ran.last + lower_bound_waves(inp, opts, units, pilot_members,
                                                           limits.timing),
        "cut_strong_dependencies": cut_strong, "dependencies": int(w.sum()) if len(w) else 0,
        "systems_planned": n, "systems_excluded": len(excluded), "systems_held": len(inp.moved),
        "move_groups": len(groups), "split_groups": sum(1 for g in groups if g.split_from),
        "relaxed_order": sum(len(u.relaxed) for u in units),
    }
    # the pilot's sentences name systems as people read them (a ledger's ids are hashes)
    sched.pilot_note = _named(sched.pilot_note, estate)
    notice = [_named(sched.pilot_notice, estate)] if sched.pilot_notice else []
    if not n and not ran.waves:  # nothing moves: say why, not that there is no pilot
        sched.pilot_note = ""
        notice = [_nothing_moves(excluded, system_names)]
    systems = _explain_all(inp, opts, groups, units, u_of_sys, sched, wave_sys, g_of, dates,
                           system_names, ran, names_of(estate, "bureau"), dr_orders or [])
    # a limit's words name a bureau by its id (``bureau b-17b0f7f758 window: …``): people
    # read the reasons, so every bureau id there is shown as ``name (id)``
    named_bureaus = _bureau_namer(names_of(estate, "bureau"))
    short = {(w["number"], win["bureau_id"]): win for w in waves if not w.get("ran")
             for win in w["windows"] if win.get("fits") == "no"}
    for row in systems:
        win = short.get((row["wave"], row["bureau_id"]))
        if win is not None:  # the runbook's NO-GO, said where the system's placement is
            row["reasons"].append(f"bureau {win['bureau_id']} window too short: estimated "
                                  f"{win['estimate']} for its {win['hours']:g} h window "
                                  f"(wave {row['wave']}; the runbook says NO-GO until it fits)")
        row["reasons"] = [named_bureaus(x) for x in row["reasons"]]
    if any(not limits.fits(sched.loads[k]) for k in by_wave):  # pragma: no cover - guard
        raise PlanError("internal: a wave breaks a limit; this is a bug, please report it")
    return Plan(waves, mg, excluded, metrics, [*ran_systems, *systems], opts.to_dict(),
                estate.fingerprint(), names={"system": system_names,
                                             "bureau": names_of(estate, "bureau")},
                ran=sorted(ran.waves),
                notes=[*notice, *_ran_notes(ran, inp, wave_sys, system_names),
                       *_classified_notes(estate, ran, inp.moved, system_names),
                       *(_named(x, estate) for x in overrun),
                       *_staying_dependencies(inp, system_names),
                       *(_named(x, estate) for x in _unchecked(inp, opts, waves))])


FITS_WORDS = {True: "yes", False: "no", None: "unknown"}
"""A window's ``fits`` in the plan's files (``windows.csv``)."""


def _estimate_windows(estate: Estate, inp: PlanInput, opts: PlanOptions,
                      waves: list[dict[str, Any]], groups: list[dict[str, Any]],
                      estate_dir: str, timing: TimeModel | None = None) -> list[str]:
    """Set each window's ``estimated_hours`` and ``fits`` (the runbook's window check:
    :func:`shangyun.wave.estimate.window_verdict` on the same estimate) and return the
    plan's note on the windows: all checked ones fit, or those the estimate overruns —
    a system too long for its window even alone (it has the window to itself), or one
    the packer's estimate missed (a blackout moved a bureau's day)."""
    ix = estate_index(estate)
    systems, bureaus, hosts, disks = ix.systems, ix.bureaus, ix.hosts, ix.disks
    used = {d["id"]: float(d["used_gb"]) for rows in disks.values() for d in rows
            if d.get("used_gb") is not None}  # (the index holds every disk row)
    host_gb = {h["id"]: h.get("disk_gb") for rows in hosts.values() for h in rows}
    late: list[str] = []
    alone: list[str] = []
    fits: dict[bool | None, int] = {}
    for w in waves:
        # the wave as the runbook reads it: move groups in file order, systems in group order
        members = tuple(system_work(systems[sid], bureaus, hosts.get(sid, []), disks, g["id"],
                                    strict=False)
                        for g in groups if g["wave"] == w["number"] for sid in g["systems"])
        wave = WaveWork(number=w["number"], estate_dir=estate_dir, plan_fingerprint="",
                        estate_fingerprint="", systems=members)
        est = estimate_wave(wave, wave_steps(wave, RunOptions()), used,
                            {win["bureau_id"]: win["date"] for win in w["windows"]},
                            opts.link_efficiency, opts.disk_mbps, host_gb)
        for win in w["windows"]:
            b = win["bureau_id"]
            span = est.spans.get(b, 0.0)
            bur = inp.bureaus.get(b)
            known = est.sized(b, wave)  # a host of no size: the estimate is unknown
            win["estimated_hours"] = round(span / 3600, 2) if known else None
            win["estimate"] = human_duration(span) if known else "unknown"
            verdict = window_verdict(bur.link_mbps if bur else None, win["hours"],
                                     win["capacity_gb"], win["data_gb"], span,
                                     sized=known)
            win["fits"] = FITS_WORDS[verdict["ok"]]
            fits[verdict["ok"]] = fits.get(verdict["ok"], 0) + 1
            if "time" in verdict["why"]:
                mine = [x for x in wave.systems if x.bureau_id == b]
                one = len(mine) == 1 and timing is not None \
                    and inp.index[mine[0].id] in timing.over
                (alone if one else late).append(
                    f"wave {w['number']} {b}: "
                    + (f"{mine[0].id} alone estimated " if one else "estimated ")
                    + f"{win['estimate']} for a {win['hours']:g} h window")
    total = sum(len(w["windows"]) for w in waves)
    rates = (f"--disk-mbps {opts.disk_mbps:g}, --link-efficiency {opts.link_efficiency:g}; "
             "a system's hosts and disks move one after another")
    out = []
    if alone:
        more = f" and {len(alone) - SHOWN} more" if len(alone) > SHOWN else ""
        out.append(
            f"{counted(len(alone), 'system')} {verb(len(alone), 'takes', 'take')} longer than "
            f"{verb(len(alone), 'its', 'their')} bureau's window even alone in a wave: each "
            "has the window to itself, and the runbook's go/no-go says NO-GO until it fits "
            "— give the bureau a longer window "
            "(维护窗口时长) or a faster link (专线带宽) in its ledger, raise the rates "
            f"({rates}), or --exclude the system: " + "; ".join(alone[:SHOWN]) + more
            + " (plan/windows.csv: estimated_hours, fits)")
    if late:
        more = f" and {len(late) - SHOWN} more" if len(late) > SHOWN else ""
        out.append(
            f"{len(late)} of {counted(total, 'window')} {verb(len(late), 'is', 'are')} too "
            "short for the estimated time (the runbook's go/no-go says NO-GO until they fit: "
            "split the wave's systems over more windows, lengthen the window or raise the "
            f"rates, {rates}): " + "; ".join(late[:SHOWN]) + more
            + " (plan/windows.csv: estimated_hours, fits)")
    if not out and fits.get(True):
        unknown = fits.get(None, 0)
        out.append(f"all {counted(fits.get(True, 0), 'window')} with a known link and "
                   "window fit the estimated time (the packer packs each wave by it)"
                   + (f"; {unknown} {verb(unknown, 'is', 'are')} not checked (below)"
                      if unknown else ""))
    return out


SHOWN = 8
"""Windows the plan's note names one by one (the rest: ``windows.csv``)."""


def _unchecked(inp: PlanInput, opts: PlanOptions, waves: list[dict[str, Any]]) -> list[str]:
    """The plan's note on bureaus with data to copy whose window cannot be checked (no link
    bandwidth or no maintenance window in the ledgers): each one (the first :data:`SHOWN`,
    then how many more), its data per wave and, with a known link, how long the copy
    takes."""
    per: dict[str, list[str]] = {}
    for w in waves:
        if w.get("ran"):
            continue
        for win in w.get("windows", []):
            bur = inp.bureaus.get(win["bureau_id"])
            if bur is None or bur.capacity_gb is not None or not win.get("data_gb"):
                continue
            gb = float(win["data_gb"])
            text = f"{gb:,.1f} GB in wave {w['number']}"
            if bur.link_mbps:
                hours = gb * 8000 / (bur.link_mbps * opts.link_efficiency) / 3600
                text += (f" take {hours:.1f} h over {bur.link_mbps:g} Mbps at "
                         f"{opts.link_efficiency * 100:g} % efficiency")
            per.setdefault(bur.id, []).append(text)
    if not per:
        return []
    each = []
    for b, texts in sorted(per.items()):
        bur = inp.bureaus[b]
        what = ("no link bandwidth (专线带宽)" if not bur.link_mbps
                else "no maintenance window (维护窗口)")
        each.append(f"{b}: {what} in the ledgers; " + ", ".join(texts[:5])
                    + (f" and {counted(len(texts) - 5, 'more wave')}" if len(texts) > 5 else ""))
    count = len(per)
    whose = "bureau's window is" if count == 1 else "bureaus' windows are"
    more = (f"; and {counted(count - SHOWN, 'more bureau')} (plan/windows.csv)"
            if count > SHOWN else "")
    return [f"{count} {whose} not checked: " + "; ".join(each[:SHOWN]) + more
            + " — add the link bandwidth and the window to the bureau's ledger so the plan "
            "checks each wave's copy"]


def _staying_dependencies(inp: PlanInput, names: dict[str, str]) -> list[str]:
    """The plan's note on systems that move but depend on (or are used by) systems that
    stay — classified, no zone, not ready, excluded: after the move those dependencies
    cross from the cloud to the bureau's network (for a classified system, an isolated
    one). Up to 5 pairs are named."""
    pairs = sorted((names.get(s) or s, names.get(e) or e, inp.excluded[e])
                   for s, others in inp.to_excluded.items() for e in others
                   if e in inp.excluded and e not in inp.moved)
    if not pairs:
        return []
    count = len({p[0] for p in pairs})
    secret = any(reason == CLASSIFIED_REASON for *_x, reason in pairs)
    each = "; ".join(f"{a} — {b} ({why})" for a, b, why in pairs[:5])
    if len(pairs) > 5:
        each += f"; and {counted(len(pairs) - 5, 'more dependency', 'more dependencies')}"
    return [f"{counted(count, 'system')} that {verb(count, 'moves has', 'move have')} "
            "dependencies on systems that stay (after the move they cross from the cloud to "
            "the bureau's network"
            + ("; a classified (涉密) system's network is isolated: settle these with the "
               "security officer first" if secret else "") + f"): {each}"]


def _nothing_moves(excluded: list[dict[str, str]], names: dict[str, str]) -> str:
    """The plan's note when every system is excluded: each one (5 at most) and why."""
    count = len(excluded)
    each = "; ".join(f"{names.get(e['system']) or e['system']} — {e['reason']}"
                     for e in excluded[:5]) + (f"; and {count - 5} more" if count > 5 else "")
    return (f"nothing to move: every system is excluded ({count} "
            f"{'system' if count == 1 else 'systems'}: {each}); the plan has no wave")


def _ran_part(estate: Estate, ran: RanWaves, held: dict[str, int]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The waves that ran as they ran: each with the systems it holds (``held``), its
    date and pilot mark from the plan it ran under, its move groups as they were (ids
    ``W<n>-<old id>``, so they never clash with the new ones), and one explanation per
    held system."""
    facts = held_facts(estate, list(held))
    secret, names = classified_ids(estate), names_of(estate, "system")
    waves: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    systems: list[dict[str, Any]] = []
    crit_words = {v: k for k, v in CRITICALITY_RANK.items()}
    for n in sorted(ran.waves):
        rw = ran.waves[n]
        members = [s for s in rw.held if held.get(s) == n]
        start = rw.planned_start or rw.first_run
        bureaus = sorted({b for s in members
                          for b in [facts[s]["bureau_id"], *facts[s]["by_bureau"]]})
        placed: set[str] = set()
        wave_groups: list[tuple[str, list[str]]] = []
        for gid, sids in rw.groups:
            kept = [s for s in sids if s in members and s not in placed]
            if kept:
                wave_groups.append((f"W{n}-{gid}", kept))
                placed.update(kept)
        wave_groups += [(f"W{n}-{s}", [s]) for s in members if s not in placed]
        waves.append({
            "number": n, "start": start, "systems": members, "ran": True,
            "hosts": sum(int(facts[s]["hosts"]) for s in members),
            "data_gb": round(sum(float(facts[s]["data_gb"]) for s in members), 1),
            "bureaus": bureaus, "pilot": rw.pilot,
            "move_groups": [g for g, _ in wave_groups],
            "windows": [dict(w) for w in rw.windows if w["bureau_id"] in bureaus]})
        for gid, sids in wave_groups:
            groups.append({"id": gid, "systems": sids, "wave": n,
                           "hosts": sum(int(facts[s]["hosts"]) for s in sids),
                           "data_gb": round(sum(float(facts[s]["data_gb"]) for s in sids), 1),
                           "split_from": None, "cut": 0})
            for sid in sids:
                f = facts[sid]
                state = rw.systems[sid].replace("_", " ")
                systems.append({
                    "system": sid, "wave": n, "start": start, "move_group": gid,
                    "bureau_id": f["bureau_id"], "hosts": int(f["hosts"]),
                    "data_gb": round(float(f["data_gb"]), 1),
                    "criticality": crit_words.get(int(f["crit"]), "medium"), "zones": "",
                    "placement": "", "strong_dependencies": 0,
                    "reasons": [f"ran in wave {n} ({state}, the journal): a wave that has run "
                                "keeps its systems, so the re-plan leaves it there and moves "
                                "it nowhere else",
                                *([_classified_note(sid, n, rw.systems[sid], names)]
                                  if sid in secret else [])]})
    return waves, groups, systems


def _ran_notes(ran: RanWaves, inp: PlanInput, wave_sys: np.ndarray,
               names: dict[str, str]) -> list[str]:
    """The plan's notes on what ran: which waves, where new systems start, and each system
    rolled back or refused where it ran that this plan puts into a later wave."""
    if not ran.waves:
        return []
    out = [_ran_sentence(ran) + " (the journal): a wave that has run keeps its systems and "
           "takes nothing new"]
    for sid, (n, state) in sorted(ran.freed().items()):
        if sid in inp.index:
            out.append(f"{names.get(sid) or sid} was {state.replace('_', ' ')} in wave {n}; "
                       f"planned again in wave {int(wave_sys[inp.index[sid]])}")
    return out


def _classified_note(sid: str, wave: int, state: str, names: dict[str, str]) -> str:
    """What the plan says of a system a wave that ran holds and the estate now marks
    classified (涉密): the wave keeps it, but it must come home."""
    return (f"{names.get(sid) or sid} is classified (涉密) in the estate now, yet "
            f"{state.replace('_', ' ')} in wave {wave}: a classified system never moves to "
            f"the cloud — {way_home(wave, state, sid, names)}, then plan again; 'wave run "
            f"{wave}' and 'wave finalize {wave}' refuse it until then")


def _classified_notes(estate: Estate, ran: RanWaves, held: dict[str, int],
                      names: dict[str, str]) -> list[str]:
    """One note per system a wave that ran holds (``held``: system → wave) that the
    estate now marks classified (a re-imported ledger): :func:`_classified_note`."""
    secret = classified_ids(estate)
    return [_classified_note(sid, n, ran.waves[n].systems[sid], names)
            for sid, n in sorted(held.items()) if sid in secret]


def _cap(inp: PlanInput, bureau: str) -> float | None:
    b = inp.bureaus.get(bureau)
    return round(b.capacity_gb, 1) if b and b.capacity_gb is not None else None


def _neighbours(inp: PlanInput, wave_sys: np.ndarray, g_of: np.ndarray
                ) -> tuple[dict[int, list[tuple[int, int]]], dict[int, int]]:
    """Per system: its heaviest same-wave partners outside its group, and deps crossing."""
    p = inp.pairs
    if not len(p):
        return {}, {}
    both = pd.DataFrame({"s": np.concatenate([p["a"], p["b"]]),
                         "o": np.concatenate([p["b"], p["a"]]),
                         "w": np.concatenate([p["weight"], p["weight"]])})
    same = wave_sys[both["s"]] == wave_sys[both["o"]]
    other_group = g_of[both["s"]] != g_of[both["o"]]
    pulled = both[same & other_group].sort_values(["s", "w"], ascending=[True, False])
    top = pulled.groupby("s").head(3)
    near: dict[int, list[tuple[int, int]]] = {}
    for s, o, x in top.itertuples(index=False, name=None):
        near.setdefault(int(s), []).append((int(o), int(x)))
    cross = both[~same].groupby("s")["w"].sum()
    return near, {int(k): int(v) for k, v in cross.items()}


def _window_span(win: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """A bureau's window in a wave as (start, end); a window with no time or hours is the
    whole day."""
    start = dt.datetime.fromisoformat(f"{win['date']}T{win.get('start') or '00:00'}")
    hours = float(win.get("hours") or 24) if win.get("start") else 24.0
    return start, start + dt.timedelta(hours=hours)


def _windows_apart(inp: PlanInput, members: list[int], i: int,
                   windows: list[dict[str, Any]], names: list[str],
                   bureau_names: dict[str, str]) -> str:
    """The warning for system ``i`` when its move group's bureaus move in windows that do
    not meet (the group must move together, but each bureau moves on its own window day):
    each bureau's window with its systems, and how far apart they are; else ``""``."""
    wins = {w["bureau_id"]: w for w in windows}
    own = inp.bureau[i]
    by_bureau: dict[str, list[str]] = {}
    for m in sorted(members, key=lambda m: (inp.bureau[m] != own, m)):
        if inp.bureau[m] in wins:
            by_bureau.setdefault(inp.bureau[m], []).append(names[m])
    if len(by_bureau) < 2:
        return ""
    spans = {b: _window_span(wins[b]) for b in by_bureau}
    first_end = min(e for _, e in spans.values())
    last_start = max(s for s, _ in spans.values())
    if last_start < first_end:  # the windows meet: one cutover can hold them all
        return ""
    gap = max(s for s, _ in spans.values()) - min(s for s, _ in spans.values())
    days = gap / dt.timedelta(days=1)
    how_far = (f"{counted(round(days, 1), 'day')} apart" if days >= 1
               else f"{gap / dt.timedelta(hours=1):g} h apart")
    parts = [f"{bureau_names.get(b) or b} {wins[b]['date']}"
             + (f" {wins[b]['start']}" if wins[b].get("start") else "")
             + f" ({', '.join(ns[:3])}{' …' if len(ns) > 3 else ''})"
             for b, ns in by_bureau.items()]
    return ("its move group moves in different windows: " + ", ".join(parts)
            + f" — {how_far}: until the last, systems that must move together run apart, "
            "across the bureaus' link; give the bureaus one window (维护窗口) or cut the "
            "group over in one of them")


def _explain_all(inp: PlanInput, opts: PlanOptions, groups: list[MoveGroup], units: list[Unit],
                 u_of_sys: list[int], sched: Schedule, wave_sys: np.ndarray, g_of: np.ndarray,
                 dates: dict[int, tuple[dt.date, list[dict[str, Any]]]],
                 system_names: dict[str, str], ran: RanWaves | None = None,
                 bureau_names: dict[str, str] | None = None,
                 dr_orders: list[DrOrder] | None = None) -> list[dict[str, Any]]:
    ids = inp.systems
    # Reasons are read by people: a system is named by its name (its id when it has none).
    names = [system_names.get(x) or x for x in ids]
    dr_why = dr_reasons(inp, dr_orders or [], wave_sys, names, system_names)
    dr_with = partners(inp, dr_orders or [], wave_sys, names, system_names)
    near, cross = _neighbours(inp, wave_sys, g_of)
    strong = inp.pairs[inp.pairs["strong"]]
    strong_deg: dict[int, int] = {}
    for x in (strong["a"].tolist() + strong["b"].tolist()):
        strong_deg[x] = strong_deg.get(x, 0) + 1
    crit_words = {0: "low", 1: "medium", 2: "high", 3: "critical"}
    ran = ran or RanWaves()
    freed = ran.freed()
    out: list[dict[str, Any]] = []
    for i, sid in enumerate(ids):
        g = groups[int(g_of[i])]
        u = units[u_of_sys[i]]
        k = int(wave_sys[i])
        r: list[str] = []
        if ran.waves:
            r.append(_ran_sentence(ran) + " (a wave that has run takes nothing new)")
        if sid in freed:
            n, state = freed[sid]
            r.append(f"{state.replace('_', ' ')} in wave {n}, which has run: planned again "
                     f"in wave {k}")
        if len(g.members) > 1:
            others = [names[m] for m in g.members if m != i]
            r.append(f"move group {g.id}: moves with {', '.join(others[:8])}"
                     + (f" and {len(others) - 8} more" if len(others) > 8 else "")
                     + f" (strong dependencies: {', '.join(opts.strong_types)})")
        else:
            r.append(f"move group {g.id}: moves alone (no strong dependency"
                     + (" left after the split" if g.split_from else "") + ")")
        r += g.why
        apart = _windows_apart(inp, g.members, i, dates[k][1], names, bureau_names or {})
        if apart:
            r.append(apart)
        if len(u.groups) > 1:
            r.append("shares the wave with move groups "
                     + ", ".join(groups[x].id for x in u.groups if x != g_of[i])
                     + ": shared services in a dependency cycle move together")
        if u.id in sched.pilot:
            r.append(f"wave 1 is the pilot — {sched.pilot_note}")
        elif k == 1 and not sched.pilot:
            r.append(sched.pilot_note)
        if sid in opts.pins:
            r.append(f"pinned to wave {opts.pins[sid]} (--pin)")
        elif u.pin is not None and u.pin_reason and u.id not in sched.pilot:
            r.append(u.pin_reason)
        for p in sorted(u.preds):
            r.append(f"dependency order ({opts.order}): uses shared service "
                     f"{', '.join(names[m] for m in units[p].members[:3])} "
                     f"(wave {sched.wave_of[p]})")
        for p in sorted(u.relaxed)[:5]:
            r.append(f"dependency order relaxed: uses shared service "
                     f"{', '.join(names[m] for m in units[p].members[:3])} (wave "
                     f"{sched.wave_of[p]}) in a cycle of shared services too large for one "
                     "wave (--cycles relax)")
        r += dr_why.get(i, [])
        if u.succs:
            waves = sorted({sched.wave_of[s] for s in u.succs})
            r.append(f"shared service for {counted(len(u.succs), 'consumer group')}, in "
                     f"{verb(len(waves), 'wave', 'waves')} "
                     f"{', '.join(map(str, waves[:10]))}{' …' if len(waves) > 10 else ''}")
        if u.lo_why and u.pin is None:
            r.append(f"not before wave {u.lo}: {u.lo_why}")
        if u.hi < INF and u.pin is None:
            r.append(f"by wave {u.hi} at the latest: {u.hi_why}")
        blocked, moved = sched.why_blocked(u.id), sched.why_moved(u.id)
        if blocked and u.pin is None:
            r.append(f"binding constraint: {blocked}")
        if moved:
            r.append(moved)
        if near.get(i):
            r.append("pulled in by dependencies on " + ", ".join(
                f"{names[o]} ({x})" for o, x in near[i]) + " in the same wave")
        if cross.get(i):
            r.append(f"{counted(cross[i], 'dependency')} "
                     f"{verb(cross[i], 'crosses', 'cross')} to systems in other waves")
        for e, c in sorted(inp.to_excluded.get(sid, {}).items()):
            if e in inp.moved:
                r.append(f"{counted(c, 'dependency')} on {system_names.get(e) or e}, "
                         "which moved in "
                         f"wave {inp.moved[e]} (it ran there)")
            else:
                r.append(f"{counted(c, 'dependency')} on {system_names.get(e) or e}, "
                         "which does not "
                         f"move ({inp.excluded[e]})")
        c = crit_words[int(inp.crit[i])]
        r.append(f"criticality {c}" + (": critical systems are scheduled after less critical "
                                       "ones where dependencies allow" if inp.crit[i] >= 2
                                       else ""))
        r.append(f"target zones: {inp.zones[i] or 'none'}; DR placement: {inp.sites[i]}")
        start = dates[k][0].isoformat()
        out.append({"system": sid, "wave": k, "start": start, "move_group": g.id,
                    "bureau_id": inp.bureau[i], "hosts": int(inp.hosts[i]),
                    "data_gb": round(float(inp.data_gb[i]), 1), "criticality": c,
                    "zones": inp.zones[i], "placement": inp.sites[i],
                    "strong_dependencies": strong_deg.get(i, 0), "reasons": r,
                    "dr_partners": dr_with.get(i, "")})
    return out
