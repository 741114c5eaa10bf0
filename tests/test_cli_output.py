"""What the command line prints cannot be hijacked or misread (issue #17, items 6 and 7):
estate values are never read as rich markup, ``--json`` errors are JSON, piped output is not
cut, help texts render, documents get normal file modes, plans say what is odd about them."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shangyun.cli import COMMANDS, main
from shangyun.cli.discover import nobody_reached
from shangyun.cli.lazy import LazyGroup
from shangyun.errors import PlanError
from shangyun.estate import Estate
from shangyun.planner import PlanOptions, make_plan
from shangyun.runbook import write_document
from tests.planner.build import bureau, make_estate, system

SYSTEM = "[/] 系统 [bold]"
BUREAU = "[/] 局 [bold]"
CELL = "[bold red]oops"


def _run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """An estate whose names and cells look like rich markup."""
    b = bureau("B1", 1000, 8, "sat")
    b["name"] = BUREAU
    est = make_estate([system("A", name=SYSTEM, owner=CELL), system("B", name=CELL)],
                      [("A", "B", "database")], bureaus=[b])
    return est.save(tmp_path / "estate")


@pytest.mark.parametrize("command", [
    ("inventory", "show"), ("inventory", "validate"), ("inventory", "conflicts"), ("assess",),
    ("plan",), ("status",)])
def test_markup_in_names_is_printed_not_parsed(hostile: Path, command: tuple[str, ...]) -> None:
    if command == ("status",):
        assert _run("plan", "--estate", str(hostile)).exit_code == 0
    res = _run(*command, "--estate", str(hostile))
    assert res.exit_code == 0, res.output
    if command == ("inventory", "show"):
        assert BUREAU in res.output


def test_plan_explain_prints_a_markup_like_reason_literally(hostile: Path) -> None:
    assert _run("plan", "--estate", str(hostile)).exit_code == 0
    res = _run("plan", "explain", "A", "--estate", str(hostile))
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"{SYSTEM}: wave 1")  # its name, printed literally


def test_a_bad_cell_is_quoted_back_as_written(hostile: Path) -> None:
    hosts = hostile / "hosts.csv"
    text = hosts.read_text(encoding="utf-8-sig")
    header, first, *rest = text.splitlines()
    cols = header.split(",")
    cells = first.split(",")
    cells[cols.index("cpu_cores")] = CELL
    hosts.write_text("\n".join([header, ",".join(cells), *rest]) + "\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["inventory", "validate", "--estate", str(hostile)])
    assert res.exit_code == 1
    assert CELL in res.output  # not 'oops' with the brackets eaten as a style
    res = CliRunner().invoke(main, ["inventory", "validate", "--estate", str(hostile), "--json"])
    data = json.loads(res.stdout)
    assert data["ok"] is False and CELL in data["error"] and data["problems"]


def test_json_errors_are_a_json_object_on_stdout(tmp_path: Path) -> None:
    empty = Estate.new("empty").save(tmp_path / "empty")
    res = CliRunner().invoke(main, ["plan", "--estate", str(empty), "--json"])
    assert res.exit_code == 1
    data = json.loads(res.stdout)
    assert data == {"ok": False, "error": data["error"]}
    assert "nothing to plan" in data["error"]
    res = CliRunner().invoke(main, ["plan", "explain", "A", "--estate", str(empty), "--json"])
    assert res.exit_code == 1 and json.loads(res.stdout)["ok"] is False


def test_plan_on_an_empty_estate_is_an_error_not_an_empty_plan(tmp_path: Path) -> None:
    empty = Estate.new("empty").save(tmp_path / "empty")
    res = CliRunner().invoke(main, ["plan", "--estate", str(empty)])
    assert res.exit_code == 1
    assert "nothing to plan" in res.stderr
    assert not (empty / "plan" / "waves.csv").exists()
    with pytest.raises(PlanError, match="the estate has no systems"):
        make_plan(Estate.new("empty"))
    # every system excluded is still a plan: it lists each exclusion with its reason
    assert make_plan(make_estate([system("S", classified=True)])).excluded


def test_piped_output_is_not_cut_at_80_columns(hostile: Path) -> None:
    res = _run("plan", "--estate", str(hostile))
    summary = next(line for line in res.output.splitlines() if "move group" in line)
    assert len(summary) > 80 and summary.endswith("0 systems excluded"), summary


def _commands(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        yield (*path, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, ctx, (*path, name))


def test_every_help_text_renders_without_rst_markup() -> None:
    assert isinstance(main, LazyGroup)
    paths = list(_commands(main, click.Context(main)))
    assert len(paths) > len(COMMANDS)
    for path in paths:
        res = _run(*path, "--help")
        assert res.exit_code == 0, (path, res.output)
        assert "``" not in res.output, (path, res.output)


def test_documents_are_written_with_normal_file_modes(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_document(tmp_path / "wave-1.zh.md", "# 第 1 批\n", {"gantt": b"png"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "wave-1.zh.gantt.png").stat().st_mode) == 0o644


def test_a_pin_past_the_last_wave_is_explained_and_past_dates_warned() -> None:
    est = make_estate([system("A"), system("B"), system("C")],
                      bureaus=[bureau("B1", 1000, 8, "sat")])
    plan = make_plan(est, PlanOptions(pins={"C": 9}, start=dt.date(2027, 1, 4)))
    numbers = [w["number"] for w in plan.waves]
    assert numbers[-1] == 9
    warnings = plan.warnings(dt.date(2027, 1, 1))
    assert len(warnings) == 1
    gap = f"{numbers[-2] + 1}–8"
    assert f"waves {gap} are empty" in warnings[0]
    # the pin is named by the system's name (a ledger's ids are hashes), not its id
    assert "system C → wave 9" in warnings[0] and "C=9" not in warnings[0]
    hashed = make_estate([system("s-1f0681c919", name="电子证照库"), system("s-77aa00bb11")],
                         bureaus=[bureau("B1", 1000, 8, "sat")])
    hashed_plan = make_plan(hashed, PlanOptions(pins={"s-1f0681c919": 6},
                                                start=dt.date(2027, 1, 4)))
    gap_warning = hashed_plan.warnings(dt.date(2027, 1, 1))[0]
    assert "电子证照库 → wave 6" in gap_warning and "s-1f0681c919" not in gap_warning
    past = plan.warnings(dt.date(2030, 1, 1))
    assert any("start in the past" in w for w in past)
    plain = make_plan(est, PlanOptions(start=dt.date(2027, 1, 4)))
    assert plain.warnings(dt.date(2027, 1, 1)) == []


def test_plan_cli_warns_about_a_start_in_the_past(hostile: Path) -> None:
    res = CliRunner().invoke(main, ["plan", "--estate", str(hostile), "--start", "2001-01-01"])
    assert res.exit_code == 0
    assert "warning:" in res.stderr and "in the past" in res.stderr


def test_discovery_where_no_host_answered_is_an_error() -> None:
    assert nobody_reached({"total": 0, "counts": {}}) is None
    assert nobody_reached({"total": 2, "counts": {"ok": 1, "timeout": 1}}) is None
    msg = nobody_reached({"total": 2, "counts": {"unreachable": 1, "timeout": 1}})
    assert msg is not None and "none of the 2 host(s)" in msg


# --- names everywhere a person reads (item 2) ---------------------------------------------

@pytest.fixture
def named(tmp_path: Path) -> Path:
    """Systems with Chinese names, two of them sharing one."""
    b = bureau("B1", 1000, 8, "sat")
    b["name"] = "北京直属局"
    est = make_estate([system("s1", name="审批系统"), system("s2", name="邮件系统"),
                       system("s3", name="档案系统"), system("s4", name="档案系统")],
                      [("s1", "s2", "database")], bureaus=[b])
    return est.save(tmp_path / "estate")


def test_resolver_takes_ids_names_and_suggests() -> None:
    from shangyun.estate.names import AmbiguousName, NameNotFound, label, resolve

    names = {"s1": "审批系统", "s2": "邮件系统", "s3": "档案系统", "s4": "档案系统",
             "s5": "Mail Gateway"}
    assert resolve("system", "s2", names) == "s2"
    assert resolve("system", "审批系统", names) == "s1"
    assert resolve("system", " mail gateway ", names) == "s5"
    assert resolve("system", "审批", names) == "s1"  # the one name that contains it
    with pytest.raises(AmbiguousName, match=r"2 systems named '档案系统'.*s3.*s4"):
        resolve("system", "档案系统", names)
    with pytest.raises(NameNotFound, match=r"did you mean 邮件系统 \(s2\)"):
        resolve("system", "邮件糸统", names)
    assert label("s1", names) == "审批系统 (s1)" and label("x", names) == "x"


def test_plan_explain_and_pins_take_names(named: Path) -> None:
    res = _run("plan", "--estate", str(named), "--pin", "邮件系统=2", "--exclude", "s3",
               "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert "s2" in next(w for w in data["waves"] if w["number"] == 2)["systems"]
    res = _run("plan", "explain", "审批系统", "--estate", str(named), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["system"] == "s1"
    res = CliRunner().invoke(main, ["plan", "explain", "档案系统", "--estate", str(named)])
    assert res.exit_code == 1 and "give the system id" in res.output
    res = CliRunner().invoke(main, ["plan", "explain", "审批糸统", "--estate", str(named)])
    assert res.exit_code == 1 and "did you mean 审批系统 (s1)" in res.output


def test_files_people_open_carry_names_beside_ids(named: Path) -> None:
    import csv

    assert _run("plan", "--estate", str(named)).exit_code == 0
    assert _run("assess", "--estate", str(named)).exit_code == 0

    def rows(rel: str) -> list[dict[str, str]]:
        with open(named / rel, encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))

    waves = rows("plan/waves.csv")
    assert all(w["bureau_names"] == "北京直属局" for w in waves)
    assert "审批系统" in ";".join(w["system_names"] for w in waves)
    groups = rows("plan/move_groups.csv")
    assert any("审批系统" in g["system_names"] for g in groups)
    planned = {r["system"]: r for r in rows("plan/systems.csv")}
    assert planned["s1"]["name"] == "审批系统" and planned["s1"]["bureau_name"] == "北京直属局"
    assessed = {r["system_id"]: r for r in rows("assessment/systems.csv")}
    assert assessed["s2"]["name"] == "邮件系统"
    hosts = rows("assessment/hosts.csv")
    assert all(h["hostname"] for h in hosts)


def test_plan_summary_counts_in_number(tmp_path: Path) -> None:
    est = make_estate([system("A"), system("S", classified=True)]).save(tmp_path / "e")
    res = _run("plan", "--estate", str(est))
    assert res.exit_code == 0, res.output
    summary = next(line for line in res.output.splitlines() if "move group" in line)
    assert summary.startswith("1 wave (lower bound") and "1 move group," in summary, summary
    assert summary.endswith("1 system excluded"), summary


def test_json_failures_exit_as_the_readme_says(hostile: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    assert "`{\"ok\": false, \"error\": \"…\"}` on stdout and exits 1" in readme
    assert "A usage error exits 2" in readme
    monkeypatch.delenv("SHANGYUN_ESTATE", raising=False)
    res = _run("wave", "status", "1", "--json", "--estate", str(tmp_path / "none"))
    assert res.exit_code == 1 and json.loads(res.stdout)["ok"] is False
    res = _run("wave", "status", "x", "--json", "--estate", str(hostile))  # click's usage error
    assert res.exit_code == 2 and res.stdout == "" and "Usage:" in res.stderr
    res = _run("plan", "--json")  # a usage error the command finds: JSON, exit 2
    assert res.exit_code == 2 and json.loads(res.stdout)["ok"] is False
    assert "a missing required option (most commands' `--estate`)" in readme
    res = _run("status", "--json")  # click's: a required option missing
    assert res.exit_code == 2 and res.stdout == "" and "Missing option '--estate'" in res.stderr


def test_plan_summary_counts_one_crossing_dependency_in_number(tmp_path: Path) -> None:
    """One dependency across waves (A pinned to wave 1, B to wave 2; a weak 'async' one,
    so they are no move group): "1 of 1 dependency crosses waves", not "dependencies
    cross"."""
    est = make_estate([system("A"), system("B")], deps=[("A", "B", "async")])
    root = est.save(tmp_path / "e")
    res = _run("plan", "--estate", str(root), "--pin", "A=1", "--pin", "B=2",
               "--start", "2027-01-04")
    assert res.exit_code == 0, res.output
    summary = next(line for line in res.output.splitlines() if "move group" in line)
    assert "2 waves (lower bound" in summary and "2 move groups," in summary, summary
    assert "1 of 1 dependency crosses waves" in summary, summary
    assert "(s)" not in res.output, res.output


def test_server_status_without_a_server_suggests_the_start_of_that_estate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`server status --estate E` looks under E/.shangyun/server: the start it suggests is
    E's (a bare 'shangyun server start' records its server under ~/.shangyun/server, and
    the same status then still found none)."""
    monkeypatch.delenv("SHANGYUN_ESTATE", raising=False)
    res = _run("server", "status", "--estate", str(tmp_path))
    assert res.exit_code == 1
    assert f"start one with 'shangyun server start --estate {tmp_path}'" in " ".join(
        res.output.split()), res.output
    res = CliRunner().invoke(main, ["server", "status"], env={"SHANGYUN_ESTATE": str(tmp_path)})
    assert "start one with 'shangyun server start'" in res.output, res.output
