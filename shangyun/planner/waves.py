"""Waves: place units (move groups) into numbered waves under every limit.

1. Pins and the pilot are placed first. The pilot (wave 1) takes the smallest, least
   critical units that use no shared service and are not one, never beyond
   ``pilot_systems``, ``pilot_hosts`` and ``pilot_tb`` together; a unit whose consumer is
   pinned to wave 1 joins it. When nothing qualifies there is no pilot and the plan says
   why (its notes and each wave-1 system's reasons).
2. Waves are then filled one after another (list scheduling). A unit is eligible once its
   shared services are placed (same wave allowed with ``before-or-with``) and its ``lo``
   allows. Units that must move by this wave (a pinned consumer) go first; then the unit
   with the most dependencies into the wave (so coupled systems land together); then the
   least critical one (critical systems go later), preferring bureaus already in the wave
   (few bureaus per wave) and larger units (first-fit decreasing). A unit that does not fit
   waits for the next wave; why it did not fit is recorded for the explanation.
3. A local search moves single units to the wave holding most of their dependencies and
   swaps pairs of units between waves, when every limit and the dependency order still
   hold, and empties the lightest waves where it can. Small estates are packed several
   times with varied tie-breaks; the plan with the fewest waves, then the fewest cut
   dependencies, wins. Waves after the pilot are then ordered least critical first where the
   dependency order allows; empty waves are removed.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from shangyun.errors import PlanError
from shangyun.planner.capacity import Limits, Load
from shangyun.planner.groups import _names
from shangyun.planner.inputs import PlanInput
from shangyun.planner.options import PlanOptions
from shangyun.planner.order import INF, Unit, bound, earliest, latest
from shangyun.words import counted, verb

IMPROVE_PASSES = 3
RESTARTS = 32  # packing restarts with varied tie-breaks, for estates of few units
RESTART_UNITS = 400
RESTART_WORK = 3200  # restarts × units: 32 restarts up to 100 units, 8 at 400
SWAP_BUDGET = 30_000  # pair-swap evaluations per local-search pass
MAX_ELIMINATE = 50
ELIMINATE_TRIES = 12  # lightest waves tried per elimination round


@dataclass
class Schedule:
    """The wave of every unit plus what the explanation needs."""

    wave_of: list[int]
    pilot: set[int]
    pilot_note: str
    blocked: dict[int, tuple[int, str]] = field(default_factory=dict)
    moved: dict[int, tuple[int, int, float]] = field(default_factory=dict)
    loads: dict[int, Load] = field(default_factory=dict)
    attempts: int = 1
    #: what the plan's notes must say of the pilot ("" when it is as asked)
    pilot_notice: str = ""

    def copy(self) -> Schedule:
        """An independent copy (for restarts)."""
        return Schedule(list(self.wave_of), set(self.pilot), self.pilot_note,
                        dict(self.blocked), dict(self.moved),
                        defaultdict(Load, {k: v.copy() for k, v in self.loads.items()}),
                        self.attempts, self.pilot_notice)

    def why_blocked(self, uid: int) -> str | None:
        """Why an earlier wave could not take unit ``uid`` (final wave numbers)."""
        if uid not in self.blocked or uid in self.moved:
            return None
        k, why = self.blocked[uid]
        return f"wave {k} could not take it ({why})"

    def why_moved(self, uid: int) -> str | None:
        """How the local search moved unit ``uid`` (final wave numbers)."""
        if uid not in self.moved:
            return None
        a, b, gain = self.moved[uid]
        return (f"moved from wave {a} to wave {b} by the local search: "
                f"{counted(gain, 'fewer dependency', 'fewer dependencies')} "
                f"{verb(gain, 'crosses', 'cross')} waves")


def unit_adjacency(inp: PlanInput, u_of_sys: list[int]) -> list[dict[int, float]]:
    """For each unit, the number of dependencies to every other unit."""
    adj: list[dict[int, float]] = [{} for _ in range(max(u_of_sys, default=-1) + 1)]
    if not len(inp.pairs):
        return adj
    uos = np.asarray(u_of_sys, dtype=np.int64)
    ua = uos[inp.pairs["a"].to_numpy()]
    ub = uos[inp.pairs["b"].to_numpy()]
    w = inp.pairs["weight"].to_numpy()
    m = ua != ub
    agg: dict[tuple[int, int], float] = defaultdict(float)
    for a, b, x in zip(ua[m].tolist(), ub[m].tolist(), w[m].tolist(), strict=True):
        agg[(a, b)] += x
    for (a, b), x in agg.items():
        adj[a][b] = adj[a].get(b, 0.0) + x
        adj[b][a] = adj[b].get(a, 0.0) + x
    return adj


def pilot_size(opts: PlanOptions) -> str:
    """The pilot's size limits in words: ``3 systems, 10 hosts, 2 TB``."""
    data = "no data limit" if opts.pilot_tb is None else f"{opts.pilot_tb:g} TB"
    return (f"{counted(opts.pilot_systems, 'system')}, {counted(opts.pilot_hosts, 'host')}, "
            f"{data}")


