"""A wave run, then a re-import that changed a disk of a system of the wave (the ledger had
the wrong file; the corrected row names another image), a new plan, and ``wave run``
again: the run skipped the convert (its staged file was still there) and moved — and
reported verified — the old file's bytes. The pre-check must see the disk changed since it
was copied: the system is refused and its stale copies rolled back; the next run copies
the disk the estate names now."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from connectors import qemu
from connectors.journal.wave import open_journal
from flows.move import move_wave
from shangyun.estate import Estate
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    make_image,
    make_raw,
    moto_endpoint,
    write_plan,
)

MIB = 2**20


def _repoint(root: Path, disk_id: str, path: Path) -> None:
    """Re-import: the disk row now names ``path`` (the estate saved as an import does)."""
    f = root / "disks.csv"
    rows = list(csv.DictReader(io.StringIO(f.read_text(encoding="utf-8-sig"))))
    for r in rows:
        if r["id"] == disk_id:
            r["path"] = str(path)
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    f.write_text(out.getvalue(), encoding="utf-8-sig")
    Estate.load(root)  # still a valid estate
    write_plan(root, {1: [["sys-01"]]})  # planned again: the fingerprints match


def test_a_disk_changed_by_a_reimport_is_not_moved_from_its_old_copy(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,  # noqa: F811
        bucket: str) -> None:  # noqa: F811
    root = tmp_path / "estate"
    est = build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=1)
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket).to_dict()
    first = move_wave(str(root), 1, options=opts)
    assert first["state"] == "done", first
    # the corrected ledger row: disk0 of vm01 is another image (other bytes, same folder)
    raw = tmp_path / "images" / "right.raw"
    right_sha = make_raw(raw, seed=99, mib=1)
    right = tmp_path / "images" / "right.vmdk"
    make_image(raw, right, FORMATS[0][2])
    raw.unlink()
    _repoint(root, "disk-01-0", right)

    second = move_wave(str(root), 1, options=opts)
    sys01 = second["systems"][0]
    assert second["state"] == "failed" and sys01["state"] == "refused", second
    assert "disk vm01 disk0" in sys01["error"] and str(right) in sys01["error"], sys01
    assert str(est.images["disk-01-0"]) in sys01["error"], sys01
    assert "审批系统" in sys01["error"], sys01
    assert list(cloud.pool_path.iterdir()) == []  # the stale copies rolled back

    third = move_wave(str(root), 1, options=opts)
    assert third["state"] == "done", third
    with open_journal(root) as j:
        conv = j.last(1, "sys-01", "sys-01/convert/disk-01-0").payload
        vol = Path(j.last(1, "sys-01", "sys-01/import/disk-01-0").payload["disk"]["disk_id"])
    assert conv["content_digest"] == f"sha256:{right_sha}", conv
    assert conv["source"] == str(right), conv
    assert qemu.content_digest(vol, "sha256", fmt="qcow2") == f"sha256:{right_sha}"
