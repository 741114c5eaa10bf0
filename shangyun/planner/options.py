"""The planner's options: capacities, calendar, pilot, ordering, pins and exclusions."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from shangyun.wave.estimate import DISK_MBPS, LINK_EFFICIENCY

ORDER_MODES = ("before-or-with", "before", "off")
CYCLE_MODES = ("relax", "error")


def next_monday(today: dt.date | None = None) -> dt.date:
    """The first wave's default week: the Monday after ``today`` (default: today, UTC)."""
    day = today or dt.datetime.now(dt.UTC).date()
    return day + dt.timedelta(days=7 - day.weekday())


@dataclass
class PlanOptions:
    """Every knob of :func:`shangyun.planner.make_plan`; ``None`` means "no limit".

    - ``max_hosts``, ``max_systems``, ``max_tb``: capacity of one wave;
    - ``max_bureaus``: at most this many bureaus per wave (field teams); fewer is always
      preferred even without a limit;
    - ``link_efficiency``: the share of a bureau's link a copy really gets; a bureau's data
      in one wave must fit ``link_mbps × window_hours × efficiency``;
    - ``disk_mbps``: MB/s a local convert or import sustains; with ``link_efficiency`` the
      rates of the wave's time estimate (:mod:`shangyun.wave.estimate`), which the plan
      checks against each bureau's window and the runbook reads from ``plan.yaml``;
    - ``start``, ``cadence_days``, ``blackout``: the wave calendar (one wave per cadence,
      a wave never lands on a bureau's blackout date, nor on a global ``blackout`` date);
    - ``pilot_systems``, ``pilot_hosts``, ``pilot_tb``: the size of the low-risk pilot wave
      (``pilot_systems=0``: none; ``pilot_tb=None``: no data limit); the planner never puts
      more than this into it, and says so when nothing qualifies;
    - ``order``: shared services ``before-or-with`` their consumers (default), strictly
      ``before``, or ``off``;
    - ``cycles``: shared services that use each other in a cycle too large for one wave:
      ``relax`` the lightest order edges (each one named in the plan) or ``error``;
    - ``strong_types``: dependency types that bind systems into one move group;
    - ``allow_split``: split move groups too large for a wave (community detection);
    - ``pins`` (system → wave), ``exclude`` (systems kept out, with "excluded by the user");
    - ``dr_pairs``: ``(standby, primary)`` system ids declared DR pairs (``--dr-pair``), on
      top of those the estate records (``systems.dr_primary``); the two never share a wave;
    - ``include_not_ready``: plan systems the assessment finds "not ready" too.
    """

    max_hosts: int | None = 200
    max_systems: int | None = 40
    max_tb: float | None = 50.0
    max_bureaus: int | None = None
    link_efficiency: float = LINK_EFFICIENCY
    disk_mbps: float = DISK_MBPS
    start: dt.date = field(default_factory=lambda: dt.date(2027, 1, 4))
    cadence_days: int = 7
    blackout: tuple[dt.date, ...] = ()
    pilot_systems: int = 3
    pilot_hosts: int = 10
    pilot_tb: float | None = 2.0
    order: str = "before-or-with"
    cycles: str = "relax"
    strong_types: tuple[str, ...] = ("database", "sync")
    allow_split: bool = True
    pins: dict[str, int] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    dr_pairs: tuple[tuple[str, str], ...] = ()
    include_not_ready: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.order not in ORDER_MODES:
            raise ValueError(f"order must be one of {', '.join(ORDER_MODES)}")
        if self.cycles not in CYCLE_MODES:
            raise ValueError(f"cycles must be one of {', '.join(CYCLE_MODES)}")
        if self.cadence_days < 1:
            raise ValueError("cadence_days must be at least 1")
        if not 0 < self.link_efficiency <= 1:
            raise ValueError("link_efficiency must be in (0, 1]")
        if not self.disk_mbps > 0:
            raise ValueError("disk_mbps must be positive")
        for name in ("max_hosts", "max_systems", "max_bureaus"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_tb is not None and self.max_tb <= 0:
            raise ValueError("max_tb must be positive")
        if self.pilot_systems < 0 or self.pilot_hosts < 0:
            raise ValueError("pilot_systems and pilot_hosts must be 0 or more")
        if self.pilot_tb is not None and self.pilot_tb <= 0:
            raise ValueError("pilot_tb must be positive")

    def to_dict(self) -> dict[str, Any]:
        """The options as plain YAML/JSON-able data (recorded in ``plan.yaml``)."""
        d = asdict(self)
        d["start"] = self.start.isoformat()
        d["blackout"] = [x.isoformat() for x in self.blackout]
        d["strong_types"] = list(self.strong_types)
        d["exclude"] = list(self.exclude)
        d["dr_pairs"] = [list(p) for p in self.dr_pairs]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanOptions:
        """Options from plain data (as :meth:`to_dict` writes, dates as ``YYYY-MM-DD``)."""
        d = dict(data)
        if isinstance(d.get("start"), str):
            d["start"] = dt.date.fromisoformat(d["start"])
        if "blackout" in d:
            d["blackout"] = tuple(dt.date.fromisoformat(x) if isinstance(x, str) else x
                                  for x in d["blackout"])
        for key in ("strong_types", "exclude"):
            if key in d:
                d[key] = tuple(d[key])
        if "dr_pairs" in d:
            d["dr_pairs"] = tuple((str(a), str(b)) for a, b in d["dr_pairs"])
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown plan option(s): {', '.join(sorted(unknown))}")
        return cls(**d)
