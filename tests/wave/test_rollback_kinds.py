"""The operator's own ``wave rollback`` is not a failure (and a cut-over wave is not done
until it is finalized): what a migration team types — run → status → rollback → status →
runbook → run again → status — with the real CLI on a real wave (qemu-img, moto's S3, the
libvirt test driver as the cloud), and every surface (``wave status``, ``status``, the
runbook, the report) saying the same of the same journal. The failure-triggered rollback
beside it is in ``tests/runbook`` (its ``ran_wave`` wave) and still reads failed."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from connectors.journal.history import open_reader
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.report import programme_status, render_report
from shangyun.runbook import render_runbook, runbook_context
from shangyun.wave.steps import Step
from tests.wave.conftest import FORMATS, Cloud, build_estate


def _cli(*args: str, code: int = 0) -> Any:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == code, res.output
    return res


def _json(*args: str) -> Any:
    return json.loads(_cli(*args, "--json").stdout)


def _surfaces(root: str, lang: str) -> dict[str, Any]:
    """What every reader says of wave 1: ``wave status`` (json and text), ``status``, the
    runbook's outcome and text, the report's data and text."""
    with open_reader(root) as journal:
        ctx = runbook_context(root, 1, lang, journal=journal)
        runbook, _ = render_runbook(root, 1, "md", lang, journal=journal)
        html, _ = render_runbook(root, 1, "html", lang, journal=journal)
        data = programme_status(root, journal=journal)
        report, _ = render_report(root, "md", lang, journal=journal)
    return {"wave": _json("wave", "status", "1", "--estate", root),
            "wave_text": _cli("wave", "status", "1", "--estate", root).output,
            "status": _json("status", "--estate", root),
            "status_text": _cli("status", "--estate", root).output,
            "outcome": ctx["outcome"], "runbook": runbook, "html": html,
            "data": data, "report": report}


def test_the_operators_rollback_of_a_moved_wave_is_no_failure(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,
        bucket: str) -> None:
    root = str(tmp_path / "estate")
    build_estate(Path(root), tmp_path / "images", n_systems=2, formats=FORMATS[:2], mib=1)
    run = ("wave", "run", "1", "--estate", root, "--target", "libvirt", "--target-uri",
           cloud.uri, "--pool", cloud.pool, "--staging", str(tmp_path / "staging"),
           "--s3-endpoint", moto_endpoint, "--bucket", bucket)
    assert _json(*run)["state"] == "done"
    assert _json("wave", "status", "1", "--estate", root)["state"] == "done"

    before = datetime.now(UTC) - timedelta(seconds=1)
    out = _json("wave", "rollback", "1", "--estate", root)
    assert out["ok"], out
    seen = _surfaces(root, "en")
    wave = seen["wave"]
    assert wave["state"] == "rolled_back", wave
    assert {s["id"]: s["state"] for s in wave["systems"]} == {
        "sys-01": "rolled_back_by_operator", "sys-02": "rolled_back_by_operator"}
    by = wave["rolled_back_by"]  # which command, who, when: from the rollback's run
    rollback_run = next(r for r in wave["runs"] if r["kind"] == "rollback")
    # the rollback's run reads as the runbook and the text say it: rolled back, not failed
    assert rollback_run["status"] == "rolled_back", wave["runs"]
    assert by["run"] == rollback_run["id"] and by["operator"] == rollback_run["operator"]
    assert datetime.fromisoformat(by["at"]).replace(tzinfo=UTC) >= before
    assert (f"wave 1: rolled back by the operator's 'shangyun wave rollback 1 --estate "
            f"{root}'") in " ".join(seen["wave_text"].split()), seen["wave_text"]
    assert "nothing to decide" in seen["wave_text"] and "failed" not in seen["wave_text"]
    status = seen["status"]
    assert status["waves"][0]["state"] == "rolled_back" and status["waves"][0]["failed"] == 0
    assert status["totals"]["failed"] == 0 and status["totals"]["rolled_back_by_operator"] == 2
    assert "2 rolled back by the operator" in seen["status_text"], seen["status_text"]
    outcome = seen["outcome"]
    assert outcome["state"] == "rolled_back" and outcome["decide"] == []
    assert {s["state"] for s in outcome["rolled_back"]} == {"rolled_back_by_operator"}
    for s in outcome["rolled_back"]:
        assert "`wave rollback`" in s["why"] and "no step failed" in s["why"], s
        assert by["operator"] in s["why"]
    assert "0 needing a decision" in outcome["summary"], outcome["summary"]
    head = seen["runbook"][:seen["runbook"].index("## Before the wave")]
    assert "rolled back: every system not moved was rolled back by the operator" in head
    assert "Needs a decision" not in head and "a system did not move" not in head
    runs_table = seen["runbook"][seen["runbook"].index("### Runs"):]
    assert (f"| `{rollback_run['id']}` | `wave rollback` | rolled back |"
            in runs_table), runs_table[:600]
    assert "| failed |" not in runs_table  # the outcome says "not a failure": so do the runs
    assert 'class="outcome back"' in seen["html"]
    assert seen["data"]["waves"][0]["state"] == "rolled_back"
    assert "| rolled back |" in seen["report"] and "| failed |" not in seen["report"]
    zh = _surfaces(root, "zh")
    assert zh["outcome"]["label"].startswith("已回退：") and zh["outcome"]["decide"] == []
    assert "已由操作员回退" in zh["runbook"]
    assert "0 个需要决定" in zh["outcome"]["summary"]

    # free to run again (nothing of it is left in the wave), and then it is done again
    assert _json(*run)["state"] == "done"
    again = _surfaces(root, "en")
    assert again["wave"]["state"] == again["status"]["waves"][0]["state"] == "done"
    assert again["outcome"]["state"] == "done" and again["outcome"]["ok"]
    assert again["wave"]["rolled_back_by"] is None


def _cut_over_estate(tmp_path: Path, hours_ago: float) -> str:
    """Wave 1 of two systems whose run cut both over ``hours_ago`` (the real SQLite journal,
    the records a run with ``plan/cutover.yaml`` writes)."""
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2,
                       formats=FORMATS[:1], mib=1)
    (est.root / "plan" / "cutover.yaml").write_text("schema_version: 1\nsoak_hours: 24\n"
                                                    "systems: {}\n")
    at = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(timespec="seconds")
    with open_journal(est.root) as j:
        run = j.begin_run(1, {"options": {}})
        for sid in ("sys-01", "sys-02"):
            for kind, payload in (("precheck", {}), ("copy", {}), ("cutover",
                                                                   {"cut_over_at": at})):
                step = Step(kind, sid, f"{sid}/{kind}", kind)
                j.record(run, 1, step, "started", {})
                j.record(run, 1, step, "done", payload)
        j.finish_run(run, "done")
    return str(est.root)


def test_a_cut_over_wave_awaits_finalize_then_is_done(tmp_path: Path) -> None:
    root = _cut_over_estate(tmp_path, hours_ago=30)
    seen = _surfaces(root, "en")
    assert seen["wave"]["state"] == "cut_over" and not seen["wave"]["finalized"]
    assert {s["state"] for s in seen["wave"]["systems"]} == {"cut_over"}
    text = " ".join(seen["wave_text"].split())
    assert "wave 1: cut over — awaiting finalize (the source is kept for fail-back" in text
    assert "shangyun wave finalize 1" in text, text
    assert any("finalize" in line and "pending" in line
               for line in seen["wave_text"].splitlines()), seen["wave_text"]
    assert seen["status"]["waves"][0]["state"] == "cut_over"
    assert seen["status"]["waves"][0]["moved"] == 2  # in production on the target
    assert "cut over" in seen["status_text"]
    outcome = seen["outcome"]
    assert outcome["state"] == "cut_over" and outcome["decide"] == []
    assert "wave finalize 1" in outcome["finalize"]
    head = seen["runbook"][:seen["runbook"].index("## Before the wave")]
    assert "cut over — awaiting finalize" in head and "wave finalize 1" in head
    assert "done: every system moved" not in head
    moved = next(line for line in head.splitlines() if line.startswith("- **Moved**"))
    assert moved.count("(cut over — awaiting finalize)") == 2, moved  # each system says so
    assert seen["data"]["waves"][0]["state"] == "cut_over"
    assert "cut over — awaiting finalize" in seen["report"]
    zh = _surfaces(root, "zh")
    assert zh["outcome"]["label"].startswith("已割接，待收尾")
    assert "已割接，待收尾" in zh["report"]

    out = _json("wave", "finalize", "1", "--estate", root)
    assert out["finalized"], out
    done = _surfaces(root, "en")
    assert done["wave"]["state"] == "done" and done["wave"]["finalized"]
    assert {s["state"] for s in done["wave"]["systems"]} == {"done"}
    assert "finalize" not in " ".join(done["wave_text"].split()).split("runs:")[0]
    assert done["status"]["waves"][0]["state"] == "done"
    assert done["outcome"]["state"] == "done" and done["outcome"]["ok"]
    assert not done["outcome"]["finalize"]
    assert done["data"]["waves"][0]["state"] == "done"
    assert "awaiting finalize" not in done["report"] + done["runbook"]
    assert "- **Moved**" in done["runbook"]  # the same list, now without the note
    # a finalized wave's runbook reads as what happened: no go/no-go for a run long done
    # (the bureaus' windows are unknown here; before finalize, every system moved, it
    # reads the journal's state too, not a window's NO-GO: a window is a pre-run check)
    assert "**Verdict: cut over — awaiting finalize" in seen["runbook"]
    assert "NO-GO" not in seen["runbook"].split("## Before the wave")[0]
    head = done["runbook"][:done["runbook"].index("## Before the wave")]
    assert "NO-GO" not in head and "GO" not in head.replace("GOV", ""), head
    assert "**Verdict: closed — wave 1 is finalized" in head, head
    assert "NO-GO" not in done["html"].split('id="outcome"')[0]
    assert "Go/no-go checklist" in done["runbook"]  # what was checked before, still there
    zh = _surfaces(root, "zh")
    assert "暂不实施" not in zh["runbook"].split("## 迁移前")[0], zh["runbook"][:400]


def test_the_operators_rollback_of_one_system_is_named_as_he_typed_it(tmp_path: Path) -> None:
    """``wave status`` said "rolled back by the operator's 'shangyun wave rollback 1' (root,
    2026-12-07T13:41:07.463924+00:00 …)" after ``wave rollback 1 --system 审批系统``: the
    command he typed (the system by name) and the time as the runbook prints it."""
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2,
                       formats=FORMATS[:1], mib=1)
    root = str(est.root)
    with open_journal(est.root) as j:
        run = j.begin_run(1, {"options": {}})
        steps = {sid: [Step(k, sid, f"{sid}/{k}", k) for k in ("precheck", "copy")]
                 for sid in ("sys-01", "sys-02")}
        for sid in steps:
            for step in steps[sid]:
                j.record(run, 1, step, "started", {})
                j.record(run, 1, step, "done", {})
        j.finish_run(run, "done")
        rb = j.begin_run(1, {"system": "sys-01", "options": {}}, kind="rollback")
        for step in reversed(steps["sys-01"]):
            j.record(rb, 1, step, "undoing", {"_run_id": run})
            j.record(rb, 1, step, "undone", {"_run_id": run})
        j.finish_run(rb, "rolled_back")
    seen = _surfaces(root, "en")
    text = " ".join(seen["wave_text"].split())
    assert seen["wave"]["state"] == "partly_rolled_back", seen["wave"]
    assert seen["wave"]["rolled_back_by"]["system"] == "sys-01", seen["wave"]
    assert ("wave 1: partly rolled back by the operator's 'shangyun wave rollback 1 "
            f"--system 审批系统 --estate {root}'") in text, text
    rollback_run = next(r for r in seen["wave"]["runs"] if r["kind"] == "rollback")
    (why,) = [s["why"] for s in seen["outcome"]["rolled_back"]]
    at = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", why)
    assert at is not None, why
    assert f"(root, {at.group()} UTC;" in text, (why, text)  # the runbook's time, in UTC
    assert rollback_run["status"] == "rolled_back"


def test_rolling_back_one_member_of_a_move_group_rolls_back_the_group_and_says_so(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,
        bucket: str) -> None:
    """``wave rollback N --system S`` on one member of a move group split the group without
    a word (the other member stayed moved, though the group only moves together); it now
    rolls back the whole group and says so, naming the others."""
    root = str(tmp_path / "estate")
    build_estate(Path(root), tmp_path / "images", n_systems=2, formats=FORMATS[:2], mib=1,
                 groups=[["sys-01", "sys-02"]])
    assert _json("wave", "run", "1", "--estate", root, "--target", "libvirt",
                 "--target-uri", cloud.uri, "--pool", cloud.pool, "--staging",
                 str(tmp_path / "staging"), "--s3-endpoint", moto_endpoint, "--bucket",
                 bucket)["state"] == "done"
    with open_journal(root, create=False) as j:  # the run recorded the wave's membership
        assert j.run_params(j.runs(1)[0]["id"])["planned"] == ["sys-01", "sys-02"]

    out = " ".join(_cli("wave", "rollback", "1", "--estate", root, "--system",
                        "审批系统").output.split())
    assert "审批系统 moves in one move group with 档案系统" in out, out
    assert "rolling back the whole group" in out, out
    assert "档案系统: rolled back" in out and "审批系统: rolled back" in out, out
    wave = _json("wave", "status", "1", "--estate", root)
    assert {s["id"]: s["state"] for s in wave["systems"]} == {
        "sys-01": "rolled_back_by_operator", "sys-02": "rolled_back_by_operator"}, wave
