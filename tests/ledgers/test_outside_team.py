"""Ledgers an outside migration team brought from bureaus the project had never seen: CPU
cells naming the processor or its threads, a 配置 column (8C16G), disks per piece (300G/块*2),
MLPS levels saved as decimals (2.0), OS names written together (win2012, CentOS7.9),
business and management IP columns side by side, a sheet of test hosts. Every file is
written by the test; refusals name the file, sheet, row and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.grid import read_grids
from shangyun.errors import LedgerError
from shangyun.ledgers.read import read_ledger

from .conftest import write_csv, write_xlsx

HEAD = ["序号", "单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU", "内存", "磁盘",
        "等保级别"]


def _row(n: int, host: str, **cells: Any) -> list[Any]:
    values = {"os": "CentOS 7.9", "cpu": 4, "mem": "8G", "disk": "100G", "mlps": "三级"} | cells
    return [n, "湖北局", cells.get("system", "OA系统"), host, f"10.1.1.{n}", values["os"],
            values["cpu"], values["mem"], values["disk"], values["mlps"]]


def _read(path: Path) -> tuple[dict[str, dict[str, Any]], list[str], dict[str, list[Any]]]:
    read = read_ledger(path, reader=read_grids)
    hosts = {str(h["hostname"]): h for h in read.rows["hosts"]}
    return hosts, read.warnings, read.rows


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_cpu_cells_naming_the_processor_sockets_or_threads(tmp_path: Path, suffix: str) -> None:
    rows = [HEAD, _row(1, "a1", cpu="Intel Xeon 8核"), _row(2, "a2", cpu="2颗8核"),
            _row(3, "a3", cpu="32线程"), _row(4, "a4", cpu="Xeon Gold 6248 20核"),
            _row(5, "a5", cpu="8核16线程"), _row(6, "a6", cpu="4vCPU"),
            _row(7, "a7", cpu="2颗 E5-2650 v4 10核")]
    path = (write_xlsx(tmp_path / "t.xlsx", {"主机": rows}) if suffix == "xlsx"
            else write_csv(tmp_path / "t.csv", rows, "gbk"))
    hosts, warnings, _ = _read(path)
    got = {h: hosts[h]["cpu_cores"] for h in hosts}
    assert got == {"a1": 8, "a2": 16, "a3": 32, "a4": 20, "a5": 16, "a6": 4, "a7": 20}
    text = "\n".join(warnings)
    assert "threads" in text and "vCPU" in text  # threads are read as vCPUs, said once
    assert "processor model" in text  # the model's digits are not the count


def test_a_cpu_cell_with_two_counts_and_no_unit_is_refused_naming_the_cell(
        tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": [HEAD, _row(1, "a1", cpu="Xeon 8 16")]})
    with pytest.raises(LedgerError) as err:
        _read(path)
    assert "t.xlsx" in str(err.value) and "'主机'" in str(err.value)
    assert "row 2" in str(err.value) and "CPU (G)" in str(err.value)


@pytest.mark.parametrize(("cell", "gb"), [
    ("300G/块*2", 600.0), ("300G/块×2", 600.0), ("2*300G", 600.0), ("300GB×2", 600.0),
    ("每块300G*2", 600.0), ("300G*2块", 600.0), ("1T", 1024.0), ("1.5TB", 1536.0),
    ("500G+1T", 1524.0), ("2块*600G", 1200.0)])
def test_disk_cells_per_piece_and_count(tmp_path: Path, cell: str, gb: float) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": [HEAD, _row(1, "a1", disk=cell)]})
    hosts, _, _ = _read(path)
    assert hosts["a1"]["disk_gb"] == gb


@pytest.mark.parametrize(("cell", "level"), [
    ("2.0", 2), ("3.0", 3), ("2", 2), (" 3 ", 3), (2.0, 2), ("三级", 3), ("等保2.0三级", 3)])
def test_mlps_cells_saved_as_numbers_in_text(tmp_path: Path, cell: Any, level: int) -> None:
    rows = [["单位", "系统名称", "等保级别"], ["湖北局", "OA系统", cell]]
    _, _, got = _read(write_csv(tmp_path / "s.csv", rows) if isinstance(cell, str)
                      else write_xlsx(tmp_path / "s.xlsx", {"系统": rows}))
    assert got["systems"][0]["mlps_level"] == level


def test_an_mlps_cell_naming_only_the_standard_is_refused_saying_so(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", [["单位", "系统名称", "等保级别"],
                                          ["湖北局", "OA系统", "等保2.0"]])
    with pytest.raises(LedgerError, match=r"s\.csv, row 2, column '等保级别 \(C\)'.*standard"):
        _read(path)


@pytest.mark.parametrize(("cell", "os", "version", "family"), [
    ("win2012", "Windows Server", "2012", "windows"),
    ("Win2008R2", "Windows Server", "2008 R2", "windows"),
    ("WindowsServer2016", "Windows Server", "2016", "windows"),
    ("Windows2019", "Windows Server", "2019", "windows"),
    ("win10", "Windows", "10", "windows"),
    ("CentOS7.9", "CentOS", "7.9", "centos"),
    ("银河麒麟V10", "银河麒麟", "V10", "kylin"),
    ("统信UOS", "统信UOS", None, "uos"),
    ("统信UOS20", "统信UOS", "20", "uos"),
])
def test_os_cells_written_together(tmp_path: Path, cell: str, os: str, version: str | None,
                                   family: str) -> None:
    from shangyun.assess import load_catalog
    from shangyun.assess.readiness import host_readiness, os_family
    path = write_csv(tmp_path / "t.csv", [HEAD, _row(1, "a1", os=cell)], "gbk")
    host = _read(path)[0]["a1"]
    assert (host["os"], host.get("os_version")) == (os, version)
    catalog = load_catalog()
    assert os_family(str(host["os"]), catalog) == family
    _verdict, reasons = host_readiness(host, [], catalog)
    assert not any("not in the support matrix" in r for r in reasons), reasons


def test_an_os_and_its_version_in_two_columns_are_written_in_full(tmp_path: Path) -> None:
    head = ["单位", "系统名称", "主机名", "IP地址", "操作系统", "系统版本"]
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": [
        head, ["湖北局", "OA", "a1", "10.1.1.1", "win", "2008R2SP1"],
        ["湖北局", "OA", "a2", "10.1.1.2", "CentOS", "7.9"],
        ["湖北局", "OA", "a3", "10.1.1.3", "CentOS 7.9", "7.9.2009"]]})
    hosts = _read(path)[0]
    assert [(h["os"], h["os_version"]) for h in hosts.values()] == [
        ("Windows Server", "2008 R2 SP1"), ("CentOS", "7.9"), ("CentOS", "7.9.2009")]


def test_a_spec_column_gives_cpu_memory_and_disk(tmp_path: Path) -> None:
    head = ["单位", "系统名称", "主机名", "IP地址", "配置"]
    path = write_csv(tmp_path / "t.csv", [
        head, ["湖北局", "OA", "a1", "10.1.1.1", "8C16G"],
        ["湖北局", "OA", "a2", "10.1.1.2", "4核8G500G"],
        ["湖北局", "OA", "a3", "10.1.1.3", "8C/16G/1T"],
        ["湖北局", "OA", "a4", "10.1.1.4", "CPU:4核 内存:8G 硬盘:100G+200G"],
        ["湖北局", "OA", "a5", "10.1.1.5", "16vCPU 64GB"],
        ["湖北局", "OA", "a6", "10.1.1.6", ""]], "gbk")
    hosts = _read(path)[0]
    got = {h: (v.get("cpu_cores"), v.get("memory_gb"), v.get("disk_gb"))
           for h, v in hosts.items()}
    assert got == {"a1": (8, 16.0, None), "a2": (4, 8.0, 500.0), "a3": (8, 16.0, 1024.0),
                   "a4": (4, 8.0, 300.0), "a5": (16, 64.0, None), "a6": (None, None, None)}


def test_a_spec_column_fills_only_what_other_columns_leave(tmp_path: Path) -> None:
    head = ["单位", "系统名称", "主机名", "IP地址", "CPU(核)", "规格"]
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": [
        head, ["湖北局", "OA", "a1", "10.1.1.1", 12, "8C16G"]]})
    hosts, warnings, _ = _read(path)
    assert (hosts["a1"]["cpu_cores"], hosts["a1"]["memory_gb"]) == (12, 16.0)
    assert not any("both mean" in w for w in warnings)


def test_a_bad_spec_cell_is_one_error_naming_the_cell(tmp_path: Path) -> None:
    head = ["单位", "系统名称", "主机名", "IP地址", "配置"]
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": [
        head, ["湖北局", "OA", "a1", "10.1.1.1", "8C16G"], ["湖北局", "OA", "a2", "10.1.1.2",
                                                           "高配"]]})
    with pytest.raises(LedgerError) as err:
        _read(path)
    text = str(err.value)
    assert "sheet '主机', row 3, column '配置 (E)'" in text and "8C16G" in text
    assert "more problem" not in text  # one cell, one problem


@pytest.mark.parametrize("mgmt_first", [True, False])
def test_business_and_management_ip_columns_keep_the_business_ip(tmp_path: Path,
                                                                 mgmt_first: bool) -> None:
    ips = (["管理IP", "业务IP"], ["192.168.9.1", "10.1.1.1"], ["", "10.1.1.2"],
           ["192.168.9.3", ""])
    if not mgmt_first:
        ips = tuple(list(reversed(x)) for x in ips)
    head = ["单位", "系统名称", "主机名", *ips[0]]
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": [
        head, ["湖北局", "OA", "a1", *ips[1]], ["湖北局", "OA", "a2", *ips[2]],
        ["湖北局", "OA", "a3", *ips[3]]]})
    hosts, warnings, _ = _read(path)
    assert {h: v.get("ip") for h, v in hosts.items()} == {
        "a1": "10.1.1.1", "a2": "10.1.1.2", "a3": "192.168.9.3"}
    biz, mgmt = ("业务IP (E)", "管理IP (D)") if mgmt_first else ("业务IP (D)", "管理IP (E)")
    said = [w for w in warnings if "业务IP" in w and "管理IP" in w]
    assert len(said) == 1, warnings
    assert f"the business IP column {biz!r} is kept" in said[0]
    assert f"management IP column {mgmt!r} is used only where" in said[0]


@pytest.mark.parametrize("sheet", ["测试环境", "测试", "开发环境", "UAT", "dev hosts"])
def test_hosts_on_a_test_environment_sheet_are_named_in_a_warning(tmp_path: Path,
                                                                   sheet: str) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", {
        "生产环境": [HEAD, _row(1, "oa01"), _row(2, "oa02")],
        sheet: [HEAD, _row(3, "oa-t1"), _row(4, "oa-t2")]})
    hosts, warnings, _ = _read(path)
    assert sorted(hosts) == ["oa-t1", "oa-t2", "oa01", "oa02"]
    said = [w for w in warnings if "environment" in w]
    assert len(said) == 1 and said[0].startswith(f"sheet {sheet!r}:"), warnings
    assert "2 hosts (oa-t1, oa-t2) were imported" in said[0] and "OA系统" in said[0]
    one = write_xlsx(tmp_path / "one.xlsx", {sheet: [HEAD, _row(3, "oa-t1")]})
    assert any("1 host (oa-t1) was imported" in w for w in _read(one)[1])


def test_a_production_sheet_gets_no_environment_warning(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", {"生产环境": [HEAD, _row(1, "oa01")],
                                            "设备清单": [HEAD, _row(2, "oa02")]})
    assert not any("environment" in w for w in _read(path)[1])


def test_re_importing_an_unchanged_export_says_unchanged_and_writes_nothing(
        tmp_path: Path) -> None:
    from click.testing import CliRunner

    from shangyun.cli import main
    est = tmp_path / "est"
    ledger = write_xlsx(tmp_path / "台账.xlsx", {"主机": [HEAD, _row(1, "oa01"), _row(2, "oa02")]})
    run = CliRunner().invoke
    assert run(main, ["inventory", "import", str(ledger), "--estate", str(est)]).exit_code == 0
    book = tmp_path / "export.xlsx"
    assert run(main, ["inventory", "export", "--estate", str(est), "--xlsx",
                      str(book)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in est.iterdir() if p.is_file()}
    res = run(main, ["inventory", "import", str(book), "--estate", str(est)])
    assert res.exit_code == 0, res.output
    assert f"{est}: unchanged" in res.output
    assert {p.name: p.read_bytes() for p in est.iterdir() if p.is_file()} == before
    # an export with a row typed in is recorded, and says so
    import openpyxl
    wb = openpyxl.load_workbook(book)
    ws = wb[next(n for n in wb.sheetnames if "主机" in n)]
    header = [c.value for c in ws[1]]
    row = [None] * len(header)
    row[header.index("主机名")], row[header.index("IP地址")] = "oa03", "10.1.1.3"
    row[header.index("所属单位")] = "湖北局"
    ws.append(row)
    wb.save(book)
    res = run(main, ["inventory", "import", str(book), "--estate", str(est)])
    assert res.exit_code == 0, res.output  # an added row is part of the reviewed diff
    assert "1 added row(s) shown, nothing written: run again with --apply" in res.output
    assert {p.name: p.read_bytes() for p in est.iterdir() if p.is_file()} == before
    res = run(main, ["inventory", "import", str(book), "--estate", str(est), "--apply"])
    assert res.exit_code == 0, res.output
    assert f"{est}: updated" in res.output
    assert "export.xlsx" in (est / "estate.yaml").read_text(encoding="utf-8")


def test_a_signature_line_at_the_right_of_the_sheet_is_skipped(tmp_path: Path) -> None:
    head = [*HEAD, "上线时间", "备注"]
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": [
        head, [*_row(1, "oa01"), "2019.3", "前端"],
        [None] * 10 + ["制表人：张三", "审核人：李四"],
        [None] * 11 + ["填报日期：2026年11月"]]})
    hosts, _, _ = _read(path)
    assert list(hosts) == ["oa01"]


def test_a_second_table_with_its_own_header_below_the_first_is_read(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", {"资产": [
        ["湖南局 服务器及数据库清单"],
        ["单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)"],
        ["湖南局", "不动产登记", "hn-web", "10.30.1.11", "银河麒麟V10", 8],
        ["湖南局", "不动产登记", "hn-db", "10.30.1.12", "CentOS7.9", 16],
        [], [],
        ["数据库清单"],
        ["单位", "系统名称", "数据库类型", "库名", "所在主机", "数据量(GB)"],
        ["湖南局", "不动产登记", "Oracle 11g", "BDCDB", "hn-db", 800],
        ["湖南局", "不动产登记", "MySQL 5.7", "BDCWEB", "hn-web", "bad"]]})
    with pytest.raises(LedgerError) as err:  # rows of the second table are named as such
        _read(path)
    assert "row 10, column '数据量(GB) (F)'" in str(err.value)
    path = write_xlsx(tmp_path / "t.xlsx", {"资产": [
        ["单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)"],
        ["湖南局", "不动产登记", "hn-web", "10.30.1.11", "银河麒麟V10", 8],
        ["湖南局", "不动产登记", "hn-db", "10.30.1.12", "CentOS7.9", 16],
        [],
        ["单位", "系统名称", "数据库类型", "库名", "所在主机", "数据量(GB)"],
        ["湖南局", "不动产登记", "Oracle 11g", "BDCDB", "hn-db", 800]]})
    read = read_ledger(path, reader=read_grids)
    assert sorted(h["hostname"] for h in read.rows["hosts"]) == ["hn-db", "hn-web"]
    (db,) = read.rows["databases"]
    assert (db["engine"], db["name"], db["size_gb"]) == ("oracle", "BDCDB", 800.0)
    assert db["host_id"] == next(h["id"] for h in read.rows["hosts"] if h["hostname"] == "hn-db")
    kinds = [(s.sheet, s.kind, s.header_row) for s in read.sheets]
    assert kinds == [("资产", "hosts", 1), ("资产", "databases", 5)]
    assert any("a second table" in w and "row 5" in w for w in read.warnings)


def test_a_system_without_an_mlps_level_is_placed_saying_the_level_is_assumed(
        tmp_path: Path) -> None:
    from click.testing import CliRunner

    from shangyun.cli import main
    est = tmp_path / "est"
    path = write_xlsx(tmp_path / "t.xlsx", {"主机": [
        HEAD, _row(1, "oa01", mlps=None), _row(2, "fin01", system="财务", mlps="三级")]})
    run = CliRunner().invoke
    assert run(main, ["inventory", "import", str(path), "--estate", str(est)]).exit_code == 0
    res = run(main, ["assess", "--estate", str(est)])
    assert res.exit_code == 0, res.output
    import csv
    with open(est / "assessment" / "systems.csv", encoding="utf-8-sig") as fh:
        notes = {r["name"]: r["placement_note"] for r in csv.DictReader(fh)}
    assert notes["OA系统"].startswith("MLPS unknown (no 等保级别 in the ledgers): level 2 "
                                      "assumed (layout.yaml default_mlps_level) →"), notes
    assert notes["财务"].startswith("MLPS 3 →")


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_an_environment_column_naming_test_hosts_is_warned_about(tmp_path: Path,
                                                                 suffix: str) -> None:
    head = ["Bureau", "System", "Hostname", "IP Address", "环境"]
    rows = [head, ["武汉海关", "报关", "app1", "10.4.1.1", "生产"],
            ["武汉海关", "报关", "app-t", "10.4.9.1", "测试"],
            ["武汉海关", "报关", "app-d", "10.4.9.2", "开发环境"]]
    path = (write_xlsx(tmp_path / "t.xlsx", {"Servers": rows}) if suffix == "xlsx"
            else write_csv(tmp_path / "t.csv", rows))
    hosts, warnings, _ = _read(path)
    assert sorted(hosts) == ["app-d", "app-t", "app1"]
    said = [w for w in warnings if "环境 (E)" in w]
    assert len(said) == 1 and "2 rows (rows 3, 4)" in said[0], warnings


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_remarks_saying_a_host_is_retired_are_warned_about(tmp_path: Path, suffix: str) -> None:
    head = ["Bureau", "System", "Hostname", "IP Address", "备注"]
    rows = [head, ["武汉海关", "报关", "app1", "10.4.1.1", "主库"],
            ["武汉海关", "报关", "app2", "10.4.1.2", "2025年计划下线，暂不迁移"],
            ["武汉海关", "报关", "app3", "10.4.1.3", "不停机迁移"],
            ["武汉海关", "报关", "app4", "10.4.1.4", "已停用"]]
    path = (write_xlsx(tmp_path / "t.xlsx", {"Servers": rows}) if suffix == "xlsx"
            else write_csv(tmp_path / "t.csv", rows))
    hosts, warnings, _ = _read(path)
    assert sorted(hosts) == ["app1", "app2", "app3", "app4"]
    said = [w for w in warnings if "备注 (E)" in w]
    assert len(said) == 1, warnings
    assert "2 rows (rows 3, 5; 下线, 暂不迁移, 停用)" in said[0], said


def test_a_system_sheet_remark_saying_retired_is_warned_about(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", {"系统": [
        ["单位", "系统名称", "等保级别", "说明"], ["湖北局", "OA系统", "二级", "办公"],
        ["湖北局", "旧门户", "二级", "已报废，不上云"]]})
    warnings = read_ledger(path, reader=read_grids).warnings
    said = [w for w in warnings if "说明 (D)" in w]
    assert len(said) == 1 and "row 3" in said[0] and "报废" in said[0], warnings
