"""Fixtures for the ledger tests: real .xlsx/.csv files written with openpyxl and codecs."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

Sheets = dict[str, Sequence[Sequence[Any]]]


def write_xlsx(path: Path, sheets: Sheets, merges: dict[str, list[str]] | None = None) -> Path:
    """Write a workbook with one sheet per entry (rows of cells) and merged ranges."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(list(row))
        for rng in (merges or {}).get(name, []):
            ws.merge_cells(rng)
    wb.save(path)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[Any]], encoding: str = "utf-8") -> Path:
    """Write a CSV file in ``encoding`` (utf-8, utf-8-sig, gbk, gb18030)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.fixture
def xlsx(tmp_path: Path) -> Callable[..., Path]:
    """``xlsx(name, sheets, merges=None)`` writes a workbook under a temp dir."""

    def make(name: str, sheets: Sheets, merges: dict[str, list[str]] | None = None) -> Path:
        return write_xlsx(tmp_path / name, sheets, merges)

    return make


@pytest.fixture
def csvfile(tmp_path: Path) -> Callable[..., Path]:
    """``csvfile(name, rows, encoding="utf-8")`` writes a CSV file under a temp dir."""

    def make(name: str, rows: Sequence[Sequence[Any]], encoding: str = "utf-8") -> Path:
        return write_csv(tmp_path / name, rows, encoding)

    return make


HOST_HEADER = ["序号", "单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存（G）",
               "磁盘(GB)", "等保级别", "是否涉密", "网络区域", "负责人", "联系电话"]


@pytest.fixture
def bureau_ledger(xlsx: Callable[..., Path]) -> Path:
    """A realistic bureau ledger: title row, merged 单位/系统名称, blank row, totals row,
    full-width header, units in text, a dependencies sheet and an instructions sheet."""
    rows = [
        ["北京局信息系统资产台账（2024年）"],
        ["填报单位：北京局信息中心"],
        HOST_HEADER,
        [1, "北京局", "OA系统", "oa-web01", "10.1.0.11", "CentOS 7.9", "8核", "16G", "2*300G",
         "三级", "否", "政务外网", "张三", 13800000000],
        [2, None, None, "oa-db01", "10.1.0.12", "RHEL 7.6", 16, "64 G", "2 TB", "三级", "否",
         "政务外网", "张三", 13800000000],
        [None] * 14,
        [3, "北京局", "财务系统", "fin01", "10.1.0.21", "Windows Server 2008", "4", "8",
         "500", "等保2级", "Y", "互联网区", "李四", "010-12345678"],
        ["合计", None, None, None, None, None, 28, 88, 3148, None, None, None, None, None],
        ["注：本表由各单位信息中心填报"],
    ]
    deps = [["源系统", "目标系统", "端口", "服务"], ["OA系统", "财务系统", "80,443", "http"]]
    return xlsx("beijing.xlsx", {"填表说明": [["请按要求填写"]], "主机": rows, "依赖关系": deps},
                {"主机": ["A1:N1", "B4:B5", "C4:C5"]})