def pilot_excess(load: Load, opts: PlanOptions) -> str | None:
    """What ``load`` holds beyond the pilot size, in words; None when it fits."""
    over = []
    if load.systems > opts.pilot_systems:
        over.append(f"{counted(load.systems, 'system')} > {opts.pilot_systems}")
    if load.hosts > opts.pilot_hosts:
        over.append(f"{counted(load.hosts, 'host')} > {opts.pilot_hosts}")
    if opts.pilot_tb is not None and load.data_gb > opts.pilot_tb * 1000 + 1e-6:
        over.append(f"{load.data_gb:,.1f} GB > {opts.pilot_tb * 1000:,.0f} GB")
    return ", ".join(over) or None


def _choose_pilot(inp: PlanInput, units: list[Unit], limits: Limits, opts: PlanOptions,
                  adj: list[dict[int, float]]) -> tuple[set[int], str, str]:
    """The pilot's units, the sentence each of its systems' reasons carries (or why there
    is none) and a note for the plan as a whole ("" when the pilot is as asked)."""
    pilot = {u.id for u in units if u.hi <= 1}
    pinned = bool(pilot)
    load = Load()
    for uid in pilot:
        load.add(units[uid].load)
    size = pilot_size(opts)
    if pilot:  # the user's pins (and what they pull along) are the pilot as chosen
        over = pilot_excess(load, opts)
        if over:
            systems = sorted(m for uid in pilot for m in units[uid].members)
            why = (f"pilot wave: the systems pinned to wave 1 ({_names(inp, systems, 5)}) "
                   f"are beyond the pilot size ({over}); the planner adds nothing to them")
            return pilot, why, why
    # (one, many) → how many move groups (a unit of shared services in a cycle holds several)
    why_not: dict[tuple[str, str], int] = defaultdict(int)
    cands = []
    for u in units:
        if u.pin is not None or u.id in pilot:
            continue
        if u.crit > 1:
            why_not[("is high or critical", "are high or critical")] += len(u.groups)
        elif u.shared:
            why_not[("is a shared service", "are shared services")] += len(u.groups)
        elif u.preds:
            why_not[("uses a shared service (it must move before or with it)",
                     "use a shared service (it must move before or with them)")] += len(u.groups)
        elif u.dr_preds:
            why_not[("moves after its DR partner", "move after their DR partners")] \
                += len(u.groups)
        elif pilot_excess(u.load, opts):
            why_not[(f"is larger than the pilot ({size})",
                     f"are larger than the pilot ({size})")] += len(u.groups)
        elif not limits.fits(Load(), u.load):
            why_not[("does not fit one wave", "do not fit one wave")] += len(u.groups)
        else:
            cands.append(u)
    cands.sort(key=lambda u: (u.crit, sum(adj[u.id].values()), u.load.hosts, u.load.data_gb,
                              u.members[0]))
    for u in cands:
        both = load.copy()
        both.add(u.load)
        if pilot_excess(both, opts) or not limits.fits(load, u.load):
            continue
        pilot.add(u.id)
        load = both
    if not pilot:
        tally = "; ".join(f"{n} {verb(n, *what)}" for what, n in
                          sorted(why_not.items(), key=lambda x: (-x[1], x[0][1])))
        why = ("no pilot wave: no move group is small and low-risk enough for one (low or "
               f"medium criticality, no shared service used or provided, at most {size})"
               + (f" — of {counted(sum(why_not.values()), 'move group')}: {tally}"
                  if tally else "")
               + "; wave 1 is an ordinary wave")
        return pilot, why, why
    chosen = "the systems pinned to wave 1, then " if pinned else ""
    return pilot, (f"pilot wave: {counted(load.systems, 'system')}, "
                   f"{counted(load.hosts, 'host')}, "
                   f"{load.data_gb:,.1f} GB within the pilot size ({size}) — {chosen}low "
                   "criticality first, no shared service used or provided, few dependencies"), ""


