"""``wave run N --dry-run`` after a system of the wave was cut over: the run leaves it alone
(its target is production: none of its steps runs, ``flows.wave`` skips it before its
first step), so the dry run says so, by name, instead of listing its steps as what the run
would do. Seen on the real CLI: after cut over and ``wave finalize 1``, ``wave run 1
--dry-run`` printed all 19 steps of the cut-over system, '1 system, 19 steps', while the
run itself does none. The journal is the real SQLite one, every step recorded done as the
runbook tests do; the CLI is the real one."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.wave.builder import wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import build_estate


def test_the_dry_run_says_a_cut_over_system_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=2, mib=1)
    spec = {"schema_version": 1, "systems": {"sys-01": {
        "health": [{"kind": "http", "url": "http://127.0.0.1:9/ok"}]}}}
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    opts = RunOptions(target="libvirt", target_options={"uri": "test:///default", "pool": "p"},
                      staging_dir=str(root / "staging"), bucket="b")
    steps = wave_steps(load_wave(root, 1), opts)
    with open_journal(root) as j:  # sys-01 cut over; sys-02 never ran
        run = j.begin_run(1, {"options": opts.to_dict()})
        for st in steps["sys-01"]:
            j.record(run, 1, st, "started", {})
            j.record(run, 1, st, "done", {"ok": True})
        j.finish_run(run, "failed")
    own = len(steps["sys-01"])
    r = CliRunner()
    res = r.invoke(main, ["wave", "run", "1", "--estate", str(root), "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    by_id = {s["id"]: s for s in data["systems"]}
    assert by_id["sys-01"]["left_alone"] and not by_id["sys-02"]["left_alone"], data
    assert data["left_alone"] == ["sys-01"], data
    assert data["steps_to_run"] == data["step_count"] - own, data
    text = r.invoke(main, ["wave", "run", "1", "--estate", str(root), "--dry-run"]).output
    block = next(b for b in text.split("\n\n") if "审批系统" in b.split("\n")[0])
    assert "left alone" in block and "cut over" in block, block
    last = " ".join(text.strip().split("\n")[-1].split())
    assert f"{data['step_count'] - own} of them would run" in last, last
    assert "审批系统 is cut over (left alone)" in last, last
