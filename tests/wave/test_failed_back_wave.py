"""A fail-back is a deliberate operator action, not a failure (#17): a wave whose systems not
done were all failed back reads ``failed_back`` (``partly_failed_back`` when others moved),
the same in ``status``, ``wave status``, the runbook, the report and the dashboard's report
table — and a real failure beside a fail-back still reads ``failed``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.journal.history import open_reader
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.journal.status import DONE, STARTED, UNDONE
from shangyun.report import programme_status, render_report
from shangyun.runbook import render_runbook, runbook_context
from shangyun.wave.state import progress_bucket, wave_state
from shangyun.wave.steps import Step
from tests.wave.conftest import build_estate


@pytest.mark.parametrize(("systems", "state"), [
    ({"a": "failed_back"}, "failed_back"),
    ({"a": "failed_back", "b": "failed_back"}, "failed_back"),
    ({"a": "done", "b": "failed_back"}, "partly_failed_back"),
    ({"a": "cut_over", "b": "failed_back"}, "partly_failed_back"),
    ({"a": "failed_back", "b": "pending"}, "failed_back"),
    ({"a": "failed_back", "b": "rolled_back"}, "failed"),  # a real failure stays one
    ({"a": "failed_back", "b": "refused"}, "failed"),
])
def test_a_fail_back_is_not_a_failure(systems: dict[str, str], state: str) -> None:
    assert wave_state(["failed"], systems) == state
    assert progress_bucket("failed_back") == "pending"  # home, to be moved again
    assert progress_bucket("rolled_back") == "failed"


def _steps(sid: str) -> dict[str, Step]:
    return {k: Step(k, sid, f"{sid}/{k}", k) for k in ("precheck", "cutover", "failback")}


def _mark(j: object, run: str, step: Step, *statuses: str, owner: str = "") -> None:
    for status in statuses:
        j.record(run, 1, step, status,  # type: ignore[attr-defined]
                 {"_run_id": owner} if owner else {})


def _ran(root: Path, back: list[str], moved: list[str]) -> None:
    """Journal wave 1: ``moved`` cut over; ``back`` cut over, then failed back."""
    with open_journal(root) as j:
        run = j.begin_run(1, {"options": {}})
        for sid in moved + back:
            st = _steps(sid)
            _mark(j, run, st["precheck"], STARTED, DONE)
            _mark(j, run, st["cutover"], STARTED, DONE)
        j.finish_run(run, "done")
        fb = j.begin_run(1, {"systems": back}, kind="failback")
        for sid in back:
            st = _steps(sid)
            _mark(j, fb, st["cutover"], UNDONE, owner=run)
            _mark(j, fb, st["failback"], STARTED, DONE)
        j.finish_run(fb, "done")


def _cli(*args: str) -> dict:
    res = CliRunner().invoke(main, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.parametrize(("back", "moved", "state", "zh"), [
    (["sys-01", "sys-02"], [], "failed_back", "已回切"),
    (["sys-02"], ["sys-01"], "partly_failed_back", "部分已回切"),
])
def test_every_reader_says_the_same(tmp_path: Path, back: list[str], moved: list[str],
                                    state: str, zh: str) -> None:
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2, mib=1)
    root = str(est.root)
    _ran(est.root, back, moved)

    wave = _cli("wave", "status", "1", "--estate", root)
    assert wave["state"] == state
    # the fail-back's run reads what it did, not "done" (the journal's run status)
    fb_run = next(r for r in wave["runs"] if r["kind"] == "failback")
    assert fb_run["status"] == "failed_back", wave["runs"]
    assert [r["status"] for r in wave["runs"] if r["kind"] == "run"] == ["done"]
    assert {s["id"]: s["state"] for s in wave["systems"]} == {
        **{s: "failed_back" for s in back}, **{s: "cut_over" for s in moved}}  # not final
    status = _cli("status", "--estate", root)
    assert status["waves"][0]["state"] == state
    assert status["waves"][0]["failed"] == 0 and status["waves"][0]["failed_back"] == len(back)
    assert status["totals"]["failed_back"] == len(back) and status["totals"]["failed"] == 0
    plain = CliRunner().invoke(main, ["status", "--estate", root])
    assert state.replace("_", " ") in plain.output and "failed back)" in plain.output
    plain = CliRunner().invoke(main, ["wave", "status", "1", "--estate", root])
    assert f"wave 1: {state.replace('_', ' ')}" in plain.output, plain.output

    with open_reader(root) as journal:
        ctx = runbook_context(root, 1, "zh", journal=journal)
        data = programme_status(root, journal=journal)
        html, _ = render_runbook(root, 1, "html", "zh", journal=journal)
        report, _ = render_report(root, "md", "zh", journal=journal)
    assert ctx["outcome"]["state"] == state and ctx["outcome"]["failed_back"]
    assert [r["status"] for r in ctx["runs"]] == ["done", "failed_back"], ctx["runs"]
    with open_reader(root) as journal:
        md, _ = render_runbook(root, 1, "md", "en", journal=journal)
    runs_table = md[md.index("### Runs"):md.index("### Final state")]
    fb_row = next(line for line in runs_table.splitlines() if fb_run["id"] in line)
    assert "| failed back" in fb_row and "| done |" not in fb_row, fb_row
    # each run says which command made it (three of them read "done" alike)
    assert "| `wave rollback --fail-back` |" in fb_row, fb_row
    run_row = next(line for line in runs_table.splitlines() if wave["runs"][0]["id"] in line)
    assert "| `wave run` |" in run_row, run_row
    # a failed-back system ran its fail-back's steps beside the wave's: never "3/2 steps"
    final = md[md.index("### Final state"):].split("\n\n")[1]
    for row in final.splitlines()[2:]:
        ran, planned = re.search(r"\| (\d+)/(\d+)", row).groups()  # type: ignore[union-attr]
        assert int(ran) <= int(planned), row
    for sid in back:
        row = next(line for line in final.splitlines() if f"({sid})" in line)
        assert "+ 1 fail-back step" in row, row
    assert ctx["outcome"]["label"].startswith(zh) and not ctx["outcome"]["ok"]
    assert 'class="outcome back"' in html and "失败：有系统未完成迁移" not in html
    assert data["waves"][0]["state"] == state
    assert zh in report and "| 失败 |" not in report
    wave_row = next(line for line in report.splitlines() if line.startswith("| 1 | "))
    assert "bureau-0" not in wave_row, wave_row  # bureaus by name (this plan lists none)
    bureaus = {b["id"]: b for b in data["bureaus"]}
    assert sum(b["failed"] for b in bureaus.values()) == 0
    assert sum(b["failed_back"] for b in bureaus.values()) == len(back)


def test_a_real_failure_beside_a_fail_back_still_reads_failed(tmp_path: Path) -> None:
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2, mib=1)
    _ran(est.root, ["sys-01"], [])
    with open_journal(est.root) as j:  # sys-02: its pre-check ran, a later step undone
        run = j.begin_run(1, {"options": {}, "only": "sys-02"})
        st = _steps("sys-02")
        _mark(j, run, st["precheck"], STARTED, DONE, UNDONE)
        _mark(j, run, st["cutover"], STARTED, DONE, UNDONE)
        j.finish_run(run, "failed")
    assert _cli("wave", "status", "1", "--estate", str(est.root))["state"] == "failed"


def test_rollback_refusals_name_the_systems(tmp_path: Path) -> None:
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=2, mib=1)
    _ran(est.root, [], ["sys-01"])
    root = str(est.root)
    res = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate", root])
    assert res.exit_code == 1
    assert "wave 1: 审批系统 is cut over (in production)" in res.output, res.output
    assert "sys-01" not in res.output and "--fail-back" in res.output
    res = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate", root, "--system",
                                    "档案系统", "--fail-back"])
    assert res.exit_code == 1
    assert "system 档案系统 has no step in wave 1" in res.output, res.output
    assert "(its systems: 审批系统)" in res.output and "sys-0" not in res.output


def test_a_stopped_fail_back_reads_by_step_and_says_which_credentials() -> None:
    from shangyun.cli.wave import _readable_error

    text = _readable_error("s-9e/dns: ConnectorError: DNS http://127.0.0.1:1: read x. A: "
                           "Unable to locate credentials (run the fail-back again to "
                           "continue)", "s-9e")
    assert text.startswith("dns: ConnectorError") and "s-9e" not in text
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in text
    assert _readable_error("verify: differs", "s-9e") == "verify: differs"
