"""How a distributed wave is split between bureau workers (pure)."""

from __future__ import annotations

import pytest

from shangyun.errors import PlanError
from shangyun.wave.model import SystemWork, WaveWork
from shangyun.wave.partition import bureau_share, group_bureau, partition, queue_name


def _wave(*systems: tuple[str, str, str]) -> WaveWork:
    return WaveWork(number=3, estate_dir="/e", plan_fingerprint="x", estate_fingerprint="x",
                    systems=tuple(SystemWork(id=sid, name=sid, bureau_id=b, bureau_name=b,
                                             move_group=g) for sid, b, g in systems))


def test_each_group_goes_to_the_bureau_with_most_of_its_systems() -> None:
    w = _wave(("a1", "b01", "g1"), ("a2", "b02", "g1"), ("a3", "b02", "g1"),
              ("c1", "b01", "g2"), ("d1", "b03", "g3"), ("d2", "b01", "g3"))
    assert group_bureau(w, "g1") == "b02"
    assert group_bureau(w, "g3") == "b01"  # a tie goes to the lowest bureau id
    assert partition(w) == {"b01": ["g2", "g3"], "b02": ["g1"]}


def test_a_bureau_share_keeps_whole_groups_in_plan_order() -> None:
    w = _wave(("a1", "b01", "g1"), ("a2", "b02", "g1"), ("a3", "b02", "g1"),
              ("c1", "b01", "g2"))
    share = bureau_share(w, "b02")
    assert [s.id for s in share.systems] == ["a1", "a2", "a3"]  # b01's a1 moves with g1
    assert [s.id for s in bureau_share(w, "b01").systems] == ["c1"]
    assert share.number == 3


def test_a_bureau_without_work_in_the_wave_is_an_error() -> None:
    w = _wave(("a1", "b01", "g1"))
    with pytest.raises(PlanError, match=r"no move group for bureau 'b09'.*b01"):
        bureau_share(w, "b09")
    with pytest.raises(PlanError, match="no move group 'g9'"):
        group_bureau(w, "g9")


def test_queue_names() -> None:
    assert queue_name("b01") == "bureau-b01"
