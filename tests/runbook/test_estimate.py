"""Step estimates and the wave's schedule (pure): the model of what the wave flow does."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.wave.estimate import (
    GLOBAL_SLOTS,
    Rates,
    bureau_slots,
    estimate_wave,
    human_duration,
    schedule,
    step_seconds,
)
from shangyun.wave.model import DiskWork, HostWork, SystemWork, WaveWork
from shangyun.wave.steps import RunOptions, system_steps


def test_upload_over_the_link_and_convert_on_disk() -> None:
    rates = Rates(link_mbps=100, efficiency=0.8, disk_mbps=150)
    assert step_seconds("upload", 10, rates) == pytest.approx(10_000 * 8 / 80)
    assert step_seconds("convert", 15, rates) == pytest.approx(100)
    assert step_seconds("launch", 999, rates) == 180
    assert human_duration(3725) == "1h 02m" and human_duration(65) == "1m 05s"
    assert human_duration(None) == "-"


def test_the_flow_and_the_estimate_have_the_same_slots() -> None:
    from flows import wave as flow

    assert flow.GLOBAL_SLOTS == GLOBAL_SLOTS and flow.bureau_slots is bureau_slots
    assert [bureau_slots(x) for x in (None, 50, 100, 250, 10_000)] == [1, 1, 1, 2, 4]


def test_schedule_respects_bureau_slots_workers_and_move_groups() -> None:
    one = [[("a", "b1", 10.0, 1)], [("b", "b1", 10.0, 1)]]
    starts = schedule(one, global_slots=4)
    assert starts["a"] == 0 and starts["b"] == 10  # one link slot: one after the other
    many = [[(k, "b2", 5.0, 4)] for k in "cdefg"]
    assert sorted(schedule(many, global_slots=4).values()) == [0, 0, 0, 0, 5]  # 4 workers
    # a move group moves its systems one after another, even with slots to spare
    group = [[("x", "b3", 7.0, 4), ("y", "b3", 3.0, 4)]]
    assert schedule(group, global_slots=4) == {"x": 0.0, "y": 7.0}


def _system(sid: str, group: str, link: float | None, disks: list[tuple[float, float]],
            bureau: str = "B1") -> tuple[SystemWork, dict[str, float]]:
    hosts = tuple(HostWork(id=f"{sid}-h{i}", hostname=f"{sid}-h{i}", hypervisor="", cpu_cores=1,
                           memory_gb=1, disks=(DiskWork(f"{sid}-d{i}", f"{sid}-h{i}", "sda",
                                                        f"/img/{sid}-{i}", "raw", size),))
                  for i, (size, _) in enumerate(disks))
    used = {f"{sid}-d{i}": u for i, (_, u) in enumerate(disks)}
    return SystemWork(sid, sid, bureau, bureau, group, link, hosts), used


def _estimate(systems: list[tuple[SystemWork, dict[str, float]]], **kw: float):
    wave = WaveWork(1, "/nowhere", "", "", tuple(s for s, _ in systems))
    steps = {s.id: system_steps(wave, s, RunOptions()) for s, _ in systems}
    used = {k: v for _, u in systems for k, v in u.items()}
    return estimate_wave(wave, steps, used, **kw)


def test_a_system_alone_on_its_bureau_gets_the_whole_link() -> None:
    # 1 host, disk 300 GB (240 used) on a 10 Gbps link: convert 300 GB and import 240 GB
    # at 150 MB/s, upload 240 GB at 8,000 Mbps (not a quarter of it: nothing shares it)
    est = _estimate([_system("s1", "g1", 10_000, [(300, 240)])])
    want = 60 + 300_000 / 150 + 180 + 240_000 * 8 / 8000 + 240_000 / 150 + 180
    assert est.seconds("s1") == pytest.approx(want)
    assert est.spans == {"B1": pytest.approx(want)}
    # two move groups of that bureau in flight together: each gets half
    two = _estimate([_system("s1", "g1", 10_000, [(300, 240)]),
                     _system("s2", "g2", 10_000, [(300, 240)])])
    assert two.links["B1"] == 5000 and two.offsets == {"s1": 0.0, "s2": 0.0}


def test_disk_speed_and_efficiency_are_the_options_given() -> None:
    slow = _estimate([_system("s1", "g1", 1000, [(100, 100)])], efficiency=0.5, disk_mbps=50)
    assert slow.steps["s1"][1] == pytest.approx(100_000 / 50)  # convert
    assert slow.steps["s1"][3] == pytest.approx(100_000 * 8 / 500)  # upload


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2),
                          st.lists(st.tuples(st.integers(1, 500), st.integers(0, 100)),
                                   min_size=1, max_size=3)), min_size=1, max_size=8),
       st.sampled_from([None, 50.0, 250.0, 10_000.0]))
def test_span_bounds(specs: list[tuple[int, int, list[tuple[int, int]]]],
                     link: float | None) -> None:
    """A bureau's span is at least its longest system; a move group's systems never
    overlap; a bureau never has more systems in flight than its slots."""
    systems = [_system(f"s{k}", f"g{g}", link, [(size, size * pct / 100)
                                                for size, pct in disks], f"B{b % 2}")
               for k, (g, b, disks) in enumerate(specs)]
    est = _estimate(systems)
    for b in {s.bureau_id for s, _ in systems}:
        mine = [est.seconds(s.id) for s, _ in systems if s.bureau_id == b]
        assert est.spans[b] >= max(mine) - 1e-6
        ends = [(est.offsets[s.id], est.offsets[s.id] + est.seconds(s.id))
                for s, _ in systems if s.bureau_id == b and est.seconds(s.id) > 0]
        for t, _ in ends:
            assert sum(a <= t < e for a, e in ends) <= bureau_slots(link or 100.0)
    by_group: dict[str, list[tuple[float, float]]] = {}
    for s, _ in systems:
        by_group.setdefault(s.move_group, []).append(
            (est.offsets[s.id], est.offsets[s.id] + est.seconds(s.id)))
    for spans in by_group.values():
        spans.sort()
        assert all(a[1] <= b[0] + 1e-6 for a, b in itertools.pairwise(spans))
