"""The pure merge: matching by id, MAC, IP and hostname; fills; conflicts; idempotence."""

from __future__ import annotations

from shangyun.estate import Estate
from shangyun.estate.merge import merge, merge_rows, normalize_mac, stable_id

BUREAU = {"id": "b1", "name": "北京局", "kind": "bureau"}


def estate_with(*hosts: dict) -> Estate:
    return Estate.from_records({"name": "t"}, {"bureaus": [BUREAU], "hosts": list(hosts)})


def host(**kw: object) -> dict:
    return {"bureau_id": "b1", **kw}


def test_fill_equal_and_conflict() -> None:
    est = estate_with(host(id="h1", hostname="web01", ip="10.0.0.1", memory_gb=16,
                           source="a.xlsx"))
    incoming = {"hosts": [host(id="x", hostname="WEB01.corp.local", memory_gb=32.0,
                               os="CentOS 7", ip="10.0.0.1")]}
    report = merge_rows(est, incoming, "b.csv")
    h = report.estate.rows("hosts")[0]
    assert h["id"] == "h1" and h["os"] == "CentOS 7"      # empty field filled
    assert h["memory_gb"] == 16.0                          # not overwritten
    assert h["hostname"] == "web01"                        # same short name: no conflict
    assert h["source"] == "a.xlsx;b.csv"
    assert report.counts["hosts"].to_dict() == {"added": 0, "updated": 1, "unchanged": 0}
    assert [(c["column"], c["current"], c["incoming"], c["current_source"],
             c["incoming_source"]) for c in report.conflicts] == [
        ("memory_gb", "16", "32", "a.xlsx", "b.csv")]
    assert report.estate.rows("conflicts")[0]["key"] == "h1"
    assert report.id_map["hosts"] == {"x": "h1"}
    assert not est.rows("hosts")[0]["os"]                  # the input estate is untouched


def test_matching_by_mac_then_ip_then_hostname() -> None:
    est = estate_with(host(id="h1", hostname="a", ip="10.0.0.1", mac="00:50:56:00:00:01"),
                      host(id="h2", hostname="b", ip="10.0.0.2"),
                      host(id="h3", hostname="c"))
    incoming = {"hosts": [host(id="n1", hostname="renamed", mac="00-50-56-00-00-01"),
                          host(id="n2", hostname="b-new", ip="10.0.0.2"),
                          host(id="n3", hostname="C"),
                          host(id="n4", hostname="d")]}
    report = merge_rows(est, incoming, "discovery")
    assert report.id_map["hosts"] == {"n1": "h1", "n2": "h2", "n3": "h3", "n4": "n4"}
    assert report.counts["hosts"].added == 1
    assert {c["column"] for c in report.conflicts} == {"hostname"}


def test_same_hostname_in_another_bureau_is_another_host() -> None:
    est = Estate.from_records({}, {
        "bureaus": [BUREAU, {"id": "b2", "name": "上海局", "kind": "bureau"}],
        "hosts": [host(id="h1", hostname="web01")]})
    report = merge_rows(est, {"hosts": [{"id": "x", "hostname": "web01", "bureau_id": "b2"}]},
                        "s.xlsx")
    assert report.counts["hosts"].added == 1


def test_references_follow_matched_ids() -> None:
    est = estate_with(host(id="h1", hostname="web01"))
    incoming = {"bureaus": [{"id": "bX", "name": "北京局", "kind": "bureau"}],
                "hosts": [{"id": "hX", "hostname": "web01", "bureau_id": "bX"}],
                "disks": [{"id": "d1", "host_id": "hX", "name": "sda", "size_gb": 100.0}]}
    report = merge_rows(est, incoming, "rv.xlsx")
    assert report.estate.rows("disks")[0]["host_id"] == "h1"
    assert report.estate.validate() == []


def test_merge_twice_changes_nothing() -> None:
    est = estate_with(host(id="h1", hostname="web01", memory_gb=16, source="a"))
    incoming = Estate.from_records({}, {"bureaus": [BUREAU],
                                        "hosts": [host(id="h1", hostname="web01",
                                                       memory_gb=8, cpu_cores=2)]})
    first = merge(est, incoming, "b")
    second = merge(first.estate, incoming, "b")
    assert first.changed and not second.changed
    assert second.conflicts == []
    assert len(second.estate.rows("conflicts")) == 1
    assert second.estate.fingerprint() == first.estate.fingerprint()


def test_dependency_rules_seen_count_max_origin_kept() -> None:
    est = Estate.from_records({}, {
        "bureaus": [BUREAU],
        "systems": [{"id": "s1", "name": "A", "bureau_id": "b1"},
                    {"id": "s2", "name": "B", "bureau_id": "b1"}],
        "dependencies": [{"id": "d1", "source_system": "s1", "target_system": "s2",
                          "port": 80, "origin": "declared", "seen_count": 3}]})
    report = merge_rows(est, {"dependencies": [
        {"id": "other", "source_system": "s1", "target_system": "s2", "port": 80,
         "origin": "observed", "seen_count": 10}]}, "discovery")
    dep = report.estate.rows("dependencies")[0]
    assert (dep["origin"], dep["seen_count"]) == ("declared", 10)
    assert report.conflicts == []


def test_helpers() -> None:
    assert normalize_mac("00-50-56-AA-BB-CC") == "00:50:56:aa:bb:cc"
    assert normalize_mac("nonsense") == ""
    assert stable_id("h", "北京局", "web01") == stable_id("h", " 北京局", "WEB01")
    assert stable_id("h", "北京局", "web01") != stable_id("h", "上海局", "web01")
