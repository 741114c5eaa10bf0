"""Estimated step durations from data size and link bandwidth (pure arithmetic).

Convert and import run on local disks (``DISK_MBPS``); upload crosses the bureau's link at
``link_mbps × efficiency``. Only allocated data travels (the target formats are compact),
so a disk's ``used_gb`` is used when known, else its size.
"""

from __future__ import annotations

from dataclasses import dataclass

DISK_MBPS = 150.0
"""Megabytes per second a local ``qemu-img convert`` / import sustains (conservative)."""
DEFAULT_LINK_MBPS = 100.0
"""Assumed link when a bureau has none recorded (a warning says so)."""
FIXED_SECONDS = {"precheck": 60.0, "adapt": 180.0, "launch": 180.0, "copy": 600.0, "freeze": 120.0,
                 "delta": 300.0, "verify": 120.0, "start": 180.0, "dns": 60.0,
                 "health": 120.0, "cutover": 10.0}
"""Steps estimated by a fixed allowance: pre-checks and booting instances; and the cutover
steps, whose databases and file sets the estate does not size (an allowance per item)."""


@dataclass(frozen=True)
class Rates:
    """The rates estimates use: link bandwidth, the share of it a copy gets, disk speed."""

    link_mbps: float = DEFAULT_LINK_MBPS
    efficiency: float = 0.8
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


GLOBAL_SLOTS = 4
"""Systems a wave run moves at once (``flows.wave.GLOBAL_SLOTS``)."""


def bureau_slots(link_mbps: float | None) -> int:
    """Systems a bureau's link carries at once: one per 100 Mbps, 1–4 (as the wave flow's
    per-bureau concurrency limit); each then gets its share of the link."""
    if not link_mbps:
        return 1
    return max(1, min(4, int(link_mbps // 100)))


def schedule(jobs: list[tuple[str, str, float, int]],
             global_slots: int = GLOBAL_SLOTS) -> dict[str, float]:
    """Start offsets (s) of ``(system, bureau, seconds, bureau slots)`` jobs in plan order
    when a system holds a global slot and one of its bureau's slots while it moves."""
    free_global = [0.0] * global_slots
    free_bureau: dict[str, list[float]] = {}
    starts: dict[str, float] = {}
    for sid, bureau, seconds, slots in jobs:
        lanes = free_bureau.setdefault(bureau, [0.0] * max(slots, 1))
        b = min(range(len(lanes)), key=lanes.__getitem__)
        start = max(min(free_global), lanes[b])
        # the global slot freed last before the start (best fit: keeps early slots free)
        g = max((i for i, f in enumerate(free_global) if f <= start),
                key=free_global.__getitem__)
        starts[sid] = start
        free_global[g] = lanes[b] = start + seconds
    return starts


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


__all__ = ["DEFAULT_LINK_MBPS", "DISK_MBPS", "GLOBAL_SLOTS", "Rates", "bureau_slots",
           "copy_seconds", "human_duration", "schedule", "step_seconds"]
