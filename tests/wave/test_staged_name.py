"""A converted disk's staged name is the path join ``wave-N/<system>/<disk>.<fmt>``, its
adapted copy the path renamed ``<stem>.adapted<suffix>``. Both are built for every disk of
every system each time the planner estimates its windows (3,000 systems on the planner
benchmark), so they skip the path parsing for plain parts (no ``/`` in an id, no empty or
``.`` part): the names must be the path's, whatever the ids."""

from __future__ import annotations

from pathlib import PurePosixPath
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shangyun.wave.steps import adapted_name, staged_name

part = st.one_of(st.sampled_from(["", ".", "..", "/", "//", "a/b", "/x", "x/", "./a", "a//b"]),
                 st.text(alphabet="ab./ 系-", max_size=6))


@given(st.integers(-2, 500), part, part, part)
def test_the_staged_name_is_the_path_join(wave: int, system_id: str, disk_id: str,
                                         fmt: str) -> None:
    want = str(PurePosixPath(f"wave-{wave}") / system_id / f"{disk_id}.{fmt}")
    assert staged_name(wave, SimpleNamespace(id=system_id), disk_id, fmt) == want  # type: ignore[arg-type]


def test_an_ordinary_name() -> None:
    assert staged_name(3, SimpleNamespace(id="s-1f"), "d-9", "qcow2") == "wave-3/s-1f/d-9.qcow2"  # type: ignore[arg-type]


path = st.lists(st.one_of(part, st.sampled_from(["disk.qcow2", "d.adapted.raw", ".x", "x."])),
                min_size=1, max_size=4).map("/".join)


@given(st.sampled_from(["", "/", "//", "/tmp/"]), path)
def test_the_adapted_name_is_the_path_rename(lead: str, staged: str) -> None:
    p = PurePosixPath(lead + staged)
    try:
        want = str(p.with_name(f"{p.stem}.adapted{p.suffix}"))
    except ValueError:  # a path with no name: the same error
        with pytest.raises(ValueError):
            adapted_name(lead + staged)
        return
    assert adapted_name(lead + staged) == want


def test_an_ordinary_adapted_name() -> None:
    assert adapted_name("/stage/wave-3/s-1f/d-9.qcow2") == "/stage/wave-3/s-1f/d-9.adapted.qcow2"
