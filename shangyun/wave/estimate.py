"""How long a wave run takes, and whether each bureau's share fits its window (pure).

The one estimator: the runbook (:mod:`shangyun.runbook.context`) and the plan
(:mod:`shangyun.planner.plan`) both call :func:`estimate_wave` on the wave's steps (the
engine's own list, :func:`shangyun.wave.builder.build_steps`) and :func:`window_verdict` on
the result, so the plan and the runbook cannot disagree on a window.

It models what the wave flow (``flows/wave.py``) does:

- a system's steps run one after another (convert every disk, adapt every host, upload
  every disk, import every disk, test-launch every host): a system with many hosts is one
  long chain;
- move groups run at once, at most :data:`GLOBAL_SLOTS` (the flow's worker threads and its
  global concurrency limit); a move group's systems run one after another in its thread;
- each system also holds one of its bureau's :func:`bureau_slots`; the systems of a bureau
  that can be in flight together share its link.

Convert reads the whole source disk (``size_gb``: a thick disk is read end to end); import
writes only allocated data (``used_gb`` when known, else the size); both run on local disks
at ``disk_mbps``. Upload sends the allocated data over the bureau's link at
``link_mbps × efficiency`` (its share of it). The two rates are plan options
(:class:`shangyun.planner.options.PlanOptions` ``disk_mbps`` and ``link_efficiency``,
recorded in ``plan.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shangyun.wave.model import SystemWork, WaveWork
from shangyun.wave.steps import Step

DISK_MBPS = 150.0
"""Megabytes per second a local ``qemu-img convert`` / import sustains (conservative)."""
LINK_EFFICIENCY = 0.8
"""The share of a bureau's link a copy really gets."""
DEFAULT_LINK_MBPS = 100.0
"""Assumed link when a bureau has none recorded (a warning says so)."""
FIXED_SECONDS = {"precheck": 60.0, "adapt": 180.0, "launch": 180.0, "copy": 600.0, "freeze": 120.0,
                 "delta": 300.0, "verify": 120.0, "start": 180.0, "dns": 60.0,
                 "health": 120.0, "cutover": 10.0}
"""Steps estimated by a fixed allowance: pre-checks and booting instances; and the cutover
steps, whose databases and file sets the estate does not size (an allowance per item)."""
GLOBAL_SLOTS = 4
"""Move groups a wave run moves at once (the flow's worker threads and global limit)."""


@dataclass(frozen=True)
class Rates:
    """The rates estimates use: link bandwidth, the share of it a copy gets, disk speed."""

    link_mbps: float = DEFAULT_LINK_MBPS
    efficiency: float = LINK_EFFICIENCY
    disk_mbps: float = DISK_MBPS


def step_seconds(kind: str, data_gb: float, rates: Rates) -> float:
    """Estimated seconds of one step of ``kind`` moving ``data_gb`` gigabytes."""
    if kind in FIXED_SECONDS:
        return FIXED_SECONDS[kind]
    megabytes = max(data_gb, 0.0) * 1000.0
    if kind == "upload":
        return megabytes * 8.0 / max(rates.link_mbps * rates.efficiency, 1e-6)
    return megabytes / max(rates.disk_mbps, 1e-6)


def copy_seconds(data_gb: float, rates: Rates) -> float:
    """Estimated seconds to move ``data_gb`` gigabytes of a host whose disks the estate does
    not list (a ledger gives only its size): what its disks' steps would take — convert,
    upload over the link (the plan's copy-time figure), import."""
    return sum(step_seconds(kind, data_gb, rates) for kind in ("convert", "upload", "import"))


