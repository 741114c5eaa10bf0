"""Sequences an operator types that end in a refusal: each one clear error before Prefect
starts (no flow run failed with a traceback), naming what to do, nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connectors.journal.wave import open_journal
from flows.wave import preflight
from shangyun.cli import main
from shangyun.errors import StepError
from shangyun.wave.steps import Step
from tests.wave.conftest import FORMATS, Cloud, build_estate


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_resume_with_nothing_to_resume_is_refused_before_prefect(tmp_path: Path) -> None:
    """``wave resume 1`` on a wave never run, then after a run that ended done: refused by
    the preflight (before, the flow started an ephemeral Prefect server and failed with a
    logged traceback to say the same)."""
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=1)
    with pytest.raises(StepError, match=r"wave 1 has never run.*'wave run'"):
        preflight(str(root), 1, resume=True)
    res = _cli("wave", "resume", "1", "--estate", str(root), "--json")
    assert res.exit_code == 1 and "never run" in json.loads(res.stdout)["error"], res.output
    assert not (root / "journal.db").exists()  # a refusal writes nothing
    with open_journal(root) as j:
        run = j.begin_run(1, {"options": {}})
        j.finish_run(run, "done")
    with pytest.raises(StepError, match=rf"its last run {run} is done; nothing to resume"):
        preflight(str(root), 1, resume=True)
    res = _cli("wave", "resume", "1", "--estate", str(root), "--json")
    assert res.exit_code == 1, res.output
    assert "nothing to resume" in json.loads(res.stdout)["error"], res.output
    text = _cli("wave", "resume", "1", "--estate", str(root))  # as a person types it
    assert text.exit_code == 1 and "nothing to resume" in text.output, text.output
    assert "steps" not in text.output, text.output  # no progress bar before the refusal
    with open_journal(root) as j:
        assert [r["status"] for r in j.runs(1)] == ["done"]


def test_finalize_of_a_wave_without_cutover_names_why_by_name(tmp_path: Path) -> None:
    """A wave whose systems ran without a ``plan/cutover.yaml`` entry (disks moved only):
    ``wave finalize`` refuses, saying so for each system by its name — not ``cutover step:
    None`` beside an id."""
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=2, formats=FORMATS[:1], mib=1)
    with open_journal(root) as j:
        run = j.begin_run(1, {"options": {}})
        for sid in ("sys-01", "sys-02"):
            step = Step("precheck", sid, f"{sid}/precheck", "pre-check")
            j.record(run, 1, step, "started", {})
            j.record(run, 1, step, "done", {})
        j.finish_run(run, "done")
    res = _cli("wave", "finalize", "1", "--estate", str(root), "--soak-hours", "0", "--json")
    assert res.exit_code == 1, res.output
    err = json.loads(res.stdout)["error"]
    for name in ("审批系统", "档案系统"):
        assert f"{name}: not cut over (plan/cutover.yaml does not list it" in err, err
    assert "None" not in err and "sys-01" not in err, err
    with open_journal(root) as j:
        assert [r["kind"] for r in j.runs(1)] == ["run"]  # nothing journaled


def test_a_disk_image_deleted_after_the_plan_is_one_sentence_by_name(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,
        bucket: str) -> None:
    """The pre-check refusal of a system whose disk image file was deleted between plan and
    run names the system by name, its host and disk, and the path once."""
    root = tmp_path / "estate"
    est = build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=1)
    gone = est.images["disk-01-1"]
    gone.unlink()
    res = _cli("wave", "run", "1", "--estate", str(root), "--target", "libvirt",
               "--target-uri", cloud.uri, "--pool", cloud.pool,
               "--staging", str(tmp_path / "staging"), "--s3-endpoint", moto_endpoint,
               "--bucket", bucket, "--json")
    assert res.exit_code == 1, res.output
    error = json.loads(res.stdout)["systems"][0]["error"]
    assert error.count(str(gone)) == 1, error
    assert "审批系统" in error and "vm01" in error and "disk1" in error, error
    assert "sys-01" not in error, error
