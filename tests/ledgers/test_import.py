"""`inventory import/export/conflicts` end to end: files on disk, CLI via CliRunner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
import yaml
from click.testing import CliRunner

from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.errors import EstateError, LedgerError, ValidationFailed
from shangyun.estate import Estate
from shangyun.ledgers.export import export_xlsx
from shangyun.ledgers.importer import import_ledgers
from tests.ledgers.conftest import write_csv
from tests.ledgers.test_rvtools import rvtools


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def without_updated(data: bytes) -> dict:
    meta = yaml.safe_load(data.decode("utf-8"))
    meta.pop("updated", None)
    return meta


def test_import_creates_estate_and_records_source(bureau_ledger: Path, tmp_path: Path) -> None:
    est_dir = tmp_path / "est"
    report = import_ledgers([bureau_ledger], est_dir, bureau=None, reader=read_grids)
    assert report.created and report.saved
    est = Estate.load(est_dir)
    assert est.summary()["counts"]["hosts"] == 3
    src = est.meta["sources"]
    assert len(src) == 1 and src[0]["path"] == str(bureau_ledger)
    assert len(src[0]["sha256"]) == 64 and src[0]["rows"] == 4 and src[0]["imported_at"]


def test_reimport_changes_nothing(bureau_ledger: Path, tmp_path: Path) -> None:
    est_dir = tmp_path / "est"
    import_ledgers([bureau_ledger], est_dir, reader=read_grids)
    before = snapshot(est_dir)
    fp = Estate.load(est_dir).fingerprint()
    report = import_ledgers([bureau_ledger], est_dir, reader=read_grids)
    assert not report.saved and report.conflicts == []
    assert report.counts["hosts"].to_dict() == {"added": 0, "updated": 0, "unchanged": 3}
    after = snapshot(est_dir)
    assert Estate.load(est_dir).fingerprint() == fp
    assert {k: v for k, v in after.items() if k != "estate.yaml"} == {
        k: v for k, v in before.items() if k != "estate.yaml"}
    assert without_updated(after["estate.yaml"]) == without_updated(before["estate.yaml"])


def test_second_source_fills_and_lists_conflicts(bureau_ledger: Path, tmp_path: Path,
                                                 csvfile: Callable[..., Path]) -> None:
    est_dir = tmp_path / "est"
    import_ledgers([bureau_ledger], est_dir, reader=read_grids)
    second = csvfile("cmdb.csv", [["单位", "主机名", "IP地址", "内存(GB)", "MAC地址", "架构"],
                                  ["北京局", "OA-WEB01", "10.1.0.11", "32", "", "x86_64"],
                                  ["北京局", "other", "10.1.0.21", "8", "00:11:22:33:44:55",
                                   ""]], "gbk")
    report = import_ledgers([second], est_dir, reader=read_grids)
    assert report.counts["hosts"].to_dict() == {"added": 0, "updated": 2, "unchanged": 0}
    est = Estate.load(est_dir)
    hosts = {h["hostname"]: h for h in est.rows("hosts")}
    assert hosts["oa-web01"]["memory_gb"] == 16.0 and hosts["oa-web01"]["arch"] == "x86_64"
    assert hosts["fin01"]["mac"] == "00:11:22:33:44:55"  # matched by IP, MAC filled
    got = {(c["key"], c["column"], c["current"], c["incoming"], c["current_source"],
            c["incoming_source"]) for c in est.rows("conflicts")}
    assert got == {
        (hosts["oa-web01"]["id"], "memory_gb", "16", "32", "beijing.xlsx", "cmdb.csv"),
        (hosts["fin01"]["id"], "hostname", "fin01", "other", "beijing.xlsx", "cmdb.csv"),
    }
    assert [s["path"] for s in est.meta["sources"]] == [str(bureau_ledger), str(second)]
    again = import_ledgers([second], est_dir, reader=read_grids)
    assert again.conflicts == [] and not again.saved


def test_broken_ledger_writes_nothing(bureau_ledger: Path, tmp_path: Path,
                                      csvfile: Callable[..., Path]) -> None:
    est_dir = tmp_path / "est"
    import_ledgers([bureau_ledger], est_dir, reader=read_grids)
    before = snapshot(est_dir)
    good = csvfile("good.csv", [["单位", "主机名", "IP地址"], ["北京局", "new1", "10.1.9.9"]])
    bad = csvfile("bad.csv", [["单位", "主机名", "IP地址", "CPU(核)"],
                              ["北京局", "new2", "10.1.9.10", "four"]])
    with pytest.raises(LedgerError) as exc:
        import_ledgers([good, bad], est_dir, reader=read_grids)
    assert (exc.value.row, exc.value.column) == (2, "CPU(核) (D)")
    assert "bad.csv" in str(exc.value)
    assert snapshot(est_dir) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_port_out_of_range_rejected_no_estate_created(tmp_path: Path,
                                                          csvfile: Callable[..., Path]) -> None:
    est_dir = tmp_path / "new-est"
    deps = csvfile("deps.csv", [["源主机", "目标主机", "端口"], ["a1", "b1", "99999"],
                                ["a1", "b1", "70000"]])
    with pytest.raises(LedgerError, match="65535"):
        import_ledgers([deps], est_dir, bureau="局", reader=read_grids)
    assert not est_dir.exists()


def test_mixed_sources_validate(tmp_path: Path, bureau_ledger: Path,
                                xlsx: Callable[..., Path]) -> None:
    est_dir = tmp_path / "est"
    report = import_ledgers([bureau_ledger, rvtools(xlsx, "MiB")], est_dir, bureau="北京局",
                            reader=read_grids)
    assert report.totals["hosts"] == 5 and report.totals["disks"] == 3
    Estate.load(est_dir, check=True)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_export_round_trip(lang: str, tmp_path: Path, bureau_ledger: Path) -> None:
    est_dir = tmp_path / "est"
    import_ledgers([bureau_ledger], est_dir, reader=read_grids)
    original = Estate.load(est_dir)
    book = export_xlsx(original, tmp_path / f"estate-{lang}.xlsx", lang)

    wb = openpyxl.load_workbook(book)
    assert ("主机" if lang == "zh" else "hosts") in wb.sheetnames
    head = [c.value for c in wb["主机" if lang == "zh" else "hosts"][1]]
    assert head[:3] == (["主机编号", "主机名", "IP地址"] if lang == "zh"
                        else ["id", "hostname", "ip"])
    back = tmp_path / "back"
    import_ledgers([book], back, reader=read_grids)
    assert Estate.load(back).fingerprint() == original.fingerprint()


def test_cli_import_export_conflicts_json(tmp_path: Path, bureau_ledger: Path,
                                          csvfile: Callable[..., Path]) -> None:
    runner = CliRunner()
    est = str(tmp_path / "est")
    res = runner.invoke(main, ["inventory", "import", str(bureau_ledger), "--estate", est,
                               "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["created"] and data["counts"]["hosts"]["added"] == 3
    assert data["files"][0]["rows"] == 4
    second = csvfile("x.csv", [["单位", "主机名", "内存"], ["北京局", "fin01", "12G"]])
    res = runner.invoke(main, ["inventory", "import", str(second), "--estate", est, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["new_conflicts"] == 1
    res = runner.invoke(main, ["inventory", "conflicts", "--estate", est, "--json"])
    conflicts = json.loads(res.stdout)
    assert conflicts["count"] == 1
    assert conflicts["conflicts"][0]["incoming"] == "12"
    res = runner.invoke(main, ["inventory", "conflicts", "--estate", est])
    assert res.exit_code == 0 and "memory_gb" in res.stdout
    out = tmp_path / "out.xlsx"
    res = runner.invoke(main, ["inventory", "export", "--estate", est, "--xlsx", str(out),
                               "--lang", "en", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["counts"]["hosts"] == 3 and out.is_file()


def test_cli_bad_file_exit_1_and_message(tmp_path: Path, csvfile: Callable[..., Path]) -> None:
    bad = csvfile("bad.csv", [["单位", "主机名", "等保级别", "系统名称"],
                              ["局", "h1", "高", "门户"]])
    res = CliRunner().invoke(main, ["inventory", "import", str(bad), "--estate",
                                    str(tmp_path / "e")])
    assert res.exit_code == 1
    assert "bad.csv" in res.stderr and "row 2" in res.stderr and "等保级别" in res.stderr
    assert not (tmp_path / "e").exists()


def test_cli_human_output(tmp_path: Path, bureau_ledger: Path) -> None:
    res = CliRunner().invoke(main, ["inventory", "import", str(bureau_ledger), "--estate",
                                    str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    assert "created" in res.stdout and "hosts" in res.stdout
    assert "files" in res.stderr  # progress bars go to stderr


def test_existing_non_estate_folder_refused(tmp_path: Path, bureau_ledger: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "readme.txt").write_text("x")

    with pytest.raises(EstateError, match="not an estate"):
        import_ledgers([bureau_ledger], folder, reader=read_grids)


def test_validation_failed_lists_every_problem(tmp_path: Path,
                                               csvfile: Callable[..., Path]) -> None:
    """A host whose system is declared only on a database sheet of another bureau still
    validates; an estate whose existing rows are broken reports all problems at once."""
    est_dir = tmp_path / "est"
    ok = csvfile("ok.csv", [["单位", "主机名"], ["局", "h1"]])
    import_ledgers([ok], est_dir, reader=read_grids)
    hosts_csv = est_dir / "hosts.csv"
    text = hosts_csv.read_text(encoding="utf-8-sig").splitlines()
    text.append(text[1].replace("h1", "h2", 1))          # duplicate id
    text.append("h-x,h3,,,s-missing," + ",".join(text[1].split(",")[5:]))  # dangling system
    hosts_csv.write_text("\n".join(text) + "\n", encoding="utf-8-sig")
    before = snapshot(est_dir)
    more = csvfile("more.csv", [["单位", "主机名"], ["局", "h9"]])
    with pytest.raises(ValidationFailed) as exc:
        import_ledgers([more], est_dir, reader=read_grids)
    messages = " | ".join(str(p) for p in exc.value.problems)
    assert "duplicate id" in messages and "s-missing" in messages
    assert snapshot(est_dir) == before


def test_manifest_imports_each_file_with_its_bureau(tmp_path: Path) -> None:
    for folder, rows in (("b1", [["主机名", "IP地址"], ["a1", "10.1.1.1"]]),
                         ("b2", [["主机名", "IP地址"], ["a1", "10.2.1.1"]])):
        (tmp_path / "ledgers" / folder).mkdir(parents=True)
        write_csv(tmp_path / "ledgers" / folder / "hosts.csv", rows, "gbk")
    manifest = tmp_path / "ledgers" / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"order": [
        {"folder": "b1", "bureau": "甲局", "files": ["hosts.csv"]},
        {"folder": "b2", "bureau": "乙局", "files": ["hosts.csv"]}]}, allow_unicode=True),
        encoding="utf-8")
    res = CliRunner().invoke(main, ["inventory", "import", str(manifest), "--estate",
                                    str(tmp_path / "est"), "--json"])
    assert res.exit_code == 0, res.output
    est = Estate.load(tmp_path / "est")
    bureau = {b["id"]: b["name"] for b in est.rows("bureaus")}
    assert sorted((bureau[h["bureau_id"]], h["ip"]) for h in est.rows("hosts")) == [
        ("乙局", "10.2.1.1"), ("甲局", "10.1.1.1")]
    assert [Path(s["path"]).parent.name for s in est.meta["sources"]] == ["b1", "b2"]
    manifest.write_text("order: [{folder: b1, files: [missing.csv]}]\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["inventory", "import", str(manifest), "--estate",
                                    str(tmp_path / "est2")])
    assert res.exit_code == 1 and "missing.csv" in res.stderr


def test_conflicts_name_hosts_not_only_their_ids(tmp_path: Path) -> None:
    """`inventory conflicts` showed only h-… ids for a host whose OS two ledgers disagree
    on."""
    est = str(tmp_path / "est")
    runner = CliRunner()
    for name, os_name in (("hunan.xlsx", "UOS 20"), ("hunan-2.xlsx", "CentOS 7.9")):
        book = tmp_path / name
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "服务器清单"
        ws.append(["填报单位：湖南局"])
        ws.append(["序号", "所属业务系统", "服务器主机名", "服务器IP地址", "操作系统"])
        ws.append([1, "【统一门户】网站", "hn-shared01", "10.20.3.5", os_name])
        wb.save(book)
        res = runner.invoke(main, ["inventory", "import", str(book), "--estate", est, "--json"])
        assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["inventory", "conflicts", "--estate", est, "--json"])
    c = json.loads(res.stdout)["conflicts"][0]
    assert c["column"] == "os" and c["key"].startswith("h-")
    assert c["key_label"] == f"hn-shared01 ({c['key']})"
    res = runner.invoke(main, ["inventory", "conflicts", "--estate", est])
    assert res.exit_code == 0
    assert "hn-shared01" in res.stdout and "CentOS" in res.stdout and "UOS" in res.stdout


def _shared_host_book(path: Path, systems: tuple[str, ...]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "服务器清单"
    ws.append(["填报单位：湖南局"])
    ws.append(["序号", "所属业务系统", "服务器主机名", "服务器IP地址", "操作系统"])
    for i, system in enumerate(systems, start=1):
        ws.append([i, system, "hn-shared01", "10.20.3.5", "UOS 20"])
    wb.save(path)
    return path


@pytest.mark.parametrize("split", [False, True])
def test_a_host_shared_by_two_systems_stays_in_the_first(tmp_path: Path, split: bool) -> None:
    """A shared DB server listed under two 所属业务系统 (in one ledger, or in two ledgers
    imported one after the other) was a system_id conflict. It stays in the system that
    listed it first; the other system gets a declared dependency on the host; a warning
    names the host and both systems; nothing is lost, no conflict."""
    est = tmp_path / "est"
    if split:
        import_ledgers([_shared_host_book(tmp_path / "a.xlsx", ("【统一门户】网站",))], est,
                       reader=read_grids)
        report = import_ledgers([_shared_host_book(tmp_path / "b.xlsx", ("行政审批 (一期)",))],
                                est, reader=read_grids)
    else:
        report = import_ledgers([_shared_host_book(tmp_path / "a.xlsx", (
            "【统一门户】网站", "行政审批 (一期)"))], est, reader=read_grids)
    got = Estate.load(est, check=True)
    systems = {s["id"]: s["name"] for s in got.rows("systems")}
    hosts = got.rows("hosts")
    assert len(hosts) == 1 and systems[hosts[0]["system_id"]] == "【统一门户】网站"
    deps = got.rows("dependencies")
    assert [(systems[d["source_system"]], d["target_host"], d["origin"]) for d in deps] == [
        ("行政审批 (一期)", hosts[0]["id"], "declared")]
    assert not got.rows("conflicts")
    shared = [w for w in report.warnings if "two systems" in w]
    assert len(shared) == 1 and "'hn-shared01' (10.20.3.5)" in shared[0]
    assert "'【统一门户】网站'" in shared[0] and "'行政审批 (一期)'" in shared[0]
    assert ("a.xlsx and b.xlsx" if split else "in a.xlsx") in shared[0]


def test_a_host_added_to_an_export_without_an_id_is_added(tmp_path: Path) -> None:
    """A team adds a host to the exported workbook by typing its name and IP and leaves
    主机编号 blank: that was refused ("row 11, column '主机编号': a value is required")."""
    est, out = _export_with_a_typed_host(tmp_path)
    import_ledgers([out], est, reader=read_grids, apply=True)
    hosts = {h["hostname"]: h for h in Estate.load(est).rows("hosts")}
    assert set(hosts) == {"hn-sp-app01", "hn-new01"}
    new = hosts["hn-new01"]
    assert new["id"].startswith("h-") and new["ip"] == "10.20.1.99"
    assert new["system_id"] == hosts["hn-sp-app01"]["system_id"]
    before = Estate.load(est).fingerprint()
    again = import_ledgers([out], est, reader=read_grids)  # the same workbook again: no new row
    assert Estate.load(est).fingerprint() == before and not again.added


def _export_with_a_typed_host(tmp_path: Path) -> tuple[Path, Path]:
    """An estate of one host and its zh export with a host the team typed as a new row
    (no edited cell)."""
    book = tmp_path / "hunan.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["填报单位：湖南局"])
    ws.append(["所属业务系统", "服务器主机名", "服务器IP地址", "操作系统"])
    ws.append(["行政审批 (一期)", "hn-sp-app01", "10.20.1.11", "CentOS 7.9"])
    wb.save(book)
    est = tmp_path / "est"
    import_ledgers([book], est, reader=read_grids)
    out = tmp_path / "out.xlsx"
    export_xlsx(Estate.load(est), out, lang="zh")
    wb = openpyxl.load_workbook(out)
    ws = wb["主机"]
    head = [c.value for c in ws[1]]
    row = [c.value for c in ws[2]]
    row[head.index("主机编号")] = None
    row[head.index("主机名")] = "hn-new01"
    row[head.index("IP地址")] = "10.20.1.99"
    ws.append(row)
    wb.save(out)
    return est, out


def test_a_row_added_to_an_export_is_shown_and_written_only_with_apply(tmp_path: Path) -> None:
    """A host typed as a new row in an exported workbook (no edited cell) was written by
    `inventory import F` without --apply and showed only in the counts: the round trip is a
    reviewed diff, so the added row is shown (by name and IP) and written only with --apply."""
    est, out = _export_with_a_typed_host(tmp_path)
    before = snapshot(est)
    runner = CliRunner()
    res = runner.invoke(main, ["inventory", "import", str(out), "--estate", str(est),
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    assert snapshot(est) == before  # nothing written
    assert "hn-new01 (10.20.1.99)" in res.stdout and "added" in res.stdout
    assert "1 added row(s) shown, nothing written: run again with --apply" in res.stdout
    res = runner.invoke(main, ["inventory", "import", str(out), "--estate", str(est),
                               "--json"])
    data = json.loads(res.stdout)
    assert not data["saved"] and not data["applied"] and snapshot(est) == before
    assert [(a["table"], a["name"], a["ip"]) for a in data["added"]] == [
        ("hosts", "hn-new01", "10.20.1.99")]
    res = runner.invoke(main, ["inventory", "import", str(out), "--estate", str(est),
                               "--json", "--apply"])
    data = json.loads(res.stdout)
    assert data["saved"] and data["applied"]
    hosts = {h["hostname"]: h["ip"] for h in Estate.load(est).rows("hosts")}
    assert hosts == {"hn-sp-app01": "10.20.1.11", "hn-new01": "10.20.1.99"}


def test_edits_of_an_export_name_the_host_edited(tmp_path: Path) -> None:
    """The edits table of `inventory import EDITED.xlsx` showed only h-d7e7b7126f."""
    book = tmp_path / "hunan.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["填报单位：湖南局"])
    ws.append(["所属业务系统", "服务器主机名", "服务器IP地址", "内存大小"])
    ws.append(["行政审批 (一期)", "hn-sp-app01", "10.20.1.11", "16 GB"])
    wb.save(book)
    est = tmp_path / "est"
    import_ledgers([book], est, reader=read_grids)
    out = tmp_path / "out.xlsx"
    export_xlsx(Estate.load(est), out, lang="zh")
    wb = openpyxl.load_workbook(out)
    ws = wb["主机"]
    ws.cell(2, [c.value for c in ws[1]].index("内存(GB)") + 1).value = 24
    wb.save(out)
    res = CliRunner().invoke(main, ["inventory", "import", str(out), "--estate", str(est),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "hn-sp-app01 (h-" in res.stdout and "内存(GB)" in res.stdout


def test_a_reimported_ledger_without_some_hosts_names_them(tmp_path: Path) -> None:
    """湖南局 re-imports its ledger with a host removed: the estate keeps the host (an
    import never deletes) and the import says which hosts the file no longer lists; another
    bureau's rows are not listed even if its ledger has the same file name."""
    def book(folder: str, bureau: str, hosts: list[tuple[str, str]]) -> Path:
        (tmp_path / folder).mkdir(exist_ok=True)
        path = tmp_path / folder / "台账.xlsx"
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append([f"填报单位：{bureau}"])
        ws.append(["系统名称", "主机名", "IP地址"])
        for name, ip in hosts:
            ws.append(["行政审批", name, ip])
        wb.save(path)
        return path

    est = tmp_path / "est"
    full = [("hn-app01", "10.20.1.11"), ("hn-app02", "10.20.1.12")]
    import_ledgers([book("hn", "湖南局", full), book("hb", "湖北局", [("hb-app01", "10.30.1.1")])],
                   est, reader=read_grids)
    report = import_ledgers([book("hn", "湖南局", full[:1])], est, reader=read_grids)
    assert [(m["table"], m["name"], m["bureau"]) for m in report.missing] == [
        ("hosts", "hn-app02", "湖南局")]
    line = next(w for w in report.warnings if "no longer lists" in w)
    assert "台账.xlsx no longer lists 1 host(s)" in line and "hn-app02 (10.20.1.12)" in line
    assert "They are kept" in line and "hosts.csv" in line
    assert {h["hostname"] for h in Estate.load(est).rows("hosts")} == {
        "hn-app01", "hn-app02", "hb-app01"}
    res = CliRunner().invoke(main, ["inventory", "import", str(tmp_path / "hn" / "台账.xlsx"),
                                    "--estate", str(est), "--no-progress"])
    assert res.exit_code == 0 and "no longer lists" in res.stdout and "hn-app02" in res.stdout


