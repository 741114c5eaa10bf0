"""A wave that fails mid-way and is resumed: the runbook (after) keeps the failure and its
rollback though the step is done now — the journal reuses the resumed run's step record
for the next attempt, and its audit log keeps the failed one. ``wave status``, ``status``
and the journal agree on the rest. Real CLI, Prefect, libvirt test driver, moto, HTTP."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from connectors.journal.wave import open_journal
from shangyun.cli import main
from tests.cutover.conftest import write_health
from tests.wave.conftest import FORMATS, Cloud, bucket, build_estate, cloud, moto_endpoint  # noqa: F401


def test_a_resumed_failure_stays_in_the_runbook(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, web: str) -> None:  # noqa: F811
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=2, formats=FORMATS[:1], mib=1)
    write_health(root, web, "/broken")
    res = CliRunner().invoke(main, [
        "wave", "run", "1", "--estate", str(root), "--target", "libvirt",
        "--target-uri", cloud.uri, "--pool", cloud.pool, "--staging", str(tmp_path / "st"),
        "--s3-endpoint", moto_endpoint, "--bucket", bucket])
    assert res.exit_code == 1, res.output
    write_health(root, web, "/ok")
    res = CliRunner().invoke(main, ["wave", "resume", "1", "--estate", str(root)])
    assert res.exit_code == 0, res.output
    assert "\nwave 1: cut over — awaiting finalize" in res.output, res.output

    with open_journal(root) as j:
        (run,) = j.runs(1)
        health = j.j.latest_step(1, "sys-02", "sys-02/health")
    assert run["status"] == "done" and run["resumes"] == 1, run
    assert health is not None and health.status == "done" and health.attempt == 2, health

    res = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(root)])
    assert "(2 systems cut over — awaiting finalize; runs: 1)" in res.output, res.output
    res = CliRunner().invoke(main, ["status", "--estate", str(root)])
    row = next(line for line in res.output.splitlines() if line.startswith("│ 1 "))
    assert "cut over — awaiting finalize" in row, res.output

    for lang, said in (("en", "failed on attempt 1 (rolled back, done again since)"),
                       ("zh", "第 1 次执行失败（已回退，之后重做成功）")):
        path = tmp_path / f"runbook.{lang}.md"
        res = CliRunner().invoke(main, ["runbook", "1", "--estate", str(root), "--format",
                                        "md", "--lang", lang, "--out", str(path)])
        assert res.exit_code == 0, res.output
        failures = path.read_text(encoding="utf-8").split("### ")[-1]
        assert failures.count("sys-02/health") == 1, failures
        assert f"**档案系统 (sys-02)** `sys-02/health` {said}: " in failures, failures
        assert "/broken" in failures and "No failures" not in failures, failures
        assert "审批系统" not in failures, failures
    html = tmp_path / "runbook.en.html"
    res = CliRunner().invoke(main, ["runbook", "1", "--estate", str(root), "--lang", "en",
                                    "--out", str(html)])
    assert res.exit_code == 0, res.output
    assert "failed on attempt 1 (rolled back, done again since)" in html.read_text()
