"""The merge's column-wise forms agree with the row-wise ones they replace: natural keys
(:func:`_key_columns` / :func:`_natural_keys`) and typed frames of odd values."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.estate.merge import _KEYS, _key_columns, _natural_keys, _typed_frame
from shangyun.estate.model import Estate

_VALUES = st.one_of(
    st.none(), st.just(""), st.integers(-2, 70000), st.booleans(),
    st.floats(allow_nan=True, allow_infinity=False), st.sampled_from([0.0, -0.0, 1.0, 1]),
    st.text(alphabet="aB1.:- \t\u3000Ａ", max_size=6),
    st.sampled_from(["AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff", "10.1.1.5", "Web01.Lab"]))
_COLUMNS = sorted({c for spec in _KEYS.values() for _, when, parts in spec
                   for c in [*(p for p, _ in parts), *([when[0]] if when else [])]})


@settings(max_examples=300, deadline=None)
@given(table=st.sampled_from(sorted(_KEYS)),
       rows=st.lists(st.dictionaries(st.sampled_from(_COLUMNS), _VALUES), max_size=6))
def test_key_columns_are_the_natural_keys_of_each_row(table: str, rows: list[dict]) -> None:
    columns = _key_columns(table, rows)
    for i, row in enumerate(rows):
        assert [c[i] for c in columns if c[i] is not None] == _natural_keys(table, row), row


def test_a_typed_frame_of_odd_values_is_the_estate_frame_of_them() -> None:
    rows = [{"id": "h1", "hostname": "a", "bureau_id": "b1", "cpu_cores": 4, "memory_gb": 8,
             "ssh_port": None, "os_version": 7.9, "mac": None},
            {"id": "h2", "hostname": "b", "bureau_id": "b1", "cpu_cores": None,
             "memory_gb": 2.5, "ssh_port": 22, "os_version": "8", "extra": 3}]
    frame = _typed_frame("hosts", rows)
    assert frame is not None
    assert frame["os_version"].tolist() == ["7.9", "8"]
    assert frame["cpu_cores"].tolist()[0] == 4 and str(frame["cpu_cores"].dtype) == "Int64"
    assert frame["memory_gb"].tolist() == [8.0, 2.5]
    assert frame["extra"].tolist() == ["", "3"]
    est = Estate()
    est.set_rows("hosts", rows)
    for col in est.tables["hosts"].columns:
        assert frame[col].astype(str).tolist() == est.tables["hosts"][col].astype(str).tolist(), col
    # a value that does not fit (a text in a number column, out of bounds, a bad enum)
    assert _typed_frame("hosts", [{**rows[0], "cpu_cores": "x"}]) is None
    assert _typed_frame("hosts", [{**rows[0], "cpu_cores": 0}]) is None
    assert _typed_frame("hosts", [{**rows[0], "kind": "spaceship"}]) is None
    assert _typed_frame("disks", [{"id": "d1", "host_id": "h1"}]) is None  # size_gb required
