"""What ``inventory import`` says is true: the dry run's per-table figures count distinct
estate rows (not rows read), an edited export's whole numbers print as whole numbers, and
re-importing an older ledger after its corrected version is not called a new version."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from openpyxl import Workbook

from shangyun.cli import main


def _ledger(path: Path, *, corrected: bool = False, title: str = "甲局信息系统资产台账") -> Path:
    """A bureau's ledger as bureaus write it: a title row, the 单位 column merged down,
    a dependency sheet naming systems of the file, and a 单位信息 sheet (one bureau)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "服务器台账"
    ws.append([title])
    ws.append(["单位", "业务系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存"])
    rows = [["甲局", "审批系统", "jia-sp-app01", "10.42.1.11", "CentOS 7.9", 8, "16G"],
            [None, "审批系统", "jia-sp-app02", "10.42.1.12", "CentOS 7.9", 8, "16G"],
            [None, "审批系统", "jia-sp-db01", "10.42.1.21", "CentOS 7.9", 16, "64G"],
            [None, "档案系统", "jia-da-app01", "10.42.2.11", "CentOS 7.6", 4, "8G"],
            [None, "档案系统", "jia-da-db01", "10.42.2.21", "CentOS 7.6", 8, "32G"],
            [None, "公文系统", "jia-gw-app01", "10.42.9.11", "CentOS 7.6", 8, "16G"]]
    if corrected:
        rows[0][6] = "32G"
        rows.append([None, "档案系统", "jia-da-web01", "10.42.2.31", "CentOS 7.9", 2, "4G"])
    for r in rows:
        ws.append(r)
    ws.merge_cells(start_row=3, start_column=1, end_row=2 + len(rows), end_column=1)
    deps = wb.create_sheet("系统依赖")
    deps.append(["源系统", "目标系统", "端口"])
    deps.append(["审批系统", "档案系统", 443])
    deps.append(["审批系统", "公文系统", 8080])
    deps.append(["档案系统", "公文系统", 443])
    info = wb.create_sheet("单位信息")
    info.append(["单位名称", "地区", "专线带宽(Mbps)"])
    info.append(["甲局", "武汉", 200])
    wb.save(path)
    return path


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["inventory", "import", *args, "--no-progress"])
    return res.exit_code, " ".join(res.output.split())


def test_dry_run_counts_distinct_rows_per_table(tmp_path: Path) -> None:
    path = _ledger(tmp_path / "甲局台账.xlsx")
    code, out = _run(str(path), "--estate", str(tmp_path / "e"), "--dry-run")
    assert code == 0, out
    # one bureau (named on 7 rows), 3 systems (named on 6 host rows and 3 dependencies)
    assert "10 rows → bureaus 1, dependencies 3, hosts 6, systems 3" in out, out


def test_edited_export_prints_whole_numbers_as_whole_numbers(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    est = tmp_path / "e"
    code, out = _run(str(_ledger(tmp_path / "甲局台账.xlsx")), "--estate", str(est))
    assert code == 0, out
    book = tmp_path / "export.xlsx"
    res = CliRunner().invoke(main, ["inventory", "export", "--estate", str(est),
                                    "--xlsx", str(book)])
    assert res.exit_code == 0, res.output
    wb = load_workbook(book)
    ws = wb["单位"]
    col = [c.value for c in ws[1]].index("专线带宽(Mbps)") + 1
    assert ws.cell(2, col).value == 200
    ws.cell(2, col).value = 1000
    hosts = wb["主机"]
    mem = [c.value for c in hosts[1]].index("内存(GB)") + 1
    hosts.cell(2, mem).value = 12.5
    wb.save(book)
    code, out = _run(str(book), "--estate", str(est))
    assert code == 0, out
    assert "专线带宽(Mbps) │ 200 │ 1000 │" in out, out
    assert "200.0" not in out and "1000.0" not in out
    assert "12.5 │" in out, out  # other numbers as the estate's CSV writes them


def test_reimported_original_is_not_called_a_new_version_of_its_correction(
        tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    original = _ledger(tmp_path / "old" / "甲局台账.xlsx")
    corrected = _ledger(tmp_path / "new" / "甲局台账-202612修订.xlsx", corrected=True)
    est = str(tmp_path / "e")
    for path in (original, corrected):
        code, out = _run(str(path), "--estate", est)
        assert code == 0, out
    code, out = _run(str(original), "--estate", est)
    assert code == 0, out
    assert "new version" not in out, out
    assert ("甲局台账.xlsx was imported before (the same content, by SHA-256) and is older "
            "than 甲局台账-202612修订.xlsx, imported since: it lists 6 of 7 host(s)") in out, out
    assert "jia-da-web01 (10.42.2.31) [甲局]" in out
    # a file of new content is still taken for a new version of the correction
    est2 = str(tmp_path / "e2")
    assert _run(str(original), "--estate", est2)[0] == 0
    assert _run(str(corrected), "--estate", est2)[0] == 0
    (tmp_path / "newer").mkdir()
    newer = _ledger(tmp_path / "newer" / "甲局台账-202701.xlsx", title="甲局台账 2027年1月")
    code, out = _run(str(newer), "--estate", est2)
    assert code == 0, out
    assert "甲局台账-202701.xlsx lists 6 of 7 host(s)" in out and "(a new version of it?)" in out


def test_the_same_ledger_under_a_new_name_is_recorded_and_said(tmp_path: Path) -> None:
    import shutil

    import yaml

    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    original = _ledger(tmp_path / "old" / "甲局台账.xlsx")
    est = tmp_path / "e"
    assert _run(str(original), "--estate", str(est))[0] == 0
    renamed = tmp_path / "甲局资产清单.xlsx"
    shutil.copy(original, renamed)
    code, out = _run(str(renamed), "--estate", str(est))
    assert code == 0, out
    assert ("甲局资产清单.xlsx has the same content (by SHA-256) as 甲局台账.xlsx, imported "
            "before: the same ledger under another name; nothing in it is new") in out, out
    sources = yaml.safe_load((est / "estate.yaml").read_text(encoding="utf-8"))["sources"]
    assert [(Path(s["path"]).name, s.get("same_as")) for s in sources] == [
        ("甲局台账.xlsx", None), ("甲局资产清单.xlsx", "甲局台账.xlsx")]
    assert sources[0]["sha256"] == sources[1]["sha256"]
    # imported again under that name: nothing new to say or record
    code, out = _run(str(renamed), "--estate", str(est))
    assert code == 0 and "same content" not in out, out
    # a renamed copy of the original, after its corrected version: older, and said so
    corrected = _ledger(tmp_path / "new" / "甲局台账-202612修订.xlsx", corrected=True)
    assert _run(str(corrected), "--estate", str(est))[0] == 0
    copy = tmp_path / "甲局台账(备份).xlsx"
    shutil.copy(original, copy)
    code, out = _run(str(copy), "--estate", str(est))
    assert code == 0, out
    assert "new version" not in out, out
    assert ("甲局台账(备份).xlsx has the content of 甲局台账.xlsx, imported before (by "
            "SHA-256), and is older than 甲局台账-202612修订.xlsx, imported since: it lists "
            "6 of 7 host(s)") in out, out
    assert "jia-da-web01 (10.42.2.31) [甲局]" in out
