"""A programme's sequence across inventory, plan and waves: wave 1 has moved a system, then
an edited ``inventory export`` workbook changes that system's host. The edit is still
shown and can be applied, but it is flagged — naming the host, the system and the wave
that moved it — before ``--apply`` and after. The wave's run is journal-level (the real
SQLite journal, every step of the system recorded done, as the runbook tests do); the
estate is the shipped sample, the CLI is the real one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from connectors.journal.history import open_reader
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.report import programme_status
from shangyun.runbook.api import runbook_context
from shangyun.wave.builder import wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import write_plan

SAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "sample"
MOVED, OTHER = "s0006", "s0001"  # 电子证照库 moves in wave 1; 统一身份认证平台 is left home


def _ran_wave_1(root: Path) -> None:
    """Wave 1 (the moved system alone) recorded done in the journal, step by step."""
    write_plan(root, {1: [[MOVED]], 2: [[OTHER]]})
    opts = RunOptions(target="libvirt", target_options={"uri": "test:///default",
                                                        "pool": "p"},
                      staging_dir=str(root / "staging"), bucket="b")
    steps = wave_steps(load_wave(root, 1), opts)
    with open_journal(root) as j:
        run = j.begin_run(1, {"options": opts.to_dict()})
        for st in steps[MOVED]:
            j.record(run, 1, st, "started", {})
            j.record(run, 1, st, "done", {"ok": True})
        j.finish_run(run, "done")


def _edit_ip(src: Path, dst: Path, hostnames: dict[str, str]) -> None:
    """The exported workbook with the ip of each named host changed."""
    wb = openpyxl.load_workbook(src)
    ws = wb["hosts"]
    header = [c.value for c in ws[1]]
    name_col, ip_col = header.index("hostname"), header.index("ip")
    for row in ws.iter_rows(min_row=2):
        new = hostnames.get(str(row[name_col].value))
        if new:
            row[ip_col].value = new
    wb.save(dst)


def test_an_edit_to_a_moved_systems_host_is_flagged(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("ledgers"))
    _ran_wave_1(root)
    r = CliRunner()
    exported = tmp_path / "export.xlsx"
    res = r.invoke(main, ["inventory", "export", "--estate", str(root), "--xlsx",
                          str(exported), "--lang", "en"])
    assert res.exit_code == 0, res.output
    edited = tmp_path / "edited.xlsx"
    # hq-license-db11 is a host of the moved system; hq-auth-* of the one still home
    hosts = {h["hostname"]: h for h in _hosts(root)}
    home_host = next(n for n, h in hosts.items() if h["system_id"] == OTHER)
    _edit_ip(exported, edited, {"hq-license-db11": "10.99.99.99", home_host: "10.99.99.98"})

    shown = r.invoke(main, ["inventory", "import", str(edited), "--estate", str(root),
                            "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert len(data["edits"]) == 2 and not data["applied"], data
    flagged = [w for w in data["warnings"] if "moved" in w or "wave 1" in w]
    assert len(flagged) == 1, data["warnings"]
    assert "hq-license-db11" in flagged[0] and "电子证照库" in flagged[0], flagged
    assert "wave 1" in flagged[0] and home_host not in flagged[0], flagged

    applied = r.invoke(main, ["inventory", "import", str(edited), "--estate", str(root),
                              "--apply"])
    assert applied.exit_code == 0, applied.output
    text = " ".join(applied.output.split())
    assert "hq-license-db11" in text and "wave 1" in text, applied.output


def _hosts(root: Path) -> list[dict[str, str]]:
    import csv
    with (root / "hosts.csv").open(encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_a_moved_system_replanned_elsewhere_still_counts_as_moved(tmp_path: Path) -> None:
    """run 1 → re-plan (the moved system pinned to wave 2): ``status`` and the report must
    agree with ``wave status 1`` — the system moved in wave 1 — not call it pending."""
    root = tmp_path / "estate"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("ledgers"))
    _ran_wave_1(root)
    write_plan(root, {1: [["s0003"]], 2: [[OTHER], [MOVED]]})  # the re-plan
    r = CliRunner()
    ws = json.loads(r.invoke(main, ["wave", "status", "1", "--estate", str(root),
                                    "--json"]).stdout)
    assert {s["id"]: s["state"] for s in ws["systems"]} == {MOVED: "done"}, ws
    st = json.loads(r.invoke(main, ["status", "--estate", str(root), "--json"]).stdout)
    assert st["totals"]["moved"] == 1, st["totals"]
    with open_reader(root) as journal:
        data = programme_status(root, journal=journal)
    by_id = {s["id"]: s for s in data["systems"]}
    assert by_id[MOVED]["state"] == "done" and by_id[MOVED]["wave"] == 1, by_id[MOVED]
    waves = {w["wave"]: w for w in st["waves"]}
    assert waves[1]["moved"] == 1 and waves[1]["state"] == ws["state"], waves[1]
    assert waves[2]["moved"] == 0 and waves[2]["state"] == "never run", waves[2]


def test_the_runbook_of_a_wave_shows_a_system_replanned_out_of_it(tmp_path: Path) -> None:
    """run 1 → re-plan (the moved system pinned to wave 2): the runbook of wave 1 still
    shows it moved there, with a warning that the plan no longer puts it in wave 1, and
    counts what ``wave status 1`` counts."""
    root = tmp_path / "estate"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("ledgers"))
    _ran_wave_1(root)
    write_plan(root, {1: [["s0003"]], 2: [[OTHER], [MOVED]]})
    with open_reader(root) as journal:
        ctx = runbook_context(root, 1, "en", journal=journal)
    states = {s["id"]: s["state"] for s in ctx["systems"]}
    assert states == {"s0003": "pending", MOVED: "done"}, states
    assert ctx["outcome"]["state"] == "partial", ctx["outcome"]
    assert [s["id"] for s in ctx["outcome"]["moved"]] == [MOVED], ctx["outcome"]
    warned = [w["text"] for w in ctx["warnings"] if "电子证照库" in w["system"]]
    assert any("wave 2" in w for w in warned), ctx["warnings"]
    res = CliRunner().invoke(main, ["runbook", "1", "--estate", str(root), "--lang", "en",
                                    "--format", "md"])
    assert res.exit_code == 0, res.output


def test_an_impossible_plan_names_bureaus_and_systems_by_name(tmp_path: Path) -> None:
    """import → plan on a ledger estate (ids made from hashes): the constraint that stops
    the plan names the bureau and the system a person knows, not ``b-9cf560da52`` and
    ``s-1f0681c919`` alone; a ``--pin ID=W`` hint names the system as the CLI takes it."""
    from shangyun.errors import PlanError
    from shangyun.planner import PlanOptions, make_plan
    from tests.planner.build import bureau, make_estate, system

    big = system("s-1f0681c919", "b-9cf560da52", data_gb=50)
    big["name"] = "电子证照库"
    slow = bureau("b-9cf560da52", link_mbps=10, window_hours=2)
    slow["name"] = "宁夏直属局"
    est = make_estate([big, system("s-0000000001", "b-0000000001")],
                      bureaus=[bureau("b-0000000001"), slow])
    try:
        make_plan(est, PlanOptions())
    except PlanError as e:
        msg = str(e)
    else:
        raise AssertionError("the plan should be impossible")
    assert "宁夏直属局 (b-9cf560da52) window" in msg, msg
    assert "电子证照库 (s-1f0681c919)" in msg, msg
    one = system("s-0000000001", "b-0000000001")
    one["name"] = "统一门户"
    with pytest.raises(PlanError) as err:
        make_plan(make_estate([one], bureaus=[bureau("b-0000000001")]),
                  PlanOptions(pins={"s-0000000001": 0}))
    assert "--pin 统一门户=0" in str(err.value), str(err.value)


def test_plan_names_excluded_systems_by_name(tmp_path: Path) -> None:
    """``plan`` lists the systems it excluded as ``name (id)``, not ``s0083`` alone."""
    root = tmp_path / "estate"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("ledgers"))
    res = CliRunner().invoke(main, ["plan", "--estate", str(root), "--dry-run"])
    assert res.exit_code == 0, res.output
    lines = [x for x in res.output.splitlines() if x.strip().startswith("excluded ")]
    names = {str(r["id"]): r["name"] for r in _rows(root, "systems")}
    shown = [x.split(":")[0].split("excluded ", 1)[1] for x in lines]
    assert shown and all(f"{names[w.rsplit('(', 1)[1].rstrip(')')]} (" in w
                         for w in shown), lines


def _rows(root: Path, table: str) -> list[dict[str, str]]:
    import csv
    with (root / f"{table}.csv").open(encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_the_dry_run_says_the_run_would_refuse_a_system_held_by_another_wave(
        tmp_path: Path) -> None:
    """run 1 → re-plan (the moved system now in wave 2) → ``wave run 2 --dry-run``: the dry
    run is what the run would do, and the run refuses (nothing run) while wave 1 holds the
    system; so the dry run says so, naming it, instead of listing its steps as if they
    would run."""
    root = tmp_path / "estate"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("ledgers"))
    _ran_wave_1(root)
    write_plan(root, {2: [[OTHER], [MOVED]]})
    r = CliRunner()
    res = r.invoke(main, ["wave", "run", "2", "--estate", str(root), "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [h["id"] for h in data["held"]] == [MOVED], data["held"]
    assert "wave 1" in data["held"][0]["why"], data["held"]
    text = r.invoke(main, ["wave", "run", "2", "--estate", str(root), "--dry-run"]).output
    head = " ".join(text.split("\n\n")[0].split())
    assert "电子证照库" in head and "refuse" in head and "wave 1" in head, head
    st = json.loads(r.invoke(main, ["wave", "status", "2", "--estate", str(root),
                                    "--json"]).stdout)
    assert st["runs"] == [] and st["systems"] == [], st  # the dry run began nothing


def test_a_conflict_on_a_moved_system_is_flagged_at_import_and_in_conflicts(
        tmp_path: Path) -> None:
    root = tmp_path / "estate"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("ledgers"))
    _ran_wave_1(root)
    hosts = {h["hostname"]: h for h in _hosts(root)}
    home = next(h for h in hosts.values() if h["system_id"] == OTHER)
    ledger = tmp_path / "总部-复核.csv"
    cpu = int(hosts["hq-license-db11"]["cpu_cores"]) + 8
    ledger.write_text("单位,主机名,IP地址,操作系统,系统版本,CPU(核)\n"
                      f"总部,hq-license-db11,10.0.1.146,UOS,20,{cpu}\n"
                      f"总部,{home['hostname']},{home['ip']},UOS,20,\n", encoding="utf-8")
    r = CliRunner()
    res = r.invoke(main, ["inventory", "import", str(ledger), "--estate", str(root), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["conflicts"], data
    flagged = [w for w in data["warnings"] if "moved in wave 1" in w]
    assert len(flagged) == 1, data["warnings"]
    assert "host hq-license-db11" in flagged[0] and "电子证照库" in flagged[0]
    assert "cpu_cores" in flagged[0] and "not the machine already on the cloud" in flagged[0]
    assert home["hostname"] not in " ".join(flagged)
    res = r.invoke(main, ["inventory", "conflicts", "--estate", str(root), "--json"])
    moved = json.loads(res.stdout)["moved"]
    assert len(moved) == 1 and "hq-license-db11" in moved[0] and "resolving the conflict" \
        in moved[0]
    res = r.invoke(main, ["inventory", "conflicts", "--estate", str(root)])
    assert res.exit_code == 0 and "moved in wave 1" in " ".join(res.output.split())


def test_a_finalized_system_is_called_moved_not_cut_over(tmp_path: Path) -> None:
    """After ``wave finalize`` the import's warning called a system still "cut over in wave
    1" (``holding_wave`` read its state as if the wave were not finalized): the cloud is its
    home now — "moved in wave 1", as ``wave status`` reads it (done)."""
    from shangyun.wave.steps import Step

    root = tmp_path / "estate"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("ledgers"))
    _ran_wave_1(root)
    with open_journal(root) as j:
        run = j.begin_run(1, {})
        cut = Step("cutover", MOVED, f"{MOVED}/cutover", "cut over")
        j.record(run, 1, cut, "started", {})
        j.record(run, 1, cut, "done", {"ok": True})
        j.finish_run(run, "done")
    hosts = {h["hostname"]: h for h in _hosts(root)}
    ledger = tmp_path / "总部-复核.csv"
    cpu = int(hosts["hq-license-db11"]["cpu_cores"]) + 8
    ledger.write_text("单位,主机名,IP地址,操作系统,系统版本,CPU(核)\n"
                      f"总部,hq-license-db11,10.0.1.146,UOS,20,{cpu}\n", encoding="utf-8")

    closed = tmp_path / "finalized"
    shutil.copytree(root, closed)

    def flagged(estate: Path) -> list[str]:
        res = CliRunner().invoke(main, ["inventory", "import", str(ledger), "--estate",
                                        str(estate), "--json"])
        assert res.exit_code == 0, res.output
        return [w for w in json.loads(res.stdout)["warnings"] if "wave 1" in w]

    said = flagged(root)
    assert len(said) == 1 and "cut over in wave 1" in said[0], said
    with open_journal(closed) as j:
        run = j.begin_run(1, {}, kind="finalize")
        j.finish_run(run, "done")
    said = flagged(closed)
    assert len(said) == 1 and "moved in wave 1" in said[0], said
    assert "cut over" not in said[0], said
