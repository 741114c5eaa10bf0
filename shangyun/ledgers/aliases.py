"""The header alias table: which ledger headers mean which estate column. Data only.

**To teach the reader a new header, add it here**: append it to the target's tuple in
:data:`ALIASES` (any spelling: case, spaces, full-width brackets and a unit in brackets do
not matter — :func:`shangyun.ledgers.headers.normalize_header`), or to
:data:`CONTEXT_ALIASES` when a short header means different things on different sheets,
or to :data:`IGNORED` when it is known and deliberately dropped. ``tests/ledgers`` and
``tests/sample`` check that every alias is found.

A *target* is an estate column written ``"<table>.<column>"`` (``"hosts.memory_gb"``); the
first alias of each target is the canonical Chinese header, the second the canonical
English one (:func:`shangyun.ledgers.headers.canonical_header`).
"""

from __future__ import annotations

#: The kinds of sheet a ledger may hold, each filling mainly one estate table.
SHEET_KINDS = ("hosts", "systems", "databases", "dependencies", "bureaus")

#: target ("table.column") -> headers meaning it; [0] canonical zh, [1] canonical en.
ALIASES: dict[str, tuple[str, ...]] = {
    # ---------------------------------------------------------------- bureaus
    "bureaus.name": ("单位", "bureau", "所属单位", "单位名称", "所属直属局", "直属局", "局",
                     "机构", "所属机构", "机构名称", "使用单位", "管理单位", "bureau name",
                     "unit", "organization", "organisation", "agency", "site"),
    "bureaus.region": ("地区", "region", "所在地区", "所在地", "省份", "城市", "province",
                       "city", "location"),
    "bureaus.link_mbps": ("专线带宽(Mbps)", "link mbps", "专线带宽", "链路带宽", "带宽",
                          "出口带宽", "link", "bandwidth", "link bandwidth", "wan bandwidth"),
    "bureaus.window_day": ("维护窗口(星期)", "window day", "维护日", "窗口星期",
                           "maintenance day"),
    "bureaus.window_start": ("维护窗口开始", "window start", "窗口开始时间", "维护开始时间",
                             "maintenance start"),
    "bureaus.window_hours": ("维护窗口时长(小时)", "window hours", "窗口时长", "维护时长",
                             "maintenance hours"),
    "bureaus.blackout_dates": ("封网日期", "blackout dates", "封网期", "禁止变更日期",
                               "freeze dates"),
    "bureaus.ssh_user": ("SSH用户", "ssh user", "登录用户", "ssh username"),
    "bureaus.ssh_jump": ("跳板机", "ssh jump", "堡垒机", "jump host", "bastion"),
    # ---------------------------------------------------------------- systems
    "systems.name": ("系统名称", "system", "业务系统", "业务系统名称", "所属系统", "应用系统",
                     "应用系统名称", "系统", "应用名称", "所属业务系统", "system name",
                     "application", "application name", "app", "business system"),
    "systems.kind": ("系统类型", "system kind", "system type", "业务类型"),
    "systems.owner": ("负责人", "owner", "系统负责人", "联系人", "责任人", "管理员",
                      "系统管理员", "contact", "responsible", "system owner"),
    "systems.phone": ("联系电话", "phone", "电话", "手机", "手机号", "联系方式", "办公电话",
                      "tel", "telephone", "mobile", "contact phone"),
    "systems.mlps_level": ("等保级别", "mlps level", "等保等级", "等级保护级别", "等级保护",
                           "定级", "安全保护等级", "等保", "mlps", "djcp", "djcp level",
                           "security level"),
    "systems.classified": ("是否涉密", "classified", "涉密", "涉密情况", "涉密系统",
                           "is classified", "secret"),
    "systems.network_zone": ("网络区域", "network zone", "所在网络", "所属网络", "网络",
                             "安全域", "部署区域", "所在区域", "网络位置", "zone", "network",
                             "security zone"),
    "systems.dr_tier": ("灾备等级", "dr tier", "容灾等级", "灾备级别", "dr level", "dr"),
    "systems.criticality": ("重要程度", "criticality", "重要性", "重要等级", "业务重要性",
                            "importance", "priority"),
    "systems.description": ("系统描述", "description", "系统简介", "系统功能", "功能描述",
                            "system description"),
    # ---------------------------------------------------------------- hosts
    "hosts.hostname": ("主机名", "hostname", "主机名称", "服务器名称", "服务器名", "计算机名",
                       "设备名称", "虚拟机名称", "虚拟机名", "host name", "host", "server",
                       "server name", "computer name", "vm name", "vm", "dns name"),
    "hosts.ip": ("IP地址", "ip", "ip address", "管理ip", "业务ip", "主ip", "ipv4", "ipv4地址",
                 "服务器ip", "主机ip", "ip addr", "primary ip", "primary ip address",
                 "management ip"),
    "hosts.mac": ("MAC地址", "mac", "mac address", "物理地址", "网卡mac"),
    "hosts.kind": ("主机类型", "host kind", "服务器类型", "设备类型", "物理机/虚拟机",
                   "虚拟/物理", "host type", "server type", "machine type"),
    "hosts.role": ("角色", "role", "用途", "服务器用途", "主机用途", "部署内容", "功能",
                   "purpose", "usage", "host role"),
    "hosts.hypervisor": ("宿主机", "hypervisor", "物理宿主机", "所在宿主机", "esxi主机",
                         "esxi host", "vm host"),
    "hosts.cluster": ("集群", "cluster", "所属集群", "资源池", "cluster name"),
    "hosts.power_state": ("电源状态", "power state", "运行状态", "开关机状态", "powerstate",
                          "power", "state", "status"),
    "hosts.os": ("操作系统", "os", "operating system", "操作系统类型", "os type", "os name"),
    "hosts.os_version": ("系统版本", "os version", "操作系统版本", "内核版本"),
    "hosts.arch": ("架构", "arch", "cpu架构", "体系结构", "architecture", "cpu arch"),
    "hosts.firmware": ("引导方式", "firmware", "启动方式", "boot", "boot mode"),
    "hosts.cpu_cores": ("CPU(核)", "cpu cores", "cpu", "cpu核数", "cpu数", "cpu数量", "核数",
                        "cpu个数", "处理器", "处理器核数", "vcpu", "vcpus", "cpus", "cores",
                        "cpu core", "num cpu"),
    "hosts.memory_gb": ("内存(GB)", "memory gb", "内存", "内存大小", "内存容量", "内存总量",
                        "memory", "mem", "ram", "memory size", "ram size"),
    "hosts.disk_gb": ("磁盘(GB)", "disk gb", "磁盘", "磁盘大小", "磁盘容量", "硬盘", "硬盘容量",
                      "硬盘大小", "存储", "存储容量", "存储空间", "disk", "disks", "disk size",
                      "storage", "storage size", "hdd"),
    "hosts.cpu_util_pct": ("CPU利用率(%)", "cpu util pct", "cpu利用率", "cpu使用率",
                           "cpu平均利用率", "cpu util", "cpu utilization", "cpu usage"),
    "hosts.mem_util_pct": ("内存利用率(%)", "mem util pct", "内存利用率", "内存使用率",
                           "内存平均利用率", "mem util", "memory utilization",
                           "memory usage"),
    "hosts.cpu_p95_pct": ("CPU P95(%)", "cpu p95 pct", "cpu峰值利用率", "cpu峰值", "cpu p95",
                          "cpu peak"),
    "hosts.mem_p95_pct": ("内存 P95(%)", "mem p95 pct", "内存峰值利用率", "内存峰值",
                          "mem p95", "memory p95", "memory peak"),
    "hosts.ssh_port": ("SSH端口", "ssh port", "远程端口", "管理端口"),
    # ---------------------------------------------------------------- databases
    "databases.engine": ("数据库类型", "database engine", "数据库", "数据库产品", "数据库软件",
                         "db type", "database type", "database", "engine", "dbms", "db"),
    "databases.version": ("数据库版本", "database version", "db version", "engine version"),
    "databases.name": ("库名", "database name", "数据库名", "数据库名称", "实例名", "数据库实例",
                       "schema", "db name", "instance", "instance name"),
    "databases.size_gb": ("数据量(GB)", "database size gb", "数据量", "数据库大小", "数据大小",
                          "数据库容量", "data size", "db size", "database size"),
    "databases.shared": ("是否共享", "shared", "共享", "共享库", "is shared"),
    # ---------------------------------------------------------------- dependencies
    "dependencies.source_system": ("源系统", "source system", "调用方", "调用系统", "上游系统",
                                   "from system", "caller", "consumer"),
    "dependencies.target_system": ("目标系统", "target system", "被调用方", "被调系统",
                                   "依赖系统", "下游系统", "to system", "callee", "provider"),
    "dependencies.source_host": ("源主机", "source host", "源ip", "源地址", "from host",
                                 "source ip"),
    "dependencies.target_host": ("目标主机", "target host", "目标ip", "目的主机", "目的ip",
                                 "to host", "target ip"),
    "dependencies.external": ("外部地址", "external", "外部系统", "external address"),
    "dependencies.port": ("端口", "port", "目标端口", "端口号", "目的端口", "target port",
                          "dest port"),
    "dependencies.service": ("服务", "service", "协议", "接口", "接口名称", "protocol",
                             "interface"),
    "dependencies.type": ("依赖类型", "dependency type", "调用方式", "交互方式"),
    # ---------------------------------------------------------------- disks
    "disks.name": ("磁盘名称", "disk name", "磁盘名", "盘符", "挂载点", "mount point"),
    "disks.size_gb": ("容量(GB)", "size gb", "capacity", "capacity gb"),
    "disks.used_gb": ("已用(GB)", "used gb", "已用容量", "已使用", "used", "in use"),
    "disks.datastore": ("数据存储", "datastore", "存储池"),
    "disks.path": ("路径", "path", "磁盘路径", "disk path"),
}

