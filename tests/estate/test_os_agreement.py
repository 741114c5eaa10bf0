"""A ledger's "CentOS" / "7.9" and discovery's "CentOS Linux" / "7.9.2009" say the same: no
conflict, the more precise value kept and the merge says so; a real mismatch (CentOS 7 and
6, Ubuntu and CentOS) is still a conflict. Property tests over generated pairs, through the
real merge."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.estate import Estate
from shangyun.estate.merge import MergeReport, merge_rows
from shangyun.estate.osname import os_agrees, os_family, version_parts, versions_agree

#: the same family as ledgers and discovery write it
SPELLINGS = {
    "centos": ["CentOS", "CentOS Linux", "centos", "CENTOS"],
    "rhel": ["RHEL", "Red Hat Enterprise Linux Server", "Red Hat Enterprise Linux", "RedHat"],
    "ubuntu": ["Ubuntu", "ubuntu", "Ubuntu Server"],
    "debian": ["Debian", "Debian GNU/Linux"],
    "kylin": ["麒麟", "银河麒麟", "Kylin Linux Advanced Server", "Kylin"],
    "windows": ["Windows Server", "Microsoft Windows Server", "Windows"],
}
families = st.sampled_from(sorted(SPELLINGS))
numbers = st.lists(st.integers(0, 2100).map(str), min_size=1, max_size=4)


def base(os: str, version: str) -> Estate:
    return Estate.from_records({"name": "t"}, {
        "bureaus": [{"id": "b1", "name": "湖北局", "kind": "bureau"}],
        "hosts": [{"id": "h1", "hostname": "app01", "ip": "10.3.0.7", "bureau_id": "b1",
                   "os": os, "os_version": version, "source": "湖北局台账.xlsx"}]})


def discover(est: Estate, os: str, version: str) -> MergeReport:
    return merge_rows(est, {"hosts": [{"id": "app01", "hostname": "app01", "ip": "10.3.0.7",
                                       "bureau_id": "b1", "os": os, "os_version": version}]},
                      "discovery")


@settings(max_examples=40, deadline=None)
@given(families, st.data(), numbers, st.integers(0, 3))
def test_a_prefix_of_the_discovered_version_agrees(family: str, data: st.DataObject,
                                                  parts: list[str], extra: int) -> None:
    ledger_name = data.draw(st.sampled_from(SPELLINGS[family]))
    found_name = data.draw(st.sampled_from(SPELLINGS[family]))
    found = ".".join(parts + [str(2000 + i) for i in range(extra)])
    ledger = ".".join(parts)
    report = discover(base(ledger_name, ledger), found_name, found)
    assert report.conflicts == []
    host = report.estate.rows("hosts")[0]
    assert host["os_version"] == found  # discovery's, the more precise, is kept
    assert os_family(host["os"]) == family
    if extra:
        assert any("more precise" in n and "app01" in n and repr(found) in n
                   for n in report.notes), report.notes
    # merged the other way round (discovery first, then the ledger): the same facts
    back = merge_rows(base(found_name, found), {"hosts": [{
        "id": "app01", "hostname": "app01", "ip": "10.3.0.7", "bureau_id": "b1",
        "os": ledger_name, "os_version": ledger}]}, "湖北局台账.xlsx")
    assert back.conflicts == [] and back.estate.rows("hosts")[0]["os_version"] == found


@settings(max_examples=80, deadline=None)
@given(families, st.data(), numbers, numbers)
def test_a_different_version_is_a_conflict(family: str, data: st.DataObject,
                                           a: list[str], b: list[str]) -> None:
    va, vb = ".".join(a), ".".join(b)
    n = min(len(a), len(b))
    if [x.lstrip("0") for x in a[:n]] == [x.lstrip("0") for x in b[:n]]:
        return  # one is a prefix of the other: that is agreement (tested above)
    name = data.draw(st.sampled_from(SPELLINGS[family]))
    report = discover(base(name, va), data.draw(st.sampled_from(SPELLINGS[family])), vb)
    assert [(c["column"], c["current"], c["incoming"]) for c in report.conflicts] == [
        ("os_version", va, vb)]
    assert report.estate.rows("hosts")[0]["os_version"] == va  # never overwritten


@settings(max_examples=60, deadline=None)
@given(st.lists(families, min_size=2, max_size=2, unique=True), st.data(), numbers)
def test_another_family_is_a_conflict(pair: list[str], data: st.DataObject,
                                      parts: list[str]) -> None:
    a = data.draw(st.sampled_from(SPELLINGS[pair[0]]))
    b = data.draw(st.sampled_from(SPELLINGS[pair[1]]))
    version = ".".join(parts)
    report = discover(base(a, version), b, version)
    assert ("os", a, b) in [(c["column"], c["current"], c["incoming"])
                            for c in report.conflicts]
    assert not os_agrees(a, version, b, version)


def test_the_examples_of_the_report() -> None:
    report = discover(base("CentOS", "7.9"), "CentOS Linux", "7.9.2009")
    assert report.conflicts == []
    host = report.estate.rows("hosts")[0]
    assert (host["os"], host["os_version"]) == ("CentOS Linux", "7.9.2009")
    assert len(report.notes) == 2 and "'7.9' (湖北局台账.xlsx)" in report.notes[1]
    six = discover(base("CentOS", "7"), "CentOS Linux", "6.10")
    assert [c["column"] for c in six.conflicts] == ["os_version"]
    ubuntu = discover(base("Ubuntu", "18.04"), "CentOS Linux", "18.04")
    assert [c["column"] for c in ubuntu.conflicts] == ["os"]
    assert versions_agree("V10", "V10 SP1") and versions_agree("2012", "2012 R2")
    assert not versions_agree("7.9", "7.10")
    assert version_parts("7.9.2009 (Core)") == ("7", "9", "2009")
