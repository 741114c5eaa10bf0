"""Does a wave's estimated time fit each bureau's window? The packer's time check.

The packer places move groups by the estimated time the wave's runbook will give, not only
by the data its link moves: the same estimator (:mod:`shangyun.wave.estimate`), fed the
same steps (:func:`shangyun.wave.builder.wave_steps`). Each system's steps are estimated
once, alone (:func:`~shangyun.wave.estimate.estimate_wave` on a wave of that one system);
what a wave's composition changes is then exact and cheap:

- the link share: a bureau's link is shared by its move groups in the wave (up to its
  :func:`~shangyun.wave.estimate.bureau_slots` and the run's workers), so a system's upload
  takes ``share`` times its time alone, every other step is unchanged;
- the order: :func:`~shangyun.wave.estimate.schedule` (the estimator's own) runs the
  wave's move groups in plan order on the run's workers, one system after another in each
  group, each on a slot of its bureau — only for the date(s) the candidate touches.

Bureaus whose windows fall on the same day of the wave's slot share the workers (the
calendar puts a bureau on its window day; ``daily`` or no window: the slot's first day). A
blackout can move a whole wave, never one bureau within it, so the days agree with the
calendar's for a weekly cadence; the plan re-estimates every window after packing anyway
and names any it still overruns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shangyun.estate import Estate
from shangyun.planner.calendar import window_date
from shangyun.planner.inputs import PlanInput
from shangyun.planner.options import PlanOptions
from shangyun.wave.builder import wave_steps
from shangyun.wave.estimate import (
    DEFAULT_LINK_MBPS,
    GLOBAL_SLOTS,
    Rates,
    bureau_slots,
    estimate_wave,
    human_duration,
    schedule,
    step_seconds,
)
from shangyun.wave.model import WaveWork, estate_index, system_work
from shangyun.wave.steps import RunOptions

MEMO = 200_000
"""Sets of systems whose spans are remembered (then forgotten all at once)."""
SLACK = 1e-6
"""Relative margin kept below a window (the estimator sums the same terms in another order)."""


@dataclass(frozen=True)
class SystemTime:
    """One system's estimate alone: ``alone`` seconds (its steps one after another at its
    bureau's whole link), ``upload`` of them over the link (``share`` times longer when the
    link is shared), ``sized`` False when a host has neither disks nor a size."""

    alone: float
    upload: float
    sized: bool

    def seconds(self, share: int) -> float:
        """Its seconds with its bureau's link shared ``share`` ways."""
        return self.alone + (max(share, 1) - 1) * self.upload


