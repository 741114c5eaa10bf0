"""RVTools VM display names that are no host names ("审批系统-DB (旧)", "web 01"): kept as
the host's 用途 (role), the host named by its DNS Name, else by its IP (until a bureau
ledger names it), else not imported with a warning naming the vInfo row — as a bureau
ledger with such a 主机名 would be refused. Real workbooks and the real CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.estate import Estate
from shangyun.ledgers.formats.rvtools import _vm_names
from shangyun.ledgers.read import read_ledger

INFO = ["VM", "Powerstate", "Template", "DNS Name", "CPUs", "Memory", "Primary IP Address",
        "Datacenter"]


def vinfo(rows: list[list[object]]) -> dict[str, list[list[object]]]:
    return {"vInfo": [INFO, *rows],
            "vDisk": [["VM", "Disk", "Capacity MiB"],
                      *[[r[0], "Hard disk 1", 10240 * (i + 1)] for i, r in enumerate(rows)]]}


def test_display_names_are_kept_and_hosts_named_by_dns_or_ip(
        xlsx: Callable[..., Path]) -> None:
    path = xlsx("rv.xlsx", vinfo([
        ["审批系统-DB (旧)", "poweredOn", False, "spdb01.hb.local", 4, 8192, "10.5.0.1", "DC"],
        ["web 01", "poweredOn", False, "", 2, 4096, "10.5.0.2", "DC"],
        ["oa-app03", "poweredOn", False, "", 2, 4096, "10.5.0.3", "DC"],
        ["财务 备份", "poweredOff", False, "", 2, 4096, "", "DC"],
        ["tpl 模板", "poweredOff", True, "", 2, 4096, "", "DC"],
    ]))
    read = read_ledger(path, bureau="湖北局", reader=read_grids)
    hosts = {h["hostname"]: h for h in read.rows["hosts"]}
    assert set(hosts) == {"spdb01.hb.local", "10.5.0.2", "oa-app03"}
    assert hosts["spdb01.hb.local"]["role"] == "审批系统-DB (旧)"
    assert hosts["10.5.0.2"]["role"] == "web 01"
    assert "role" not in hosts["oa-app03"]
    # the disks follow their VMs, whatever the host is named
    sizes = {d["host_id"]: d["size_gb"] for d in read.rows["disks"]}
    assert sizes == {hosts["spdb01.hb.local"]["id"]: 10.0, hosts["10.5.0.2"]["id"]: 20.0,
                     hosts["oa-app03"]["id"]: 30.0}
    text = " ".join(read.warnings)
    assert "1 VM name(s) of vInfo are no host names" in text and "'web 01' (row 3)" in text
    assert "1 VM(s) of vInfo not imported" in text and "'财务 备份' (row 5)" in text
    assert "1 template(s) skipped" in text


def test_a_bureau_ledger_names_the_vm_known_by_its_address(
        xlsx: Callable[..., Path], tmp_path: Path) -> None:
    rv = xlsx("rv.xlsx", vinfo([["门户 前台", "poweredOn", False, "", 2, 4096, "10.6.0.9",
                                 "DC"]]))
    ledger = xlsx("台账.xlsx", {"主机": [["单位", "系统名称", "主机名", "IP地址"],
                                        ["湖北局", "门户", "portal01", "10.6.0.9"]]})
    est = tmp_path / "e"
    for f in (rv, ledger):
        res = CliRunner().invoke(main, ["inventory", "import", str(f), "--estate", str(est),
                                        "--bureau", "湖北局"])
        assert res.exit_code == 0, res.output
    hosts = Estate.load(est).rows("hosts")
    assert [(h["hostname"], h["ip"], h["role"]) for h in hosts] == [
        ("portal01", "10.6.0.9", "门户 前台")]


@settings(max_examples=60, deadline=None)
@given(st.text(st.sampled_from("ab-1 审批()._"), min_size=1, max_size=12),
       st.sampled_from(["", "db01.hb.local", "bad name"]),
       st.sampled_from(["", "10.7.0.4"]))
def test_every_name_is_a_host_name_or_an_address(vm: str, dns: str, ip: str) -> None:
    from shangyun.ledgers.values import BadValue, parse_hostname
    vm = vm.strip() or "x"
    name, display = _vm_names(vm, dns, ip)
    try:
        parse_hostname(vm)
        vm_ok = True
    except BadValue:
        vm_ok = False
    assert display == ("" if vm_ok else vm)
    if name is None:
        assert not vm_ok and not ip and dns != "db01.hb.local"
    elif name != ip:
        parse_hostname(name)  # never a name a ledger would refuse
    assert name == ("db01.hb.local" if dns == "db01.hb.local" else vm if vm_ok else ip or None)


@pytest.mark.parametrize("vm", ["app-01", "WIN_SRV2012", "db01.hb.local"])
def test_valid_vm_names_stay_host_names(xlsx: Callable[..., Path], vm: str) -> None:
    path = xlsx("rv.xlsx", vinfo([[vm, "poweredOn", False, "", 2, 4096, "10.8.0.1", "DC"]]))
    host = read_ledger(path, bureau="湖北局", reader=read_grids).rows["hosts"][0]
    assert host["hostname"] == vm and "role" not in host
