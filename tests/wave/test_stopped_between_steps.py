"""A run killed between two steps of a system (every step it recorded is done, the next
not begun): the system read ``done`` in ``wave status``, ``status`` and the runbook, while
its source was still frozen and its DNS not switched. Its pre-check now journals every step
the system must do, and the documents read ``partial`` until each is done. Real qemu-img,
the moto S3 server, the libvirt test driver and the real journal (SQLite); no Prefect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from actions.context import RunContext
from actions.registry import actions_for
from actions.rollback import run_system_steps
from connectors.journal.history import open_reader
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.runbook.history import wave_history
from shangyun.wave.builder import build_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)


def _states(root: Path) -> tuple[str, int, str]:
    """How ``wave status`` and the runbook's history name sys-01's state; how many
    systems ``status`` counts moved."""
    st = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(root), "--json"])
    assert st.exit_code == 0, st.output
    wave = json.loads(st.output)
    status = CliRunner().invoke(main, ["status", "--estate", str(root), "--json"])
    assert status.exit_code == 0, status.output
    moved = json.loads(status.output)["totals"]["moved"]
    with open_reader(root) as reader:
        runbook = wave_history(reader, 1)["systems"]["sys-01"]["state"]
    return wave["systems"][0]["state"], moved, runbook


def test_a_run_stopped_between_two_steps_leaves_the_system_partial_not_done(
        tmp_path: Path, cloud: Cloud, moto_endpoint: str, bucket: str) -> None:  # noqa: F811
    root = tmp_path / "estate"
    images = tmp_path / "images"
    build_estate(root, images, n_systems=1, formats=FORMATS[4:5], mib=4)
    opts = RunOptions(target="libvirt", staging_dir=str(tmp_path / "staging"),
                      datastore_roots=[str(images)], s3_endpoint=moto_endpoint, bucket=bucket,
                      target_options={"uri": cloud.uri, "pool": cloud.pool})
    steps = build_steps(load_wave(root, 1), opts, None)["sys-01"]
    assert [s.kind for s in steps][:3] == ["precheck", "convert", "convert"]
    ctx = RunContext(opts)
    done: dict[str, Any] = {}
    with open_journal(root) as j:
        run = j.begin_run(1, {"options": opts.to_dict()})
        # the run did the pre-check and both converts, then its process died (kill -9)
        assert run_system_steps(j, run, 1, steps[:3], actions_for(ctx), done)["state"] == "done"
    wave_state, moved, runbook = _states(root)
    assert (wave_state, moved, runbook) == ("partial", 0, "partial")

    with open_journal(root) as j:  # the rest of the system's steps (as a resume does)
        run = j.begin_run(1, {"options": opts.to_dict()})
        assert run_system_steps(j, run, 1, steps[3:], actions_for(ctx), done)["state"] == "done"
    assert _states(root) == ("done", 1, "done")
    text = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(root)]).output
    # a step names its disk as a person does (host and disk name), not by the disk's id
    assert "convert vm01 disk0" in " ".join(text.split()), text
    assert "disk-01-0" not in text, text
    ctx.close()
