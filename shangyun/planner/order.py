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
    relaxed: set[int] = field(default_factory=set)
    #: DR pairs (:mod:`shangyun.planner.drpairs`): units that must move in an earlier wave
    #: than this one (strictly), and units that must move in a later one
    dr_preds: set[int] = field(default_factory=set)
    dr_succs: set[int] = field(default_factory=set)
    lo: int = 1
    hi: int = INF
    lo_why: str = ""
    hi_why: str = ""


def build_units(inp: PlanInput, groups: list[MoveGroup], limits: Limits, order: str,
                cycles: str = "relax") -> tuple[list[Unit], list[int]]:
    """Units and the unit of each system.

    A cycle of move groups in the dependency order is merged into one unit when it fits one
    wave (``before-or-with``); otherwise (or with strict ``before``) the lightest order edges
    that break it are relaxed (``cycles="relax"``, recorded on the units) or it is a
    :class:`PlanError` (``cycles="error"``).
    """
    n = len(inp.systems)
    g_of = [0] * n
    for k, g in enumerate(groups):
        for m in g.members:
            g_of[m] = k
    dag = nx.DiGraph()
    dag.add_nodes_from(range(len(groups)))
    for c, p, w in inp.precedence:
        gc, gp = g_of[c], g_of[p]
        if gc != gp:
            old = dag.get_edge_data(gp, gc, {"weight": 0})["weight"]
            dag.add_edge(gp, gc, weight=old + w)
    comps: list[list[int]] = []
    relaxed: list[tuple[int, int]] = []
    for scc in list(nx.strongly_connected_components(dag)):
        comp = sorted(scc)
        if len(comp) == 1:
            comps.append(comp)
            continue
        systems = sorted(m for k in comp for m in groups[k].members)
        why = "a strict order is impossible in a cycle" if order == "before" else \
            limits.violation(load_of(inp, systems)) or _dr_inside(inp, systems)
        if why is None:
            comps.append(comp)
            continue
        if cycles == "error":
            raise PlanError(f"constraint dependency order '{order}' ({why}): shared services "
                            f"use each other in a cycle ({_names(inp, systems)}) that cannot "
                            "move in one wave; use --cycles relax or --order off")
        relaxed += feedback_arcs(dag.subgraph(comp))
        comps += [[k] for k in comp]
    dag.remove_edges_from(relaxed)
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
    for gp, gc in relaxed:
        units[u_of_group[gc]].relaxed.add(u_of_group[gp])
    u_of_sys = [u_of_group[g_of[i]] for i in range(n)]
    return units, u_of_sys


def _dr_inside(inp: PlanInput, systems: list[int]) -> str | None:
    """Why ``systems`` cannot share a wave because of a DR pair among them (else None)."""
    inside = set(systems)
    for standby, primary, _where in inp.dr:
        if standby in inside and primary in inside:
            return (f"DR pair: {inp.systems[standby]} is the DR standby of "
                    f"{inp.systems[primary]}, and a DR pair never shares a wave")
    return None


def earliest(u: Unit, wave_of: list[int], delta: int) -> int:
    """The earliest wave the placed predecessors of ``u`` allow (0: none): a shared service's
    wave + ``delta``, a DR partner that moves first's wave + 1."""
    return max([*(wave_of[p] + delta for p in u.preds),
                *(wave_of[p] + 1 for p in u.dr_preds)], default=0)


def latest(u: Unit, wave_of: list[int], delta: int) -> int:
    """The latest wave the placed successors of ``u`` allow (:data:`INF`: none)."""
    return min([*(wave_of[s] - delta for s in u.succs),
                *(wave_of[s] - 1 for s in u.dr_succs)], default=INF)


