"""The lab's own asset ledgers (台账), written as a bureau would write them.

One ``.xlsx`` per bureau: a title row above a header of common Chinese column names (the
ones the ledger importer recognises out of the box), one row per host, and a second sheet
of declared dependencies (源系统/目标系统/端口). Values are what the lab really set up,
except that the OS column shows what the host *looks* like (its release files).
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from lab.state import LabHost

HOST_HEADERS = ("单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存(GB)",
                "磁盘(GB)", "等保级别", "是否涉密", "网络区域", "负责人", "联系电话")
DEP_HEADERS = ("源系统", "目标系统", "端口")


def write_ledgers(folder: Path, bureaus: list[dict[str, str]], systems: list[dict[str, str]],
                  hosts: list[LabHost]) -> list[str]:
    """Write one workbook per bureau into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    sys_name = {s["id"]: s["name"] for s in systems}
    by_id = {h.id: h for h in hosts}
    out = []
    for b in bureaus:
        wb = Workbook()
        ws = wb.active
        ws.title = "服务器台账"
        ws.append([f"{b['name']}信息系统资产台账"])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HOST_HEADERS))
        ws.append(list(HOST_HEADERS))
        mine = [h for h in hosts if h.bureau == b["id"]]
        for h in mine:  # owner, phone and MLPS level belong to the system, as in a real ledger
            k = next(i for i, s in enumerate(systems) if s["id"] == h.system)
            ws.append([b["name"], sys_name[h.system], h.hostname, h.ip, h.os_pretty,
                       h.cpu_cores, h.memory_gb, 100, 3 if h.system == "SYS-AUTH" else 2,
                       "否", "intranet", f"{sys_name[h.system][:3]}运维组", f"0591-8{k:07d}"])
        deps = wb.create_sheet("依赖关系")
        deps.append(list(DEP_HEADERS))
        seen = set()
        for h in mine:
            for d in h.dependencies:
                row = (sys_name[h.system], sys_name[by_id[d.target_host].system], d.port)
                if row[0] != row[1] and row not in seen:
                    seen.add(row)
                    deps.append(list(row))
        path = folder / f"{b['id']}-{b['name']}-台账.xlsx"
        tmp = path.with_name("." + path.name + ".tmp")
        wb.save(tmp)
        tmp.replace(path)
        out.append(str(path))
    return out
