"""The naive baseline: connected components of strong dependencies + first-fit decreasing.

What a team does by hand in Excel: systems joined by strong dependencies form a group (a
group too big for a wave is cut into wave-sized chunks in id order), groups are sorted by
hosts (largest first) and each goes into the first wave where it fits. Same per-wave limits
(hosts, systems, TB, bureau windows, bureaus) as the planner; no dependency order, no pilot,
no criticality, no attention to which dependencies are cut.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from shangyun.estate import Estate
from shangyun.planner import PlanOptions
from shangyun.planner.capacity import Limits, Load, load_of
from shangyun.planner.inputs import PlanInput, build_input


def naive_plan(estate: Estate, opts: PlanOptions) -> dict[str, int]:
    """Baseline waves and cut dependencies for ``estate`` under ``opts``' limits."""
    inp = build_input(estate, opts)
    limits = Limits(inp, opts)
    wave = naive_waves(inp, limits)
    return {"waves": int(wave.max()) if len(wave) else 0, "cut_dependencies": cut(inp, wave)}


def naive_waves(inp: PlanInput, limits: Limits) -> np.ndarray:
    """Wave number (1-based) of each system index."""
    g = nx.Graph()
    g.add_nodes_from(range(len(inp.systems)))
    p = inp.pairs[inp.pairs["strong"]]
    g.add_edges_from(zip(p["a"].tolist(), p["b"].tolist(), strict=True))
    groups: list[list[int]] = []
    for comp in nx.connected_components(g):
        chunk: list[int] = []
        for i in sorted(comp):
            if chunk and not limits.fits(load_of(inp, [*chunk, i])):
                groups.append(chunk)
                chunk = []
            chunk.append(i)
        groups.append(chunk)
    groups.sort(key=lambda c: (-int(inp.hosts[c].sum()), c[0]))
    loads: list[Load] = []
    wave = np.zeros(len(inp.systems), dtype=np.int64)
    for c in groups:
        ld = load_of(inp, c)
        for k, wl in enumerate(loads):
            if limits.fits(wl, ld):
                wl.add(ld)
                wave[c] = k + 1
                break
        else:
            loads.append(ld)
            wave[c] = len(loads)
    return wave


def cut(inp: PlanInput, wave: np.ndarray) -> int:
    """Dependencies whose two systems are in different waves."""
    a, b = inp.pairs["a"].to_numpy(), inp.pairs["b"].to_numpy()
    w = inp.pairs["weight"].to_numpy()
    return int(w[wave[a] != wave[b]].sum()) if len(w) else 0
