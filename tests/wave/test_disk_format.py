"""A disk whose estate format is not what its file is (a ledger gives a .qcow2 or .vhd path
and no 格式: the wave reads a disk without a format as raw). Read as raw, the file's
container bytes were copied as the guest's disk and verified equal to themselves: the
cloud got disks no guest can boot from. The pre-check and the convert now compare the
estate's format with the file's header and refuse, naming the disk and the format to set.
Real qemu-img and images, the real journal (SQLite); no Prefect."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.context import RunContext
from actions.images import ConvertAction, PrecheckAction
from connectors.journal.wave import open_journal
from shangyun.errors import StepError
from shangyun.estate import Estate
from shangyun.wave.engine import execute
from shangyun.wave.plan import load_wave
from shangyun.wave.stepargs import ConvertPlanned
from shangyun.wave.steps import RunOptions, system_steps
from tests.wave.conftest import FORMATS, Cloud, build_estate, write_plan

QCOW2, VHD = FORMATS[3], FORMATS[1]


def _set_formats(root: Path, fmt: str) -> None:
    """The estate as a ledger without a 格式 column leaves it (or with ``fmt``); re-planned."""
    est = Estate.load(root, check=False)
    frame = est.tables["disks"]
    frame["format"] = fmt
    est.save(root)
    write_plan(root, {1: [["sys-01"]]})


def test_a_qcow2_or_vhd_disk_without_its_format_is_refused_not_copied_as_raw(
        tmp_path: Path, cloud: Cloud) -> None:
    images = tmp_path / "images"
    root = tmp_path / "estate"
    build_estate(root, images, n_systems=1, formats=[QCOW2, VHD], mib=4)
    _set_formats(root, "")
    opts = RunOptions(target="libvirt", staging_dir=str(tmp_path / "staging"),
                      datastore_roots=[str(images)],
                      target_options={"uri": cloud.uri, "pool": cloud.pool})
    ctx = RunContext(opts)
    wave = load_wave(root, 1)
    steps = system_steps(wave, wave.system("sys-01"), opts)
    pre, convert = steps[0], next(s for s in steps if s.kind == "convert")
    with pytest.raises(StepError) as err:
        PrecheckAction(ctx).do(pre, {})
    text = str(err.value)
    assert "disk vm01 disk0" in text and "is a qcow2 image but the estate gives its format "
    assert "as raw" in text and "set the disk's format (格式) to qcow2" in text
    assert "disk vm01 disk1" in text and "is a vhd image" in text
    with pytest.raises(StepError, match="is a qcow2 image but the estate gives its format as raw"):
        ConvertAction(ctx).do(convert, {})
    assert not Path(convert.planned_as(ConvertPlanned).path).exists()

    # the formats given (as discovery or a 格式 column gives them): the pre-check passes
    est = Estate.load(root, check=False)
    est.tables["disks"]["format"] = ["qcow2", "vhd"]
    est.save(root)
    write_plan(root, {1: [["sys-01"]]})
    wave = load_wave(root, 1)
    pre = system_steps(wave, wave.system("sys-01"), opts)[0]
    with open_journal(root) as j:
        run = j.begin_run(1, {"options": opts.to_dict()})
        assert execute(j, run, 1, pre, PrecheckAction(ctx), {}).payload["capacity"]["ok"]
    ctx.close()
