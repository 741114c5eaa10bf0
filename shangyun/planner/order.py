"""Units of scheduling and their order: move groups joined by the dependency order.

A consumer's move group depends on each shared service's move group it uses. With
``before-or-with`` a cycle of such groups must share one wave, so the cycle becomes one
unit; with strict ``before`` a cycle cannot be ordered at all (:class:`PlanError`).
Pins are checked against the order here: every unit gets the earliest (``lo``) and latest
(``hi``) wave the pins allow, and a unit whose ``lo`` exceeds its ``hi`` is an error naming
the pins and systems involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from shangyun.errors import PlanError
from shangyun.planner.capacity import Limits, Load, load_of
from shangyun.planner.groups import MoveGroup, _names
from shangyun.planner.inputs import PlanInput

INF = 10**9


@dataclass
class Unit:
    """Move groups that must share a wave; the thing the wave scheduler places."""

    id: int
    groups: list[int]
    members: list[int]
    load: Load
    crit: int
    shared: bool
    pin: int | None = None
    pin_reason: str = ""
    preds: set[int] = field(default_factory=set)
    succs: set[int] = field(default_factory=set)
    lo: int = 1
    hi: int = INF
    lo_why: str = ""
    hi_why: str = ""


def build_units(inp: PlanInput, groups: list[MoveGroup], limits: Limits,
                order: str) -> tuple[list[Unit], list[int]]:
    """Units and the unit of each system; raises :class:`PlanError` for an unorderable cycle."""
    n = len(inp.systems)
    g_of = [0] * n
    for k, g in enumerate(groups):
        for m in g.members:
            g_of[m] = k
    dag = nx.DiGraph()
    dag.add_nodes_from(range(len(groups)))
    for c, p, _w in inp.precedence:
        gc, gp = g_of[c], g_of[p]
        if gc != gp:
            dag.add_edge(gp, gc)
    comps: list[list[int]] = []
    for scc in nx.strongly_connected_components(dag):
        comp = sorted(scc)
        if len(comp) > 1:
            systems = sorted(m for k in comp for m in groups[k].members)
            if order == "before":
                raise PlanError(f"constraint dependency order 'before': shared services use "
                                f"each other in a cycle ({_names(inp, systems)}), so none can "
                                "move strictly before the others; use --order before-or-with")
            why = limits.violation(load_of(inp, systems))
            if why:
                raise PlanError(f"constraint dependency order 'before-or-with' and {why}: "
                                f"shared services in a cycle ({_names(inp, systems)}) must move "
                                "in one wave but do not fit one")
        comps.append(comp)
    comps.sort(key=lambda c: min(groups[k].members[0] for k in c))
    units: list[Unit] = []
    u_of_group = [0] * len(groups)
    for uid, comp in enumerate(comps):
        members = sorted(m for k in comp for m in groups[k].members)
        for k in comp:
            u_of_group[k] = uid
        units.append(Unit(uid, comp, members, load_of(inp, members),
                          int(inp.crit[members].max()), bool(inp.shared[members].any())))
    for a, b in dag.edges:
        ua, ub = u_of_group[a], u_of_group[b]
        if ua != ub:
            units[ub].preds.add(ua)
            units[ua].succs.add(ub)
    u_of_sys = [u_of_group[g_of[i]] for i in range(n)]
    return units, u_of_sys


def apply_pins(inp: PlanInput, units: list[Unit], u_of_sys: list[int],
               groups: list[MoveGroup], pins: dict[str, int]) -> None:
    """Set each unit's pin; contradictory pins inside one unit are a :class:`PlanError`."""
    by_unit: dict[int, dict[str, int]] = {}
    for sid, wave in pins.items():
        if wave < 1:
            raise PlanError(f"--pin {sid}={wave}: waves are numbered from 1")
        by_unit.setdefault(u_of_sys[inp.index[sid]], {})[sid] = wave
    for uid, pinned in by_unit.items():
        if len(set(pinned.values())) > 1:
            u = units[uid]
            what = ", ".join(f"{s}={w}" for s, w in sorted(pinned.items()))
            gids = ", ".join(groups[k].id for k in u.groups)
            raise PlanError(f"constraint pins: contradictory pins {what}: these systems must "
                            f"move in one wave (move group {gids}: "
                            f"{_names(inp, u.members)})")
        units[uid].pin = next(iter(pinned.values()))


def bound(inp: PlanInput, units: list[Unit], delta: int, first: int) -> None:
    """Propagate pins along the dependency order into each unit's ``lo``/``hi``.

    ``delta`` is 1 for strict ``before`` (a provider's wave < its consumer's), else 0;
    ``first`` is the first wave an unpinned unit may take (2 when wave 1 is the pilot).
    """
    topo = _topo(units)
    for u in units:
        u.lo, u.hi, u.lo_why, u.hi_why = 1, INF, "", ""
    for uid in topo:
        u = units[uid]
        if u.pin is not None:
            u.lo, u.lo_why = u.pin, u.pin_reason or f"pinned to wave {u.pin}"
        elif u.lo < first:
            u.lo = first
        for p in u.preds:
            if units[p].lo + delta > u.lo:
                u.lo = units[p].lo + delta
                u.lo_why = (f"its shared service {_names(inp, units[p].members, 3)} cannot move "
                            f"before wave {units[p].lo}"
                            + (f" ({units[p].lo_why})" if units[p].lo_why else ""))
    for uid in reversed(topo):
        u = units[uid]
        if u.pin is not None:
            u.hi, u.hi_why = u.pin, u.pin_reason or f"pinned to wave {u.pin}"
        for s in u.succs:
            if units[s].hi - delta < u.hi:
                u.hi = units[s].hi - delta
                u.hi_why = (f"its consumer {_names(inp, units[s].members, 3)} must move by wave "
                            f"{units[s].hi}" + (f" ({units[s].hi_why})" if units[s].hi_why else ""))
    for uid in topo:
        u = units[uid]
        if u.lo > u.hi or u.hi < 1:
            raise PlanError(
                f"constraint pins vs dependency order: {_names(inp, u.members)} would have to "
                f"move in wave ≥ {u.lo} ({u.lo_why or 'first wave'}) and ≤ {u.hi} "
                f"({u.hi_why or 'no limit'})")


def _topo(units: list[Unit]) -> list[int]:
    g = nx.DiGraph()
    g.add_nodes_from(range(len(units)))
    g.add_edges_from((p, u.id) for u in units for p in u.preds)
    return list(nx.lexicographical_topological_sort(g))
