"""``wave run`` ends with the wave's one state and its systems counted in the words of
``wave status`` (:mod:`shangyun.wave.state`): a wave whose systems are cut over is
"cut over — awaiting finalize", not "done" (the run's own outcome), and counts are in number
("1 system", "2 systems"), never "system(s)". Real CLI, real Prefect, libvirt test driver,
moto S3 and a real HTTP health check."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from shangyun.cli import main
from tests.cutover.conftest import write_health
from tests.wave.conftest import FORMATS, Cloud, bucket, build_estate, cloud, moto_endpoint  # noqa: F401


def test_run_summary_says_the_wave_state_and_counts_in_number(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, web: str) -> None:  # noqa: F811
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=2, formats=FORMATS[:1], mib=1)
    write_health(root, web, "/broken")
    run = ["wave", "run", "1", "--estate", str(root), "--target", "libvirt",
           "--target-uri", cloud.uri, "--pool", cloud.pool,
           "--staging", str(tmp_path / "staging"), "--s3-endpoint", moto_endpoint,
           "--bucket", bucket]

    # 1. sys-02's health check fails: it rolls back, sys-01 is cut over (not "done")
    res = CliRunner().invoke(main, run)
    assert res.exit_code == 1, res.output
    assert ("\nwave 1: failed  (1 system cut over — awaiting finalize, 1 system rolled back)\n"
            in res.output), res.output
    assert "审批系统: cut over — awaiting finalize" in res.output, res.output
    assert "审批系统: done" not in res.output and "system(s)" not in res.output, res.output

    # 2. the health check is good again: sys-02 cuts over, sys-01 is left alone
    write_health(root, web, "/ok")
    res = CliRunner().invoke(main, [*run, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["state"] == "done" and out["ok"] is True  # the run's own outcome
    assert out["wave_state"] == "cut_over", out
    assert out["counts"] == {"cut_over": 2}, out
    assert out["summary"] == "2 systems cut over — awaiting finalize", out
    assert {s["id"]: s["journal_state"] for s in out["systems"]} == {
        "sys-01": "cut_over", "sys-02": "cut_over"}, out

    # the same words as 'wave status' (the journal's one wave state)
    res = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(root)])
    assert res.exit_code == 0, res.output
    assert "wave 1: cut over — awaiting finalize" in res.output, res.output
    assert f"wave finalize 1 --estate {root}" in res.output, res.output
    assert "(2 systems cut over — awaiting finalize; runs: 2)" in res.output, res.output
    res = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(root), "--json"])
    assert json.loads(res.stdout)["state"] == out["wave_state"]
    # and 'status' (its waves table said "cut over", the words cut short)
    res = CliRunner().invoke(main, ["status", "--estate", str(root)])
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if line.startswith("│ 1 "))
    assert "cut over — awaiting finalize" in row, res.output

    # the runbook (after) keeps sys-02's failed health check and its rollback, though the
    # step is done now (it said "No failures.": only each step's latest record counted)
    for lang, said in (("en", "failed on attempt 1 (rolled back, done again since)"),
                       ("zh", "第 1 次执行失败（已回退，之后重做成功）")):
        path = tmp_path / f"runbook.{lang}.md"
        res = CliRunner().invoke(main, ["runbook", "1", "--estate", str(root), "--format",
                                        "md", "--lang", lang, "--out", str(path)])
        assert res.exit_code == 0, res.output
        text = path.read_text(encoding="utf-8")
        # its steps as the run did them (the run's bucket), not the default options'
        assert f"s3://{bucket}/wave-1/sys-01/" in text and "s3://shangyun-staging" not in text
        failures = text.split("### ")[-1]
        assert f"**档案系统 (sys-02)** `sys-02/health` {said}: " in failures, failures
        assert "/broken" in failures and "No failures" not in failures, failures
        assert "审批系统" not in failures, failures

    # 3. finalized: the next run (of a system) says the wave is done
    res = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root),
                                    "--soak-hours", "0"])
    assert res.exit_code == 0, res.output
    assert "(2 systems, last cutover" in res.output, res.output


def test_a_system_its_move_group_stopped_reads_pending_on_its_line_as_in_the_summary(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, web: str) -> None:  # noqa: F811
    """档案系统 is refused by its pre-check first in its move group (its disk image was
    deleted), so 审批系统 never starts: the journal has nothing of it — pending in the
    summary, in 'wave status' and in the runbook — and its line said "skipped". (A member
    failing from its freeze on — a health check — comes after every member's first phase:
    the others are rolled back, not pending: tests/cutover/test_move_group_together.py.)"""
    root = tmp_path / "estate"
    est = build_estate(root, tmp_path / "images", n_systems=2, formats=FORMATS[:1], mib=1,
                       groups=[["sys-02", "sys-01"]])
    write_health(root, web, "/broken")
    est.images["disk-02-1"].unlink()
    run = ["wave", "run", "1", "--estate", str(root), "--target", "libvirt",
           "--target-uri", cloud.uri, "--pool", cloud.pool,
           "--staging", str(tmp_path / "staging"), "--s3-endpoint", moto_endpoint,
           "--bucket", bucket]
    res = CliRunner().invoke(main, run)
    assert res.exit_code == 1, res.output
    assert "\nwave 1: failed  (1 system pending, 1 system refused)\n" in res.output, \
        res.output
    line = next(x for x in res.output.splitlines() if x.startswith("  审批系统: "))
    assert line.startswith("  审批系统: pending — not started"), line
    assert "move group mg-1-0: 档案系统 failed" in line and "skipped" not in line, line
    status = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(root), "--json"])
    states = {s["id"]: s["state"] for s in json.loads(status.stdout)["systems"]}
    assert states == {"sys-02": "refused"}, states  # 审批系统: nothing journaled
    assert json.loads(status.stdout)["pending"] == ["sys-01"]
    res = CliRunner().invoke(main, [*run, "--json"])
    out = json.loads(res.stdout)
    assert out["counts"] == {"pending": 1, "refused": 1}, out
    assert "审批系统: pending — not started (its move group failed)" in out["error"], out
    assert "skipped" not in out["error"], out
