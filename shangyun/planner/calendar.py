"""The wave calendar: one wave per cadence (weekly by default), in each bureau's window.

A wave occupies a slot of ``cadence_days`` days. Each bureau in the wave migrates in its
own maintenance window inside the slot (its ``window_day``; any day for ``daily`` or when it
has no window). A slot is skipped when any of those window dates is a blackout date of the
bureau (``blackout_dates``) or a global one (``--blackout``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shangyun.errors import PlanError
from shangyun.planner.inputs import Bureau
from shangyun.planner.options import PlanOptions

WEEKDAY = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
MAX_SLOTS = 520


def window_date(slot: dt.date, cadence: int, bureau: Bureau | None,
                blocked: set[str]) -> dt.date | None:
    """The date ``bureau`` migrates in the wave slot of ``cadence`` days from ``slot``: the
    slot's day of its ``window_day`` (``None`` if it is in ``blocked``, ISO dates, or the
    slot has no such day); ``daily`` or no window: the slot's first day not in ``blocked``
    (``None`` if every day is)."""
    days = [slot + dt.timedelta(days=i) for i in range(cadence)]
    day = bureau.window_day if bureau else None
    if day and day != "daily":
        days = [d for d in days if d.weekday() == WEEKDAY[day]]
        return days[0] if days and days[0].isoformat() not in blocked else None
    for d in days:
        if d.isoformat() not in blocked:
            return d
    return None


def schedule_dates(waves: dict[int, list[str]], bureaus: dict[str, Bureau],
                   opts: PlanOptions) -> dict[int, tuple[dt.date, list[dict[str, Any]]]]:
    """For each wave (number → its bureaus), its start date and each bureau's window."""
    out: dict[int, tuple[dt.date, list[dict[str, Any]]]] = {}
    slot = opts.start
    glob = {d.isoformat() for d in opts.blackout}
    for number in sorted(waves):
        for _ in range(MAX_SLOTS):
            windows: list[dict[str, Any]] = []
            for b in waves[number]:
                bur = bureaus.get(b)
                blocked = glob | (set(bur.blackout) if bur else set())
                day = window_date(slot, opts.cadence_days, bur, blocked)
                if day is None:
                    break
                windows.append({"bureau_id": b, "date": day.isoformat(),
                                "start": (bur.window_start if bur else None) or "",
                                "hours": (bur.window_hours if bur else None)})
            else:
                dates = [w["date"] for w in windows]
                start = min(dates) if dates else slot.isoformat()
                out[number] = (dt.date.fromisoformat(start), windows)
                break
            slot += dt.timedelta(days=opts.cadence_days)
        else:
            raise PlanError(f"constraint blackout dates: wave {number} (bureaus "
                            f"{', '.join(waves[number])}) finds no window free of blackout "
                            f"dates within {MAX_SLOTS} slots after {slot.isoformat()}")
        slot += dt.timedelta(days=opts.cadence_days)
    return out
