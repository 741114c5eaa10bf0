"""Two hosts with the same IP address (a copied ledger row) are flagged by ``inventory
validate``: an error in one bureau (both running), a warning when one is powered off or the
two bureaus share a network zone. Estates written by the test, checked by the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shangyun.estate import Estate

SHANGYUN = str(Path(sys.executable).with_name("shangyun"))


def shangyun(*args: str) -> tuple[int, str]:
    p = subprocess.run([SHANGYUN, *args], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "SHANGYUN_ESTATE_LOCK_WAIT": "1"})
    out = p.stdout + p.stderr
    assert "Traceback" not in out, out
    return p.returncode, out


def estate(hosts: list[dict[str, object]], zones: tuple[str, str] = ("extranet", "intranet"),
           ) -> Estate:
    """Two bureaus (湖北局 b1, 武汉海关 b2) with one system each, in ``zones``."""
    return Estate.from_records({"name": "t"}, {
        "bureaus": [{"id": "b1", "name": "湖北局", "kind": "bureau"},
                    {"id": "b2", "name": "武汉海关", "kind": "bureau"}],
        "systems": [{"id": "s1", "name": "审批", "bureau_id": "b1", "network_zone": zones[0]},
                    {"id": "s2", "name": "财务", "bureau_id": "b2", "network_zone": zones[1]}],
        "hosts": hosts})


def host(hid: str, name: str, ip: str, bureau: str, **kw: object) -> dict[str, object]:
    return {"id": hid, "hostname": name, "ip": ip, "bureau_id": bureau,
            "system_id": "s1" if bureau == "b1" else "s2", **kw}


def test_same_ip_in_one_bureau_fails_validate_naming_both_hosts(tmp_path: Path) -> None:
    est = estate([host("h1", "app01", "10.1.1.5", "b1", source="湖北局台账.xlsx"),
                  host("h2", "web07", "10.1.1.9", "b1"),
                  host("h3", "db01", "10.1.1.5", "b1", source="湖北局补充.csv")])
    est.save(tmp_path / "e")
    code, out = shangyun("inventory", "validate", "--estate", str(tmp_path / "e"))
    text = " ".join(out.split())
    assert code == 1, out
    assert "'app01'" in text and "'db01'" in text and "湖北局" in text and "10.1.1.5" in text
    assert "湖北局台账.xlsx" in text and "湖北局补充.csv" in text and "row 4" in text
    assert "web07" not in text


def test_powered_off_copy_and_shared_zone_are_warnings(tmp_path: Path) -> None:
    est = estate([host("h1", "app01", "10.1.1.5", "b1"),
                  host("h2", "app01-old", "10.1.1.5", "b1", power_state="off"),
                  host("h3", "fin01", "172.16.0.8", "b1"),
                  host("h4", "fin02", "172.16.0.8", "b2")], zones=("extranet", "extranet"))
    assert est.validate() == []
    est.save(tmp_path / "e")
    code, out = shangyun("inventory", "validate", "--estate", str(tmp_path / "e"), "--json")
    assert code == 0, out
    data = json.loads(out)
    messages = [w["message"] for w in data["warnings"]]
    assert len(messages) == 2, messages
    assert "'app01-old'" in messages[0] and "powered off" in messages[0]
    assert ("'fin01'" in messages[1] and "'fin02'" in messages[1] and "武汉海关" in messages[1]
            and "extranet" in messages[1])


def test_same_ip_in_other_zones_of_two_bureaus_is_fine() -> None:
    est = estate([host("h1", "a", "10.0.0.1", "b1"), host("h2", "b", "10.0.0.1", "b2")])
    assert est.validate() == [] and est.warnings() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["b1", "b2"]), st.integers(1, 6),
                          st.sampled_from(["on", "off", None])), min_size=1, max_size=12))
def test_one_error_per_extra_running_copy(rows: list[tuple[str, int, str | None]]) -> None:
    hosts = [host(f"h{n}", f"host-{n}", f"10.9.0.{ip}", b, power_state=p)
             for n, (b, ip, p) in enumerate(rows)]
    errors = [p for p in estate(hosts).validate() if p.column == "ip"]
    expected = 0
    for n, (b, ip, p) in enumerate(rows):
        earlier = [q for (bb, ii, q) in rows[:n] if (bb, ii) == (b, ip)]
        # the first earlier host of the bureau is the one named: an error when neither is off
        if earlier and p != "off" and earlier[0] != "off":
            expected += 1
    assert len(errors) == expected
    for e in errors:
        assert "same IP 10.9.0." in e.message and e.file == "hosts.csv"


@pytest.mark.parametrize("order", [0, 1])
def test_an_address_typed_over_another_is_one_error(tmp_path: Path, order: int) -> None:
    """A hand edit giving one host the other's address: one problem naming both."""
    est = estate([host("h1", "app01", "10.2.0.5", "b1"), host("h2", "db01", "10.2.0.6", "b1")])
    est.tables["hosts"].loc[order, "ip"] = "10.2.0.6" if order == 0 else "10.2.0.5"
    problems = est.validate()
    assert len(problems) == 1 and "'app01'" in problems[0].message
    assert "'db01'" in problems[0].message


def test_one_address_with_a_port_per_host_is_forwarding_a_warning_not_an_error() -> None:
    """Hosts reached through one address on their own SSH ports (NAT, a jump host, a lab)
    are not a copied row: a warning naming the ports; the same port twice stays an error."""
    fwd = estate([host("h1", "app01", "10.9.0.1", "b1", ssh_port=2201),
                  host("h2", "db01", "10.9.0.1", "b1", ssh_port=2202)])
    assert fwd.validate() == [] or all("same IP" not in p.message for p in fwd.validate())
    (warn,) = [w for w in fwd.warnings() if "same IP" in w.message]
    assert "2201" in warn.message and "2202" in warn.message and "'db01'" in warn.message
    same = estate([host("h1", "app01", "10.9.0.1", "b1", ssh_port=22),
                   host("h2", "db01", "10.9.0.1", "b1", ssh_port=22)])
    assert [p for p in same.validate() if "same IP" in p.message]
