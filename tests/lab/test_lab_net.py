"""The lab's network choice (``lab.build.choose_net``) without booting a lab: a net held by
a libvirt network (the libvirt test driver, a real connection), by a route of this machine
or by another lab is skipped; one folder gets the same net each time; two checkouts' default
labs do not share 213; none free is one clear error."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lab import LabError
from lab.build import DEFAULT_NET, choose_net, net_candidates

NODE = """<node>
  <network>
    <name>other-project</name>
    <bridge name='virbr-other'/>
    <ip address='10.{n}.0.1' netmask='255.255.0.0'/>
  </network>
</node>
"""


def _owner(res: Path, n: int) -> str:
    return (res / str(n)).read_text()


def test_libvirt_networks_routes_and_other_labs_are_skipped(tmp_path: Path) -> None:
    lab, res = tmp_path / "lab-a", tmp_path / "reservations"
    order = net_candidates(lab)
    assert DEFAULT_NET not in order and sorted(order) == list(range(100, 200))
    first = choose_net(lab, libvirt_uris=[], reservations=res)
    assert choose_net(lab, libvirt_uris=[], reservations=res) == first  # the same each time
    assert _owner(res, first) == str(lab)

    # a libvirt network on it (active or not: the test driver's network is defined there)
    node = tmp_path / "node.xml"
    node.write_text(NODE.format(n=first))
    uri = f"test://{node}"
    second = choose_net(lab, libvirt_uris=[uri], reservations=res)
    assert second != first and order.index(second) > order.index(first)
    assert not (res / str(first)).exists() and _owner(res, second) == str(lab)

    # another lab now holds `second` (its reservation); a third folder steps over it too
    other = tmp_path / "lab-b"
    (res / str(second)).write_text(str(other))
    third = choose_net(lab, libvirt_uris=[uri], reservations=res)
    assert third not in (first, second)

    if os.geteuid() == 0:  # a route of this machine (a blackhole: it carries nothing)
        route = ["ip", "-4", "route", "add", "blackhole", f"10.{third}.0.0/16"]
        subprocess.run(route, check=True)
        try:
            fourth = choose_net(lab, libvirt_uris=[uri], reservations=res)
        finally:
            subprocess.run(["ip", "-4", "route", "del", "blackhole", f"10.{third}.0.0/16"],
                           check=True)
        assert fourth not in (first, second, third)
    # all gone again: back to its own first choice
    (res / str(second)).unlink()
    assert choose_net(lab, libvirt_uris=[], reservations=res) == first


def test_two_checkouts_default_labs_get_different_nets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = tmp_path / "reservations"
    one, two = tmp_path / "main" / ".lab", tmp_path / "other-checkout" / ".lab"
    monkeypatch.setenv("SHANGYUN_LAB", str(one))
    assert net_candidates(one)[0] == DEFAULT_NET
    a = choose_net(one, libvirt_uris=[], reservations=res)
    monkeypatch.setenv("SHANGYUN_LAB", str(two))
    assert net_candidates(two)[0] == DEFAULT_NET
    b = choose_net(two, libvirt_uris=[], reservations=res)
    assert a != b
    assert _owner(res, a) == str(one) and _owner(res, b) == str(two)


def test_no_free_net_is_one_clear_error(tmp_path: Path) -> None:
    lab, res = tmp_path / "lab-c", tmp_path / "reservations"
    res.mkdir()
    busy = tmp_path / "busy-lab"
    for n in net_candidates(lab):
        (res / str(n)).write_text(str(busy))
    with pytest.raises(LabError) as err:
        choose_net(lab, libvirt_uris=[], reservations=res)
    text = str(err.value)
    assert f"no free 10.<n>.0.0/16 network for the lab in {lab}" in text
    assert "10.100–10.199" in text and f"the lab in {busy}" in text
    assert "shangyun lab down --dir" in text
    assert all(_owner(res, n) == str(busy) for n in net_candidates(lab))  # nothing taken
