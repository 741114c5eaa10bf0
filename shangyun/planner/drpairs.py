"""DR pairs: a primary system and its disaster-recovery standby never move in one wave.

A wave that goes wrong (a failed cut-over, a rollback, a long outage of the bureau's link)
must never take out a service *and* its standby. So the two are never in one move group
(strong dependencies binding them is a :class:`PlanError` naming both and the dependencies
that bind them) and never in one wave: a strict order between their units, like the
shared-service order but always with a wave between.

Which goes first: **the standby**, as a migration team does it — moving the standby first
proves the path (copy over the bureau's link, boot and adapt on the cloud, network, the
window's length) on the system whose loss hurts least, while the primary still serves;
then the primary moves and its new standby is already in place. The dependency order wins
where it decides (a standby that uses its primary — or one of its shared services — as a
shared service moves after it), and so do the user's pins (both pinned: their waves; the
primary pinned to the first wave: the standby follows it).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from shangyun.errors import PlanError
from shangyun.planner.groups import MoveGroup
from shangyun.planner.inputs import PlanInput
from shangyun.planner.order import Unit

STANDBY_FIRST = ("standby first: the DR standby moves in an earlier wave than its primary — "
                 "it proves the path to the cloud (copy over the link, boot, network, the "
                 "window) while the primary still serves, and a wave that goes wrong never "
                 "takes out both")


@dataclass(frozen=True)
class DrOrder:
    """How one DR pair is ordered: which system moves first, and why."""

    standby: int
    primary: int
    standby_first: bool
    #: why, with ``{standby}`` and ``{primary}`` for the systems' names
    why: str
    declared: str


def check_groups(inp: PlanInput, groups: list[MoveGroup], strong_types: tuple[str, ...]
                 ) -> None:
    """Raise :class:`PlanError` for a DR pair inside one move group, naming both systems
    and the strong dependencies that bind them."""
    if not inp.dr:
        return
    g_of = {m: k for k, g in enumerate(groups) for m in g.members}
    bad = [(s, p) for s, p, _w in inp.dr if g_of[s] == g_of[p]]
    if not bad:
        return
    strong = inp.pairs[inp.pairs["strong"]]
    graph = nx.Graph()
    graph.add_edges_from(zip(strong["a"].tolist(), strong["b"].tolist(), strict=True))
    each = []
    for s, p in bad:
        try:
            path = nx.shortest_path(graph, s, p)
        except (nx.NetworkXNoPath, nx.NodeNotFound):  # pragma: no cover - same group
            path = [s, p]
        chain = " — ".join(inp.systems[i] for i in path)
        each.append(f"{inp.systems[s]} is the DR standby of {inp.systems[p]}, but strong "
                    f"dependencies ({', '.join(strong_types)}) bind them into move group "
                    f"{groups[g_of[s]].id} ({chain})")
    raise PlanError(
        "constraint DR pair: a primary and its DR standby never move together (a wave that "
        "goes wrong would take out both): " + "; ".join(each)
        + "; declare the dependencies between them of a weaker type (依赖类型 async or "
        "file), plan with --strong naming fewer types, or --exclude one of them")


def order_pairs(inp: PlanInput, units: list[Unit], u_of_sys: list[int], first_wave: int
                ) -> list[DrOrder]:
    """Order every DR pair (standby first unless the dependency order or the pins say
    otherwise; see the module) and record it on the units (``dr_preds``/``dr_succs``); the
    order graph stays acyclic. Raises :class:`PlanError` for a pair pinned to one wave."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(units)))
    graph.add_edges_from((p, u.id) for u in units for p in (*u.preds, *u.dr_preds))
    out: list[DrOrder] = []
    for s, p, declared in inp.dr:
        us, up = u_of_sys[s], u_of_sys[p]
        standby, primary = inp.systems[s], inp.systems[p]
        ps, pp = units[us].pin, units[up].pin
        if nx.has_path(graph, up, us):
            first, why = False, ("primary first: the dependency order puts {primary} before "
                                 "{standby} ({standby} uses it, or a shared service that "
                                 "moves after it)")
        elif nx.has_path(graph, us, up):
            first, why = True, STANDBY_FIRST
        elif ps is not None and pp is not None:
            if ps == pp:
                raise PlanError(
                    f"constraint DR pair: --pin {standby}={ps} and --pin {primary}={pp}: "
                    f"{standby} is the DR standby of {primary} and a DR pair never shares a "
                    "wave (a wave that goes wrong would take out both); pin them to "
                    "different waves")
            first = ps < pp
            why = (STANDBY_FIRST if first else
                   f"primary first: the pins put {{primary}} in wave {pp}, {{standby}} in "
                   f"wave {ps}")
        elif pp is not None and pp <= first_wave:
            first, why = False, (f"primary first: {{primary}} is pinned to wave {pp}, the "
                                 "first, so its standby follows it")
        else:
            first, why = True, STANDBY_FIRST
        a, b = (us, up) if first else (up, us)
        graph.add_edge(a, b)
        units[a].dr_succs.add(b)
        units[b].dr_preds.add(a)
        out.append(DrOrder(s, p, first, why, declared))
    return out