def apply_pins(inp: PlanInput, units: list[Unit], u_of_sys: list[int],
               groups: list[MoveGroup], pins: dict[str, int]) -> None:
    """Set each unit's pin; contradictory pins inside one unit are a :class:`PlanError`."""
    by_unit: dict[int, dict[str, int]] = {}
    for sid, wave in pins.items():
        if wave < 1:
            raise PlanError(f"constraint pins: --pin {sid}={wave}: waves are numbered from 1")
        by_unit.setdefault(u_of_sys[inp.index[sid]], {})[sid] = wave
    for uid, pinned in by_unit.items():
        if len(set(pinned.values())) > 1:
            u = units[uid]
            # as the operator typed them (the plan names each: its name, for a shell)
            given = [f"--pin {s}={w}" for s, w in sorted(pinned.items())]
            what = ", ".join(given[:-1]) + " and " + given[-1]
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
        for p in u.dr_preds:
            if units[p].lo + 1 > u.lo:
                u.lo = units[p].lo + 1
                u.lo_why = (f"its DR partner in {_names(inp, units[p].members, 3)} moves in an "
                            f"earlier wave and cannot move before wave {units[p].lo}"
                            + (f" ({units[p].lo_why})" if units[p].lo_why else ""))
    for uid in reversed(topo):
        u = units[uid]
        if u.pin is not None:
            u.hi, u.hi_why = u.pin, u.pin_reason or f"pinned to wave {u.pin}"
        for s in u.succs:
            if units[s].hi < INF and units[s].hi - delta < u.hi:
                u.hi = units[s].hi - delta
                u.hi_why = (f"its consumer {_names(inp, units[s].members, 3)} must move by wave "
                            f"{units[s].hi}" + (f" ({units[s].hi_why})" if units[s].hi_why else ""))
        for s in u.dr_succs:
            if units[s].hi < INF and units[s].hi - 1 < u.hi:
                u.hi = units[s].hi - 1
                u.hi_why = (f"its DR partner in {_names(inp, units[s].members, 3)} moves in a "
                            f"later wave and must move by wave {units[s].hi}"
                            + (f" ({units[s].hi_why})" if units[s].hi_why else ""))
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
    g.add_edges_from((p, u.id) for u in units for p in (*u.preds, *u.dr_preds))
    return list(nx.lexicographical_topological_sort(g))


def feedback_arcs(g: nx.DiGraph) -> list[tuple[int, int]]:
    """Edges whose removal makes ``g`` acyclic, light ones first (Eades–Lin–Smyth greedy).

    Sinks go to the end of a sequence, sources to its front, otherwise the node with the
    largest (out − in) weight goes to the front; edges pointing backwards are returned.
    """
    out_w = {v: 0.0 for v in g}
    in_w = {v: 0.0 for v in g}
    succ: dict[int, set[int]] = {v: set(g.successors(v)) for v in g}
    pred: dict[int, set[int]] = {v: set(g.predecessors(v)) for v in g}
    for a, b, d in g.edges(data=True):
        out_w[a] += d.get("weight", 1)
        in_w[b] += d.get("weight", 1)
    alive = set(g)
    front: list[int] = []
    back: list[int] = []

    def drop(v: int) -> None:
        alive.discard(v)
        for x in succ[v]:
            pred[x].discard(v)
            in_w[x] -= g[v][x].get("weight", 1)
        for x in pred[v]:
            succ[x].discard(v)
            out_w[x] -= g[x][v].get("weight", 1)

    while alive:
        sinks = [v for v in alive if not succ[v]]
        sources = [v for v in alive if not pred[v]]
        if sinks or sources:
            for v in sorted(sinks):
                if v in alive:
                    back.append(v)
                    drop(v)
            for v in sorted(sources):
                if v in alive:
                    front.append(v)
                    drop(v)
            continue
        v = max(sorted(alive), key=lambda x: out_w[x] - in_w[x])
        front.append(v)
        drop(v)
    pos = {v: i for i, v in enumerate(front + back[::-1])}
    return [(a, b) for a, b in g.edges if pos[a] > pos[b]]