#: Short headers whose meaning depends on the sheet kind; they win over :data:`ALIASES`.
CONTEXT_ALIASES: dict[str, dict[str, str]] = {
    "hosts": {"类型": "hosts.kind", "type": "hosts.kind", "kind": "hosts.kind",
              "版本": "hosts.os_version", "version": "hosts.os_version",
              "名称": "hosts.hostname", "name": "hosts.hostname",
              "状态": "hosts.power_state", "系统类型": "hosts.os",
              "数据库名": "databases.name", "存储": "hosts.disk_gb"},
    "systems": {"名称": "systems.name", "name": "systems.name", "类型": "systems.kind",
                "type": "systems.kind", "kind": "systems.kind", "级别": "systems.mlps_level",
                "描述": "systems.description", "说明": "systems.description"},
    "databases": {"类型": "databases.engine", "type": "databases.engine",
                  "版本": "databases.version", "version": "databases.version",
                  "名称": "databases.name", "name": "databases.name",
                  "大小": "databases.size_gb", "size": "databases.size_gb",
                  "容量": "databases.size_gb", "所在主机": "hosts.hostname"},
    "dependencies": {"类型": "dependencies.type", "type": "dependencies.type",
                     "源": "dependencies.source_system", "目标": "dependencies.target_system",
                     "source": "dependencies.source_system",
                     "target": "dependencies.target_system",
                     "from": "dependencies.source_system", "to": "dependencies.target_system",
                     "服务名": "dependencies.service"},
    "bureaus": {"名称": "bureaus.name", "name": "bureaus.name", "类型": "bureaus.kind",
                "type": "bureaus.kind", "ssh端口": "bureaus.ssh_port",
                "ssh port": "bureaus.ssh_port"},
}

#: Headers that are known and deliberately dropped.
IGNORED: tuple[str, ...] = (
    "序号", "编号", "no", "no.", "#", "num", "index", "备注", "备注说明", "说明", "remark",
    "remarks", "note", "notes", "comment", "comments", "填表人", "更新时间", "录入时间",
)

#: Units that may follow a header in brackets, as a factor to GB (sizes), or a marker.
SIZE_UNITS: dict[str, float] = {
    "b": 1 / 1024**3, "byte": 1 / 1024**3, "bytes": 1 / 1024**3,
    "k": 1 / 1024**2, "kb": 1 / 1024**2, "kib": 1 / 1024**2,
    "m": 1 / 1024, "mb": 1 / 1024, "mib": 1 / 1024, "兆": 1 / 1024,
    "g": 1.0, "gb": 1.0, "gib": 1.0, "吉": 1.0,
    "t": 1024.0, "tb": 1024.0, "tib": 1024.0,
    "p": 1024.0**2, "pb": 1024.0**2, "pib": 1024.0**2,
}


__all__ = ["ALIASES", "CONTEXT_ALIASES", "IGNORED", "SHEET_KINDS", "SIZE_UNITS"]
