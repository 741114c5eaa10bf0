"""The exact optimum of small instances with CP-SAT (OR-tools).

Same hard constraints as the planner: per-wave hosts, systems, TB and each bureau's window;
strong dependencies never cut (the instances' strong groups fit a wave); shared services in
a wave before or with their consumers. Two solves: the fewest waves, then the fewest cut
dependencies with at most a given number of waves.
"""

from __future__ import annotations

from ortools.sat.python import cp_model

from shangyun.planner import PlanOptions
from shangyun.planner.inputs import PlanInput

SCALE = 10  # data in tenths of a GB, so CP-SAT works on integers


def solve(inp: PlanInput, opts: PlanOptions, max_waves: int, *, minimise: str,
          time_limit: float = 20.0) -> tuple[int, int, bool]:
    """(waves, cut, proven optimal) minimising ``"waves"`` or ``"cut"``."""
    n, k_max = len(inp.systems), max_waves
    m = cp_model.CpModel()
    x = [[m.NewBoolVar(f"x{i}_{k}") for k in range(k_max)] for i in range(n)]
    used = [m.NewBoolVar(f"u{k}") for k in range(k_max)]
    wave = [m.NewIntVar(0, k_max - 1, f"w{i}") for i in range(n)]
    for i in range(n):
        m.AddExactlyOne(x[i])
        m.Add(wave[i] == sum(k * x[i][k] for k in range(k_max)))
        for k in range(k_max):
            m.AddImplication(x[i][k], used[k])
    for k in range(k_max - 1):
        m.Add(used[k] >= used[k + 1])
    for k in range(k_max):
        if opts.max_hosts:
            m.Add(sum(int(inp.hosts[i]) * x[i][k] for i in range(n)) <= opts.max_hosts)
        if opts.max_systems:
            m.Add(sum(x[i][k] for i in range(n)) <= opts.max_systems)
        if opts.max_tb:
            m.Add(sum(round(float(inp.data_gb[i]) * SCALE) * x[i][k] for i in range(n))
                  <= int(opts.max_tb * 1000 * SCALE))
        for b, bur in inp.bureaus.items():
            if bur.capacity_gb is None:
                continue
            terms = [(round(inp.data_by_bureau[i].get(b, 0.0) * SCALE), i) for i in range(n)]
            if any(t for t, _ in terms):
                m.Add(sum(t * x[i][k] for t, i in terms if t) <= int(bur.capacity_gb * SCALE))
    cuts = []
    for a, b, w, strong in inp.pairs[["a", "b", "weight", "strong"]].itertuples(
            index=False, name=None):
        if strong:
            m.Add(wave[a] == wave[b])
            continue
        c = m.NewBoolVar(f"c{a}_{b}")
        m.Add(wave[a] != wave[b]).OnlyEnforceIf(c)
        m.Add(wave[a] == wave[b]).OnlyEnforceIf(c.Not())
        cuts.append((int(w), c))
    if opts.order != "off":
        for c, p, _w in inp.precedence:
            if opts.order == "before":
                m.Add(wave[p] < wave[c])
            else:
                m.Add(wave[p] <= wave[c])
    if minimise == "waves":
        m.Minimize(sum(used))
    else:
        m.Minimize(sum(w * c for w, c in cuts))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = 2
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError("CP-SAT found no solution")
    waves = sum(int(solver.Value(u)) for u in used)
    cut = sum(w * int(solver.Value(c)) for w, c in cuts)
    return waves, cut, status == cp_model.OPTIMAL
