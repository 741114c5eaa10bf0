"""The cheap host-name pre-check of ``fold_standins`` never hides a stand-in host."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.estate.merge import _maybe_standin, standin_host

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
