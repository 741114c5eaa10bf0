"""check_ids' fast column check agrees with the id pattern applied id by id."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.errors import LedgerError
from shangyun.ledgers.read import ID_PATTERN, _ids_ok, check_ids

_CHARS = st.sampled_from([*"aZ09._-", "/", " ", "\n", "é", "Ａ", "\x00", "..", "\\"])
_ID = st.one_of(
    st.none(), st.just(""),
    st.lists(_CHARS, min_size=1, max_size=8).map("".join),
    st.integers(1, 5).map(lambda n: "a" * (126 + n)),  # 127 … 131 characters
    st.integers(), st.booleans(), st.floats(allow_nan=True),
    st.builds(lambda: ["not", "hashable"]))


def _one_by_one(rows: list[dict[str, Any]], cols: list[str]) -> bool:
    for row in rows:
        for c in cols:
            v = row.get(c)
            if v is None or v == "":
                continue
            if type(v) is not str or not ID_PATTERN.fullmatch(v) or ".." in v:
                return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.lists(st.fixed_dictionaries({"id": _ID, "host_id": _ID}), max_size=6))
def test_ids_ok_is_the_pattern_id_by_id(rows: list[dict[str, Any]]) -> None:
    assert _ids_ok(rows, ["id", "host_id"]) is _one_by_one(rows, ["id", "host_id"])


@pytest.mark.parametrize("bad", ["h-1/2", "a..b", "a" * 129, "名字", "a\nb", " a"])
def test_a_bad_id_is_named(bad: str) -> None:
    rows = {"disks": [{"id": "d-1", "host_id": "h-1"}, {"id": "d-2", "host_id": bad}]}
    with pytest.raises(LedgerError, match=r"disks row 2: id .* is not made of letters"):
        check_ids("f.xlsx", rows)


def test_good_ids_pass() -> None:
    check_ids("f.xlsx", {"disks": [{"id": "d-1", "host_id": "a" * 128},
                                   {"id": "D_2.x", "host_id": None}, {"id": "", "host_id": ""}]})