def bureau_slots(link_mbps: float | None) -> int:
    """Systems a bureau's link carries at once: one per 100 Mbps, between 1 and 4 (the wave
    flow's per-bureau concurrency limit)."""
    if not link_mbps:
        return 1
    return max(1, min(4, int(link_mbps // 100)))


def step_data_gb(step: Step, used: Mapping[str, float], system: SystemWork) -> float:
    """The gigabytes ``step`` moves: a convert reads the disk's size, an upload or import
    its used space when known (else its size); other steps move none."""
    disk_id = step.key.split("/")[-1]
    for d in system.disks:
        if d.id == disk_id:
            return used.get(d.id, d.size_gb) if step.kind != "convert" else d.size_gb
    return 0.0


def schedule(groups: list[list[tuple[str, str, float, int]]],
             global_slots: int = GLOBAL_SLOTS) -> dict[str, float]:
    """Start offsets (s) of the systems of ``groups`` (each a move group: its
    ``(system, bureau, seconds, bureau slots)`` in plan order) as the flow runs them: a move
    group takes a free worker (``global_slots`` of them, first come first served) and moves
    its systems one after another, each once one of its bureau's slots is free."""
    workers = [0.0] * max(global_slots, 1)
    free_bureau: dict[str, list[float]] = {}
    starts: dict[str, float] = {}
    for jobs in groups:
        w = min(range(len(workers)), key=workers.__getitem__)
        t = workers[w]
        for sid, bureau, seconds, slots in jobs:
            lanes = free_bureau.setdefault(bureau, [0.0] * max(slots, 1))
            b = min(range(len(lanes)), key=lanes.__getitem__)
            start = max(t, lanes[b])
            starts[sid] = start
            t = lanes[b] = start + seconds
        workers[w] = t
    return starts


@dataclass
class WaveEstimate:
    """A wave's estimate: per system its steps' seconds, its start offset and the hosts
    of no known size (``unsized``: hostnames); per host known only by its ledger size
    (``bare``) its copy's seconds; per bureau its span (first start to last end, seconds)
    and the link each of its systems gets."""

    steps: dict[str, list[float]]
    offsets: dict[str, float]
    spans: dict[str, float]
    links: dict[str, float]
    bare: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    unsized: dict[str, list[str]] = field(default_factory=dict)

    def seconds(self, system_id: str) -> float:
        """A system's estimated seconds (its steps one after another, and the copy of its
        hosts known only by their ledger size)."""
        return sum(self.steps[system_id]) + self.extra.get(system_id, 0.0)

    def sized(self, bureau_id: str, wave: WaveWork) -> bool:
        """False when a system of ``bureau_id`` has a host of no known size (neither disks
        nor a ledger size): its estimate is unknown."""
        return not any(self.unsized.get(s.id) for s in wave.systems
                       if s.bureau_id == bureau_id)


def estimate_wave(wave: WaveWork, steps: Mapping[str, list[Step]],
                  used: Mapping[str, float], day_of: Mapping[str, str] | None = None,
                  efficiency: float = LINK_EFFICIENCY, disk_mbps: float = DISK_MBPS,
                  host_gb: Mapping[str, float | None] | None = None) -> WaveEstimate:
    """Estimate ``wave`` (its systems in plan order, ``steps`` per system as the builder
    makes them; ``used``: disk id → used GB; ``host_gb``: host id → its ledger size, for
    hosts with no disk in the estate — the wave converts nothing for them, their size is
    counted as :func:`copy_seconds`; no size: the estimate is unknown). Bureaus whose
    windows fall on the same date (``day_of``: bureau → date) share the run's workers;
    each date is scheduled apart."""
    days = day_of or {}
    groups: dict[str, list[SystemWork]] = {}
    for s in wave.systems:
        groups.setdefault(s.move_group, []).append(s)
    # the systems of a bureau in flight together: at most its slots, the workers, and the
    # move groups holding its systems on that date (a group moves one system at a time)
    sharing: dict[str, set[str]] = {}
    for s in wave.systems:
        sharing.setdefault(s.bureau_id, set()).add(s.move_group)
    links: dict[str, float] = {}
    per_step: dict[str, list[float]] = {}
    bare: dict[str, float] = {}
    extra: dict[str, float] = {}
    unsized: dict[str, list[str]] = {}
    for s in wave.systems:
        link = s.link_mbps or DEFAULT_LINK_MBPS
        share = min(bureau_slots(link), GLOBAL_SLOTS, len(sharing[s.bureau_id]))
        links[s.bureau_id] = link / max(share, 1)
        rates = Rates(link_mbps=links[s.bureau_id], efficiency=efficiency, disk_mbps=disk_mbps)
        per_step[s.id] = [step_seconds(st.kind, step_data_gb(st, used, s), rates)
                          for st in steps.get(s.id, [])]
        for h in s.hosts:
            if h.disks:
                continue
            gb = (host_gb or {}).get(h.id) or 0.0
            if not gb or gb != gb:  # none, 0 or NaN: no size
                unsized.setdefault(s.id, []).append(h.hostname)
                continue
            bare[h.id] = copy_seconds(gb, rates)
            extra[s.id] = extra.get(s.id, 0.0) + bare[h.id]
    offsets: dict[str, float] = {}
    for d in sorted({days.get(s.bureau_id, "") for s in wave.systems}):
        jobs = [[(s.id, s.bureau_id, sum(per_step[s.id]) + extra.get(s.id, 0.0),
                  bureau_slots(s.link_mbps or DEFAULT_LINK_MBPS))
                 for s in members if days.get(s.bureau_id, "") == d]
                for members in groups.values()]
        offsets.update(schedule([j for j in jobs if j]))
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for s in wave.systems:
        b, start = s.bureau_id, offsets[s.id]
        first[b] = min(first.get(b, start), start)
        last[b] = max(last.get(b, 0.0), start + sum(per_step[s.id]) + extra.get(s.id, 0.0))
    return WaveEstimate(per_step, offsets, {b: last[b] - first[b] for b in last}, links,
                        bare, extra, unsized)


def window_verdict(link_mbps: Any, hours: float | None, capacity_gb: float | None,
                   data_gb: float, estimate_seconds: float, *,
                   sized: bool = True) -> dict[str, Any]:
    """One bureau's window in a wave: ``ok`` True (the data and the estimated time fit),
    False (they do not: ``why`` says which, ``data`` and/or ``time``), or None (unknown:
    ``missing`` names the bureau columns to fill in — and ``hosts.disk_gb`` when not
    ``sized``: a host of the bureau has neither disks nor a size, so the estimate is
    unknown). Unknown is never OK."""
    missing = [c for c, v in (("link_mbps", link_mbps), ("window_hours", hours)) if not v]
    if not sized:
        missing.append("hosts.disk_gb")
    why = []
    if capacity_gb and data_gb > capacity_gb + 1e-6:
        why.append("data")
    if hours and estimate_seconds > hours * 3600:
        why.append("time")
    ok: bool | None = False if why else (None if missing else True)
    return {"ok": ok, "missing": missing, "why": why}


def human_duration(seconds: float | None) -> str:
    """``1h 05m``, ``4m 10s``, ``12s`` (``-`` for None)."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f}s"
    return f"{s}s"


__all__ = ["DEFAULT_LINK_MBPS", "DISK_MBPS", "GLOBAL_SLOTS", "LINK_EFFICIENCY", "Rates",
           "WaveEstimate", "bureau_slots", "copy_seconds", "estimate_wave", "human_duration",
           "schedule", "step_data_gb", "step_seconds", "window_verdict"]
