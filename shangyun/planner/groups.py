"""Move groups: systems bound by strong dependencies, split where a group cannot fit a wave.

Strong dependencies (database, synchronous calls by default) join systems into connected
components (networkx). A component that breaks a per-wave limit is split by community
detection: Louvain (``networkx.community.louvain_communities``, weighted by the number of
dependencies) finds densely connected parts, so the cut falls where few dependencies cross;
a part Louvain will not split further (a clique) is bisected by Kernighan–Lin, which
minimises the cut between two halves. Parts are then merged back greedily along their
heaviest links while they still fit, undoing any needless split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from shangyun.errors import PlanError
from shangyun.planner.capacity import Limits, load_of
from shangyun.planner.inputs import PlanInput

MAX_SPLIT_DEPTH = 64


@dataclass
class MoveGroup:
    """Systems (indices) that move in the same wave, and how the group came to be."""

    id: str
    members: list[int]
    split_from: int = 0
    cut: int = 0
    why: list[str] = field(default_factory=list)


def _graph(inp: PlanInput, strong_only: bool) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(len(inp.systems)))
    p = inp.pairs[inp.pairs["strong"]] if strong_only else inp.pairs
    g.add_weighted_edges_from(zip(p["a"].tolist(), p["b"].tolist(), p["weight"].tolist(),
                                  strict=True))
    return g


def move_groups(inp: PlanInput, limits: Limits, *, allow_split: bool = True,
                seed: int = 0) -> list[MoveGroup]:
    """The move groups of ``inp``; raises :class:`PlanError` for a system too big for a wave."""
    names = inp.systems
    for i in range(len(names)):
        why = limits.violation(load_of(inp, [i]))
        if why:
            raise PlanError(f"constraint {why}: system {names[i]} alone does not fit one wave "
                            "(a system is never split)")
    strong = _graph(inp, strong_only=True)
    full: nx.Graph | None = None
    groups: list[MoveGroup] = []
    for comp in sorted(nx.connected_components(strong), key=min):
        members = sorted(comp)
        why = limits.violation(load_of(inp, members))
        if why is None:
            groups.append(MoveGroup("", members))
            continue
        if not allow_split:
            raise PlanError(f"constraint {why}: move group of {len(members)} systems bound by "
                            f"strong dependencies ({_names(inp, members)}) does not fit one wave "
                            "and splitting is off")
        if full is None:
            full = _graph(inp, strong_only=False)
        sub = full.subgraph(members)
        parts = _merge(inp, limits, sub, _split(inp, limits, sub, members, seed, 0))
        total = len(parts)
        for part in parts:
            cut = int(sum(d["weight"] for u, v, d in sub.edges(part, data=True)
                          if (u in part) != (v in part)))
            groups.append(MoveGroup("", sorted(part), split_from=len(members), cut=cut, why=[
                f"split from {len(members)} strongly bound systems ({why}) into {total} "
                f"parts by Louvain/Kernighan–Lin; this part's cut: {cut} dependencies"]))
    groups.sort(key=lambda g: names[g.members[0]])
    width = len(str(len(groups)))
    for k, g in enumerate(groups, 1):
        g.id = f"MG-{k:0{width}d}"
    return groups


def _names(inp: PlanInput, members: list[int], limit: int = 6) -> str:
    shown = [inp.systems[i] for i in members[:limit]]
    more = f" and {len(members) - limit} more" if len(members) > limit else ""
    return ", ".join(shown) + more


def _split(inp: PlanInput, limits: Limits, g: nx.Graph, members: list[int], seed: int,
           depth: int) -> list[set[int]]:
    if limits.fits(load_of(inp, members)):
        return [set(members)]
    if len(members) == 1 or depth > MAX_SPLIT_DEPTH:
        return [{m} for m in members]
    sub = g.subgraph(members)
    parts = [set(c) for c in nx.community.louvain_communities(sub, weight="weight", seed=seed)]
    if len(parts) < 2:
        a, b = nx.community.kernighan_lin_bisection(sub, weight="weight", seed=seed)
        parts = [set(a), set(b)]
    out: list[set[int]] = []
    for p in parts:
        out += _split(inp, limits, g, sorted(p), seed, depth + 1)
    return out


def _merge(inp: PlanInput, limits: Limits, g: nx.Graph, parts: list[set[int]]) -> list[set[int]]:
    """Merge parts joined by the heaviest links while the union still fits a wave."""
    owner = np.empty(max(g.nodes) + 1, dtype=np.int64)
    for k, p in enumerate(parts):
        for m in p:
            owner[m] = k
    links: dict[tuple[int, int], float] = {}
    for u, v, d in g.edges(data=True):
        a, b = int(owner[u]), int(owner[v])
        if a != b:
            key = (min(a, b), max(a, b))
            links[key] = links.get(key, 0.0) + d["weight"]
    parent = list(range(len(parts)))
    sets = [set(p) for p in parts]
    loads = [load_of(inp, sorted(p)) for p in parts]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (a, b), _w in sorted(links.items(), key=lambda kv: -kv[1]):
        ra, rb = find(a), find(b)
        if ra == rb or not limits.fits(loads[ra], loads[rb]):
            continue
        parent[rb] = ra
        sets[ra] |= sets[rb]
        loads[ra].add(loads[rb])
    return [sets[k] for k in range(len(parts)) if find(k) == k]
