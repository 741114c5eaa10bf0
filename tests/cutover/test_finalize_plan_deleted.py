"""``wave finalize`` with the estate's ``plan/`` folder deleted judged only the systems in
the journal: a system the plan put in the wave that never ran (an ``--only`` run moved the
other) was closed over — 'finalized (1 system …)' (seen by the outside team). Finalize
must know the wave's systems: from ``plan/`` when it is there, else from the membership
the wave's run recorded at its start (``planned``); with neither it refuses, saying what
is missing and what to do. The journal is the real SQLite one (records as the runbook
tests write them); the CLI is the real one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.wave.builder import wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import build_estate


def _one_cut_over(tmp_path: Path, params: dict[str, Any]) -> Path:
    """Wave 1 plans 审批系统 and 档案系统; a run (``--only 审批系统``, begun with
    ``params``) cut 审批系统 over long ago; 档案系统 never ran. Then plan/ is deleted."""
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=2, mib=1)
    spec = {"schema_version": 1, "systems": {sid: {
        "health": [{"kind": "http", "url": "http://127.0.0.1:9/ok"}]}
        for sid in ("sys-01", "sys-02")}}
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    opts = RunOptions(target="libvirt", target_options={"uri": "test:///default", "pool": "p"},
                      staging_dir=str(root / "staging"), bucket="b")
    with open_journal(root) as j:
        run = j.begin_run(1, {"options": opts.to_dict(), "only": "sys-01", **params})
        for st in wave_steps(load_wave(root, 1), opts)["sys-01"]:
            j.record(run, 1, st, "started", {})
            j.record(run, 1, st, "done", {"cut_over_at": "2020-01-01T00:00:00+00:00"}
                     if st.kind == "cutover" else {"ok": True})
        j.finish_run(run, "done")
    shutil.rmtree(root / "plan")
    return root


def _finalize(root: Path) -> str:
    res = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root),
                                    "--soak-hours", "0", "--json"])
    assert res.exit_code == 1, res.output
    with open_journal(root, create=False) as j:
        assert [r["kind"] for r in j.runs(1)] == ["run"]  # nothing finalized
    return " ".join(json.loads(res.stdout)["error"].split())


def test_finalize_without_the_plan_judges_the_membership_the_run_recorded(
        tmp_path: Path) -> None:
    root = _one_cut_over(tmp_path, {"planned": ["sys-01", "sys-02"]})
    err = _finalize(root)
    assert "档案系统: not cut over (cutover step: never run)" in err, err


def test_finalize_without_the_plan_nor_a_recorded_membership_says_what_is_missing(
        tmp_path: Path) -> None:
    root = _one_cut_over(tmp_path, {})  # a run journaled before runs recorded it
    err = _finalize(root)
    assert f"the plan is missing ({root / 'plan' / 'plan.yaml'}" in err, err
    assert f"shangyun plan --estate {root}" in err, err
