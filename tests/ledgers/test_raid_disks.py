"""A disk cell with a RAID level ("4*1.2T SAS RAID5"): the raw size of the disks, with one
warning per column saying RAID overhead is not deducted; a RAID level beside a single size
(raw or usable?) is refused naming the cell and the forms that are read. Real workbooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.grid import read_grids
from shangyun.errors import LedgerError
from shangyun.ledgers.read import read_ledger
from shangyun.ledgers.values import BadValue, Doubtful, clean_or_doubt
from tests.ledgers.conftest import write_xlsx

HEAD = ["单位", "系统名称", "主机名", "IP地址", "操作系统", "磁盘"]


def _read(path: Path) -> Any:
    return read_ledger(path, reader=read_grids)  # type: ignore[arg-type]


def test_raid_cells_give_the_raw_size_with_one_warning(tmp_path: Path) -> None:
    rows = [HEAD, ["湖北局", "审批", "db01", "10.4.0.1", "CentOS 7.9", "4*1.2T SAS RAID5"],
            ["湖北局", "审批", "db02", "10.4.0.2", "CentOS 7.9", "500G"],
            ["湖北局", "审批", "db03", "10.4.0.3", "CentOS 7.9", "2*600G（RAID 1）"],
            ["湖北局", "审批", "db04", "10.4.0.4", "CentOS 7.9", "RAID10 8*4TB nl-sas"]]
    read = _read(write_xlsx(tmp_path / "存储.xlsx", {"服务器": rows}))
    got = {h["hostname"]: h["disk_gb"] for h in read.rows["hosts"]}
    assert got == {"db01": pytest.approx(4 * 1.2 * 1024), "db02": 500, "db03": 1200,
                   "db04": 8 * 4 * 1024}
    raid = [w for w in read.warnings if "RAID" in w]
    assert len(raid) == 1, read.warnings
    assert "(rows 2, 4, 5)" in raid[0] and "3 cells with a RAID level" in raid[0]
    assert "not deducted" in raid[0] and "磁盘" in raid[0]


@pytest.mark.parametrize("text", ["1.2T RAID5", "RAID 5", "4*1.2T RAID5 + 3/4"])
def test_a_raid_level_without_disks_is_refused_naming_the_cell(tmp_path: Path,
                                                               text: str) -> None:
    rows = [HEAD, ["湖北局", "审批", "app01", "10.4.1.1", "CentOS 7.9", "100G"],
            ["湖北局", "审批", "app02", "10.4.1.2", "CentOS 7.9", text]]
    with pytest.raises(LedgerError) as info:
        _read(write_xlsx(tmp_path / "r.xlsx", {"服务器": rows}))
    err = info.value
    assert (err.sheet, err.row) == ("服务器", 3) and "磁盘" in str(err.column)
    assert text in str(err) and "4*1.2T RAID5" in str(err)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 24), st.sampled_from([0.3, 1.2, 2, 8, 16]),
       st.sampled_from(["T", "TB", "GB", "G"]), st.sampled_from(["", " SAS", " SSD", " nvme"]),
       st.sampled_from(["RAID5", "RAID 1", "(RAID10)", "raid6", "RAID1+0", "（RAID-5）"]),
       st.booleans())
def test_any_raid_cell_is_its_raw_size(n: int, size: float, unit: str, medium: str,
                                       level: str, level_first: bool) -> None:
    size = size if unit.startswith("T") else size * 100  # 30G … 1600G
    disks = f"{n}*{size:g}{unit}{medium}"
    text = f"{level} {disks}" if level_first else f"{disks} {level}"
    got = clean_or_doubt("disks.size_gb", text)
    assert isinstance(got, Doubtful) and "not deducted" in got.kind
    assert got.value == pytest.approx(n * size * (1024 if unit.startswith("T") else 1))
    with pytest.raises(BadValue):  # memory has no RAID
        clean_or_doubt("hosts.memory_gb", text)
