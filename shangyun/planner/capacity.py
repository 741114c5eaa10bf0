"""Does a set of systems fit one wave? Capacity (hosts, systems, TB), bureaus and windows."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from shangyun.planner.inputs import PlanInput
from shangyun.planner.options import PlanOptions
from shangyun.planner.timing import TimeModel


@dataclass
class Load:
    """What a wave (or a move group) holds: the measures every capacity limit reads.

    ``by_bureau`` is the data (GB) per bureau present; ``present`` counts the systems
    contributing to each bureau, so a bureau with no data still counts as present.
    """

    hosts: int = 0
    systems: int = 0
    data_gb: float = 0.0
    by_bureau: dict[str, float] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    #: the systems (indices into ``PlanInput.systems``): the time check estimates them
    members: list[int] = field(default_factory=list)

    def copy(self) -> Load:
        """An independent copy."""
        return Load(self.hosts, self.systems, self.data_gb, dict(self.by_bureau),
                    dict(self.present), list(self.members))

    def add(self, other: Load) -> None:
        """Add ``other`` into this load."""
        self.hosts += other.hosts
        self.systems += other.systems
        self.data_gb += other.data_gb
        self.members.extend(other.members)
        for b, gb in other.by_bureau.items():
            self.by_bureau[b] = self.by_bureau.get(b, 0.0) + gb
            self.present[b] = self.present.get(b, 0) + other.present.get(b, 1)

    def remove(self, other: Load) -> None:
        """Take ``other`` out of this load."""
        self.hosts -= other.hosts
        self.systems -= other.systems
        self.data_gb -= other.data_gb
        if other.members:
            gone = set(other.members)
            self.members = [m for m in self.members if m not in gone]
        for b, gb in other.by_bureau.items():
            left = self.present.get(b, 0) - other.present.get(b, 1)
            if left <= 0:
                self.by_bureau.pop(b, None)
                self.present.pop(b, None)
            else:
                self.present[b] = left
                self.by_bureau[b] = self.by_bureau.get(b, 0.0) - gb


def load_of(inp: PlanInput, members: list[int]) -> Load:
    """The load of the systems ``members`` (indices into ``inp.systems``)."""
    out = Load()
    for i in members:
        one = Load(int(inp.hosts[i]), 1, float(inp.data_gb[i]),
                   {inp.bureau[i]: 0.0, **inp.data_by_bureau[i]})
        one.present = dict.fromkeys(one.by_bureau, 1)
        one.members = [i]
        out.add(one)
    return out


class Limits:
    """The per-wave limits of one planning run."""

    def __init__(self, inp: PlanInput, opts: PlanOptions, scale: float = 1.0,
                 timing: TimeModel | None = None) -> None:
        self.inp = inp
        #: the estimated time per bureau window (None: data only)
        self.timing = timing if timing is None or scale == 1.0 else timing.scaled(scale)
        self.scale = scale
        self.opts = opts if scale == 1.0 else replace(
            opts, max_hosts=None if opts.max_hosts is None else max(1, int(opts.max_hosts * scale)),
            max_systems=None if opts.max_systems is None
            else max(1, int(opts.max_systems * scale)),
            max_tb=None if opts.max_tb is None else opts.max_tb * scale)
        self.window = {b: v.capacity_gb * scale for b, v in inp.bureaus.items()
                       if v.capacity_gb is not None}

    def scaled(self, scale: float) -> Limits:
        """The same limits shrunk to ``scale`` (0–1) of a wave: the size of split parts."""
        return Limits(self.inp, self.opts, scale, self.timing)

    def violation(self, load: Load, extra: Load | None = None) -> str | None:
        """The first limit ``load`` (+ ``extra``) breaks, in words; None if it fits."""
        o = self.opts
        hosts = load.hosts + (extra.hosts if extra else 0)
        systems = load.systems + (extra.systems if extra else 0)
        data = load.data_gb + (extra.data_gb if extra else 0.0)
        if o.max_hosts is not None and hosts > o.max_hosts:
            return f"hosts per wave: {hosts} > {o.max_hosts}"
        if o.max_systems is not None and systems > o.max_systems:
            return f"systems per wave: {systems} > {o.max_systems}"
        if o.max_tb is not None and data > o.max_tb * 1000 + 1e-6:
            return f"TB per wave: {data / 1000:.2f} > {o.max_tb:g}"
        # the bureaus of both, the wave's first (no merged dict: this runs for every try)
        mine, more = load.by_bureau, extra.by_bureau if extra else {}
        if o.max_bureaus is not None:
            count = len(mine) + sum(1 for b in more if b not in mine)
            if count > o.max_bureaus:
                return f"bureaus per wave: {count} > {o.max_bureaus}"
        window = self.window
        for b, gb in mine.items():
            cap = window.get(b)
            if cap is not None and (gb := gb + more[b] if b in more else gb) > cap + 1e-6:
                return self._window_full(b, gb, cap)
        for b, gb in more.items():
            cap = window.get(b)
            if cap is not None and b not in mine and gb > cap + 1e-6:
                return self._window_full(b, gb, cap)
        if self.timing is not None:
            return self.timing.violation(load.members, extra.members if extra else None)
        return None

    @staticmethod
    def _window_full(bureau: str, gb: float, cap: float) -> str:
        return (f"bureau {bureau} window: {gb:,.1f} GB > {cap:,.1f} GB its link moves in "
                "one maintenance window")

    def fits(self, load: Load, extra: Load | None = None) -> bool:
        """True when ``load`` (+ ``extra``) breaks no limit."""
        return self.violation(load, extra) is None
