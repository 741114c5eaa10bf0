"""``shangyun plan`` and ``shangyun plan explain`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from tests.planner.build import bureau, make_estate, system


@pytest.fixture
def estate_dir(tmp_path: Path) -> Path:
    est = make_estate([system("DB", kind="shared-service", criticality="high"), system("A"),
                       system("B"), system("LOW", criticality="low"),
                       system("SECRET", classified=True)],
                      [("A", "DB", "database"), ("B", "DB", "database"), ("A", "SECRET")],
                      bureaus=[bureau("B1", 1000, 8, "sat")])
    return est.save(tmp_path / "estate")


def _run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_plan_json_has_exactly_the_documented_shape(estate_dir: Path) -> None:
    res = _run("plan", "--estate", str(estate_dir), "--start", "2027-01-04", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data) == {"waves", "move_groups", "excluded", "metrics", "warnings",
                         "ran_waves", "notes"}
    assert data["warnings"] == [] and data["ran_waves"] == []
    # A uses SECRET, which never moves: the plan says so up front (the dependency will
    # cross from the cloud to the bureau's network)
    # … and that every checked window holds its wave's estimated time
    assert data["notes"] == [
        "all 2 windows with a known link and window fit the estimated time (the packer "
        "packs each wave by it)",
        "1 system that moves has dependencies on systems that stay (after the move they "
        "cross from the cloud to the bureau's network; a classified (涉密) system's network "
        "is isolated: settle these with the security officer first): system A — system "
        "SECRET (classified (涉密) system: never moves to the cloud)"], data["notes"]
    assert all(set(w) == {"number", "start", "systems", "hosts", "data_gb", "bureaus", "ran"}
               for w in data["waves"])
    assert all(set(g) == {"id", "systems"} for g in data["move_groups"])
    assert set(data["metrics"]) == {"waves", "cut_dependencies", "lower_bound_waves"}
    assert data["excluded"] == [{"system": "SECRET",
                                 "reason": "classified (涉密) system: never moves to the cloud"}]
    assert data["waves"][0] == {"number": 1, "start": "2027-01-09", "systems": ["LOW"],
                                "hosts": 1, "data_gb": 10.0, "bureaus": ["B1"], "ran": False}
    meta = yaml.safe_load((estate_dir / "plan" / "plan.yaml").read_text(encoding="utf-8"))
    assert meta["schema_version"] == 1
    assert meta["estate_fingerprint"] == Estate.load(estate_dir).fingerprint()
    assert meta["options"]["start"] == "2027-01-04"
    for name in ("waves.csv", "windows.csv", "move_groups.csv", "systems.csv", "excluded.csv"):
        assert (estate_dir / "plan" / name).is_file()


def test_plan_options_pin_exclude_and_explain(estate_dir: Path) -> None:
    res = _run("plan", "--estate", str(estate_dir), "--pin", "A=3", "--exclude", "LOW",
               "--pilot-systems", "0", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    wave3 = next(w for w in data["waves"] if w["number"] == 3)
    assert set(wave3["systems"]) == {"DB", "A", "B"}
    assert {"system": "LOW", "reason": "excluded by the user (--exclude)"} in data["excluded"]
    res = _run("plan", "explain", "B", "--estate", str(estate_dir), "--json")
    info = json.loads(res.output)
    assert info["wave"] == 3 and not info["stale"] and not info["excluded"]
    assert any("moves with" in r and "A" in r for r in info["reasons"])
    text = _run("plan", "--estate", str(estate_dir), "explain", "A").output
    assert "wave 3" in text and "pinned to wave 3 (--pin)" in text
    excl = json.loads(_run("plan", "explain", "SECRET", "--estate", str(estate_dir),
                           "--json").output)
    assert excl["excluded"] and "classified" in excl["reasons"][0]


def test_explain_notices_a_changed_estate(estate_dir: Path) -> None:
    assert _run("plan", "--estate", str(estate_dir)).exit_code == 0
    est = Estate.load(estate_dir)
    rows = est.rows("systems")
    rows[1]["criticality"] = "critical"
    est.set_rows("systems", rows)
    est.save(estate_dir)
    info = json.loads(_run("plan", "explain", "A", "--estate", str(estate_dir), "--json").output)
    assert info["stale"] is True


def test_plan_errors_are_one_clear_message(estate_dir: Path) -> None:
    res = CliRunner().invoke(main, ["plan", "--estate", str(estate_dir), "--pin", "A=1",
                                    "--pin", "B=2"])
    assert res.exit_code == 1
    said = " ".join(res.output.split())
    assert "contradictory pins --pin 'system A=1' and --pin 'system B=2'" in said, said
    assert "Traceback" not in res.output
    assert not (estate_dir / "plan").exists()
    res = CliRunner().invoke(main, ["plan", "--estate", str(estate_dir), "--pin", "A"])
    assert res.exit_code == 2 and "not SYSTEM=WAVE" in res.output
    res = CliRunner().invoke(main, ["plan", "explain", "NOPE", "--estate", str(estate_dir)])
    assert res.exit_code == 1 and "no plan yet" in res.output
    res = CliRunner().invoke(main, ["plan"])
    assert res.exit_code == 2 and "--estate" in res.output


def test_explain_with_a_folder_that_is_no_estate_says_so(tmp_path: Path) -> None:
    """``--estate`` at the demo's work folder (the estate is one level down): the answer was
    "no plan yet; run 'shangyun plan --estate …'", a command that then fails too."""
    (tmp_path / "estate").mkdir()
    res = CliRunner().invoke(main, ["plan", "explain", "审批系统", "--estate", str(tmp_path)])
    said = " ".join(res.output.split())
    assert res.exit_code == 1 and "not an estate (no estate.yaml)" in said, said
    assert "no plan yet" not in said, said


def test_dry_run_writes_nothing(estate_dir: Path) -> None:
    res = _run("plan", "--estate", str(estate_dir), "--dry-run")
    assert res.exit_code == 0 and "waves" in res.output
    assert not (estate_dir / "plan").exists()


def test_plan_cli_does_not_import_prefect(estate_dir: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from shangyun.cli import main; "
            f"r = CliRunner().invoke(main, ['plan', '--estate', {str(estate_dir)!r}, '--json']);"
            " assert r.exit_code == 0, r.output; print('prefect' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "False"


def test_cli_limits_and_cycles(tmp_path: Path) -> None:
    est = make_estate([system("S1", "B1", kind="shared-service", hosts=3),
                       system("S2", "B2", kind="shared-service", hosts=3),
                       system("A", "B1"), system("B", "B2")],
                      [("S1", "S2"), ("S2", "S1"), ("A", "S1"), ("B", "S2")],
                      bureaus=[bureau("B1"), bureau("B2")])
    root = est.save(tmp_path / "e")
    res = CliRunner().invoke(main, ["plan", "--estate", str(root), "--max-hosts", "4",
                                    "--pilot-systems", "0", "--cycles", "error"])
    assert res.exit_code == 1 and "cycle (system S1 (S1), system S2 (S2)" in res.output
    res = _run("plan", "--estate", str(root), "--max-hosts", "4", "--pilot-systems", "0",
               "--max-bureaus", "1", "--json")
    data = json.loads(res.output)
    assert all(len(w["bureaus"]) == 1 for w in data["waves"])
    assert sorted(s for w in data["waves"] for s in w["systems"]) == ["A", "B", "S1", "S2"]


@pytest.mark.parametrize(("typed", "name"), [("A", "system A"), ("ystem LO", "system LOW"),
                                             ("SYSTEM b", "system B"),
                                             ("SECRET", "system SECRET")])
def test_explain_heads_its_answer_with_the_name_of_the_system_found(
        estate_dir: Path, typed: str, name: str) -> None:
    """SYSTEM may be an id or a part of a name: the answer names the system it found (it
    echoed what was typed, so a half-typed name read as if it were the system's)."""
    assert _run("plan", "--estate", str(estate_dir)).exit_code == 0
    text = _run("plan", "explain", typed, "--estate", str(estate_dir)).output
    assert text.startswith(f"{name}: wave ") or text.startswith(f"{name} is not in any wave")
    info = json.loads(_run("plan", "explain", typed, "--estate", str(estate_dir),
                           "--json").output)
    assert info["name"] == name and info["system"] == name.split()[-1]


def _layout_without_extranet_l3(folder: Path) -> Path:
    """A copy of the packaged data files whose target has no MLPS-3 extranet zone."""
    from importlib import resources
    folder.mkdir()
    for name in ("support_matrix.yaml", "flavours.csv", "prices.yaml", "layout.yaml"):
        text = (resources.files("shangyun") / "data" / name).read_text(encoding="utf-8")
        if name == "layout.yaml":
            text = "\n".join(line for line in text.splitlines() if "extranet-l3" not in line)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_plan_uses_the_data_files_of_the_assessment(tmp_path: Path) -> None:
    """A target described with `assess --data` (no MLPS-3 extranet zone) excludes the same
    systems from the plan as from the assessment; `plan --data` chooses the files itself."""
    est = make_estate([system("L3", mlps_level=3, network_zone="extranet"),
                       system("L2", mlps_level=2, network_zone="extranet")])
    folder = est.save(tmp_path / "estate")
    data = _layout_without_extranet_l3(tmp_path / "data")
    res = _run("assess", "--estate", str(folder), "--data", str(data), "--json")
    assert res.exit_code == 0, res.output
    res = _run("plan", "--estate", str(folder), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["excluded"] == [{"system": "L3", "reason": "no security zone accepts MLPS "
                                "level 3 in network zone extranet"}]
    assert [s for w in out["waves"] for s in w["systems"]] == ["L2"]
    meta = yaml.safe_load((folder / "plan" / "plan.yaml").read_text(encoding="utf-8"))
    assert meta["data"] == str(data)
    # --data names the files for this plan (here: the packaged ones)
    from importlib import resources
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("support_matrix.yaml", "flavours.csv", "prices.yaml", "layout.yaml"):
        (shipped / name).write_text((resources.files("shangyun") / "data" / name)
                                    .read_text(encoding="utf-8"), encoding="utf-8")
    res = _run("plan", "--estate", str(folder), "--data", str(shipped), "--json")
    assert json.loads(res.output)["excluded"] == []
    # the assessment's folder gone: an error naming it, nothing planned against other files
    (folder / "plan").rename(tmp_path / "old-plan")
    for p in data.iterdir():
        p.unlink()
    data.rmdir()
    res = _run("plan", "--estate", str(folder))
    assert res.exit_code != 0
    assert str(data) in res.output and "--data" in res.output
    assert not (folder / "plan").exists()


def test_an_estate_where_nothing_moves_says_so(tmp_path: Path) -> None:
    """Every system excluded (classified; no zone for MLPS 4 on the extranet): the plan
    says nothing moves and why — not that there is "no pilot wave" — and status reports
    the plan it wrote instead of "plan: none (run shangyun plan)"."""
    est = make_estate([system("SECRET", classified=True),
                       system("L4", mlps_level=4, network_zone="extranet")])
    folder = est.save(tmp_path / "estate")
    res = _run("plan", "--estate", str(folder), "--json")
    assert res.exit_code == 0, res.output
    notes = json.loads(res.output)["notes"]
    assert notes == ["nothing to move: every system is excluded (2 systems: system L4 — no "
                     "security zone accepts MLPS level 4 in network zone extranet; system "
                     "SECRET — classified (涉密) system: never moves to the cloud); the plan "
                     "has no wave"], notes
    res = _run("plan", "--estate", str(folder))
    assert "no pilot wave" not in res.output and "nothing to move" in res.output
    res = _run("status", "--estate", str(folder))
    assert res.exit_code == 0, res.output
    assert "run shangyun plan" not in res.output
    assert "plan: no wave (every system is excluded)" in res.output
    assert "estate: 1 bureau, 2 systems, 2 hosts" in res.output


def test_a_new_plan_keeps_the_cutover_file(estate_dir: Path) -> None:
    """``plan/cutover.yaml`` is written by a person (databases, DNS, health checks); the
    plan folder was replaced whole by a re-plan, deleting it, and the next ``wave run``
    then moved the disks only and read done."""
    assert _run("plan", "--estate", str(estate_dir)).exit_code == 0
    cutover = estate_dir / "plan" / "cutover.yaml"
    text = "schema_version: 1\nsoak_hours: 24\nsystems:\n  A:\n    freeze: true\n"
    cutover.write_text(text, encoding="utf-8")
    res = _run("plan", "--estate", str(estate_dir), "--pin", "A=3")
    assert res.exit_code == 0, res.output
    assert cutover.read_text(encoding="utf-8") == text
    assert not list(estate_dir.glob(".plan*")), "the old plan folder was left behind"


def test_strong_takes_the_documented_forms_and_refuses_an_unknown_type(
        estate_dir: Path) -> None:
    """docs/ledgers.md writes ``plan --strong database,sync``: that form bound nothing (one
    type named 'database,sync'), and ``--strong foo`` was taken without a word — every
    system then moved alone."""
    def groups(*strong: str) -> list[list[str]]:
        res = _run("plan", "--estate", str(estate_dir), "--dry-run", "--json", *strong)
        assert res.exit_code == 0, res.output
        return sorted(sorted(g["systems"]) for g in json.loads(res.output)["move_groups"])

    default = groups()
    assert ["A", "B", "DB"] in default  # the database dependencies bind them
    assert groups("--strong", "database,sync") == default
    assert groups("--strong", "database", "--strong", "sync") == default
    res = CliRunner().invoke(main, ["plan", "--estate", str(estate_dir), "--dry-run",
                                    "--strong", "database,foo"])
    assert res.exit_code == 2, res.output
    assert "'foo'" in res.output and "database, sync, async, file, other" in res.output, (
        res.output)
