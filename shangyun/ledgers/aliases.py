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
    "bureaus.name": ("单位", "bureau", "所属单位", "单位名称", "所属直属局", "直属局", "局", "机构",
                     "所属机构", "机构名称", "使用单位", "管理单位", "bureau name", "unit",
                     "organization", "organisation", "agency", "site", "填报单位", "责任单位",
                     "归属单位", "隶属单位", "报送单位", "所属局", "直属局名称"),
    "bureaus.region": ("地区", "region", "所在地区", "所在地", "省份", "城市", "province", "city",
                       "location", "所在城市", "所属地区", "所在省份", "地市"),
    "bureaus.link_mbps": ("专线带宽(Mbps)", "link mbps", "专线带宽", "链路带宽", "带宽", "出口带宽",
                          "link", "bandwidth", "link bandwidth", "wan bandwidth"),
    "bureaus.window_day": ("维护窗口(星期)", "window day", "维护日", "窗口星期", "maintenance day"),
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
                     "application", "application name", "app", "business system", "系统名",
                     "业务系统名", "应用系统名", "信息系统名称", "信息系统", "所属应用", "业务名称",
                     "所属信息系统", "系统全称"),
    "systems.short_name": ("简称", "short name", "系统简称", "系统别名", "别名", "简写",
                           "系统缩写", "缩写", "abbreviation", "alias"),
    "systems.kind": ("系统类型", "system kind", "system type", "业务类型"),
    "systems.owner": ("负责人", "owner", "系统负责人", "联系人", "责任人", "管理员", "系统管理员",
                      "contact", "responsible", "system owner", "业务负责人", "技术负责人",
                      "运维负责人", "运维人员", "管理员姓名", "联系人姓名", "系统联系人"),
    "systems.phone": ("联系电话", "phone", "电话", "手机", "手机号", "联系方式", "办公电话", "tel",
                      "telephone", "mobile", "contact phone", "联系人电话", "负责人电话",
                      "手机号码", "电话号码", "联系手机", "联系人手机", "负责人手机"),
    "systems.mlps_level": ("等保级别", "mlps level", "等保等级", "等级保护级别", "等级保护", "定级",
                           "安全保护等级", "等保", "mlps", "djcp", "djcp level", "security level",
                           "等保定级", "定级级别", "安全等级", "等级保护定级", "等级保护等级",
                           "等保测评等级", "系统定级", "系统等保级别", "等保备案级别", "备案等级",
                           "备案级别", "等保备案等级"),
    "systems.classified": ("是否涉密", "classified", "涉密", "涉密情况", "涉密系统",
                           "is classified", "secret"),
    "systems.network_zone": ("网络区域", "network zone", "所在网络", "所属网络", "网络", "安全域",
                             "部署区域", "所在区域", "网络位置", "zone", "network", "security zone",
                             "所属区域", "部署网络", "网络类型", "网络环境", "所属网络区域",
                             "部署位置", "安全区域"),
    "systems.dr_tier": ("灾备等级", "dr tier", "容灾等级", "灾备级别", "dr level", "dr"),
    "systems.criticality": ("重要程度", "criticality", "重要性", "重要等级", "业务重要性",
                            "importance", "priority", "重要级别", "系统重要性", "重要程度等级"),
    "systems.description": ("系统描述", "description", "系统简介", "系统功能", "功能描述",
                            "system description", "系统说明", "用途说明", "系统用途", "业务描述",
                            "功能简介", "业务功能"),
    # ---------------------------------------------------------------- hosts
    "hosts.hostname": ("主机名", "hostname", "主机名称", "服务器名称", "服务器名", "计算机名",
                       "设备名称", "虚拟机名称", "虚拟机名", "host name", "host", "server",
                       "server name", "computer name", "vm name", "vm", "dns name", "服务器主机名",
                       "设备名", "机器名", "主机标识", "节点名称", "虚机名称", "云主机名称",
                       "服务器名字"),
    "hosts.ip": ("IP地址", "ip", "ip address", "管理ip", "业务ip", "主ip", "ipv4", "ipv4地址",
                 "服务器ip", "主机ip", "ip addr", "primary ip", "primary ip address",
                 "management ip", "管理地址", "业务地址", "内网ip", "服务ip", "业务ip地址",
                 "管理ip地址", "私网ip", "内网地址", "服务器ip地址", "主机ip地址", "ip地址1",
                 "设备ip", "设备ip地址", "虚拟机ip", "虚拟机ip地址"),
    "hosts.mac": ("MAC地址", "mac", "mac address", "物理地址", "网卡mac", "网卡地址", "硬件地址",
                  "mac地址1"),
    "hosts.kind": ("主机类型", "host kind", "服务器类型", "设备类型", "物理机/虚拟机", "虚拟/物理",
                   "虚拟机/物理机", "物理/虚拟",
                   "host type", "server type", "machine type", "设备形态", "资源类型", "服务器形态",
                   "部署形态", "虚拟化类型", "设备类别", "设备分类",
                   # yes/no questions (是/否): the header says which kind 是 means
                   "是否虚拟机", "是否为虚拟机", "是否虚拟化", "是否虚机", "虚拟机", "虚机",
                   "是否物理机", "是否为物理机", "物理机", "is vm", "is virtual", "virtual",
                   "virtualized", "is physical", "physical"),
    "hosts.role": ("角色", "role", "用途", "服务器用途", "主机用途", "部署内容", "功能", "purpose",
                   "usage", "host role", "服务器角色", "应用角色", "承载应用", "部署应用",
                   "主机角色"),
    "hosts.hypervisor": ("宿主机", "hypervisor", "物理宿主机", "所在宿主机", "esxi主机",
                         "esxi host", "vm host", "宿主机名称", "宿主机ip", "所在物理机",
                         "虚拟化主机", "宿主服务器", "所属宿主机", "宿主机名", "所属物理机"),
    "hosts.cluster": ("集群", "cluster", "所属集群", "资源池", "cluster name", "虚拟化集群",
                      "资源池名称", "所属资源池", "集群名称"),
    "hosts.power_state": ("电源状态", "power state", "运行状态", "开关机状态", "powerstate",
                          "power", "state", "status", "使用状态", "设备状态", "资产状态",
                          "在用状态", "使用情况", "主机状态", "运行情况", "服务器状态",
                          "虚拟机状态"),
    "hosts.os": ("操作系统", "os", "operating system", "操作系统类型", "os type", "os name",
                 "操作系统名称", "系统平台", "操作系统及版本", "os及版本", "操作系统类型及版本",
                 "os名称", "操作系统及版本号"),
    "hosts.os_version": ("系统版本", "os version", "操作系统版本", "os版本",
                         "操作系统版本号", "系统版本号", "os release", "发行版本"),
    "hosts.arch": ("架构", "arch", "cpu架构", "体系结构", "architecture", "cpu arch", "处理器架构",
                   "芯片架构", "硬件架构", "平台架构", "cpu类型"),
    "hosts.firmware": ("引导方式", "firmware", "启动方式", "boot", "boot mode"),
    "hosts.cpu_cores": ("CPU(核)", "cpu cores", "cpu", "cpu核数", "cpu数", "cpu数量", "核数",
                        "cpu个数", "处理器", "处理器核数", "vcpu", "vcpus", "cpus", "cores",
                        "cpu core", "num cpu", "vcpu数", "cpu核心数", "逻辑cpu", "逻辑核数",
                        "处理器数量", "cpu配置", "cpu规格", "cpu总核数", "cpu核"),
    "hosts.memory_gb": ("内存(GB)", "memory gb", "内存", "内存大小", "内存容量", "内存总量",
                        "memory", "mem", "ram", "memory size", "ram size", "内存配置", "内存规格",
                        "物理内存", "内存总容量"),
    "hosts.disk_gb": ("磁盘(GB)", "disk gb", "磁盘", "磁盘大小", "磁盘容量", "硬盘", "硬盘容量",
                      "硬盘大小", "存储", "存储容量", "存储空间", "disk", "disks", "disk size",
                      "storage", "storage size", "hdd", "磁盘总量", "硬盘总容量", "存储大小",
                      "磁盘空间", "磁盘配置", "总存储", "磁盘总容量", "存储配置"),
    "hosts.cpu_util_pct": ("CPU利用率(%)", "cpu util pct", "cpu利用率", "cpu使用率",
                           "cpu平均利用率", "cpu util", "cpu utilization", "cpu usage",
                           "cpu平均使用率", "cpu负载"),
    "hosts.mem_util_pct": ("内存利用率(%)", "mem util pct", "内存利用率", "内存使用率",
                           "内存平均利用率", "mem util", "memory utilization", "memory usage",
                           "内存平均使用率", "内存负载"),
    "hosts.cpu_p95_pct": ("CPU P95(%)", "cpu p95 pct", "cpu峰值利用率", "cpu峰值", "cpu p95",
                          "cpu peak"),
    "hosts.mem_p95_pct": ("内存 P95(%)", "mem p95 pct", "内存峰值利用率", "内存峰值", "mem p95",
                          "memory p95", "memory peak"),
    "hosts.ssh_port": ("SSH端口", "ssh port", "远程端口", "管理端口"),
    "hosts.go_live": ("上线时间", "go live date", "go live", "上线日期", "投运时间", "投运日期",
                      "启用时间", "启用日期", "投入使用时间", "投产时间", "投产日期",
                      "上线年份", "go-live date", "in service since", "投入运行时间",
                      "上线运行时间", "投入使用日期"),
    # ---------------------------------------------------------------- databases
    "databases.engine": ("数据库类型", "database engine", "数据库", "数据库产品", "数据库软件",
                         "db type", "database type", "database", "engine", "dbms", "db",
                         "数据库类型及版本", "数据库软件及版本", "数据库产品及版本",
                         "数据库名称及版本"),
    "databases.version": ("数据库版本", "database version", "db version", "engine version"),
    "databases.name": ("库名", "database name", "数据库名", "数据库名称", "实例名", "数据库实例",
                       "schema", "db name", "instance", "instance name", "数据库实例名", "实例名称",
                       "sid"),
    "databases.size_gb": ("数据量(GB)", "database size gb", "数据量", "数据库大小", "数据大小",
                          "数据库容量", "data size", "db size", "database size", "数据量大小",
                          "数据库数据量", "数据规模", "库大小"),
    "databases.shared": ("是否共享", "shared", "共享", "共享库", "is shared"),
    # a DR pair: the row's system and the one the cell names. Under these headers the
    # cell names the row's *primary* (the row is the standby) …
    "systems.dr_primary": ("对应主系统", "dr primary", "容灾对象", "灾备对象", "standby of",
                           "primary system", "主用系统", "对应生产系统", "灾备对应系统",
                           # … and under these its *standby* (:data:`DR_STANDBY_HEADERS`)
                           "灾备系统", "备份系统", "容灾系统", "备用系统", "主备关系",
                           "dr pair", "dr standby", "standby system", "dr system",
                           "灾备端系统"),
    # ---------------------------------------------------------------- dependencies
    "dependencies.source_system": ("源系统", "source system", "调用方", "调用系统", "上游系统",
                                   "from system", "caller", "consumer", "源系统名称", "调用方系统",
                                   "源端系统", "发起方", "发起系统"),
    "dependencies.target_system": ("目标系统", "target system", "被调用方", "被调系统", "依赖系统",
                                   "下游系统", "to system", "callee", "provider", "目标系统名称",
                                   "被调用方系统", "目的系统", "目的系统名称", "对端系统",
                                   "目标端系统"),
    "dependencies.source_host": ("源主机", "source host", "源ip", "源地址", "from host",
                                 "source ip", "源服务器", "源端ip", "源端主机", "源主机名"),
    "dependencies.target_host": ("目标主机", "target host", "目标ip", "目的主机", "目的ip",
                                 "to host", "target ip", "目的服务器", "目的端ip", "目的地址",
                                 "目标服务器", "目标主机名", "目标地址"),
    "dependencies.external": ("外部地址", "external", "外部系统", "external address"),
    "dependencies.port": ("端口", "port", "目标端口", "端口号", "目的端口", "target port",
                          "dest port", "访问端口", "服务端口", "通信端口"),
    "dependencies.service": ("服务", "service", "协议", "接口", "接口名称", "protocol",
                             "interface"),
    "dependencies.type": ("依赖类型", "dependency type", "调用方式", "交互方式"),
    # ---------------------------------------------------------------- disks
    "disks.name": ("磁盘名称", "disk name", "磁盘名", "盘符", "挂载点", "mount point"),
    "disks.size_gb": ("容量(GB)", "size gb", "capacity", "capacity gb"),
    "disks.used_gb": ("已用(GB)", "used gb", "已用容量", "已使用", "used", "in use"),
    "disks.datastore": ("数据存储", "datastore", "存储池"),
    "disks.path": ("路径", "path", "磁盘路径", "disk path"),
    "disks.format": ("格式", "disk format", "磁盘格式", "镜像格式", "文件格式",
                     "image format"),
}

