"""Step estimates and the per-bureau schedule (pure)."""

from __future__ import annotations

import pytest

from shangyun.runbook.estimate import Rates, bureau_slots, human_duration, schedule, step_seconds


def test_upload_over_the_link_and_convert_on_disk() -> None:
    rates = Rates(link_mbps=100, efficiency=0.8, disk_mbps=150)
    assert step_seconds("upload", 10, rates) == pytest.approx(10_000 * 8 / 80)
    assert step_seconds("convert", 15, rates) == pytest.approx(100)
    assert step_seconds("launch", 999, rates) == 180
    assert human_duration(3725) == "1h 02m" and human_duration(65) == "1m 05s"
    assert human_duration(None) == "-"


def test_schedule_respects_bureau_and_global_slots() -> None:
    assert [bureau_slots(x) for x in (None, 50, 100, 250, 10_000)] == [1, 1, 1, 2, 4]
    jobs = [("a", "b1", 10.0, 1), ("b", "b1", 10.0, 1), ("c", "b2", 5.0, 4),
            ("d", "b2", 5.0, 4), ("e", "b2", 5.0, 4), ("f", "b2", 5.0, 4)]
    starts = schedule(jobs, global_slots=4)
    assert starts["a"] == 0 and starts["b"] == 10  # one link slot: one after the other
    assert sorted(starts[k] for k in "cdef") == [0, 0, 0, 5]  # 4 global slots, a holds one
