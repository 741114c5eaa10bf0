"""The estate's tables: their columns, types, keys and references.

An estate is a folder: one CSV table per name below (UTF-8 with BOM, so Excel opens
Chinese text correctly) plus ``estate.yaml``. This module is the single description of
those tables; loading, validation, export headers and the importers all read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA_VERSION = 1

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "daily")
NETWORK_ZONES = ("internet", "extranet", "intranet", "dmz", "management")
CRITICALITY = ("low", "medium", "high", "critical")
DEPENDENCY_TYPES = ("database", "sync", "async", "file", "other")
DB_ENGINES = (
    "postgresql", "mariadb", "mysql", "oracle", "sqlserver", "dm", "kingbase", "gbase", "other",
)
DISK_FORMATS = ("raw", "qcow2", "vmdk", "vhd", "vhdx")


@dataclass(frozen=True)
class Column:
    """One column of a table.

    ``kind`` is one of ``str``, ``int``, ``float``, ``bool``, ``enum``, ``time``, ``dates``,
    ``month`` (a date as precise as it is known: ``2019``, ``2019-03`` or ``2019-03-01``).
    ``low``/``high`` bound numbers (inclusive); ``choices`` lists the allowed enum values;
    ``ref`` names the table whose ``id`` this column refers to; ``zh``/``en`` are the headers
    used by ``inventory export``.
    """

    name: str
    kind: str = "str"
    required: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    ref: str | None = None
    zh: str = ""
    en: str = ""


@dataclass(frozen=True)
class Table:
    """One table of the estate; the first column, ``id``, is its key."""

    name: str
    zh: str
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def file(self) -> str:
        """The CSV file name of this table inside the estate folder."""
        return f"{self.name}.csv"

    @property
    def column_names(self) -> list[str]:
        """The column names, in file order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, kind: str = "str", zh: str = "", en: str = "", **kw: object) -> Column:
    return Column(name=name, kind=kind, zh=zh, en=en or name.replace("_", " "), **kw)  # type: ignore[arg-type]


BUREAUS = Table("bureaus", "单位", (
    _c("id", required=True, zh="单位编号"),
    _c("name", required=True, zh="单位名称"),
    _c("kind", "enum", zh="类型", choices=("hq", "bureau"), required=True),
    _c("region", zh="地区"),
    _c("link_mbps", "float", zh="专线带宽(Mbps)", low=0.001, high=1_000_000),
    _c("window_day", "enum", zh="维护窗口(星期)", choices=WEEKDAYS),
    _c("window_start", "time", zh="维护窗口开始"),
    _c("window_hours", "float", zh="维护窗口时长(小时)", low=0.25, high=72),
    _c("blackout_dates", "dates", zh="封网日期"),
    _c("ssh_user", zh="SSH用户"),
    _c("ssh_jump", zh="跳板机"),
    _c("ssh_port", "int", zh="SSH端口", low=1, high=65535),
))

SYSTEMS = Table("systems", "业务系统", (
    _c("id", required=True, zh="系统编号"),
    _c("name", required=True, zh="系统名称"),
    _c("bureau_id", required=True, ref="bureaus", zh="所属单位"),
    _c("kind", "enum", zh="系统类型", choices=("business", "shared-service")),
    _c("owner", zh="负责人"),
    _c("phone", zh="联系电话"),
    _c("mlps_level", "int", zh="等保级别", low=1, high=5),
    _c("classified", "bool", zh="是否涉密"),
    _c("network_zone", "enum", zh="网络区域", choices=NETWORK_ZONES),
    _c("dr_tier", "int", zh="灾备等级", low=0, high=3),
    _c("criticality", "enum", zh="重要程度", choices=CRITICALITY),
    _c("description", zh="系统描述"),
    _c("source", zh="来源"),
    _c("go_live", "month", zh="上线时间", en="go-live date"),
    # a DR standby's row names its primary (the system it stands in for): the planner
    # never puts the two in one wave (docs/planning.md, "DR pairs")
    _c("dr_primary", ref="systems", zh="对应主系统", en="DR primary"),
    # the name a bureau's other sheets use for the system (征管 for 税务征管系统): a
    # dependency or database naming the short name is the system's (shangyun/ledgers)
    _c("short_name", zh="简称", en="short name"),
))

