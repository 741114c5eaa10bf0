"""Commands on a wave that was never run, a system not in it, or an estate path that does not
exist are errors and create nothing (real CLI, real files, the real SQLite journal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.journal.wave import open_journal
from shangyun.cli import main


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SHANGYUN_JOURNAL", raising=False)
    root = tmp_path / "estate"
    r = CliRunner().invoke(main, ["inventory", "sample", "--out", str(root), "--bureaus", "1",
                                  "--systems", "10"])
    assert r.exit_code == 0, r.output
    return root


def invoke(*args: str) -> tuple[int, str, BaseException | None]:
    r = CliRunner().invoke(main, list(args))
    exc = None if isinstance(r.exception, SystemExit) else r.exception
    return r.exit_code, " ".join(r.output.split()), exc


def test_rollback_of_a_wave_never_run_is_an_error_and_journals_nothing(estate: Path) -> None:
    before = files(estate)
    for args in (["1"], ["99", "--json"], ["1", "--system", "s9999"]):
        code, out, exc = invoke("wave", "rollback", *args, "--estate", str(estate))
        assert code == 1 and exc is None, out
        assert "never run" in out and "nothing to roll back" in out
        assert '"ok": true' not in out
    assert files(estate) == before, "no journal.db, nothing created"


def test_rollback_of_a_system_not_in_the_wave_is_an_error(estate: Path) -> None:
    with open_journal(estate) as journal:
        journal.finish_run(journal.begin_run(1, {}), "failed")
    with open_journal(estate) as journal:
        runs_before = len(journal.runs(1))
    code, out, exc = invoke("wave", "rollback", "1", "--system", "s9999", "--estate",
                            str(estate))
    assert code == 1 and exc is None and "s9999" in out, out
    assert "rolled back" not in out
    with open_journal(estate) as journal:
        assert len(journal.runs(1)) == runs_before, "no rollback run journaled"


def test_a_mistyped_estate_path_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "mistyped" / "path"
    for args in (["wave", "status", "1"], ["wave", "status", "1", "--json"],
                 ["wave", "rollback", "1"]):
        code, out, exc = invoke(*args, "--estate", str(missing))
        assert code == 1 and exc is None, out
        assert "no estate here" in out and "never run" not in out
        assert not (tmp_path / "mistyped").exists()


def test_status_of_a_wave_never_run_still_says_so(estate: Path) -> None:
    before = files(estate)
    code, out, _exc = invoke("wave", "status", "3", "--json", "--estate", str(estate))
    assert code == 0 and json.loads(out)["state"] == "never run"
    assert files(estate) == before


def test_status_of_a_planned_wave_never_run_is_a_sentence_not_an_empty_table(
        estate: Path) -> None:
    for cmd in ("assess", "plan"):
        r = CliRunner().invoke(main, [cmd, "--estate", str(estate)])
        assert r.exit_code == 0, r.output
    before = files(estate)
    code, out, _exc = invoke("wave", "status", "1", "--estate", str(estate))
    assert code == 0, out
    assert "wave 1: never run" in out
    # the estate came from --estate: the suggested commands carry it; the start names the
    # target cloud it needs (a libvirt run without --target-uri is refused: the bare
    # 'wave run 1' it suggested before was a usage error)
    flat = " ".join(out.split())
    assert (f"Rehearse it with 'shangyun wave run 1 --estate {estate} --dry-run', then start "
            f"it with 'shangyun wave run 1 --estate {estate} --target-uri URI'") in flat, out
    r = CliRunner().invoke(main, ["wave", "run", "1", "--estate", str(estate), "--dry-run"],
                           env={"SHANGYUN_TARGET_URI": None})
    assert r.exit_code == 0 and "dry run" in r.output, r.output
    assert "systems planned" in out and "┃" not in out and "step" not in out.split(".")[0]
    data = json.loads(invoke("wave", "status", "1", "--json", "--estate", str(estate))[1])
    assert data["state"] == "never run" and data["pending"], data
    # from SHANGYUN_ESTATE: the command as printed works, without --estate
    r = CliRunner().invoke(main, ["wave", "status", "1"], env={"SHANGYUN_ESTATE": str(estate)})
    assert r.exit_code == 0, r.output
    assert "Rehearse it with 'shangyun wave run 1 --dry-run'" in " ".join(r.output.split()), (
        r.output)
    assert files(estate) == before


def test_status_of_a_wave_not_in_the_plan_is_an_error(estate: Path) -> None:
    for cmd in ("assess", "plan"):
        r = CliRunner().invoke(main, [cmd, "--estate", str(estate)])
        assert r.exit_code == 0, r.output
    code, out, exc = invoke("wave", "status", "99", "--estate", str(estate))
    assert code == 1 and exc is None, out
    assert "there is no wave 99 in the plan" in out and "wave run 99" not in out
    code, out, exc = invoke("wave", "status", "99", "--json", "--estate", str(estate))
    assert code == 1 and exc is None, out
    doc = json.loads(out)
    assert doc["ok"] is False and "no wave 99" in doc["error"]
    code, out, _ = invoke("wave", "status", "1", "--estate", str(estate))
    assert code == 0 and "never run" in out, out


def test_finalize_of_a_wave_never_run_says_so_and_creates_nothing(estate: Path) -> None:
    before = files(estate)
    code, out, exc = invoke("wave", "finalize", "2", "--estate", str(estate))
    assert code == 1 and exc is None, out
    assert "wave 2 was never run" in out and "nothing to finalize" in out, out
    # the estate has no plan: plan first (the dry run it suggested needs a plan too;
    # tests/wave/test_wrong_estate.py: once planned, the start it suggests names the
    # target cloud a run needs)
    assert (f"there is no plan yet: run 'shangyun plan --estate {estate}' first"
            in " ".join(out.split())), out
    assert "no journal at" not in out
    assert files(estate) == before


def _planned(estate: Path) -> None:
    for cmd in ("assess", "plan"):
        r = CliRunner().invoke(main, [cmd, "--estate", str(estate)])
        assert r.exit_code == 0, r.output


def test_every_wave_command_on_a_wave_not_in_the_plan_names_the_plans_waves(
        estate: Path) -> None:
    _planned(estate)
    with open_journal(estate) as journal:  # wave 1 ran: the journal exists
        journal.finish_run(journal.begin_run(1, {}), "failed")
    before = files(estate)
    for args in (["wave", "finalize", "0"], ["wave", "finalize", "99"],
                 ["wave", "rollback", "0"], ["wave", "resume", "0"], ["runbook", "0"]):
        code, out, exc = invoke(*args, "--estate", str(estate))
        assert code == 1 and exc is None, (args, out)
        assert f"there is no wave {args[-1]} in the plan (its waves: 1" in out, (args, out)
        assert "no system of the wave" not in out and "never run" not in out, (args, out)
    assert files(estate) == before, "nothing created"
    with open_journal(estate) as journal:
        assert [r["kind"] for r in journal.runs(0)] == [], "nothing journaled"


def test_status_on_a_fresh_postgresql_journal_is_nothing_ran(
        estate: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import pg_database

    _planned(estate)
    with pg_database("shangyun_fresh") as db:
        monkeypatch.setenv("SHANGYUN_JOURNAL", f"postgresql://postgres@127.0.0.1:5432/{db}")
        code, out, exc = invoke("wave", "status", "1", "--estate", str(estate))
        assert code == 0 and exc is None, out
        assert "wave 1: never run" in out and "no journal at" not in out, out
        code, out, exc = invoke("wave", "status", "1", "--json", "--estate", str(estate))
        assert code == 0 and json.loads(out)["state"] == "never run", out
        code, out, exc = invoke("wave", "status", "99", "--estate", str(estate))
        assert code == 1 and "there is no wave 99 in the plan" in out, out
        code, out, exc = invoke("status", "--json", "--estate", str(estate))
        assert code == 0 and exc is None, out
        doc = json.loads(out)
        assert doc["waves"] and all(w["runs"] == 0 for w in doc["waves"]), doc
        code, out, exc = invoke("status", "--estate", str(estate))
        assert code == 0 and "no journal at" not in out, out


def test_run_of_a_wave_not_in_the_plan_is_the_same_sentence(estate: Path) -> None:
    """``wave run 0`` (and ``--dry-run``) say what ``wave status 0`` says: the plan's waves,
    one error, nothing created."""
    _planned(estate)
    before = files(estate)
    said = set()
    for args in (["wave", "run", "0", "--dry-run"], ["wave", "run", "99", "--dry-run"],
                 ["wave", "status", "0"]):
        code, out, exc = invoke(*args, "--estate", str(estate))
        assert code == 1 and exc is None, (args, out)
        assert out.startswith(f"error: there is no wave {args[2]} in the plan (its waves: 1"), out
        said.add(out.replace(args[2], "N", 1))
    assert len(said) == 1, said
    assert files(estate) == before


def test_status_before_any_plan_says_to_plan_not_to_run(estate: Path) -> None:
    code, out, _exc = invoke("wave", "status", "2", "--estate", str(estate))
    assert code == 0 and "never run" in out, out
    assert "wave run 2" not in out and "no plan yet" in out and "shangyun plan" in out, out


def test_a_negative_soak_period_is_a_usage_error(estate: Path) -> None:
    """--soak-hours -1 would end the soak before the cutover: refused by click, as any value
    of the wrong kind is (exit 2, naming the option), before the journal is read."""
    before = files(estate)
    r = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(estate),
                                  "--soak-hours", "-1"])
    assert r.exit_code == 2 and "--soak-hours" in r.output, r.output
    assert files(estate) == before
