"""RVTools exports, in the older (MB) and newer (MiB) column names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.grid import read_grids
from shangyun.errors import LedgerError
from shangyun.ledgers.formats.rvtools import split_guest_os
from shangyun.ledgers.read import read_ledger


def rvtools(xlsx: Callable[..., Path], unit: str, name: str = "rv.xlsx") -> Path:
    info = [
        ["VM", "Powerstate", "Template", "DNS Name", "CPUs", "Memory", "NICs", "Disks",
         f"Provisioned {unit}", f"In Use {unit}", "Primary IP Address", "Firmware",
         "Datacenter", "Cluster", "Host", "OS according to the configuration file",
         "OS according to the VMware Tools"],
        ["app-vm01", "poweredOn", False, "app01.corp.local", 4, 8192, 1, 2, 153600, 40960,
         "10.9.0.11", "efi", "DC-Wuhan", "Cluster-A", "esxi01.corp.local",
         "CentOS 7 (64-bit)", "CentOS 7 (64-bit)"],
        ["db-vm02", "poweredOff", False, "", 8, 32768, 1, 1, 512000, 0, "", "bios",
         "DC-Wuhan", "Cluster-A", "esxi02.corp.local", "Red Hat Enterprise Linux 7 (64-bit)",
         ""],
        ["tpl-centos", "poweredOff", True, "", 2, 2048, 1, 1, 20480, 0, "", "bios",
         "DC-Wuhan", "Cluster-A", "esxi01.corp.local", "CentOS 7 (64-bit)", ""],
    ]
    disk = [
        ["VM", "Powerstate", "Disk", f"Capacity {unit}", "Thin", "Path", "Host"],
        ["app-vm01", "poweredOn", "Hard disk 1", 51200, True,
         "[datastore1] app-vm01/app-vm01.vmdk", "esxi01.corp.local"],
        ["app-vm01", "poweredOn", "Hard disk 2", 102400, True,
         "[datastore2] app-vm01/app-vm01_1.vmdk", "esxi01.corp.local"],
        ["db-vm02", "poweredOff", "Hard disk 1", 512000, False,
         "[san-lun7] db-vm02/db-vm02.vmdk", "esxi02.corp.local"],
        ["tpl-centos", "poweredOff", "Hard disk 1", 20480, True,
         "[datastore1] tpl/tpl.vmdk", "esxi01.corp.local"],
    ]
    net = [
        ["VM", "Powerstate", "NIC label", "Network", "Connected", "Mac Address",
         "IPv4 Address" if unit == "MiB" else "IP Address"],
        ["app-vm01", "poweredOn", "Network adapter 1", "VLAN10", True, "00:50:56:9a:00:01",
         "10.9.0.11"],
        ["db-vm02", "poweredOff", "Network adapter 1", "VLAN20", False, "00:50:56:9A:00:02",
         "10.9.0.12"],
    ]
    return xlsx(name, {"vInfo": info, "vCPU": [["VM", "CPUs"]], "vDisk": disk,
                       "vNetwork": net})


@pytest.mark.parametrize("unit", ["MB", "MiB"])
def test_rvtools_hosts_and_disks(xlsx: Callable[..., Path], unit: str) -> None:
    read = read_ledger(rvtools(xlsx, unit), bureau="武汉局", reader=read_grids)
    assert read.kind == "rvtools"
    hosts = {h["hostname"]: h for h in read.rows["hosts"]}
    assert set(hosts) == {"app01.corp.local", "db-vm02"}  # template skipped
    app, db = hosts["app01.corp.local"], hosts["db-vm02"]
    assert (app["kind"], app["power_state"], db["power_state"]) == ("vm", "on", "off")
    assert (app["cpu_cores"], app["memory_gb"], app["disk_gb"]) == (4, 8.0, 150.0)
    assert (db["cpu_cores"], db["memory_gb"], db["disk_gb"]) == (8, 32.0, 500.0)
    assert (app["cluster"], app["hypervisor"]) == ("Cluster-A", "esxi01.corp.local")
    assert (app["os"], app["os_version"], app["arch"]) == ("CentOS", "7", "x86_64")
    assert (db["os"], db["os_version"]) == ("Red Hat Enterprise Linux", "7")
    assert (app["firmware"], db["firmware"]) == ("uefi", "bios")
    assert app["mac"] == "00:50:56:9a:00:01" and db["mac"] == "00:50:56:9a:00:02"
    assert db["ip"] == "10.9.0.12"  # from vNetwork, vInfo has none
    disks = sorted((d["host_id"], d["name"], d["size_gb"], d["datastore"])
                   for d in read.rows["disks"])
    assert disks == sorted([
        (app["id"], "Hard disk 1", 50.0, "datastore1"),
        (app["id"], "Hard disk 2", 100.0, "datastore2"),
        (db["id"], "Hard disk 1", 500.0, "san-lun7"),
    ])
    assert {d["format"] for d in read.rows["disks"]} == {"vmdk"}
    assert read.rows["bureaus"][0]["name"] == "武汉局"
    # vInfo's In Use (40960: 40 GB) is what the VM's disks hold, spread by capacity; an In
    # Use of 0 is not reported (the disks count in full, no used value)
    used = {(d["host_id"], d["name"]): d.get("used_gb") for d in read.rows["disks"]}
    assert used == {(app["id"], "Hard disk 1"): 13.3, (app["id"], "Hard disk 2"): 26.7,
                    (db["id"], "Hard disk 1"): None}


@pytest.mark.parametrize(("sizes", "in_use"), [((100, 100, 100), 47.2), ((40, 500), 90.0),
                                              ((10,), 12.5), ((2048, 1, 300), 0.4)])
def test_rvtools_in_use_is_spread_over_the_vms_disks(xlsx: Callable[..., Path],
                                                     sizes: tuple[int, ...],
                                                     in_use: float) -> None:
    path = xlsx("rvuse.xlsx", {
        "vInfo": [["VM", "Powerstate", "CPUs", "Memory", "Provisioned MiB", "In Use MiB",
                   "Datacenter"],
                  ["vm1", "poweredOn", 2, 4096, sum(sizes) * 1024, in_use * 1024, "DC"]],
        "vDisk": [["VM", "Disk", "Capacity MiB"],
                  *[["vm1", f"Hard disk {i}", s * 1024] for i, s in enumerate(sizes, 1)]],
    })
    disks = read_ledger(path, reader=read_grids).rows["disks"]
    assert [d["size_gb"] for d in disks] == [float(s) for s in sizes]
    assert all(0 <= d["used_gb"] <= d["size_gb"] for d in disks)
    # the whole In Use, within rounding; a VM holding more than its disks (snapshots,
    # swap) counts each disk in full
    assert abs(sum(d["used_gb"] for d in disks) - min(in_use, sum(sizes))) <= 0.05 * len(sizes)


def test_rvtools_datacenter_is_the_bureau_without_option(xlsx: Callable[..., Path]) -> None:
    read = read_ledger(rvtools(xlsx, "MiB"), reader=read_grids)
    assert [b["name"] for b in read.rows["bureaus"]] == ["DC-Wuhan"]


def test_rvtools_mb_and_mib_give_the_same_rows(xlsx: Callable[..., Path]) -> None:
    old = read_ledger(rvtools(xlsx, "MB", "old.xlsx"), bureau="武汉局", source="rv",
                      reader=read_grids)
    new = read_ledger(rvtools(xlsx, "MiB", "new.xlsx"), bureau="武汉局", source="rv",
                      reader=read_grids)
    assert old.rows["hosts"] == new.rows["hosts"]
    assert old.rows["disks"] == new.rows["disks"]


def test_rvtools_bad_capacity_is_named(xlsx: Callable[..., Path]) -> None:
    path = xlsx("rvbad.xlsx", {
        "vInfo": [["VM", "Powerstate", "CPUs", "Memory", "Datacenter"],
                  ["vm1", "poweredOn", 2, 4096, "DC"]],
        "vDisk": [["VM", "Disk", "Capacity MiB"], ["vm1", "Hard disk 1", "lots"]],
    })
    with pytest.raises(LedgerError) as exc:
        read_ledger(path, reader=read_grids)
    assert (exc.value.sheet, exc.value.row, exc.value.column) == ("vDisk", 2, "Capacity MiB")


@pytest.mark.parametrize(("text", "expected"), [
    ("CentOS 7 (64-bit)", ("CentOS", "7", "x86_64")),
    ("Microsoft Windows Server 2016 (64-bit)", ("Microsoft Windows Server", "2016", "x86_64")),
    ("Microsoft Windows Server 2008 R2 (64-bit)", ("Microsoft Windows Server", "2008 R2",
                                                   "x86_64")),
    ("Other Linux (32-bit)", ("Other Linux", "", "x86")),
    ("Ubuntu Linux (64-bit)", ("Ubuntu Linux", "", "x86_64")),
    ("SUSE Linux Enterprise 12", ("SUSE Linux Enterprise", "12", "")),
])
def test_split_guest_os(text: str, expected: tuple[str, str, str]) -> None:
    assert split_guest_os(text) == expected