#: Headers of ``systems.dr_primary`` whose cell names the row's DR *standby* (the row's
#: system is the primary): the pair is kept the other way round, on the standby's row.
DR_STANDBY_HEADERS: frozenset[str] = frozenset({
    "灾备系统", "备份系统", "容灾系统", "备用系统", "主备关系", "dr pair", "dr standby",
    "standby system", "dr system", "灾备端系统"})

#: Short headers whose meaning depends on the sheet kind; they win over :data:`ALIASES`.
CONTEXT_ALIASES: dict[str, dict[str, str]] = {
    "hosts": {"类型": "hosts.kind", "type": "hosts.kind", "kind": "hosts.kind",
              "版本": "hosts.os_version", "version": "hosts.os_version",
              "名称": "hosts.hostname", "name": "hosts.hostname",
              "状态": "hosts.power_state", "系统类型": "hosts.os",
              "数据库名": "databases.name", "存储": "hosts.disk_gb"},
    "systems": {"上线时间": "systems.go_live", "上线日期": "systems.go_live",
                "投运时间": "systems.go_live", "投产时间": "systems.go_live",
                "启用时间": "systems.go_live", "go live date": "systems.go_live",
                "投入运行时间": "systems.go_live", "上线运行时间": "systems.go_live",
                "名称": "systems.name", "name": "systems.name", "类型": "systems.kind",
                "type": "systems.kind", "kind": "systems.kind", "级别": "systems.mlps_level",
                "描述": "systems.description", "说明": "systems.description"},
    "databases": {"类型": "databases.engine", "type": "databases.engine",
                  "版本": "databases.version", "version": "databases.version",
                  "名称": "databases.name", "name": "databases.name",
                  "大小": "databases.size_gb", "size": "databases.size_gb",
                  "容量": "databases.size_gb", "所在主机": "hosts.hostname",
                  # the host of a database named by its address or name (所在主机IP)
                  "所在主机ip": "hosts.ip", "所在服务器ip": "hosts.ip",
                  "部署服务器ip": "hosts.ip", "部署主机ip": "hosts.ip",
                  "数据库服务器ip": "hosts.ip", "数据库ip": "hosts.ip", "db ip": "hosts.ip",
                  "实例ip": "hosts.ip", "host ip": "hosts.ip", "server ip": "hosts.ip",
                  "所在服务器": "hosts.hostname", "部署主机": "hosts.hostname",
                  "部署服务器": "hosts.hostname", "数据库服务器": "hosts.hostname",
                  "所在主机名": "hosts.hostname",
                  # the estate keeps no database port: dropped, not a dependency's port
                  "端口": "ignore", "port": "ignore", "端口号": "ignore",
                  "数据库端口": "ignore", "监听端口": "ignore"},
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
    # known, but the estate has no column for them (yet): 机房, asset data …
    "采购时间", "购置日期", "机房", "所在机房",
    "机柜", "机柜位置", "机架", "u位", "资产编号", "资产标签", "序列号", "sn", "品牌", "型号",
    "设备型号", "厂商", "生产厂商", "维保到期", "保修期", "填报人", "填报日期", "审核人",
    "更新日期",
    # a kernel version is not the OS version (3.10.0 is CentOS 7): dropped, not read as it
    "内核版本", "kernel", "kernel version",
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
