"""The wave's pre-check and convert actions with datastore roots (docs/safety.md, Q4): a
disk path from a ledger that leaves the roots (``..``, another folder, a qcow2 backed by a
local secret) is refused by name before anything is read or written; the roots come from
estate.yaml per bureau (or the run's options), and none configured refuses every disk.
Real qemu-img and images, the real journal (SQLite); no Prefect."""

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
from shangyun.errors import EstateError, StepError
from shangyun.estate import Estate, datastores
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


def _set_roots(root: Path, roots: object) -> None:
    est = Estate.load(root, check=False)
    if roots is None:
        est.meta.pop(datastores.KEY, None)
    else:
        est.meta[datastores.KEY] = roots
    est.save(root)


def test_roots_come_from_the_estate_per_bureau_and_none_means_nothing_is_read(
        wave_estate: WaveEstate, tmp_path: Path, cloud: Cloud) -> None:
    """estate.yaml's ``datastore_roots`` (per bureau) reach the pre-check and the convert
    without any run option; a bureau with none configured — and an estate with none at
    all — is refused with one clear error naming the fix, before any image is read."""
    images = next(iter(wave_estate.images.values())).parent
    for img in wave_estate.images.values():
        os.utime(img, (0, img.stat().st_mtime))  # any read would move the atime
    opts = _opts(tmp_path / "staging", cloud, [])  # no roots given for the run
    _set_roots(wave_estate.root, {"bureau-02": [str(images)]})  # sys-02's bureau only
    wave = load_wave(wave_estate.root, 1)
    ctx = RunContext(opts)
    by_system = {s.id: system_steps(wave, s, opts) for s in wave.systems}
    assert by_system["sys-02"][0].args_as(PrecheckArgs).datastore_roots == [str(images)]
    assert PrecheckAction(ctx).do(by_system["sys-02"][0], {})["capacity"]["ok"]
    for sid in ("sys-01", "sys-03"):  # bureau-01: nothing configured
        pre, convert = by_system[sid][0], by_system[sid][1]
        with pytest.raises(StepError, match="no datastore roots are configured") as err:
            PrecheckAction(ctx).do(pre, {})
        assert "datastore_roots in estate.yaml" in str(err.value)
        with pytest.raises(StepError, match="no datastore roots are configured"):
            ConvertAction(ctx).do(convert, {})
        assert not Path(convert.planned_as(ConvertPlanned).path).exists()
    for did in ("disk-01-0", "disk-01-1", "disk-03-0", "disk-03-1"):
        assert wave_estate.images[did].stat().st_atime == 0, f"{did} was read"
    _set_roots(wave_estate.root, None)  # none anywhere: every system is refused
    wave = load_wave(wave_estate.root, 1)
    assert wave.datastore_roots == {}
    for s in wave.systems:
        with pytest.raises(StepError, match="no datastore roots are configured"):
            PrecheckAction(ctx).do(system_steps(wave, s, opts)[0], {})
    # a run's own roots replace the estate's
    given = _opts(tmp_path / "staging", cloud, [str(images)])
    assert all(system_steps(wave, s, given)[1].args_as(ConvertArgs).datastore_roots
               == [str(images)] for s in wave.systems)
    ctx.close()


def test_datastore_roots_setting_is_checked(tmp_path: Path) -> None:
    """A list (every bureau), a mapping per bureau (``*``: every bureau), relative folders
    from the estate folder; anything else is an error naming the key."""
    assert datastores.roots_by_bureau({}, tmp_path) == {}
    assert datastores.roots_by_bureau({"datastore_roots": ["ds"]}, tmp_path) == \
        {"*": (str(tmp_path / "ds"),)}
    got = datastores.roots_by_bureau({"datastore_roots": {"*": "/srv/a", "B1": ["/srv/b"]}},
                                     tmp_path)
    assert datastores.roots_for(got, "B1") == ["/srv/a", "/srv/b"]
    assert datastores.roots_for(got, "B2") == ["/srv/a"]
    for bad in ({"B1": 3}, 7, [""], {"B1": [None]}):
        with pytest.raises(EstateError, match="datastore_roots"):
            datastores.roots_by_bureau({"datastore_roots": bad}, tmp_path)


def test_inventory_validate_names_a_bad_datastore_roots_setting(tmp_path: Path) -> None:
    """``inventory validate`` (``Estate.validate``) reports a malformed setting or an
    unknown bureau in it, naming estate.yaml and the key."""
    bureaus = {"bureaus": [{"id": "B1", "name": "一局", "kind": "bureau"}]}
    good = Estate.from_records({"name": "x", "datastore_roots": {"*": ["/a"], "B1": "/b"}},
                               bureaus)
    assert good.validate() == []
    for bad, why in (({"B9": ["/a"]}, "unknown bureau 'B9'"),
                     ({"B1": [3]}, "datastore_roots.B1: expected a folder"),
                     (7, "datastore_roots: expected a folder")):
        problems = Estate.from_records({"name": "x", "datastore_roots": bad},
                                       bureaus).validate()
        assert [(p.file, p.column) for p in problems] == [("estate.yaml", "datastore_roots")]
        assert why in problems[0].message