def schedule(inp: PlanInput, units: list[Unit], limits: Limits, opts: PlanOptions,
             adj: list[dict[int, float]], first_wave: int = 1, ran_note: str = "") -> Schedule:
    """Place every unit into a wave; raises :class:`PlanError` when a pin cannot be met.

    ``first_wave`` is the first wave number to fill (a re-plan: the one after the last
    wave that ran, ``ran_note`` saying so); there is no pilot wave then."""
    delta = 1 if opts.order == "before" else 0
    bound(inp, units, delta, first=first_wave)
    pilot: set[int] = set()
    along: dict[int, str] = {}
    note = "no pilot wave (--pilot-systems 0): wave 1 is an ordinary wave"
    notice = ""
    if first_wave > 1:
        note = f"no pilot wave: {ran_note or f'waves before {first_wave} have run'}"
    elif opts.pilot_systems > 0:
        pilot, note, notice = _choose_pilot(inp, units, limits, opts, adj)
        # shared services a consumer pinned to wave 1 brings along (they were not pinned)
        along = {uid: units[uid].hi_why for uid in pilot
                 if units[uid].pin is None and units[uid].hi <= 1 and units[uid].hi_why}
        for uid in pilot:
            u = units[uid]
            if u.pin is None:
                u.pin, u.pin_reason = 1, "chosen for the pilot wave"
    first = first_wave + 1 if pilot else first_wave
    bound(inp, units, delta, first=first)
    wave_of = [0] * len(units)
    loads: dict[int, Load] = defaultdict(Load)
    members: dict[int, set[int]] = defaultdict(set)
    for u in units:
        if u.pin is not None:
            wave_of[u.id] = u.pin
            loads[u.pin].add(u.load)
            members[u.pin].add(u.id)
    for w, ids in sorted(members.items()):
        why = limits.violation(loads[w])
        if why:
            systems = sorted(m for uid in ids for m in units[uid].members)
            what = "the pilot and pins" if w == 1 and pilot else "pins"
            came = "".join(f"; {_names(inp, units[uid].members, 3)} comes along: "
                           f"{along[uid]}" for uid in sorted(ids) if uid in along)
            raise PlanError(f"constraint {why}: {what} put too much into wave {w} "
                            f"({_names(inp, systems)}){came}")
    base = Schedule(wave_of, pilot, note, loads=loads, pilot_notice=notice)
    attempts = min(RESTARTS, RESTART_WORK // max(len(units), 1)) \
        if len(units) <= RESTART_UNITS else 1
    attempts = max(attempts, 1)
    rng = random.Random(opts.seed)
    best: Schedule | None = None
    best_score: tuple[int, float] | None = None
    for attempt in range(attempts):
        sched = base.copy()
        _fill(inp, units, limits, adj, sched, first, delta,
              _rank(units, attempt, rng, _pressure(inp, units, limits)))
        _improve(units, limits, adj, sched, delta, first)
        _eliminate(units, limits, adj, sched, delta, first)
        _improve(units, limits, adj, sched, delta, first)
        score = (len(set(sched.wave_of)), _unit_cut(adj, sched.wave_of))
        if best_score is None or score < best_score:
            best, best_score = sched, score
    assert best is not None
    best.attempts = attempts
    if not any(u.pin is not None and u.id not in pilot for u in units):
        _reorder(units, best, first)
    _compact(units, best, first_wave - 1)
    return best


def _pressure(inp: PlanInput, units: list[Unit], limits: Limits) -> dict[int, float]:
    """Per unit: how many windows its busiest bureau needs in all (scarce windows first)."""
    total: dict[str, float] = defaultdict(float)
    for d in inp.data_by_bureau:
        for b, gb in d.items():
            total[b] += gb
    need = {b: total[b] / cap for b, cap in limits.window.items() if cap}
    return {u.id: round(max([need.get(b, 0.0) for b in u.load.by_bureau], default=0.0))
            for u in units}


def _rank(units: list[Unit], attempt: int, rng: random.Random, pressure: dict[int, float]
          ) -> dict[int, tuple[int, float, float, int]]:
    """Tie-breaks of the packer: attempt 0 is the documented order, others vary it."""
    if attempt == 0:
        return {u.id: (u.crit, -pressure[u.id], -u.load.hosts, u.members[0]) for u in units}
    keep_crit = attempt % 2 == 1
    return {u.id: (u.crit if keep_crit else 0, rng.random(), 0.0, u.members[0]) for u in units}


def _unit_cut(adj: list[dict[int, float]], wave_of: list[int]) -> float:
    return sum(x for u, nb in enumerate(adj) for v, x in nb.items()
               if v > u and wave_of[u] != wave_of[v]) if adj else 0.0


def _bounds(u: Unit, wave_of: list[int], delta: int, first: int) -> tuple[int, int]:
    lo = max(u.lo, first, earliest(u, wave_of, delta))
    hi = min(u.hi, latest(u, wave_of, delta))
    return lo, hi


def _move(units: list[Unit], sched: Schedule, uid: int, b: int) -> None:
    a = sched.wave_of[uid]
    sched.loads[a].remove(units[uid].load)
    sched.loads.setdefault(b, Load()).add(units[uid].load)
    sched.wave_of[uid] = b


def _eliminate(units: list[Unit], limits: Limits, adj: list[dict[int, float]],
               sched: Schedule, delta: int, first: int) -> None:
    """Empty the lightest waves by moving their units where they fit (fewer waves)."""
    wave_of = sched.wave_of
    for _ in range(MAX_ELIMINATE):
        members: dict[int, list[int]] = defaultdict(list)
        for u in units:
            members[wave_of[u.id]].append(u.id)
        pinned = {u.pin for u in units if u.pin is not None}
        cands = sorted((w for w in members if w not in pinned),
                       key=lambda w: (sched.loads[w].systems, sched.loads[w].hosts, w))
        done = False
        for w in cands[:ELIMINATE_TRIES]:
            moved: list[tuple[int, int]] = []
            for uid in sorted(members[w], key=lambda x: -units[x].load.hosts):
                u = units[uid]
                lo, hi = _bounds(u, wave_of, delta, first)
                per: dict[int, float] = defaultdict(float)
                for v, x in adj[uid].items():
                    per[wave_of[v]] += x
                options = [b for b in members if b != w and lo <= b <= hi
                           and limits.fits(sched.loads[b], u.load)]
                if not options:
                    break
                b = max(options, key=lambda b: (per.get(b, 0.0), -b))
                _move(units, sched, uid, b)
                moved.append((uid, w))
            else:
                done = True
                for uid, _w in moved:
                    sched.moved.pop(uid, None)
                break
            for uid, old in reversed(moved):
                _move(units, sched, uid, old)
        if not done:
            return


def _reorder(units: list[Unit], sched: Schedule, first: int) -> None:
    """Order the waves after the pilot: least critical first where the order allows."""
    waves = sorted({w for w in sched.wave_of if w >= first})
    crit: dict[int, list[int]] = defaultdict(list)
    for u in units:
        crit[sched.wave_of[u.id]].extend([u.crit] * len(u.members))
    edges: dict[int, set[int]] = defaultdict(set)
    indeg = dict.fromkeys(waves, 0)
    for u in units:
        for p in (*u.preds, *u.dr_preds):
            a, b = sched.wave_of[p], sched.wave_of[u.id]
            if a != b and a >= first and b not in edges[a]:
                edges[a].add(b)
                indeg[b] += 1
    key = {w: (sum(crit[w]) / len(crit[w]), max(crit[w]), w) for w in waves}
    heap = [(key[w], w) for w in waves if indeg[w] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        _k, w = heapq.heappop(heap)
        order.append(w)
        for b in edges[w]:
            indeg[b] -= 1
            if indeg[b] == 0:
                heapq.heappush(heap, (key[b], b))
    if len(order) != len(waves):  # pragma: no cover - wave numbers already are an order
        return
    mapping = {w: w for w in set(sched.wave_of) if w < first}
    mapping.update({w: first + i for i, w in enumerate(order)})
    _renumber(sched, mapping)


def _fill(inp: PlanInput, units: list[Unit], limits: Limits, adj: list[dict[int, float]],
          sched: Schedule, first: int, delta: int,
          rank: dict[int, tuple[int, float, float, int]]) -> None:
    wave_of, loads = sched.wave_of, sched.loads
    remaining = {u.id for u in units if u.pin is None}
    left = {u.id: sum(1 for p in (*u.preds, *u.dr_preds) if p in remaining) for u in units}
    ready: dict[int, int] = {}

    def release(uid: int) -> None:
        u = units[uid]
        ready[uid] = max(u.lo, earliest(u, wave_of, delta))

    for uid in remaining:
        if left[uid] == 0:
            release(uid)
    static = sorted(remaining, key=rank.__getitem__)
    due = {uid for uid in remaining if units[uid].hi < INF}
    guard = len(units) + max([u.pin or 0 for u in units] + [first]) + 2
    k = first
    bureaus_of = {u.id: set(u.load.by_bureau) for u in units}
    while remaining:
        if k > guard:  # pragma: no cover - every unit fits an empty wave, so this cannot be
            raise PlanError("internal: the wave scheduler did not converge")
        load = loads[k]
        aff: dict[int, float] = defaultdict(float)
        for uid in [x for x, w in enumerate(wave_of) if w == k]:
            for v, x in adj[uid].items():
                if v in remaining:
                    aff[v] += x
        heap = [(-x, rank[v], v) for v, x in aff.items()]
        heapq.heapify(heap)
        waiting: set[int] = set()
        rejected: dict[int, str] = {}

        def fits(v: int, load: Load = load, rejected: dict[int, str] = rejected) -> bool:
            why = limits.violation(load, units[v].load)
            if why:
                rejected[v] = why
            return why is None

        while True:
            pick = None
            for v in sorted(due, key=lambda x: (units[x].hi, x)):
                if v in ready and ready[v] <= k and units[v].hi <= k:
                    why = limits.violation(load, units[v].load)
                    if why:
                        raise PlanError(
                            f"constraint {why}: {_names(inp, units[v].members)} must move by "
                            f"wave {k} ({units[v].hi_why}) but wave {k} cannot take it")
                    pick = v
                    break
            while pick is None and heap:
                negw, _r, v = heapq.heappop(heap)
                if v not in remaining or v in rejected or -negw != aff.get(v):
                    continue
                if v not in ready:
                    waiting.add(v)
                elif ready[v] <= k and fits(v):
                    pick = v
            if pick is None:
                pick = _next_by_rank(static, ready, k, rejected, rank, bureaus_of,
                                     set(load.by_bureau), fits)
            if pick is None:
                break
            wave_of[pick] = k
            load.add(units[pick].load)
            remaining.discard(pick)
            due.discard(pick)
            del ready[pick]
            aff.pop(pick, None)
            for v, x in adj[pick].items():
                if v in remaining:
                    aff[v] += x
                    heapq.heappush(heap, (-aff[v], rank[v], v))
            for s in (*units[pick].succs, *units[pick].dr_succs):
                if s in remaining:
                    left[s] -= 1
                    if left[s] == 0:
                        release(s)
                        if s in waiting:
                            heapq.heappush(heap, (-aff[s], rank[s], s))
        for v in [x for x in ready if ready[x] <= k]:
            sched.blocked[v] = (k, rejected.get(v) or "full")
        stuck = [v for v in due if units[v].hi <= k]
        if stuck:
            v = stuck[0]
            raise PlanError(f"constraint pins vs dependency order: {_names(inp, units[v].members)}"
                            f" must move by wave {k} ({units[v].hi_why}) but its shared "
                            "services are not placed by then")
        k += 1
        static = [v for v in static if v in remaining]


def _next_by_rank(static: list[int], ready: dict[int, int], k: int, rejected: dict[int, str],
                  rank: dict[int, tuple[int, float, float, int]], bureaus_of: dict[int, set[str]],
                  wave_bureaus: set[str], fits: Callable[[int], bool]) -> int | None:
    """The least critical eligible unit that fits, preferring bureaus already in the wave."""
    level: int | None = None
    others: list[int] = []
    for v in static:
        if v not in ready or ready[v] > k or v in rejected:
            continue
        c = rank[v][0]
        if level is not None and c != level:
            for o in others:
                if fits(o):
                    return o
            others = []
        level = c
        if bureaus_of[v] <= wave_bureaus:
            if fits(v):
                return v
        else:
            others.append(v)
    for o in others:
        if fits(o):
            return o
    return None


def _improve(units: list[Unit], limits: Limits, adj: list[dict[int, float]], sched: Schedule,
             delta: int, first: int) -> None:
    wave_of, loads = sched.wave_of, sched.loads
    for _ in range(IMPROVE_PASSES):
        moved = False
        for u in units:
            if u.pin is not None:
                continue
            a = wave_of[u.id]
            lo, hi = _bounds(u, wave_of, delta, first)
            per: dict[int, float] = defaultdict(float)
            for v, x in adj[u.id].items():
                per[wave_of[v]] += x
            best, gain = a, 0.0
            for b, x in per.items():
                if b == a or b < lo or b > hi:
                    continue
                g = x - per.get(a, 0.0)
                if g > gain and limits.fits(loads[b], u.load):
                    best, gain = b, g
            if best != a:
                loads[a].remove(u.load)
                loads[best].add(u.load)
                wave_of[u.id] = best
                sched.moved[u.id] = (a, best, gain)
                moved = True
        if not moved and not _swaps(units, limits, adj, sched, delta, first):
            break


def _per_wave(adj: list[dict[int, float]], wave_of: list[int], uid: int) -> dict[int, float]:
    per: dict[int, float] = defaultdict(float)
    for v, x in adj[uid].items():
        per[wave_of[v]] += x
    return per


def _swaps(units: list[Unit], limits: Limits, adj: list[dict[int, float]], sched: Schedule,
           delta: int, first: int) -> bool:
    """Swap two units of different waves when fewer dependencies then cross (full waves)."""
    wave_of, loads = sched.wave_of, sched.loads
    members: dict[int, list[int]] = defaultdict(list)
    for u in units:
        if u.pin is None:
            members[wave_of[u.id]].append(u.id)
    budget = SWAP_BUDGET
    swapped = False
    degree = [sum(nb.values()) for nb in adj]
    for u in units:
        if u.pin is not None or budget <= 0:
            continue
        a = wave_of[u.id]
        per_u = _per_wave(adj, wave_of, u.id)
        lo_u, hi_u = _bounds(u, wave_of, delta, first)
        for b in sorted(per_u, key=lambda w: -per_u[w])[:3]:
            if b == a or not lo_u <= b <= hi_u or per_u[b] <= 0:
                continue
            done = False
            for vid in members[b]:
                budget -= 1
                v = units[vid]
                base = per_u[b] - per_u.get(a, 0.0) - 2 * adj[u.id].get(vid, 0.0)
                if vid in u.preds or vid in u.succs or vid in u.dr_preds \
                        or vid in u.dr_succs or base + degree[vid] <= 0:
                    continue
                per_v = _per_wave(adj, wave_of, vid)
                gain = (per_u[b] - per_u.get(a, 0.0) + per_v.get(a, 0.0) - per_v.get(b, 0.0)
                        - 2 * adj[u.id].get(vid, 0.0))
                if gain <= 0:
                    continue
                lo_v, hi_v = _bounds(v, wave_of, delta, first)
                if not lo_v <= a <= hi_v:
                    continue
                la, lb = loads[a].copy(), loads[b].copy()
                la.remove(u.load)
                lb.remove(v.load)
                if not (limits.fits(la, v.load) and limits.fits(lb, u.load)):
                    continue
                la.add(v.load)
                lb.add(u.load)
                loads[a], loads[b] = la, lb
                wave_of[u.id], wave_of[vid] = b, a
                members[a].remove(u.id)
                members[b].remove(vid)
                members[a].append(vid)
                members[b].append(u.id)
                sched.moved[u.id] = (a, b, gain)
                sched.moved[vid] = (b, a, gain)
                swapped = done = True
                break
            if done:
                break
    return swapped


def _compact(units: list[Unit], sched: Schedule, ran: int = 0) -> None:
    """Number the waves without gaps after the highest pin (or ``ran``, the last wave
    that has run)."""
    fixed = max([u.pin or 0 for u in units] + [ran])
    used = sorted(set(sched.wave_of))
    mapping: dict[int, int] = {}
    nxt = fixed + 1
    for w in used:
        if w <= fixed:
            mapping[w] = w
        else:
            mapping[w] = nxt
            nxt += 1
    _renumber(sched, mapping)


def _renumber(sched: Schedule, mapping: dict[int, int]) -> None:
    """Apply ``mapping`` (old → new wave number) to every number the schedule holds."""
    sched.wave_of[:] = [mapping[w] for w in sched.wave_of]
    sched.loads = defaultdict(Load, {mapping[w]: ld for w, ld in sched.loads.items()
                                     if w in mapping})
    sched.blocked = {u: (mapping.get(k, k), why) for u, (k, why) in sched.blocked.items()}
    sched.moved = {u: (mapping.get(a, a), mapping.get(b, b), g)
                   for u, (a, b, g) in sched.moved.items()}
