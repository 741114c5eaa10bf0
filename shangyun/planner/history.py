"""What has already run, for a re-plan: the waves the journal records and the systems
they hold.

A migration programme re-plans between waves (new ledgers bring new systems). A wave
*has run* when the journal has a step record of any of its systems (started, done, failed,
rolled back …). Each system with records there has one state
(:func:`shangyun.wave.state.system_state` of the latest record of each step, as ``status``,
``wave status`` and the runbook read it: :func:`shangyun.wave.state.recorded_states`):

- *held* by that wave — done, cut over, failed back, failed, partly run: it stays in that
  wave in every later plan (the wave run refuses it elsewhere:
  :func:`shangyun.wave.journal_port.held_elsewhere`);
- *free* — rolled back, or refused by the pre-check: nothing of it is left there, so a
  re-plan may put it into a later wave (and says so).

A re-plan keeps every wave that has run as it ran (its held systems, nothing new) and
places every other system in waves after the last one that ran.

Pure: the caller opens the journal (``connectors.journal.history.open_reader``) and
passes it in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shangyun.journal.ports import JournalReader
from shangyun.wave.state import (
    PENDING,
    REFUSED,
    ROLLED_BACK,
    ROLLED_BACK_BY_OPERATOR,
    recorded_states,
)

FREED_STATES = (ROLLED_BACK, ROLLED_BACK_BY_OPERATOR, REFUSED)
"""States of a system that ran in a wave and was undone there (or refused, untouched)."""
FREE_STATES = (PENDING, *FREED_STATES)
"""States of a system in a wave that ran that leave nothing of it there."""


@dataclass(frozen=True)
class RanWave:
    """One wave that has run: each system with step records and its state, when the
    wave first ran, and what the plan it ran under said of it (its start, pilot, groups)."""

    number: int
    systems: dict[str, str]
    first_run: str = ""
    planned_start: str = ""
    pilot: bool = False
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    windows: tuple[dict[str, Any], ...] = ()

    @property
    def held(self) -> list[str]:
        """The systems this wave holds (ran, not rolled back or refused), in record order."""
        return [s for s, st in self.systems.items() if st not in FREE_STATES]

    @property
    def freed(self) -> dict[str, str]:
        """System → state of the systems that ran here and were rolled back or refused."""
        return {s: st for s, st in self.systems.items() if st in FREED_STATES}


@dataclass(frozen=True)
class RanWaves:
    """Every wave that has run, by number (empty: nothing ran yet)."""

    waves: dict[int, RanWave] = field(default_factory=dict)

    @property
    def last(self) -> int:
        """The highest wave number that has run (0: none)."""
        return max(self.waves, default=0)

    def held(self) -> dict[str, int]:
        """System → the wave that holds it (the lowest, should two ever claim one)."""
        out: dict[str, int] = {}
        for n in sorted(self.waves):
            for sid in self.waves[n].held:
                out.setdefault(sid, n)
        return out

    def freed(self) -> dict[str, tuple[int, str]]:
        """System → (wave, state) for each system rolled back or refused in a wave that
        ran and held by none (the latest such wave)."""
        held = self.held()
        out: dict[str, tuple[int, str]] = {}
        for n in sorted(self.waves):
            for sid, st in self.waves[n].freed.items():
                if sid not in held:
                    out[sid] = (n, st)
        return out

    def span(self) -> str:
        """The waves that ran, for a sentence: ``wave 1``, ``waves 1–3``, ``waves 1, 3``."""
        nums = sorted(self.waves)
        if not nums:
            return ""
        if len(nums) == 1:
            return f"wave {nums[0]}"
        if nums == list(range(nums[0], nums[-1] + 1)):
            return f"waves {nums[0]}–{nums[-1]}"
        return "waves " + ", ".join(map(str, nums))


def ran_waves(journal: JournalReader | None,
              previous: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> RanWaves:
    """The waves ``journal`` records as run (None: no journal, nothing ran).

    ``previous`` is the plan they ran under, as :func:`shangyun.runbook.sources.plan_files`
    reads it (its ``waves`` and ``move_groups`` rows): a wave that ran keeps its start
    date, its pilot mark, its move groups and its bureaus' windows from there."""
    if journal is None:
        return RanWaves()
    prev = previous or {}
    wave_rows = {str(r.get("wave")): r for r in prev.get("waves") or []}
    group_rows = list(prev.get("move_groups") or [])
    out: dict[int, RanWave] = {}
    runs = journal.runs()
    for number in sorted({r.wave for r in runs}):
        systems = recorded_states(journal.wave_steps(number))
        if not systems:  # runs without a step record (refused before any system began)
            continue
        first = min(r.started_at for r in runs if r.wave == number).date().isoformat()
        row = wave_rows.get(str(number)) or {}
        groups = tuple((str(g.get("id")), tuple(s for s in str(g.get("systems", "")).split(";")
                                                 if s))
                       for g in group_rows if str(g.get("wave")) == str(number))
        windows = tuple({"bureau_id": str(w.get("bureau_id") or ""),
                         "date": str(w.get("date") or ""), "start": str(w.get("start") or ""),
                         "hours": _number(w.get("hours")),
                         "capacity_gb": _number(w.get("capacity_gb")),
                         "data_gb": _number(w.get("data_gb")) or 0.0}
                        for w in prev.get("windows") or [] if str(w.get("wave")) == str(number))
        out[number] = RanWave(number, systems, first, str(row.get("start") or ""),
                              str(row.get("pilot", "")).lower() == "true", groups, windows)
    return RanWaves(out)


def _number(value: Any) -> float | None:
    """A number from a plan CSV cell (None when blank or not a number)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


__all__ = ["FREE_STATES", "RanWave", "RanWaves", "ran_waves"]
