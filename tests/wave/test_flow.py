"""``run_wave`` end to end on real parts: qemu-img, moto's S3 (staging), the libvirt test
driver as the target cloud, the SQLite journal. Flow runs cost ~1 s each: few of them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from actions.context import RunContext
from actions.images import ConvertAction, PrecheckAction
from connectors import qemu
from connectors.journal.wave import open_journal
from connectors.objectstore import ObjectStore
from flows.move import move_wave
from flows.wave import GLOBAL_LIMIT, bureau_limit_name
from shangyun.cli import main
from shangyun.wave.engine import execute
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions, system_steps
from tests.wave.conftest import Cloud, WaveEstate, build_estate, s3_client

MIB = 2**20


def _opts(tmp: Path, cloud: Cloud, endpoint: str, bucket: str) -> RunOptions:
    return RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp / "staging"), s3_endpoint=endpoint, bucket=bucket,
                      part_size=5 * MIB)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_wave_replicates_every_format_to_libvirt_through_s3_and_rolls_back(
        prefect_harness: None, wave_estate: WaveEstate, cloud: Cloud, moto_endpoint: str,
        bucket: str, tmp_path: Path) -> None:
    opts = _opts(tmp_path, cloud, moto_endpoint, bucket)
    sources = {d: _sha(p) for d, p in wave_estate.images.items()}
    result = move_wave(str(wave_estate.root), 1, options=opts.to_dict())
    assert result["state"] == "done", result
    assert [s["state"] for s in result["systems"]] == ["done"] * 3
    # every disk: staged object digest = converted file digest; pool volume content = source
    s3 = s3_client(moto_endpoint)
    with open_journal(wave_estate.root) as j, ObjectStore(moto_endpoint) as store:
        recs = {r.key: r for r in j.records(1)}
        for disk, raw_sha in wave_estate.digests.items():
            sid = f"sys-{disk.split('-')[1]}"
            conv = recs[f"{sid}/convert/{disk}"].payload
            up = recs[f"{sid}/upload/{disk}"].payload
            assert conv["content_digest"] == f"sha256:{raw_sha}"
            assert store.verify(bucket, up["key"], f"sha256:{conv['file_digest']}")
            imp = recs[f"{sid}/import/{disk}"].payload["disk"]
            vol = Path(imp["disk_id"])
            assert qemu.content_digest(vol, "sha256", fmt="qcow2") == f"sha256:{raw_sha}"
            assert recs[f"{sid}/launch/host-{disk.split('-')[1]}"].payload["state"] == "running"
            # the libvirt target read the volume back: its own account is in the result
            entry = next(v for s in result["systems"] if s["id"] == sid
                         for v in s["verified"] if v["disk"] == disk)
            assert entry["target"] == imp["verification"]
            assert entry["target"].startswith("verified: content digest of")
            assert entry["compare"] == conv["compare"] == "identical"
        run = j.last_run(1)
        assert run is not None and run["status"] == "done"
    assert {d: _sha(p) for d, p in wave_estate.images.items()} == sources  # source untouched
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # limits were created on demand
        assert client.read_global_concurrency_limit_by_name(GLOBAL_LIMIT).limit == 4
        assert client.read_global_concurrency_limit_by_name(
            bureau_limit_name("bureau-02")).limit == 1  # 50 Mbps link: one system at a time
    objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])  # type: ignore[attr-defined]
    assert len(objects) == 6
    status = CliRunner().invoke(main, ["wave", "status", "1", "--estate",
                                       str(wave_estate.root), "--json"])
    assert status.exit_code == 0, status.output
    assert {s["state"] for s in json.loads(status.output)["systems"]} == {"done"}

    # rollback from the journal alone (a new process would do the same): everything goes
    rb = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate", str(wave_estate.root),
                                   "--system", "sys-02", "--json"])
    assert rb.exit_code == 0, rb.output
    assert json.loads(rb.output)["systems"][0]["undone"][0] == "sys-02/launch/host-02"
    left = {o["Key"] for o in s3.list_objects_v2(  # type: ignore[attr-defined]
        Bucket=bucket).get("Contents", [])}
    assert len(left) == 4 and not any("/sys-02/" in k for k in left)
    assert not list((tmp_path / "staging" / "wave-1" / "sys-02").glob("*"))
    assert not list(cloud.pool_path.glob("*sys-02*"))  # the volumes' files went too
    assert len(list(cloud.pool_path.glob("*sys-01*"))) == 2
    again = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate",
                                      str(wave_estate.root), "--system", "sys-02", "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["systems"][0]["undone"] == []


def test_failed_system_undone_alone_and_its_move_group_with_it(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,
        bucket: str) -> None:
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=3,
                       groups=[["sys-01", "sys-02"], ["sys-03"]])
    est.images["disk-02-1"].unlink()  # sys-02's second disk is gone: its pre-check refuses
    opts = _opts(tmp_path, cloud, moto_endpoint, bucket)
    result = move_wave(str(est.root), 1, options=opts.to_dict())
    states = {s["id"]: s["state"] for s in result["systems"]}
    assert result["state"] == "failed"
    assert states == {"sys-01": "rolled_back", "sys-02": "refused", "sys-03": "done"}
    by_id = {s["id"]: s for s in result["systems"]}
    assert "disk-02-1" in by_id["sys-02"]["error"] or "not readable" in by_id["sys-02"]["error"]
    assert "move group mg-1-0" in by_id["sys-01"]["error"]
    keys = {o["Key"] for o in s3_client(moto_endpoint).list_objects_v2(  # type: ignore
        Bucket=bucket).get("Contents", [])}
    assert keys and all("/sys-03/" in k for k in keys)
    with open_journal(est.root) as j:
        for r in j.records(1, "sys-01"):
            assert r.status == "undone", r
        assert {r.kind for r in j.records(1, "sys-02")} == {"precheck"}


def test_flipped_byte_in_converted_image_fails_upload_nothing_downstream(
        prefect_harness: None, wave_estate: WaveEstate, cloud: Cloud, moto_endpoint: str,
        bucket: str, tmp_path: Path) -> None:
    opts = _opts(tmp_path, cloud, moto_endpoint, bucket)
    wave = load_wave(wave_estate.root, 1, only="sys-03")
    system = wave.systems[0]
    steps = system_steps(wave, system, opts)
    ctx = RunContext(opts)
    with open_journal(wave_estate.root) as j:  # a first run converts, then is interrupted
        run = j.begin_run(1, {"options": opts.to_dict(), "only": "sys-03"})
        ctx.bind(j, run, 1)
        execute(j, run, 1, steps[0], PrecheckAction(ctx), {})
        staged = Path(execute(j, run, 1, steps[1], ConvertAction(ctx), {}).payload["path"])
        j.finish_run(run, "failed")
    ctx.close()
    data = bytearray(staged.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped byte in the converted image
    staged.write_bytes(bytes(data))
    r = CliRunner().invoke(main, [  # through the CLI this time: options → RunOptions
        "wave", "run", "1", "--estate", str(wave_estate.root), "--only", "sys-03",
        "--target", "libvirt", "--target-uri", cloud.uri, "--pool", cloud.pool,
        "--staging", opts.staging_dir, "--s3-endpoint", moto_endpoint, "--bucket", bucket,
        "--json"])
    assert r.exit_code == 1, r.output
    result = json.loads(r.output)
    s = result["systems"][0]
    assert result["state"] == "failed" and s["state"] == "rolled_back"
    assert "digest" in s["error"].lower()
    with open_journal(wave_estate.root) as j:
        kinds = {r.kind for r in j.records(1, "sys-03")}
        assert "import" not in kinds and "launch" not in kinds
        up = [r for r in j.records(1, "sys-03") if r.kind == "upload"]
        assert up and up[0].status == "undone"
    s3 = s3_client(moto_endpoint)
    assert not s3.list_objects_v2(Bucket=bucket).get("Contents")  # type: ignore
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")  # type: ignore


def test_retries_only_for_transient_errors_and_bureau_slots() -> None:
    from prefect.states import Failed

    from flows.wave import _transient_only, bureau_slots
    from shangyun.errors import StepError, TransientError

    assert _transient_only(None, None, Failed(data=TransientError("timeout"))) is True
    assert _transient_only(None, None, Failed(data=StepError("bad digest"))) is False
    assert [bureau_slots(x) for x in (None, 50, 100, 250, 10_000)] == [1, 1, 1, 2, 4]
