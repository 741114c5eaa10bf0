"""An RVTools export of a bureau's VMs: the vInfo, vDisk and vNetwork sheets.

RVTools 3.x names its size columns in MB (``Provisioned MB``, ``Capacity MB``) and its NIC
address ``IP Address``; RVTools 4.x uses MiB (``Provisioned MiB``, ``Capacity MiB``) and
``IPv4 Address``. Both are written (one per bureau) so the importer sees both.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shangyun.sample.xlsx import new_workbook, save_workbook, write_sheet

POWER = {"on": "poweredOn", "off": "poweredOff", "suspended": "suspended"}
GUEST = {
    "CentOS": "CentOS {major} (64-bit)",
    "Red Hat Enterprise Linux": "Red Hat Enterprise Linux {major} (64-bit)",
    "SUSE Linux Enterprise Server": "SUSE Linux Enterprise {major} (64-bit)",
    "Kylin": "Other 4.x or later Linux (64-bit)",
    "UOS": "Other 4.x or later Linux (64-bit)",
    "Ubuntu": "Ubuntu Linux (64-bit)",
    "Windows Server": "Microsoft Windows Server {version} (64-bit)",
    "Oracle Linux": "Oracle Linux {major} (64-bit)",
}


def guest_os(os_name: str, version: str) -> str:
    """The guest OS as vSphere names it in 'OS according to the configuration file'."""
    pattern = GUEST.get(os_name, "Other Linux (64-bit)")
    return pattern.format(major=str(version).split(".")[0].split(" ")[0], version=version)


def write_export(path: Path, vms: pd.DataFrame, disks: pd.DataFrame, mib: bool,
                 datacenter: str) -> None:
    """Write ``path`` as RVTools writes it: vInfo, vDisk and vNetwork (MiB or MB columns)."""
    unit = "MiB" if mib else "MB"
    size_mb = disks.groupby("host_id")["size_gb"].sum() * 1024
    used_mb = disks.groupby("host_id")["used_gb"].sum() * 1024
    n_disks = disks.groupby("host_id").size()
    wb = new_workbook()
    info_headers = ["VM", "Powerstate", "Template", "Config status", "DNS Name", "CPUs",
                    "Memory", "NICs", "Disks", f"Provisioned {unit}", f"In Use {unit}",
                    "Primary IP Address", "Datacenter", "Cluster", "Host", "Firmware",
                    "OS according to the configuration file",
                    "OS according to the VMware Tools", "Annotation"]
    info = []
    for r in vms.to_dict(orient="records"):
        guest = guest_os(r["os"], r["os_version"])
        running = r["power_state"] == "on"
        info.append([
            r["hostname"], POWER[r["power_state"]], False, "green", r["hostname"],
            int(r["cpu_cores"]), round(r["memory_gb"] * 1024), 1,
            int(n_disks.get(r["id"], 0)), round(float(size_mb.get(r["id"], 0.0)), 2),
            round(float(used_mb.get(r["id"], 0.0)), 2), r["ip"] if running else "",
            datacenter, r["cluster"], r["hypervisor"],
            "efi" if r["firmware"] == "uefi" else "bios", guest, guest if running else "",
            f"业务系统：{r['system_name']}",
        ])
    write_sheet(wb, "vInfo", info_headers, info)
    host_of = vms.set_index("id")
    disk_headers = ["VM", "Powerstate", "Template", "Disk", f"Capacity {unit}", "Raw",
                    "Disk Mode", "Thin", "Path", "Datacenter", "Cluster", "Host"]
    drows = []
    for r in disks.to_dict(orient="records"):
        h = host_of.loc[r["host_id"]]
        drows.append([h["hostname"], POWER[h["power_state"]], False, r["name"],
                      round(r["size_gb"] * 1024), False, "persistent", True, r["path"],
                      datacenter, h["cluster"], h["hypervisor"]])
    write_sheet(wb, "vDisk", disk_headers, drows)
    ip_header = "IPv4 Address" if mib else "IP Address"
    net_headers = ["VM", "Powerstate", "Template", "NIC label", "Adapter", "Network", "Switch",
                   "Connected", "Starts Connected", "Mac Address", "Type", ip_header,
                   "Datacenter", "Cluster", "Host"]
    nrows = []
    for r in vms.to_dict(orient="records"):
        running = r["power_state"] == "on"
        nrows.append([r["hostname"], POWER[r["power_state"]], False, "Network adapter 1",
                      "Vmxnet3", f"VLAN{int(r['ip'].split('.')[2]) + 100}", "vSwitch0",
                      running, True, r["mac"], "assigned", r["ip"] if running else "",
                      datacenter, r["cluster"], r["hypervisor"]])
    write_sheet(wb, "vNetwork", net_headers, nrows)
    save_workbook(wb, path)
