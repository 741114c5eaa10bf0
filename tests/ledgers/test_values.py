"""Cleaning single cell values and looking up headers (pure; table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from shangyun.estate.schema import TABLES
from shangyun.ledgers.headers import ALIASES, canonical_header, lookup
from shangyun.ledgers.values import BadValue, clean, cleaner, parse_engine


@pytest.mark.parametrize(("target", "raw", "unit", "expected"), [
    ("hosts.memory_gb", "16G", "", 16.0),
    ("hosts.memory_gb", "16 GB", "", 16.0),
    ("hosts.memory_gb", "１６Ｇ", "", 16.0),
    ("hosts.memory_gb", "16384", "mb", 16.0),
    ("hosts.memory_gb", 16.0, "", 16.0),
    ("hosts.memory_gb", "512MB", "", 0.5),
    ("hosts.disk_gb", "2 TB", "", 2048.0),
    ("hosts.disk_gb", "1.5T", "", 1536.0),
    ("hosts.disk_gb", "2*300G", "", 600.0),
    ("hosts.disk_gb", "2×600GB", "", 1200.0),
    ("hosts.disk_gb", "100G+500G", "", 600.0),
    ("hosts.disk_gb", "1,024", "", 1024.0),
    ("hosts.disk_gb", "2", "t", 2048.0),
    ("hosts.cpu_cores", "8核", "", 8),
    ("hosts.cpu_cores", "8C", "", 8),
    ("hosts.cpu_cores", "8 vCPU", "", 8),
    ("hosts.cpu_cores", "2*8", "", 16),
    ("hosts.cpu_cores", "2路8核", "", 16),
    ("hosts.cpu_util_pct", "15%", "", 15.0),
    ("systems.classified", "是", "", True),
    ("systems.classified", "否", "", False),
    ("systems.classified", "Y", "", True),
    ("systems.classified", "n", "", False),
    ("systems.classified", "√", "", True),
    ("systems.classified", "非涉密", "", False),
    ("systems.classified", True, "", True),
    ("systems.mlps_level", "三级", "", 3),
    ("systems.mlps_level", "等保3级", "", 3),
    ("systems.mlps_level", "第二级", "", 2),
    ("systems.mlps_level", "III", "", 3),
    ("systems.mlps_level", 2.0, "", 2),
    ("systems.network_zone", "互联网区", "", "internet"),
    ("systems.network_zone", "政务外网", "", "extranet"),
    ("systems.network_zone", "政务内网", "", "intranet"),
    ("systems.network_zone", "DMZ区", "", "dmz"),
    ("systems.network_zone", "管理区", "", "management"),
    ("systems.criticality", "核心", "", "critical"),
    ("systems.criticality", "一般", "", "medium"),
    ("hosts.kind", "虚拟机", "", "vm"),
    ("hosts.kind", "物理服务器", "", "physical"),
    ("hosts.power_state", "poweredOff", "", "off"),
    ("hosts.power_state", "运行中", "", "on"),
    ("hosts.ip", "10.0.0.5/24", "", "10.0.0.5"),
    ("hosts.ip", "10.0.0.5；10.0.0.6", "", "10.0.0.5"),
    ("hosts.ip", "１０．０．０．５", "", "10.0.0.5"),
    ("hosts.mac", "00-50-56-AA-BB-CC", "", "00:50:56:aa:bb:cc"),
    ("bureaus.window_start", "22：00", "", "22:00"),
    ("bureaus.window_start", "22点", "", "22:00"),
    ("bureaus.window_day", "星期六", "", "sat"),
    ("bureaus.blackout_dates", "2024/10/01，2024-10-02", "", "2024-10-01;2024-10-02"),
    ("bureaus.link_mbps", "100M", "", 100.0),
    ("systems.phone", 13800000000.0, "", "13800000000"),
    ("systems.description", "统一门户，各系统调用", "", "统一门户，各系统调用"),
    ("hosts.memory_gb", "-", "", None),
    ("hosts.os", "待定", "", None),
    ("hosts.os", "N/A", "", None),
    ("dependencies.port", "80,443", "", "80;443"),
])
def test_clean(target: str, raw: Any, unit: str, expected: Any) -> None:
    assert clean(target, raw, unit) == expected
    assert cleaner(target, unit)(raw) == expected


@pytest.mark.parametrize(("target", "raw"), [
    ("hosts.memory_gb", "lots"), ("hosts.memory_gb", "16 XB"), ("hosts.ip", "10.0.0"),
    ("hosts.ip", "10.0.0.256"), ("hosts.mac", "00:50:56"), ("systems.mlps_level", "高"),
    ("systems.mlps_level", "9"), ("systems.network_zone", "楼上"), ("hosts.cpu_cores", "1.5"),
    ("systems.classified", "maybe"), ("bureaus.window_start", "25:00"),
    ("hosts.cpu_util_pct", "150%"),
])
def test_clean_rejects(target: str, raw: Any) -> None:
    with pytest.raises(BadValue):
        clean(target, raw)
    assert isinstance(cleaner(target)(raw), BadValue)


def test_engine_and_version() -> None:
    assert parse_engine("Oracle 11g") == ("oracle", "11g")
    assert parse_engine("达梦DM8") == ("dm", "8")
    assert parse_engine("人大金仓 KingbaseES V8") == ("kingbase", "8")
    assert parse_engine("MySQL") == ("mysql", "")
    assert parse_engine("SQL Server 2012") == ("sqlserver", "2012")
    assert parse_engine("Informix") == ("other", "")


@pytest.mark.parametrize(("header", "kind", "target", "unit"), [
    ("内存（G）", None, "hosts.memory_gb", "g"),
    ("内存(GB)", None, "hosts.memory_gb", "gb"),
    ("Memory (MB)", None, "hosts.memory_gb", "mb"),
    ("memory_gb", None, "hosts.memory_gb", ""),
    ("CPU(核)", None, "hosts.cpu_cores", "核"),
    ("ＩＰ地址", None, "hosts.ip", ""),
    ("所属单位", None, "bureaus.name", ""),
    ("单位：", None, "bureaus.name", ""),
    ("等保级别", None, "systems.mlps_level", ""),
    ("是否涉密", None, "systems.classified", ""),
    ("网络区域", None, "systems.network_zone", ""),
    ("负责人", None, "systems.owner", ""),
    ("联系电话", None, "systems.phone", ""),
    ("源系统", None, "dependencies.source_system", ""),
    ("版本", "databases", "databases.version", ""),
    ("版本", "hosts", "hosts.os_version", ""),
    ("序号", None, "ignore", ""),
    ("机房位置", None, None, ""),
    # a Hunan ledger wrote the kind column the other way round: it was ignored (no vm/physical)
    ("虚拟机/物理机", None, "hosts.kind", ""),
    ("物理/虚拟", None, "hosts.kind", ""),
])
def test_header_lookup(header: str, kind: str | None, target: str | None, unit: str) -> None:
    assert lookup(header, kind) == (target, unit)


def test_every_alias_target_is_an_estate_column_and_finds_itself() -> None:
    for target in ALIASES:
        table, column = target.split(".", 1)
        assert column in TABLES[table].column_names, target
        assert lookup(canonical_header(target, "zh"))[0] == target, target
        assert lookup(canonical_header(target, "en"))[0] == target, target