class TimeModel:
    """Per system its estimate alone; per bureau its window (seconds), slots and day."""

    def __init__(self, estate: Estate, inp: PlanInput, opts: PlanOptions,
                 estate_dir: str = "") -> None:
        ix = estate_index(estate)
        used = {d["id"]: float(d["used_gb"]) for rows in ix.disks.values() for d in rows
                if d.get("used_gb") is not None}  # (the index holds every disk row)
        host_gb = {h["id"]: h.get("disk_gb") for rows in ix.hosts.values() for h in rows}
        works = [system_work(ix.systems[sid], ix.bureaus, ix.hosts.get(sid, []), ix.disks,
                             sid, strict=False) for sid in inp.systems]
        everything = WaveWork(number=0, estate_dir=estate_dir, plan_fingerprint="",
                              estate_fingerprint="", systems=tuple(works))
        steps = wave_steps(everything, RunOptions())
        self.times: list[SystemTime] = []
        for s in works:
            alone = WaveWork(number=0, estate_dir=estate_dir, plan_fingerprint="",
                             estate_fingerprint="", systems=(s,))
            est = estimate_wave(alone, steps, used, None, opts.link_efficiency,
                                opts.disk_mbps, host_gb)
            rates = Rates(link_mbps=est.links[s.bureau_id], efficiency=opts.link_efficiency,
                          disk_mbps=opts.disk_mbps)
            up = sum(t for st, t in zip(steps.get(s.id, []), est.steps[s.id], strict=True)
                     if st.kind == "upload")
            up += sum(step_seconds("upload", float(host_gb.get(h) or 0.0), rates)
                      for h in (x.id for x in s.hosts if not x.disks) if h in est.bare)
            self.times.append(SystemTime(est.seconds(s.id), up, not est.unsized.get(s.id)))
        self.bureau = inp.bureau
        self.slots = {s.bureau_id: bureau_slots(s.link_mbps or DEFAULT_LINK_MBPS)
                      for s in works}
        self.window: dict[str, float] = {}
        self.day: dict[str, int] = {}
        for b in set(inp.bureau):
            bur = inp.bureaus.get(b)
            if bur is not None and bur.link_mbps and bur.window_hours:
                self.window[b] = bur.window_hours * 3600.0
            first = window_date(opts.start, opts.cadence_days, bur, set())
            self.day[b] = (first - opts.start).days if first is not None else -1
        self.group_of: dict[int, int] = {}
        self.scale = 1.0
        #: spans per set of systems (the local search asks of the same waves again)
        self._memo: dict[tuple[int, ...], dict[str, tuple[float, bool]]] = {}
        #: systems that alone overrun their bureau's window: each gets a window of its own
        self.over = {i for i, t in enumerate(self.times) if t.sized
                     and self.bureau[i] in self.window
                     and t.alone > self.window[self.bureau[i]] * (1 - SLACK)}

    def scaled(self, scale: float) -> TimeModel:
        """The same model with every window shrunk to ``scale`` of it (split parts)."""
        out = object.__new__(TimeModel)
        out.__dict__.update(self.__dict__)
        out.scale = scale
        return out

    def set_groups(self, groups: list[list[int]]) -> None:
        """The move groups (their members, in plan order): a wave runs them in this order."""
        self.group_of = {i: k for k, members in enumerate(groups) for i in members}
        self._memo.clear()

    def spans(self, members: list[int], days: set[int] | None = None
              ) -> dict[str, tuple[float, bool]]:
        """Per bureau of ``members`` (on ``days``; None: all) its span in the wave (first
        start to last end, seconds) and whether it is known (every system sized)."""
        chosen = sorted(i for i in members if days is None or self.day[self.bureau[i]] in days)
        key = tuple(chosen)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        if len(self._memo) > MEMO:
            self._memo.clear()
        self._memo[key] = out = self._spans(chosen)
        return out

    def _spans(self, chosen: list[int]) -> dict[str, tuple[float, bool]]:
        groups: dict[int, list[int]] = {}
        sharing: dict[str, set[int]] = {}
        for i in sorted(chosen, key=lambda i: (self.group_of.get(i, -1), i)):
            g = self.group_of.get(i, -1)
            groups.setdefault(g, []).append(i)
            sharing.setdefault(self.bureau[i], set()).add(g)
        share = {b: min(self.slots[b], GLOBAL_SLOTS, len(gs)) for b, gs in sharing.items()}
        secs = {i: self.times[i].seconds(share[self.bureau[i]]) for i in chosen}
        starts: dict[str, float] = {}
        for d in sorted({self.day[self.bureau[i]] for i in chosen}):
            jobs = [[(str(i), self.bureau[i], secs[i], self.slots[self.bureau[i]])
                     for i in g if self.day[self.bureau[i]] == d] for g in groups.values()]
            starts.update(schedule([j for j in jobs if j]))
        out: dict[str, tuple[float, bool]] = {}
        first: dict[str, float] = {}
        for i in chosen:
            b, t = self.bureau[i], starts[str(i)]
            first[b] = min(first.get(b, t), t)
            end, known = out.get(b, (0.0, True))
            out[b] = (max(end, t + secs[i]), known and self.times[i].sized)
        return {b: (end - first[b], known) for b, (end, known) in out.items()}

    def violation(self, members: list[int], extra: list[int] | None = None) -> str | None:
        """The first bureau whose estimated time in a wave of ``members`` (+ ``extra``)
        overruns its window, in words; None when every checked window fits. Only the days
        ``extra`` touches are estimated again."""
        if extra is not None and self.over:  # a window one system has to itself: no spans
            touched = {self.bureau[i] for i in extra}
            # only a bureau of the candidate holding such a system can be refused so
            lone = {self.bureau[i] for i in self.over.intersection(members)} \
                | {self.bureau[i] for i in self.over.intersection(extra)}
            for b in sorted(lone & touched):
                these = [i for i in (*members, *extra) if self.bureau[i] == b]
                big = [i for i in these if i in self.over]
                if big and len(these) > 1 and all(self.times[i].sized for i in these):
                    return (f"bureau {b} window taken: a system estimated "
                            f"{human_duration(self.times[big[0]].alone)} alone has the "
                            f"{self.window[b] * self.scale / 3600:g} h window to itself")
        days = None if extra is None else {self.day[self.bureau[i]] for i in extra}
        both = members if extra is None else [*members, *extra]
        after = self.spans(both, days)
        for b, (span, known) in sorted(after.items()):
            limit = self.window.get(b)
            if limit is None or not known or span <= limit * self.scale * (1 - SLACK):
                continue
            mine = [i for i in both if self.bureau[i] == b]
            if len(mine) == 1 and mine[0] in self.over:
                continue  # too long even alone: its window holds nothing else (a note says so)
            hours = f"{limit * self.scale / 3600:g} h"
            if extra is None:
                return f"bureau {b} window time: estimated {human_duration(span)} > {hours}"
            before = self.spans(members, {self.day[b]}).get(b, (0.0, True))[0]
            if before > limit * self.scale * (1 - SLACK):
                return (f"bureau {b} window taken: a system estimated "
                        f"{human_duration(before)} alone has the {hours} window to itself")
            return (f"bureau {b} window full: estimated {human_duration(before)} of {hours}, "
                    f"{human_duration(span)} with it")
        return None

    def alone(self, i: int) -> dict[str, Any]:
        """System ``i`` alone in a wave: its bureau, estimate and window (seconds)."""
        b = self.bureau[i]
        return {"bureau": b, "seconds": self.times[i].alone, "window": self.window.get(b),
                "upload": self.times[i].upload}
