"""How each bureau writes its ledgers: header sets (Chinese, variant Chinese, English) and
how values are spelled (是/否 or Y/N, "16G", "2 TB", plain numbers).

Every header here is an alias listed in ``shangyun/ledgers/aliases.py`` (the tests check
each one resolves to the column it stands for), so the importer understands all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# The columns of each ledger sheet, as estate targets ("table.column"), in sheet order.
SHEET_COLUMNS: dict[str, tuple[str, ...]] = {
    "bureaus": ("bureaus.name", "bureaus.kind", "bureaus.region", "bureaus.link_mbps",
                "bureaus.window_day", "bureaus.window_start", "bureaus.window_hours",
                "bureaus.blackout_dates", "bureaus.ssh_user"),
    "systems": ("bureaus.name", "systems.name", "systems.kind", "systems.owner",
                "systems.phone", "systems.mlps_level", "systems.classified",
                "systems.network_zone", "systems.dr_tier", "systems.criticality",
                "systems.description"),
    "hosts": ("bureaus.name", "systems.name", "hosts.hostname", "hosts.ip", "hosts.mac",
              "hosts.kind", "hosts.role", "hosts.hypervisor", "hosts.cluster",
              "hosts.power_state", "hosts.os", "hosts.os_version", "hosts.arch",
              "hosts.firmware", "hosts.cpu_cores", "hosts.memory_gb", "hosts.disk_gb",
              "hosts.cpu_util_pct", "hosts.mem_util_pct", "hosts.cpu_p95_pct",
              "hosts.mem_p95_pct", "hosts.ssh_port"),
    "disks": ("hosts.hostname", "disks.name", "disks.size_gb", "disks.used_gb", "disks.path",
              "disks.datastore"),
    "databases": ("systems.name", "databases.engine", "databases.version", "databases.name",
                  "databases.size_gb", "databases.shared", "hosts.hostname"),
    "dependencies": ("dependencies.source_system", "dependencies.target_system",
                     "dependencies.source_host", "dependencies.target_host",
                     "dependencies.port", "dependencies.service", "dependencies.type"),
}

# Headers per set. Sheet-specific spellings are keyed "<sheet>:<target>".
ZH: dict[str, str] = {
    "bureaus.name": "单位", "bureaus:bureaus.name": "单位名称", "bureaus.kind": "类型",
    "bureaus.region": "地区", "bureaus.link_mbps": "专线带宽（Mbps）",
    "bureaus.window_day": "维护窗口（星期）", "bureaus.window_start": "维护窗口开始",
    "bureaus.window_hours": "维护窗口时长（小时）", "bureaus.blackout_dates": "封网日期",
    "bureaus.ssh_user": "SSH用户", "bureaus.ssh_port": "SSH端口",
    "systems.name": "系统名称", "systems.kind": "系统类型", "systems.owner": "负责人",
    "systems.phone": "联系电话", "systems.mlps_level": "等保级别",
    "systems.classified": "是否涉密", "systems.network_zone": "网络区域",
    "systems.dr_tier": "灾备等级", "systems.criticality": "重要程度",
    "systems.description": "系统描述",
    "hosts.hostname": "主机名", "hosts.ip": "IP地址", "hosts.mac": "MAC地址",
    "hosts.kind": "主机类型", "hosts.role": "角色", "hosts.hypervisor": "宿主机",
    "hosts.cluster": "集群", "hosts.power_state": "电源状态", "hosts.os": "操作系统",
    "hosts.os_version": "系统版本", "hosts.arch": "架构", "hosts.firmware": "引导方式",
    "hosts.cpu_cores": "CPU（核）", "hosts.memory_gb": "内存（G）", "hosts.disk_gb": "磁盘（GB）",
    "hosts.cpu_util_pct": "CPU利用率（%）", "hosts.mem_util_pct": "内存利用率（%）",
    "hosts.cpu_p95_pct": "CPU峰值利用率", "hosts.mem_p95_pct": "内存峰值利用率",
    "hosts.ssh_port": "SSH端口",
    "disks.name": "磁盘名称", "disks.size_gb": "容量(GB)", "disks.used_gb": "已用(GB)",
    "disks.path": "路径", "disks.datastore": "数据存储",
    "databases.engine": "数据库类型", "databases.version": "数据库版本", "databases.name": "库名",
    "databases.size_gb": "数据量（GB）", "databases.shared": "是否共享",
    "databases:hosts.hostname": "所在主机",
    "dependencies.source_system": "源系统", "dependencies.target_system": "目标系统",
    "dependencies.source_host": "源主机", "dependencies.target_host": "目标主机",
    "dependencies.port": "端口", "dependencies.service": "服务", "dependencies.type": "依赖类型",
}

ZH_VARIANT: dict[str, str] = {
    "bureaus.name": "所属单位", "bureaus:bureaus.name": "机构名称", "bureaus.kind": "类型",
    "bureaus.region": "所在地区", "bureaus.link_mbps": "链路带宽",
    "bureaus.window_day": "维护日", "bureaus.window_start": "窗口开始时间",
    "bureaus.window_hours": "窗口时长", "bureaus.blackout_dates": "禁止变更日期",
    "bureaus.ssh_user": "登录用户", "bureaus.ssh_port": "SSH端口",
    "systems.name": "应用系统名称", "systems.kind": "业务类型", "systems.owner": "系统负责人",
    "systems.phone": "手机", "systems.mlps_level": "等级保护级别", "systems.classified": "涉密",
    "systems.network_zone": "安全域", "systems.dr_tier": "容灾等级",
    "systems.criticality": "重要性", "systems.description": "系统简介",
    "hosts.hostname": "服务器名称", "hosts.ip": "服务器IP", "hosts.mac": "网卡MAC",
    "hosts.kind": "服务器类型", "hosts.role": "用途", "hosts.hypervisor": "所在宿主机",
    "hosts.cluster": "所属集群", "hosts.power_state": "运行状态",
    "hosts.os": "操作系统类型", "hosts.os_version": "操作系统版本", "hosts.arch": "CPU架构",
    "hosts.firmware": "启动方式", "hosts.cpu_cores": "CPU核数", "hosts.memory_gb": "内存大小",
    "hosts.disk_gb": "硬盘容量", "hosts.cpu_util_pct": "CPU使用率",
    "hosts.mem_util_pct": "内存使用率", "hosts.cpu_p95_pct": "CPU峰值",
    "hosts.mem_p95_pct": "内存峰值", "hosts.ssh_port": "远程端口",
    "disks.name": "挂载点", "disks.size_gb": "容量（GB）", "disks.used_gb": "已用容量",
    "disks.path": "磁盘路径", "disks.datastore": "存储池",
    "disks:hosts.hostname": "服务器名称",
    "databases.engine": "数据库产品", "databases.version": "数据库版本",
    "databases.name": "数据库名", "databases.size_gb": "数据库大小",
    "databases.shared": "共享库", "databases:hosts.hostname": "所在主机",
    "dependencies.source_system": "调用系统", "dependencies.target_system": "被调系统",
    "dependencies.source_host": "源IP", "dependencies.target_host": "目标主机",
    "dependencies.port": "目的端口", "dependencies.service": "协议",
    "dependencies.type": "调用方式",
}

EN: dict[str, str] = {
    "bureaus.name": "Bureau", "bureaus:bureaus.name": "Bureau Name", "bureaus.kind": "Type",
    "bureaus.region": "Region", "bureaus.link_mbps": "Link Bandwidth (Mbps)",
    "bureaus.window_day": "Maintenance Day", "bureaus.window_start": "Maintenance Start",
    "bureaus.window_hours": "Maintenance Hours", "bureaus.blackout_dates": "Freeze Dates",
    "bureaus.ssh_user": "SSH User", "bureaus.ssh_port": "SSH Port",
    "systems.name": "System Name", "systems.kind": "System Type", "systems.owner": "Owner",
    "systems.phone": "Phone", "systems.mlps_level": "MLPS Level",
    "systems.classified": "Classified", "systems.network_zone": "Network Zone",
    "systems.dr_tier": "DR Tier", "systems.criticality": "Criticality",
    "systems.description": "Description",
    "hosts.hostname": "Hostname", "hosts.ip": "IP Address", "hosts.mac": "MAC Address",
    "hosts.kind": "Host Type", "hosts.role": "Role", "hosts.hypervisor": "Hypervisor",
    "hosts.cluster": "Cluster", "hosts.power_state": "Power State", "hosts.os": "OS",
    "hosts.os_version": "OS Version", "hosts.arch": "Architecture",
    "hosts.firmware": "Firmware", "hosts.cpu_cores": "CPU Cores",
    "hosts.memory_gb": "Memory (GB)", "hosts.disk_gb": "Disk (GB)",
    "hosts.cpu_util_pct": "CPU Utilization (%)",
    "hosts.mem_util_pct": "Memory Utilization (%)", "hosts.cpu_p95_pct": "CPU P95 (%)",
    "hosts.mem_p95_pct": "Memory P95 (%)", "hosts.ssh_port": "SSH Port",
    "disks.name": "Disk Name", "disks.size_gb": "Size GB", "disks.used_gb": "Used GB",
    "disks.path": "Path", "disks.datastore": "Datastore",
    "databases.engine": "Database Type", "databases.version": "Database Version",
    "databases.name": "Database Name", "databases.size_gb": "Database Size (GB)",
    "databases.shared": "Shared", "databases:hosts.hostname": "Host",
    "dependencies.source_system": "Source System", "dependencies.target_system": "Target System",
    "dependencies.source_host": "Source Host", "dependencies.target_host": "Target Host",
    "dependencies.port": "Port", "dependencies.service": "Service",
    "dependencies.type": "Dependency Type",
}

HEADER_SETS: dict[str, dict[str, str]] = {"zh": ZH, "zh-variant": ZH_VARIANT, "en": EN}


def header(headers: dict[str, str], sheet: str, target: str) -> str:
    """The header ``headers`` uses for ``target`` on a ``sheet`` sheet."""
    return headers.get(f"{sheet}:{target}") or headers[target]


@dataclass(frozen=True)
class ValueStyle:
    """How a bureau spells values: booleans, sizes with units, blank for missing."""

    yes: str = "是"
    no: str = "否"
    size_unit: str = "G"      # "G" → "16G" / "2 TB"; " GB" → "16 GB"; "" → 16
    percent_sign: bool = False

    def cell(self, target: str, value: Any) -> Any:
        """The cell value for ``target`` (a ``table.column``) holding ``value``."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, bool):
            return self.yes if value else self.no
        column = target.split(".", 1)[1]
        if column in ("memory_gb", "disk_gb", "size_gb", "used_gb") and self.size_unit:
            return self.size(float(value))
        if column.endswith("_pct") and self.percent_sign:
            return f"{float(value):g}%"
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    def size(self, gb: float) -> str:
        """``gb`` written as people write sizes: "16G", "2 TB", "500 GB"."""
        if self.size_unit == "G" and gb >= 1024 and gb % 1024 == 0:
            return f"{gb / 1024:g} TB"
        return f"{gb:g}{self.size_unit}"


ZH_VALUES = ValueStyle("是", "否", "G", False)
EN_VALUES = ValueStyle("Y", "N", " GB", True)
CSV_VALUES = ValueStyle("是", "否", "", False)
