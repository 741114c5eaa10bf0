"""The written ledgers: every header known to the importer, the quirks bureaus have, and
together they describe the whole estate."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from shangyun.estate import Estate
from shangyun.ledgers.headers import lookup
from shangyun.sample import generate_estate, write_ledgers, write_sample
from shangyun.sample.ledgers import assign_styles, read_manifest
from shangyun.sample.styles import HEADER_SETS, SHEET_COLUMNS, header
from tests.sample.ledger_reader import read_all, sheets, size_gb


def _digests(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "estate.yaml":  # Estate.save stamps 'updated'
                data = b"\n".join(x for x in data.splitlines() if not x.startswith(b"updated:"))
            out[str(p.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


@pytest.mark.parametrize("name", sorted(HEADER_SETS))
def test_every_header_is_an_importer_alias(name: str) -> None:
    headers = HEADER_SETS[name]
    for sheet, targets in SHEET_COLUMNS.items():
        for target in targets:
            h = header(headers, sheet, target)
            assert lookup(h, sheet)[0] == target, (name, sheet, target, h)


def test_same_seed_byte_identical_files(tmp_path: Path) -> None:
    """(The default sample is compared with the shipped one in test_cli.)"""
    other = write_sample(tmp_path / "other", seed=1, bureaus=5, systems=20)
    same = write_sample(tmp_path / "same", seed=1, bureaus=5, systems=20)
    assert _digests(other.path) == _digests(same.path)
    assert _digests(other.path) != _digests(write_sample(tmp_path / "o2", seed=2, bureaus=5,
                                                         systems=20).path)


def test_styles_all_present_and_hq_chinese() -> None:
    ids = ["hq"] + [f"b{k:02d}" for k in range(1, 36)]
    styles = assign_styles(ids, 0)
    assert styles["hq"] == "zh-xlsx"
    counts = Counter(styles.values())
    assert set(counts) == {"zh-xlsx", "en-xlsx", "gbk-csv", "rvtools"}
    assert min(counts.values()) >= 8
    assert assign_styles(ids, 1) != styles


def _files(sample_dir: Path, style: str) -> list[Path]:
    ledgers = sample_dir / "ledgers"
    return [ledgers / e["folder"] / f for e in read_manifest(ledgers) if e["style"] == style
            for f in e["files"]]


def test_chinese_workbook_quirks(sample_dir: Path) -> None:
    path = next(p for p in _files(sample_dir, "zh-xlsx") if "总部" not in p.name)
    wb = openpyxl.load_workbook(path)
    assert {"单位信息", "业务系统", "主机台账", "数据库"} <= set(wb.sheetnames)
    ws = wb["主机台账"]
    merged = [str(r) for r in ws.merged_cells.ranges]
    assert "A1:V1" in merged  # the title row spans the table
    assert any(r.startswith("B") and r.split(":")[0][1:] != r.split(":")[1][1:] for r in merged)
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert "填报单位" in str(rows[1][0])
    group, head = rows[2], rows[3]  # a two-row header: 配置 over CPU/内存/磁盘
    cpu = head.index("CPU（核）")
    assert group[cpu] == "配置" and head[cpu + 1] == "内存（G）" and group[cpu + 1] is None
    assert group[0] == "单位" and head[0] is None
    assert "A3:A4" in merged
    assert any(all(v is None for v in r) for r in rows[4:-1])  # blank rows between systems
    assert rows[-1][0] == "合计"
    mem = cpu + 1
    assert all(str(r[mem]).endswith("G") for r in rows[4:-1] if r[mem] is not None)
    systems = [list(r) for r in wb["业务系统"].iter_rows(values_only=True)]
    assert {r[6] for r in systems[3:]} <= {"是", "否"}
    disks = [list(r) for r in wb["磁盘"].iter_rows(values_only=True)]
    assert any(str(r[2]).endswith(" TB") for r in disks[1:])


def test_english_workbook_quirks(sample_dir: Path) -> None:
    path = _files(sample_dir, "en-xlsx")[0]
    wb = openpyxl.load_workbook(path)
    rows = [list(r) for r in wb["Servers"].iter_rows(values_only=True)]
    assert rows[0][:4] == ["Bureau", "System Name", "Hostname", "IP Address"]
    mem = rows[0].index("Memory (GB)")
    assert all(str(r[mem]).endswith(" GB") for r in rows[1:])
    cpu = rows[0].index("CPU Utilization (%)")
    assert all(str(r[cpu]).endswith("%") for r in rows[1:])
    systems = [list(r) for r in wb["Systems"].iter_rows(values_only=True)]
    assert {r[systems[0].index("Classified")] for r in systems[1:]} <= {"Y", "N"}


def test_gbk_csv(sample_dir: Path) -> None:
    files = _files(sample_dir, "gbk-csv")
    assert len(files) >= 8 * 4
    hosts = next(p for p in files if p.name.endswith("_主机台账.csv"))
    raw = hosts.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    lines = raw.decode("gbk").splitlines()
    assert lines[0].startswith(hosts.name.split("_")[0]) and "服务器台账" in lines[0]
    assert lines[1].startswith("所属单位,应用系统名称,服务器名称,服务器IP")
    assert lines[-1].startswith("合计,")
    assert lines[-2].strip(",") == ""


def test_rvtools_exports_mb_and_mib(sample_dir: Path) -> None:
    files = [p for p in _files(sample_dir, "rvtools") if p.name.startswith("RVTools")]
    assert len(files) >= 4
    seen = set()
    for p in files:
        s = sheets(p)
        assert {"vInfo", "vDisk", "vNetwork"} <= set(s)
        head = s["vInfo"][0]
        seen.add("MiB" if "Provisioned MiB" in head else "MB")
        assert ("Capacity MiB" in s["vDisk"][0]) == ("Provisioned MiB" in head)
        assert {r[1] for r in s["vInfo"][1:]} <= {"poweredOn", "poweredOff", "suspended"}
    assert seen == {"MB", "MiB"}


def test_ledgers_describe_the_whole_estate(sample_dir: Path) -> None:
    est = Estate.load(sample_dir)
    t = est.tables
    got = read_all(sample_dir / "ledgers")
    assert len(got["bureaus"]) == len(t["bureaus"])
    assert set(got["bureaus"]["bureaus.name"]) == set(t["bureaus"]["name"])
    assert set(got["systems"]["systems.name"]) == set(t["systems"]["name"])
    assert len(got["systems"]) == len(t["systems"])
    hosts = got["hosts"]
    assert len(hosts) == len(t["hosts"])
    assert set(hosts["hosts.hostname"]) == set(t["hosts"]["hostname"])
    assert set(got["vInfo"]["VM"]) <= set(t["hosts"]["hostname"])
    # every host row names its system (merged cells filled) and the right one
    want = dict(zip(t["hosts"]["hostname"], t["hosts"]["system_id"].map(
        dict(zip(t["systems"]["id"], t["systems"]["name"], strict=True))), strict=True))
    assert dict(zip(hosts["hosts.hostname"], hosts["systems.name"], strict=True)) == want
    # sizes written with units read back to the same GB
    mem = dict(zip(t["hosts"]["hostname"], t["hosts"]["memory_gb"], strict=True))
    full = hosts[hosts["hosts.memory_gb"].notna() & (hosts["hosts.memory_gb"] != "")]
    assert len(full) > len(hosts) / 2
    for hn, v in zip(full["hosts.hostname"], full["hosts.memory_gb"], strict=True):
        assert size_gb(v) == mem[hn]
    vm_mem = {r["VM"]: r["Memory"] / 1024 for r in got["vInfo"].to_dict(orient="records")}
    assert all(vm_mem[k] == mem[k] for k in vm_mem)
    assert len(got["disks"]) + len(got["vDisk"]) == len(t["disks"])
    assert len(got["databases"]) == len(t["databases"])
    assert len(got["dependencies"]) == len(t["dependencies"])


def test_ledgers_of_systems_without_hosts(tmp_path: Path) -> None:
    """With fewer hosts than systems the ledgers still list every system and link."""
    est = generate_estate(bureaus=3, systems=24, hosts=12, seed=9)
    write_ledgers(est, tmp_path / "ledgers", 9)
    got = read_all(tmp_path / "ledgers")
    t = est.tables
    assert set(got["systems"]["systems.name"]) == set(t["systems"]["name"])
    assert set(got["hosts"]["hosts.hostname"]) == set(t["hosts"]["hostname"])
    assert len(got["databases"]) == len(t["databases"])
    assert len(got["dependencies"]) == len(t["dependencies"])
