"""``wave status`` of a wave whose last run was interrupted (Ctrl-C, a stop signal) says so:
it read "failed" alone, as if a step had failed (the runbook said why; the status did not)."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.wave.builder import wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions
from tests.programme.test_moved_edits import MOVED, OTHER, SAMPLE
from tests.wave.conftest import write_plan


def _status(root: Path) -> str:
    res = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(root)])
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


def test_an_interrupted_last_run_is_named_as_the_cause(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("ledgers"))
    write_plan(root, {1: [[MOVED], [OTHER]]})
    opts = RunOptions(target="libvirt", target_options={"uri": "test:///default"},
                      staging_dir=str(root / "staging"), bucket="b")
    steps = wave_steps(load_wave(root, 1), opts)

    def one_run(end: str) -> None:
        with open_journal(root) as j:
            run = j.begin_run(1, {"options": opts.to_dict()})
            first = steps[MOVED][0]
            j.record(run, 1, first, "started", {})
            j.finish_run(run, end)

    one_run("failed")
    text = _status(root)
    assert "wave 1: failed" in text and "interrupted" not in text, text
    one_run("interrupted")
    text = _status(root)
    assert ("wave 1: failed — its last run was interrupted (Ctrl-C or a stop signal) and "
            "rolled back what it was moving") in text, text
