"""RVTools exports as vCenters write them for a whole programme: one VM name in several
datacenters (or vCenters), and addresses VMware Tools saw that are no host's address.

Real workbooks (openpyxl), read by the real reader and the real CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.errors import LedgerError
from shangyun.estate import Estate
from shangyun.ledgers.read import read_ledger

INFO = ["VM", "Powerstate", "Template", "DNS Name", "CPUs", "Memory", "Provisioned MiB",
        "In Use MiB", "Primary IP Address", "Datacenter", "VM UUID", "VI SDK Server"]
DISK = ["VM", "Disk", "Capacity MiB", "Path", "Datacenter", "VM UUID", "VI SDK Server"]
NET = ["VM", "NIC label", "Mac Address", "IPv4 Address", "Datacenter", "VM UUID",
       "VI SDK Server"]


def twins(dcs: list[str], sizes: list[int]) -> dict[str, list[list[object]]]:
    """A workbook with one VM ``web01`` per datacenter of ``dcs`` (each its own vCenter),
    the one in ``dcs[i]`` with a disk of ``sizes[i]`` GiB and its own MAC."""
    info, disk, net = [INFO], [DISK], [NET]
    for i, (dc, gib) in enumerate(zip(dcs, sizes, strict=True)):
        uuid, vc = f"5000-{i:04d}", f"vc{i}.gov"
        info.append(["web01", "poweredOn", False, "", 2, 4096, gib * 1024, gib * 512,
                     f"10.{i}.0.10", dc, uuid, vc])
        disk.append(["web01", "Hard disk 1", gib * 1024, f"[ds{i}] web01/web01.vmdk", dc,
                     uuid, vc])
        net.append(["web01", "Network adapter 1", f"00:50:56:00:00:{i:02x}", f"10.{i}.0.10",
                    dc, uuid, vc])
    return {"vInfo": info, "vDisk": disk, "vNetwork": net}


@settings(max_examples=15, deadline=None)
@given(dcs=st.lists(st.sampled_from(["北京DC", "天津DC", "DC-Wuhan", "广州 机房", "dc5"]),
                    min_size=2, max_size=4, unique=True),
       data=st.data())
def test_same_vm_name_in_several_datacenters_keeps_each_vms_disks(
        tmp_path_factory: pytest.TempPathFactory, dcs: list[str], data: st.DataObject) -> None:
    sizes = data.draw(st.lists(st.integers(1, 900), min_size=len(dcs), max_size=len(dcs),
                               unique=True))
    from tests.ledgers.conftest import write_xlsx
    book = write_xlsx(tmp_path_factory.mktemp("rv") / "rv.xlsx", twins(dcs, sizes))
    read = read_ledger(book, reader=read_grids)
    hosts = {h["id"]: h for h in read.rows["hosts"]}
    assert len(hosts) == len(dcs)
    disks = read.rows["disks"]
    assert len(disks) == len(dcs)
    for d in disks:
        host = hosts[d["host_id"]]
        i = int(str(host["ip"]).split(".")[1])  # the VM of datacenter i
        assert d["size_gb"] == sizes[i]
        assert d["path"] == f"[ds{i}] web01/web01.vmdk"
        assert d["used_gb"] == pytest.approx(sizes[i] / 2, abs=0.1)
        assert host["mac"] == f"00:50:56:00:00:{i:02x}"


def test_same_vm_name_without_columns_to_tell_them_apart_is_refused(
        xlsx: Callable[..., Path]) -> None:
    sheets = twins(["北京DC", "天津DC"], [100, 50])
    sheets["vDisk"] = [["VM", "Disk", "Capacity MiB"], ["web01", "Hard disk 1", 102400]]
    with pytest.raises(LedgerError) as err:
        read_ledger(xlsx("rv.xlsx", sheets), reader=read_grids)
    msg = str(err.value)
    assert "sheet 'vDisk'" in msg and "row 2" in msg and "'VM'" in msg
    assert "'web01' is in vInfo more than once" in msg
    assert "row 2 (vc0.gov, 北京DC, 5000-0000)" in msg and "row 3 (vc1.gov, 天津DC" in msg


def test_unusable_vm_addresses_are_skipped_with_a_warning(xlsx: Callable[..., Path],
                                                         tmp_path: Path) -> None:
    sheets = twins(["北京DC"], [100])
    info = sheets["vInfo"]
    for vm, ip in (("winapp", "169.254.10.3"), ("v6only", "fe80::250:56ff:fe8a:1"),
                   ("lo", "127.0.0.1"), ("ok6", "2001:db8::5")):
        info.append([vm, "poweredOn", False, "", 1, 1024, 10240, 1024, ip, "北京DC",
                     f"u-{vm}", "vc0.gov"])
    sheets["vNetwork"].append(["winapp", "Network adapter 1", "00:50:56:00:01:01",
                               "169.254.10.3", "北京DC", "u-winapp", "vc0.gov"])
    book = xlsx("rv.xlsx", sheets)
    est = tmp_path / "est"
    res = CliRunner().invoke(main, ["inventory", "import", str(book), "--estate", str(est)])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "3 VM address(es) of vInfo are no usable host address" in out
    assert "winapp (row 3): '169.254.10.3' is a link-local address" in out
    assert "v6only (row 4)" in out and "lo (row 5): '127.0.0.1' is a loopback address" in out
    assert "1 address(es) of vNetwork are no usable host address" in out
    hosts = {h["hostname"]: h for h in Estate.load(est).rows("hosts")}
    assert set(hosts) == {"web01", "winapp", "v6only", "lo", "ok6"}
    assert not hosts["winapp"].get("ip")  # no address kept
    assert hosts["winapp"]["mac"] == "00:50:56:00:01:01"
    assert hosts["ok6"]["ip"] == "2001:db8::5"
    assert hosts["web01"]["ip"] == "10.0.0.10"
