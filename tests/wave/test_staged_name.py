"""A converted disk's staged name is the path join ``wave-N/<system>/<disk>.<fmt>``. The
name is built for every disk of every system each time the planner estimates its windows
(3,000 systems on the planner benchmark), so it skips the path join when the parts hold
no ``/`` and none is empty or ``.``: the name must be the join's, whatever the ids."""

from __future__ import annotations

from pathlib import PurePosixPath
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from shangyun.wave.steps import staged_name

part = st.one_of(st.sampled_from(["", ".", "..", "/", "//", "a/b", "/x", "x/", "./a", "a//b"]),
                 st.text(alphabet="ab./ 系-", max_size=6))


@given(st.integers(-2, 500), part, part, part)
def test_the_staged_name_is_the_path_join(wave: int, system_id: str, disk_id: str,
                                         fmt: str) -> None:
    want = str(PurePosixPath(f"wave-{wave}") / system_id / f"{disk_id}.{fmt}")
    assert staged_name(wave, SimpleNamespace(id=system_id), disk_id, fmt) == want  # type: ignore[arg-type]


def test_an_ordinary_name() -> None:
    assert staged_name(3, SimpleNamespace(id="s-1f"), "d-9", "qcow2") == "wave-3/s-1f/d-9.qcow2"  # type: ignore[arg-type]