HOSTS = Table("hosts", "主机", (
    _c("id", required=True, zh="主机编号"),
    _c("hostname", required=True, zh="主机名"),
    _c("ip", zh="IP地址"),
    _c("mac", zh="MAC地址"),
    _c("system_id", ref="systems", zh="所属系统"),
    _c("bureau_id", required=True, ref="bureaus", zh="所属单位"),
    _c("kind", "enum", zh="类型", choices=("physical", "vm", "container")),
    _c("role", zh="角色"),
    _c("hypervisor", zh="宿主机"),
    _c("cluster", zh="集群"),
    _c("power_state", "enum", zh="电源状态", choices=("on", "off", "suspended")),
    _c("os", zh="操作系统"),
    _c("os_version", zh="系统版本"),
    _c("arch", zh="架构"),
    _c("firmware", "enum", zh="引导方式", choices=("bios", "uefi")),
    _c("cpu_cores", "int", zh="CPU(核)", low=1, high=4096),
    _c("memory_gb", "float", zh="内存(GB)", low=0.0625, high=65536),
    _c("disk_gb", "float", zh="磁盘(GB)", low=0, high=10_000_000),
    _c("cpu_util_pct", "float", zh="CPU利用率(%)", low=0, high=100),
    _c("mem_util_pct", "float", zh="内存利用率(%)", low=0, high=100),
    _c("cpu_p95_pct", "float", zh="CPU P95(%)", low=0, high=100),
    _c("mem_p95_pct", "float", zh="内存 P95(%)", low=0, high=100),
    _c("ssh_port", "int", zh="SSH端口", low=1, high=65535),
    _c("source", zh="来源"),
    _c("discovery_status", zh="发现状态"),
    _c("discovered_at", zh="发现时间"),
    _c("go_live", "month", zh="上线时间", en="go-live date"),
))

#: Columns added after estates were first written: left out of the fingerprint while empty,
#: so an estate (and the plan made from it) keeps its fingerprint until one is filled.
LATER_COLUMNS: frozenset[tuple[str, str]] = frozenset({("hosts", "go_live"),
                                                       ("systems", "go_live"),
                                                       ("systems", "dr_primary"),
                                                       ("systems", "short_name")})

DISKS = Table("disks", "磁盘", (
    _c("id", required=True, zh="磁盘编号"),
    _c("host_id", required=True, ref="hosts", zh="所属主机"),
    _c("name", zh="磁盘名称"),
    _c("size_gb", "float", zh="容量(GB)", low=0.000001, high=1_000_000, required=True),
    _c("used_gb", "float", zh="已用(GB)", low=0, high=1_000_000),
    _c("format", "enum", zh="格式", choices=DISK_FORMATS),
    _c("path", zh="路径"),
    _c("datastore", zh="存储"),
    _c("source", zh="来源"),
))

DATABASES = Table("databases", "数据库", (
    _c("id", required=True, zh="数据库编号"),
    _c("system_id", required=True, ref="systems", zh="所属系统"),
    _c("host_id", ref="hosts", zh="所在主机"),
    _c("engine", "enum", zh="数据库类型", choices=DB_ENGINES, required=True),
    _c("version", zh="版本"),
    _c("name", zh="库名"),
    _c("size_gb", "float", zh="数据量(GB)", low=0, high=10_000_000),
    _c("shared", "bool", zh="是否共享"),
    _c("source", zh="来源"),
))

DEPENDENCIES = Table("dependencies", "依赖关系", (
    _c("id", required=True, zh="依赖编号"),
    _c("source_system", ref="systems", zh="源系统"),
    _c("target_system", ref="systems", zh="目标系统"),
    _c("source_host", ref="hosts", zh="源主机"),
    _c("target_host", ref="hosts", zh="目标主机"),
    _c("external", zh="外部地址"),
    _c("port", "int", zh="端口", low=0, high=65535),
    _c("service", zh="服务"),
    _c("process", zh="进程"),
    _c("type", "enum", zh="依赖类型", choices=DEPENDENCY_TYPES),
    _c("origin", "enum", zh="来源", choices=("declared", "observed"), required=True),
    _c("seen_count", "int", zh="观测次数", low=0, high=10**12),
    _c("source", zh="数据来源"),
))

CONFLICTS = Table("conflicts", "冲突", (
    _c("id", required=True, zh="冲突编号"),
    _c("table", required=True, zh="表"),
    _c("key", required=True, zh="记录"),
    _c("column", required=True, zh="字段"),
    _c("current", zh="现有值"),
    _c("incoming", zh="新值"),
    _c("current_source", zh="现有来源"),
    _c("incoming_source", zh="新来源"),
))

TABLES: dict[str, Table] = {
    t.name: t for t in (BUREAUS, SYSTEMS, HOSTS, DISKS, DATABASES, DEPENDENCIES, CONFLICTS)
}
