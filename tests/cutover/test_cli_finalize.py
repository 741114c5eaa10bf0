"""``shangyun wave finalize`` on a journal with one cut-over system (the real SQLite
journal; no servers needed: the cutover step's record is what finalize reads)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.journal.migrate import v1_columns
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.errors import StepError
from shangyun.estate import Estate
from shangyun.wave.steps import Step


def _estate(tmp_path: Path, at: str) -> Path:
    """An estate (bureau, sys-1 and sys-2 named as their ids) whose journal has one run of
    wave 1 that cut sys-1 over at ``at``. The run records wave 1's membership (sys-1) as a
    real run does at its start: the estate has no plan, and finalize judges that."""
    root = tmp_path / "estate"
    Estate.from_records({"name": "finalize"}, {
        "bureaus": [{"id": "b-1", "name": "局一", "kind": "bureau"}],
        "systems": [{"id": s, "name": s, "bureau_id": "b-1"} for s in ("sys-1", "sys-2")],
    }).save(root)
    (root / "plan").mkdir(parents=True, exist_ok=True)
    (root / "plan" / "cutover.yaml").write_text("schema_version: 1\nsoak_hours: 24\n"
                                                "systems: {}\n")
    with open_journal(root) as j:
        run = j.begin_run(1, {"options": {}, "planned": ["sys-1"]})
        step = Step("cutover", "sys-1", "sys-1/cutover", "mark")
        j.record(run, 1, step, "started", {})
        j.record(run, 1, step, "done", {"cut_over_at": at})
        j.finish_run(run, "done")
    return root


def test_finalize_refused_during_soak_then_closes(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    recent = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    root = _estate(tmp_path, recent)
    res = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root)])
    assert res.exit_code == 1
    assert "soak period of 24 h not over: 22.0 h left" in res.output
    assert re.search(r"\(last cutover \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", res.output), res.output
    res = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root),
                                    "--soak-hours", "1", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["finalized"] and out["systems"] == ["sys-1"] and out["source_deleted"] is False


def test_finalize_without_journal_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["wave", "finalize", "3", "--estate",
                                    str(tmp_path / "empty")])
    assert res.exit_code == 1 and "error:" in res.output and "Traceback" not in res.output


def test_finalize_and_rollback_runs_have_their_kind(tmp_path: Path) -> None:
    """Finalize and rollback runs are journaled with their kind; resume takes up only the
    last ``run``-kind run; runs of old journals are classified by their flags."""
    from actions.rollback import rollback

    root = _estate(tmp_path, "2020-01-01T00:00:00+00:00")
    with open_journal(root) as j:
        first = j.last_run(1)
        assert first is not None and first["kind"] == "run"
        # before run kinds existed (its note), as migrated from journal schema version 1
        old = j.j.begin_run(1, note='{"rollback": true}', **v1_columns({"rollback": True}))
        j.finish_run(old.id, "done")
        with pytest.raises(ValueError, match="run kind 'undo'"):
            j.begin_run(1, {}, kind="undo")
    res = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root),
                                    "--soak-hours", "1", "--json"])
    assert res.exit_code == 0, res.output
    with pytest.raises(StepError, match="wave 1 is finalized: rollback refused"):
        rollback(str(root), 1, discard_production_writes=True)  # nothing journaled
    with open_journal(root) as j:
        assert [r["kind"] for r in j.runs(1)] == ["run", "rollback", "finalize"]
        last = j.last_run(1)
        assert last is not None and last["id"] == first["id"]


def test_finalize_refused_while_a_planned_system_never_ran(tmp_path: Path) -> None:
    """Wave 1 plans sys-1 and sys-2; only sys-1 ran (``wave run 1 --only sys-1``) and is
    cut over: finalize is refused naming sys-2 (it closed the wave over it, and every
    later rollback or fail-back of the wave was then refused), nothing journaled."""
    root = _estate(tmp_path, "2020-01-01T00:00:00+00:00")
    (root / "plan" / "move_groups.csv").write_text(
        "id,wave,systems\nmg-1,1,sys-1\nmg-2,1,sys-2\n", encoding="utf-8-sig")
    res = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root),
                                    "--soak-hours", "0", "--json"])
    assert res.exit_code == 1, res.output
    err = json.loads(res.output)["error"]
    assert "sys-2: not cut over (cutover step: never run)" in err, err
    assert "sys-1" not in err.replace("sys-1/", ""), err
    with open_journal(root) as j:
        assert [r["kind"] for r in j.runs(1)] == ["run"]


def test_finalize_twice_says_so_and_journals_once(tmp_path: Path) -> None:
    """A second ``wave finalize`` (an operator who was not sure it went through) wrote a
    second finalize run and a second ``wave.finalized`` audit record, printing
    'finalized' again as if it closed the wave now: it says when the wave was finalized
    and journals nothing."""
    root = _estate(tmp_path, "2020-01-01T00:00:00+00:00")
    args = ["wave", "finalize", "1", "--estate", str(root), "--soak-hours", "1"]
    first = CliRunner().invoke(main, [*args, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output).get("already") is False
    again = CliRunner().invoke(main, [*args, "--json"])
    assert again.exit_code == 0, again.output
    out = json.loads(again.output)
    assert out["finalized"] and out["already"] is True and out["finalized_at"], out
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 0 and "already finalized at" in text.output, text.output
    with open_journal(root) as j:
        assert [r["kind"] for r in j.runs(1)] == ["run", "finalize"]
        audits = [e for e in j.j.audit_entries() if e.action == "wave.finalized"]
    assert len(audits) == 1, audits


@pytest.mark.parametrize("at,shown", [
    ("2020-01-01T00:00:00+00:00", "2020-01-01 00:00:00 UTC"),
    ("2021-06-30T23:59:58+08:00", "2021-06-30 15:59:58 UTC"),
])
def test_finalize_says_times_in_utc_as_the_runbook(tmp_path: Path, at: str, shown: str) -> None:
    """The last cutover and, asked again, when the wave was finalized, read as the runbook
    and ``wave status`` print times (``2020-01-01 00:00:00 UTC``), not ISO strings."""
    root = _estate(tmp_path, at)
    args = ["wave", "finalize", "1", "--estate", str(root), "--soak-hours", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert f"last cutover {shown}," in res.output, res.output
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert re.search(r"already finalized at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(",
                     again.output), again.output


@pytest.mark.parametrize("name", ["sys-2", "档案系统"])
def test_status_does_not_suggest_a_finalize_that_would_refuse(tmp_path: Path,
                                                              name: str) -> None:
    """sys-1 is cut over; sys-2 of the same wave was moved disks-only (plan/cutover.yaml
    does not list it: every step of it done, no cutover): it reads done, the wave cut over
    — and 'wave status' said "next: shangyun wave finalize 1", which refuses it. The
    status names it and what to do instead; finalize still refuses."""
    root = _estate(tmp_path, "2020-01-01T00:00:00+00:00")
    if name != "sys-2":
        Estate.from_records({"name": "finalize"}, {
            "bureaus": [{"id": "b-1", "name": "局一", "kind": "bureau"}],
            "systems": [{"id": "sys-1", "name": "sys-1", "bureau_id": "b-1"},
                        {"id": "sys-2", "name": name, "bureau_id": "b-1"}],
        }).save(root)
    with open_journal(root) as j:
        run = j.begin_run(1, {"options": {}})
        for kind in ("precheck", "convert"):
            step = Step(kind, "sys-2", f"sys-2/{kind}", kind)
            j.record(run, 1, step, "started", {})
            j.record(run, 1, step, "done", {})
        j.finish_run(run, "done")
    out = json.loads(CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(root),
                                               "--json"]).output)
    assert {s["id"]: s["state"] for s in out["systems"]} == {"sys-1": "cut_over",
                                                              "sys-2": "done"}, out
    res = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(root)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "next: shangyun wave finalize" not in text, res.output
    assert f"finalize would refuse {name}" in text, res.output
    assert "plan/cutover.yaml does not list it" in text, res.output
    assert "take it out of the wave" in text, res.output
    fin = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root),
                                    "--soak-hours", "0"])
    assert fin.exit_code == 1 and f"{name}: not cut over" in fin.output, fin.output
    # the runbook's first screen says the same (its 'Pending: finalize' line)
    from shangyun.runbook.context import outcome
    from shangyun.runbook.i18n import translator

    systems = [{"id": sid, "name": n, "state": st, "history": {"steps": []}}
               for sid, n, st in (("sys-1", "sys-1", "cut_over"), ("sys-2", name, "done"))]
    runs = [{"status": "done", "kind": "run"}]
    for lang, said in (("en", "would refuse"), ("zh", "会拒绝")):
        line = outcome(1, systems, runs, translator(lang))["finalize"]
        assert f"`shangyun wave finalize 1` {said} {name}" in line, line
    cut = [{**s, "state": "cut_over"} for s in systems]  # both cut over: finalize is next
    assert outcome(1, cut, runs, translator("en"))["finalize"].startswith(
        "Pending: `shangyun wave finalize 1` after the soak period")
