"""The wave's pre-check and convert actions with datastore roots (docs/safety.md, Q4): a
disk path from a ledger that leaves the roots (``..``, another folder, a qcow2 backed by a
local secret) is refused by name before anything is read or written. Real qemu-img and
images, the real journal (SQLite); no Prefect."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from actions.context import RunContext
from actions.images import ConvertAction, PrecheckAction
from connectors import qemu
from connectors.journal.wave import open_journal
from shangyun.errors import StepError
from shangyun.wave.engine import execute
from shangyun.wave.plan import load_wave
from shangyun.wave.stepargs import ConvertArgs, ConvertPlanned, PrecheckArgs
from shangyun.wave.steps import RunOptions, Step, system_steps
from tests.wave.conftest import Cloud, WaveEstate


def _opts(staging: Path, cloud: Cloud, roots: list[str]) -> RunOptions:
    return RunOptions(target="libvirt", staging_dir=str(staging), datastore_roots=roots,
                      target_options={"uri": cloud.uri, "pool": cloud.pool})


def _with_disk_path(step: Step, key: str, path: str) -> Step:
    """The same step as if the ledger had given ``path`` for its (first) disk."""
    if key == "disks":
        pre = step.args_as(PrecheckArgs)
        disks = [replace(pre.disks[0], path=path), *pre.disks[1:]]
        return replace(step, args=replace(pre, disks=disks))
    return replace(step, args=replace(step.args_as(ConvertArgs), source=path))


def test_precheck_and_convert_refuse_paths_outside_the_roots(
        wave_estate: WaveEstate, tmp_path: Path, cloud: Cloud) -> None:
    images = next(iter(wave_estate.images.values())).parent
    secret = tmp_path / "root" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(b"PRIVATE KEY".ljust(1 << 20, b"\0"))
    os.utime(secret, (0, secret.stat().st_mtime))  # any read would move the atime
    backed = images / "backed-by-secret.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", "-b", str(secret), "-F", "raw",
                    str(backed), "1M"], check=True, capture_output=True)
    wave = load_wave(wave_estate.root, 1)
    ctx = RunContext(_opts(tmp_path / "staging", cloud, [str(images)]))
    system = wave.system("sys-02")
    steps = system_steps(wave, system, ctx.opts)
    pre = steps[0]
    convert = next(s for s in steps if s.kind == "convert")
    with open_journal(wave_estate.root) as j:
        run = j.begin_run(1, {"options": ctx.opts.to_dict()})
        assert execute(j, run, 1, pre, PrecheckAction(ctx), {}).payload["capacity"]["ok"]
    hostile = {f"{images}/../root/.ssh/id_ed25519": "contains '..'",
               str(secret): "outside the datastore roots",
               str(backed): "backing file .* points outside its folder",
               "/dev/sda": "device or system file"}
    for path, why in hostile.items():  # the actions themselves (the journal would skip
        with pytest.raises(StepError, match=why) as err:  # the pre-check already done)
            PrecheckAction(ctx).do(_with_disk_path(pre, "disks", path), {})
        assert path in str(err.value)
        bad = _with_disk_path(convert, "source", path)
        with pytest.raises(qemu.ImageRefused, match=why):
            ConvertAction(ctx).do(bad, {})
        assert not Path(bad.planned_as(ConvertPlanned).path).exists()
    assert secret.stat().st_atime == 0, "the secret was read"
    ctx.close()
