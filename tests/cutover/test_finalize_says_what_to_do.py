"""``wave finalize`` refused over a system not cut over says what to do, by name. Seen on
the real CLI: after ``wave run 1 --only 审批系统`` it answered 'wave 1 cannot be
finalized: 档案系统: not cut over (cutover step: never run)', and after a fail-back
'审批系统: not cut over (cutover step: undone)' — what is wrong, never what to type. The
journal is the real SQLite one (records as the runbook tests write them); the CLI is the
real one."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.wave.steps import Step
from tests.cutover.test_cli_finalize import _estate


def test_each_system_not_cut_over_gets_the_command_that_finishes_it(tmp_path: Path) -> None:
    root = _estate(tmp_path, "2020-01-01T00:00:00+00:00")  # sys-1 cut over
    (root / "plan" / "move_groups.csv").write_text(
        "id,wave,systems\nmg-1,1,sys-1\nmg-2,1,sys-2\n", encoding="utf-8-sig")
    with open_journal(root) as j:  # sys-1 failed back: its cutover step undone
        run = j.begin_run(1, {"options": {}}, kind="failback")
        step = Step("cutover", "sys-1", "sys-1/cutover", "mark")
        j.record(run, 1, step, "started", {})
        j.record(run, 1, step, "undone", {})
        j.finish_run(run, "done")
    res = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root),
                                    "--soak-hours", "0", "--json"])
    assert res.exit_code == 1, res.output
    err = " ".join(json.loads(res.stdout)["error"].split())
    one, two = err.split("sys-2: ", 1)
    assert "sys-1: not cut over (cutover step: undone)" in one, err
    assert "shangyun wave run 1 --only sys-1" in one, err
    assert "shangyun wave rollback 1 --system sys-1" in one, err
    assert two.startswith("not cut over (cutover step: never run)"), err
    assert "shangyun wave run 1 --only sys-2" in two and "shangyun plan" in two, err
    with open_journal(root) as j:
        assert [r["kind"] for r in j.runs(1)] == ["run", "failback"]  # nothing finalized


def test_the_commands_finalize_prints_carry_the_runs_options_and_the_estate(
        tmp_path: Path) -> None:
    """The run was a libvirt run with ``--target-uri`` and its own ``--pool``, the estate
    given by ``--estate``. Seen: finalize's refusal said 'shangyun wave run 1 --only sys-2'
    — refused as printed (a libvirt run without ``--target-uri``), and run from another
    folder it found no estate — while the other hints carry both."""
    root = _estate(tmp_path, "2020-01-01T00:00:00+00:00")
    (root / "plan" / "move_groups.csv").write_text(
        "id,wave,systems\nmg-1,1,sys-1\nmg-2,1,sys-2\n", encoding="utf-8-sig")
    with open_journal(root) as j:  # the run's options, as 'wave run' journals them
        run = j.begin_run(1, {"options": {"target": "libvirt", "target_options": {
            "uri": "test:///cloud", "pool": "cloudpool"}}, "planned": ["sys-1"]})
        j.finish_run(run, "done")
    res = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root),
                                    "--soak-hours", "0", "--json"])
    assert res.exit_code == 1, res.output
    err = " ".join(json.loads(res.stdout)["error"].split())
    assert (f"shangyun wave run 1 --only sys-2 --target-uri test:///cloud --pool cloudpool "
            f"--estate {root}") in err, err
    assert f"shangyun plan --estate {root}" in err, err
