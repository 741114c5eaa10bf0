"""A small wave driven for real: the wave engine (:func:`shangyun.wave.engine.execute`) with
the real step actions (qemu-img, moto's S3, the libvirt test driver as the cloud) writing the
real SQLite journal. System sys-01 moves; sys-02 fails at its second convert (its image is
removed after the pre-check) and is rolled back with :func:`undo_system`. The runbooks and
reports are rendered from that journal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from actions.context import RunContext
from actions.registry import actions_for
from connectors.journal.wave import open_journal
from shangyun.errors import StepError
from shangyun.wave.builder import wave_steps
from shangyun.wave.engine import execute, undo_system
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import CLOUD_NODE, build_estate, moto_endpoint, s3_client  # noqa: F401


@dataclass
class RanWave:
    """The estate after wave 1 ran: which system moved, which failed, the run id."""

    root: Path
    moved: str
    failed: str
    run_id: str
    steps: dict[str, list[str]]


@pytest.fixture(scope="module")
def ran_wave(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str  # noqa: F811
             ) -> Iterator[RanWave]:
    """Wave 1 of a 2-system estate (one bureau each), run through the engine."""
    tmp = tmp_path_factory.mktemp("runbook-wave")
    est = build_estate(tmp / "estate", tmp / "images", n_systems=2, mib=4)
    pool = tmp / "cloud-pool"
    pool.mkdir()
    node = tmp / "cloud-node.xml"
    node.write_text(CLOUD_NODE.format(pool_uuid=uuid.uuid4(), pool_path=pool))
    bucket = f"runbook-{uuid.uuid4().hex[:10]}"
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    opts = RunOptions(target="libvirt", target_options={"uri": f"test://{node}",
                                                        "pool": "cloud-pool"},
                      staging_dir=str(tmp / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket, part_size=5 * 2**20)
    wave = load_wave(est.root, 1)
    steps = wave_steps(wave, opts)
    ctx = RunContext(opts)
    try:
        with open_journal(est.root) as j:
            run = j.begin_run(1, {"options": opts.to_dict()})
            ctx.bind(j, run, 1)
            actions = actions_for(ctx)
            done: dict[str, dict[str, object]] = {}
            for st in steps["sys-01"]:
                done[st.key] = execute(j, run, 1, st, actions[st.kind], done).payload
            for st in steps["sys-02"]:
                if st.key == "sys-02/convert/disk-02-1":
                    est.images["disk-02-1"].unlink()
                try:
                    done[st.key] = execute(j, run, 1, st, actions[st.kind], done).payload
                except StepError:
                    undo_system(j, run, 1, "sys-02", actions)
                    break
            j.finish_run(run, "failed")
    finally:
        ctx.close()
    yield RanWave(root=est.root, moved="sys-01", failed="sys-02", run_id=run,
                  steps={k: [s.key for s in v] for k, v in steps.items()})
