"""The ``adapt`` wave step (actions/adapt.py) on real converted images: skipped with its
reason for a disk without an OS, refused with its reason (nothing left behind), and — the
slow one — the lab's VMware-era Debian guest (``lab.guests``, from its cache) adapted from
its converted copy, journaled, undone, the source and the converted image untouched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from actions.adapt import NO_OS, AdaptAction, overlay_path
from actions.context import RunContext
from actions.images import ConvertAction
from lab.guests import GuestImage
from lab.images import write_raw
from shangyun.errors import StepError
from shangyun.wave.stepargs import (
    AdaptArgs,
    AdaptDisk,
    AdaptPlanned,
    ConvertArgs,
    ConvertPlanned,
    staged_image,
)
from shangyun.wave.steps import RunOptions, Step
from tests.guests import guestimages

pytestmark = pytest.mark.skipif(shutil.which("guestfish") is None,
                                reason="libguestfs is not installed (scripts/setup)")


def sha256(path: Path) -> str:
    """The file's SHA-256."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert(ctx: RunContext, source: Path, fmt: str, staging: Path) -> dict[str, Any]:
    """The convert step's payload for ``source`` (the real action)."""
    step = Step("convert", "sys-1", "sys-1/convert/d0", "convert",
                args=ConvertArgs(str(source), fmt, "qcow2", "sha256", None, str(staging),
                                 datastore_roots=[str(source.parent)]),
                planned=ConvertPlanned(str(staging / "d0.qcow2")))
    return {**step.planned_record(), **ConvertAction(ctx).do(step, {})}


def adapt_step(staging: Path, mode: str = "auto", macs: list[str] | None = None) -> Step:
    """The adapt step of host h0 with one disk d0."""
    disk = AdaptDisk("d0", "sys-1/convert/d0", str(staging / "d0.adapted.qcow2"))
    return Step("adapt", "sys-1", "sys-1/adapt/h0", "adapt",
                args=AdaptArgs("h0", "legacy", [disk], "qcow2", None, "sha256", mode=mode,
                               macs=macs or [], os="Debian 12"),
                planned=AdaptPlanned([disk.adapted]))


def test_disk_without_os_is_skipped_and_passed_on(tmp_path: Path) -> None:
    ctx = RunContext(RunOptions(staging_dir=str(tmp_path / "stage")))
    raw = tmp_path / "vm.raw"
    write_raw(raw, "vm-x-disk0")
    conv = convert(ctx, raw, "raw", tmp_path / "stage")
    done = {"sys-1/convert/d0": conv}
    step = adapt_step(tmp_path / "stage")
    payload = AdaptAction(ctx).do(step, done)
    assert (payload["state"], payload["reason"]) == ("skipped", NO_OS)
    assert payload["adaptation"] == f"skipped: {NO_OS}" and payload["edits"] == []
    assert payload["disks"]["d0"] == {k: conv[k] for k in payload["disks"]["d0"]}
    done[step.key] = payload
    assert staged_image(done, "sys-1/convert/d0", step.key, "d0").path == conv["path"]
    assert AdaptAction(ctx).still_valid(step, payload)
    off = AdaptAction(ctx).do(adapt_step(tmp_path / "stage", mode="off"), done)
    assert off["state"] == "skipped" and "off" in off["reason"]
    with pytest.raises(StepError, match=r"guest\.adapt: required"):
        AdaptAction(ctx).do(adapt_step(tmp_path / "stage", mode="required"), done)
    AdaptAction(ctx).undo({**step.planned_record(), **payload})
    assert Path(conv["path"]).is_file()  # the converted image is never an undo's


@pytest.mark.slow  # TCG boots / lab bring-up: kept out of the 45-min suite
def test_refused_guest_fails_and_leaves_nothing(tmp_path: Path) -> None:
    """A guest the policy refuses (the RHEL-shaped tree has no kernel): the step fails
    with the reason; no overlay or adapted copy is left; the converted image is intact."""
    ctx = RunContext(RunOptions(staging_dir=str(tmp_path / "stage")))
    image = guestimages.rhel_tree_guest(tmp_path)
    conv = convert(ctx, image, "qcow2", tmp_path / "stage")
    before = sha256(Path(conv["path"]))
    step = adapt_step(tmp_path / "stage")
    with pytest.raises(StepError, match="cannot be adapted: no kernel found"):
        AdaptAction(ctx).do(step, {"sys-1/convert/d0": conv})
    adapted = step.args_as(AdaptArgs).disks[0].adapted
    assert not Path(adapted).exists() and not Path(overlay_path(adapted)).exists()
    assert sha256(Path(conv["path"])) == before


@pytest.mark.slow
def test_debian_guest_adapted_journaled_and_undone(tmp_path: Path,
                                                   guest_image: GuestImage) -> None:
    source = Path(guest_image.path)  # the lab's legacy guest, from its cache
    src_digest = sha256(source)
    ctx = RunContext(RunOptions(staging_dir=str(tmp_path / "stage")))
    conv = convert(ctx, source, "qcow2", tmp_path / "stage")
    conv_digest = sha256(Path(conv["path"]))
    seen: list[float] = []
    ctx.progress = lambda _s, pct: seen.append(pct)
    step = adapt_step(tmp_path / "stage", macs=["52:54:00:12:34:56"])
    payload = {**step.planned_record(),
               **AdaptAction(ctx).do(step, {"sys-1/convert/d0": conv})}
    assert payload["state"] == "adapted" and payload["guest"]["distro"] == "debian"
    assert payload["guest"]["estate_os"] == "Debian 12"
    paths = [f["path"] for e in payload["edits"] for f in e["files"]]
    assert "/etc/fstab" in paths and "/etc/systemd/network/05-shangyun-ens192.link" in paths
    assert any(p.startswith("/boot/initrd.img-") for p in paths)
    assert all(len(f["after"]) == 64 for e in payload["edits"] for f in e["files"])
    new = payload["disks"]["d0"]
    assert new["path"].endswith("d0.adapted.qcow2") and Path(new["path"]).is_file()
    assert new["content_digest"] != conv["content_digest"]
    assert new["source_digest"] == conv["source_digest"]
    assert seen and max(seen) >= 70.0
    assert not Path(overlay_path(new["path"])).exists()
    assert sha256(source) == src_digest and sha256(Path(conv["path"])) == conv_digest
    AdaptAction(ctx).undo(payload)
    assert not Path(new["path"]).exists() and Path(conv["path"]).is_file()
    assert sha256(Path(conv["path"])) == conv_digest
