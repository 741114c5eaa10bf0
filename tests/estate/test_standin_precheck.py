"""The cheap host-name pre-check of ``fold_standins`` never hides a stand-in host."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.estate.merge import _maybe_standin, _maybe_standins, standin_host

_NAMES = st.one_of(
    st.text(alphabet="0123456789.:abcXYZ-_ \t\u3000１２", max_size=12),
    st.from_regex(r"\s*\d{1,3}(\.\d{1,3}){0,3}(\.[a-z]+)?\s*", fullmatch=True),
    st.none(), st.integers(), st.floats(allow_nan=True))


@settings(max_examples=400, deadline=None)
@given(name=_NAMES, ip=st.one_of(st.none(), st.just(""), _NAMES))
def test_a_host_the_precheck_lets_pass_is_no_standin(name: object, ip: object) -> None:
    row = {"hostname": name, "ip": ip}
    if not _maybe_standin(row):
        assert not standin_host(row), row


def test_the_precheck_asks_for_addresses_and_answers_for_names() -> None:
    assert _maybe_standin({"hostname": "10.1.1.5"})
    assert _maybe_standin({"hostname": " 123.web"})  # host_key_name gives "123"
    assert standin_host({"hostname": " 123.web"})
    assert _maybe_standin({"hostname": "fe80::1"})
    assert not _maybe_standin({"hostname": "web01.example.org"})
    assert not _maybe_standin({"hostname": "h0000001"})


_TEXTS = st.text(alphabet="0123456789.:abcXYZ-_ \t\n\x1c\u3000１２", max_size=8)


@settings(max_examples=400, deadline=None)
@given(names=st.lists(st.one_of(_TEXTS, st.none(), st.integers()), max_size=6))
def test_the_column_precheck_asks_whenever_a_host_would_be_asked(names: list[object]) -> None:
    hosts = [{"hostname": n} for n in names]
    if not _maybe_standins(hosts):
        assert not any(_maybe_standin(h) for h in hosts), names


def test_the_column_precheck_answers_for_a_column_of_names() -> None:
    assert not _maybe_standins([{"hostname": f"h{i:07d}"} for i in range(100)])
    assert _maybe_standins([{"hostname": "web01"}, {"hostname": "10.1.1.5"}])
    assert _maybe_standins([{"hostname": "web01"}, {"hostname": "  "}])
    assert _maybe_standins([{"hostname": "web01"}, {"hostname": None}])
