"""Move groups: systems bound by strong dependencies, split where a group cannot fit a wave.

Strong dependencies (database, synchronous calls by default) join systems into connected
components (networkx). A component that breaks a per-wave limit is split by community
detection: Louvain (``networkx.community.louvain_communities``, weighted by the number of
dependencies) finds densely connected parts, so the cut falls where few dependencies cross;
a part Louvain will not split further (a clique) is bisected by Kernighan–Lin, which
minimises the cut between two halves. Parts are split down to ``SPLIT_SCALE`` of a wave
(so the wave packer can fill waves well) and then merged back greedily along their heaviest
links while they still fit, undoing any needless split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from shangyun.errors import PlanError
from shangyun.planner.capacity import Limits, load_of
from shangyun.planner.inputs import PlanInput
from shangyun.words import counted, verb

MAX_SPLIT_DEPTH = 64
SPLIT_SCALE = 0.5


@dataclass
class MoveGroup:
    """Systems (indices) that move in the same wave, and how the group came to be."""

    id: str
    members: list[int]
    split_from: int = 0
    cut: int = 0
    why: list[str] = field(default_factory=list)


def _graph(nodes: list[int], a: np.ndarray, b: np.ndarray, w: np.ndarray) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(nodes)
    g.add_weighted_edges_from(zip(a.tolist(), b.tolist(), w.tolist(), strict=True))
    return g


def _too_big(inp: PlanInput, limits: Limits, too_big: list[tuple[int, str]]) -> str:
    """The error for systems that alone break a per-wave limit: every one of them (a team
    fixes its ledgers once, not once per run); for a window, how long its copy takes."""
    names = inp.systems
    first, why = too_big[0]
    if len(too_big) == 1:
        head = (f"constraint {why}: system {names[first]} alone does not fit one wave "
                "(a system is never split)")
    else:
        head = (f"constraint {why}: {len(too_big)} systems each alone does not fit one wave "
                "(a system is never split)")
    lines, windows = [], False
    for i, why in too_big:
        load = load_of(inp, [i])  # the bureau whose window it breaks (its hosts' bureau)
        b, gb = next(((b, gb) for b, gb in load.by_bureau.items()
                      if gb > limits.window.get(b, float("inf")) + 1e-6), (inp.bureau[i], 0.0))
        bur = inp.bureaus.get(b)
        if why.startswith("bureau ") and bur is not None and bur.link_mbps \
                and bur.window_hours and bur.capacity_gb is not None:
            windows = True
            eff = limits.opts.link_efficiency
            hours = gb * 8000 / (bur.link_mbps * eff) / 3600
            lines.append(f"system {names[i]} of bureau {b}: {gb:,.1f} GB take {hours:.1f} h "
                         f"over {bur.link_mbps:g} Mbps at {eff * 100:g} % efficiency; the "
                         f"window is {bur.window_hours:g} h ({bur.capacity_gb:,.1f} GB)")
        else:
            lines.append(f"system {names[i]}: {why}")
    if len(too_big) == 1 and not windows:
        return head
    # (each --exclude ID is shown as the CLI takes it, the system's name, by the plan)
    hint = ("; give the bureau a longer window (维护窗口时长) or a faster link (专线带宽) in "
            "its ledger, or raise --link-efficiency, or "
            + " ".join(f"--exclude {names[i]}" for i, _ in too_big) if windows else "")
    return head + ": " + "; ".join(lines) + hint


def move_groups(inp: PlanInput, limits: Limits, *, allow_split: bool = True,
                seed: int = 0) -> list[MoveGroup]:
    """The move groups of ``inp``; raises :class:`PlanError` for a system too big for a wave."""
    names = inp.systems
    n = len(names)
    too_big = [(i, why) for i in range(n) if (why := limits.violation(load_of(inp, [i])))]
    if too_big:
        raise PlanError(_too_big(inp, limits, too_big))
    pa, pb = inp.pairs["a"].to_numpy(), inp.pairs["b"].to_numpy()
    pw, ps = inp.pairs["weight"].to_numpy(), inp.pairs["strong"].to_numpy(dtype=bool)
    strong = _graph(list(range(n)), pa[ps], pb[ps], pw[ps])
    comp_of = np.zeros(n, dtype=np.int64)
    comps = sorted((sorted(c) for c in nx.connected_components(strong)), key=lambda c: c[0])
    for k, c in enumerate(comps):
        comp_of[c] = k
    part_limits = limits.scaled(SPLIT_SCALE)
    groups: list[MoveGroup] = []
    for k, members in enumerate(comps):
        why = limits.violation(load_of(inp, members))
        if why is None:
            groups.append(MoveGroup("", members))
            continue
        if not allow_split:
            raise PlanError(f"constraint {why}: move group of {len(members)} systems bound by "
                            f"strong dependencies ({_names(inp, members)}) does not fit one wave "
                            "and splitting is off")
        inside = (comp_of[pa] == k) & (comp_of[pb] == k)
        a, b, w = pa[inside], pb[inside], pw[inside]
        sub = _graph(members, a, b, w)
        parts = _split(inp, part_limits, sub, members, seed, 0)
        parts = _merge(inp, part_limits, parts, a, b, w)
        owner = {m: j for j, p in enumerate(parts) for m in p}
        oa = np.array([owner[x] for x in a.tolist()], dtype=np.int64)
        ob = np.array([owner[x] for x in b.tolist()], dtype=np.int64)
        cross = oa != ob
        cut = np.bincount(oa[cross], weights=w[cross], minlength=len(parts)) + \
            np.bincount(ob[cross], weights=w[cross], minlength=len(parts))
        total = int(w[cross].sum())
        for j, part in enumerate(parts):
            groups.append(MoveGroup("", sorted(part), split_from=len(members), cut=int(cut[j]),
                                    why=[f"split from {len(members)} strongly bound systems "
                                         f"({why}) into {len(parts)} parts by Louvain/"
                                         f"Kernighan–Lin ({counted(total, 'dependency')} "
                                         f"cut in all, {int(cut[j])} "
                                         f"{verb(int(cut[j]), 'touches', 'touch')} this "
                                         "part)"]))
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
    sub = g.subgraph(members).copy() if depth else g
    parts = [set(c) for c in nx.community.louvain_communities(sub, weight="weight", seed=seed)]
    if len(parts) < 2:
        x, y = nx.community.kernighan_lin_bisection(sub, weight="weight", seed=seed)
        parts = [set(x), set(y)]
    out: list[set[int]] = []
    for p in parts:
        out += _split(inp, limits, sub, sorted(p), seed, depth + 1)
    return out


def _merge(inp: PlanInput, limits: Limits, parts: list[set[int]], a: np.ndarray,
           b: np.ndarray, w: np.ndarray) -> list[set[int]]:
    """Merge parts joined by the heaviest links while the union still fits ``limits``."""
    owner = {m: k for k, p in enumerate(parts) for m in p}
    oa = np.array([owner[x] for x in a.tolist()], dtype=np.int64)
    ob = np.array([owner[x] for x in b.tolist()], dtype=np.int64)
    m = oa != ob
    lo, hi = np.minimum(oa[m], ob[m]), np.maximum(oa[m], ob[m])
    links: dict[tuple[int, int], float] = {}
    for x, y, v in zip(lo.tolist(), hi.tolist(), w[m].tolist(), strict=True):
        links[(x, y)] = links.get((x, y), 0.0) + v
    parent = list(range(len(parts)))
    sets = [set(p) for p in parts]
    loads = [load_of(inp, sorted(p)) for p in parts]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (x, y), _v in sorted(links.items(), key=lambda kv: (-kv[1], kv[0])):
        rx, ry = find(x), find(y)
        if rx == ry or not limits.fits(loads[rx], loads[ry]):
            continue
        parent[ry] = rx
        sets[rx] |= sets[ry]
        loads[rx].add(loads[ry])
    return [sets[k] for k in range(len(parts)) if find(k) == k]