def reasons(inp: PlanInput, orders: list[DrOrder], wave_sys: list[int] | object,
            names: list[str], system_names: dict[str, str]) -> dict[int, list[str]]:
    """Per planned system, the sentences ``plan explain`` gives on its DR pairs: where its
    partner moves and why this one moves before or after it; and a partner that is not
    planned (it stays, or it moved in a wave that ran)."""
    waves = list(wave_sys)  # type: ignore[call-overload]
    out: dict[int, list[str]] = {}
    for o in orders:
        s, p = o.standby, o.primary
        ws, wp = int(waves[s]), int(waves[p])
        how = "before" if o.standby_first else "after"
        why = o.why.format(standby=names[s], primary=names[p])
        out.setdefault(s, []).append(
            f"DR pair: DR standby of {names[p]} (wave {wp}; declared by {o.declared}); it "
            f"moves {how} its primary — {why}")
        out.setdefault(p, []).append(
            f"DR pair: its DR standby {names[s]} moves in wave {ws}, "
            f"{how} it (declared by {o.declared}) — {why}")
    for sid, partners in inp.dr_outside.items():
        i = inp.index[sid]
        for other, role in partners:
            label = system_names.get(other) or other
            where = (f"moved in wave {inp.moved[other]} (it ran there)" if other in inp.moved
                     else f"does not move ({inp.excluded.get(other, 'not planned')})")
            what = f"DR standby of {label}" if role == "primary" else \
                f"its DR standby {label}"
            out.setdefault(i, []).append(f"DR pair: {what}, which {where}: no wave holds both")
    return out


def partners(inp: PlanInput, orders: list[DrOrder], wave_sys: list[int] | object,
             names: list[str], system_names: dict[str, str]) -> dict[int, str]:
    """Per planned system, its DR partners in a few words for ``systems.csv``
    (``standby of 统一身份认证平台 (wave 3)``, ``standby 统一身份认证平台灾备 (wave 2)``)."""
    waves = list(wave_sys)  # type: ignore[call-overload]
    out: dict[int, list[str]] = {}
    for o in orders:
        out.setdefault(o.standby, []).append(
            f"standby of {names[o.primary]} (wave {int(waves[o.primary])})")
        out.setdefault(o.primary, []).append(
            f"standby {names[o.standby]} (wave {int(waves[o.standby])})")
    for sid, others in inp.dr_outside.items():
        for other, role in others:
            label = system_names.get(other) or other
            where = f"wave {inp.moved[other]}, ran" if other in inp.moved else "does not move"
            out.setdefault(inp.index[sid], []).append(
                f"standby of {label} ({where})" if role == "primary"
                else f"standby {label} ({where})")
    return {i: "; ".join(v) for i, v in out.items()}