def test_export_speaks_names_and_an_edited_name_is_applied(tmp_path: Path) -> None:
    """`inventory export --xlsx` wrote 所属系统/所属单位 as ids. It writes names, the ids in
    grey 所属系统编号/所属单位编号 columns at the end; the team moves a host to another
    system by typing that system's name, and the import applies it by name."""
    book = _shared_host_book(tmp_path / "a.xlsx", ("【统一门户】网站",))
    wb = openpyxl.load_workbook(book)
    wb.active.append([2, "行政审批 (一期)", "hn-app01", "10.20.3.6", "UOS 20"])
    wb.save(book)
    est = tmp_path / "est"
    import_ledgers([book], est, reader=read_grids)
    out = export_xlsx(Estate.load(est), tmp_path / "out.xlsx", lang="zh")
    wb = openpyxl.load_workbook(out)
    ws = wb["主机"]
    head = [c.value for c in ws[1]]
    assert head[-2:] == ["所属系统编号", "所属单位编号"]
    rows = {r[1]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    app = rows["hn-app01"]
    assert app[head.index("所属系统")] == "行政审批 (一期)"
    assert app[head.index("所属单位")] == "湖南局"
    assert app[head.index("所属系统编号")].startswith("s-")
    assert [c.value for c in wb["依赖关系"][1]][-4:] == [
        "源系统编号", "目标系统编号", "源主机编号", "目标主机编号"]
    row_no = 2 + list(rows).index("hn-app01")
    ws.cell(row_no, head.index("所属系统") + 1).value = "【统一门户】网站"  # the id left as is
    wb.save(out)

    res = CliRunner().invoke(main, ["inventory", "import", str(out), "--estate", str(est),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "所属系统" in res.stdout and "【统一门户】网站 (s-" in res.stdout
    assert "nothing written" in res.stdout
    assert "two systems" not in res.stdout  # the move is an edit, not a shared host
    systems = {s["name"]: s["id"] for s in Estate.load(est).rows("systems")}
    report = import_ledgers([out], est, reader=read_grids, apply=True)
    assert [(e["column"], e["edited"]) for e in report.edits] == [
        ("system_id", systems["【统一门户】网站"])]
    moved = Estate.load(est, check=True)
    hosts = {h["hostname"]: h for h in moved.rows("hosts")}
    assert hosts["hn-app01"]["system_id"] == systems["【统一门户】网站"]
    assert len(systems) == 2  # no system made of the name
    assert not moved.rows("dependencies") and not moved.rows("conflicts")

    # a name no system has: refused naming the sheet, row and column; nothing written
    before = Estate.load(est).fingerprint()
    wb = openpyxl.load_workbook(out)
    wb["主机"].cell(row_no, head.index("所属系统") + 1).value = "没有这个系统"
    wb.save(out)
    with pytest.raises(LedgerError) as exc:
        import_ledgers([out], est, reader=read_grids, apply=True)
    text = str(exc.value)
    assert "没有这个系统" in text and "主机" in text and f"row {row_no}" in text
    assert "所属系统" in text
    assert Estate.load(est).fingerprint() == before


def test_a_workbook_exported_with_ids_still_imports(tmp_path: Path, bureau_ledger: Path) -> None:
    """A workbook exported before names were written (ids in 所属系统, no id columns)."""
    est = tmp_path / "est"
    import_ledgers([bureau_ledger], est, reader=read_grids)
    original = Estate.load(est)
    out = export_xlsx(original, tmp_path / "out.xlsx", lang="zh")
    wb = openpyxl.load_workbook(out)
    for ws in wb.worksheets:  # back to the old layout: ids in the columns, no id columns
        head = [c.value for c in ws[1]]
        ids = [i for i, h in enumerate(head) if str(h).endswith("编号") and i > 0
               and head[: i].count(str(h)[:-2]) == 1]
        for i in ids:
            src = head.index(str(head[i])[:-2])
            for r in range(2, ws.max_row + 1):
                ws.cell(r, src + 1).value = ws.cell(r, i + 1).value
        for i in sorted(ids, reverse=True):
            ws.delete_cols(i + 1)
    wb.save(out)
    back = tmp_path / "back"
    import_ledgers([out], back, reader=read_grids)
    assert Estate.load(back).fingerprint() == original.fingerprint()
