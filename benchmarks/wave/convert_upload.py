"""Benchmark (a): convert + upload of a sparse vmdk, with verification, vs the bare peer.

Side by side, on the same source and the same S3 endpoint (moto's server in its own
process on 127.0.0.1):

* **peer** — ``qemu-img convert -O raw`` to a file, then a plain boto3 ``upload_file``
  (default TransferConfig), no verification at all; and, for a like-for-like reading, the
  same peer converting to the format shangyun stages for EC2 (stream-optimized vmdk);
* **shangyun** — the wave's own ``convert`` and ``upload`` steps (``actions/images``,
  through the step engine and the real journal, EC2 target format raw): the source's
  content digest, ``qemu-img convert``, ``qemu-img compare``, the copy's content digest, then
  the resumable multipart upload that hashes while sending, checks every part's MD5 against
  the ETag, the assembled object's ETag, and the whole file's digest before completing.

Prints both times and the ratio shangyun / peer (target ≤ 1.0).

    .venv/bin/python benchmarks/wave/convert_upload.py [--gib 4] [--data-mib 512]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from actions.context import RunContext  # noqa: E402
from actions.images import ConvertAction, UploadAction  # noqa: E402
from connectors.journal.wave import open_journal  # noqa: E402
from shangyun.wave.engine import execute  # noqa: E402
from shangyun.wave.model import DiskWork, HostWork, SystemWork, WaveWork  # noqa: E402
from shangyun.wave.steps import RunOptions, system_steps  # noqa: E402

MIB = 2**20


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_source(folder: Path, gib: int, data_mib: int) -> Path:
    """A sparse ``gib`` GiB vmdk with ``data_mib`` MiB of data spread over it."""
    raw = folder / "src.raw"
    with raw.open("wb") as f:
        f.truncate(gib * 1024 * MIB)
        step = (gib * 1024) // max(1, data_mib)
        for i in range(data_mib):
            f.seek(i * step * MIB)
            f.write(os.urandom(MIB))
    vmdk = folder / "src.vmdk"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", str(raw),
                    str(vmdk)], check=True)
    raw.unlink()
    return vmdk


def peer(src: Path, work: Path, endpoint: str, bucket: str,
         fmt: tuple[str, ...] = ("-O", "raw")) -> float:
    """qemu-img convert, then a plain boto3 upload_file; no verification."""
    t0 = time.perf_counter()
    out = work / "peer.img"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "vmdk", *fmt, str(src), str(out)],
                   check=True)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      config=Config(request_checksum_calculation="when_required",
                                    response_checksum_validation="when_required",
                                    read_timeout=1800))  # moto assembles 4 GiB slowly
    s3.upload_file(str(out), bucket, "peer/disk.img")
    took = time.perf_counter() - t0
    out.unlink()
    return took


def ours(src: Path, work: Path, endpoint: str, bucket: str, gib: int) -> tuple[float, dict]:
    """The wave's convert and upload steps, journaled and verified."""
    estate = work / "estate"
    estate.mkdir()
    disk = DiskWork("disk-0", "host-0", "disk0", str(src), "vmdk", float(gib))
    system = SystemWork("sys-0", "基准系统", "bureau-01", "一局", "mg-0", 1000.0,
                        (HostWork("host-0", "vm0", "", 2, 4.0, (disk,)),))
    wave = WaveWork(1, str(estate), "x", "x", (system,))
    opts = RunOptions(target="ec2", staging_dir=str(work / "staging"), s3_endpoint=endpoint,
                      bucket=bucket, datastore_roots=[str(src.parent)])
    steps = {s.kind: s for s in system_steps(wave, system, opts)}
    t0 = time.perf_counter()
    with open_journal(estate) as j:
        run = j.begin_run(1, {"options": opts.to_dict()})
        ctx = RunContext(opts).bind(j, run, 1)
        conv = execute(j, run, 1, steps["convert"], ConvertAction(ctx), {}).payload
        up = execute(j, run, 1, steps["upload"], UploadAction(ctx),
                     {steps["convert"].key: conv}).payload
        j.finish_run(run, "done")
        took = {e.step.split("/")[1]: e.seconds for e in j.j.wave_steps(1)}
    return time.perf_counter() - t0, {"convert": conv, "upload": up, "steps": took}


def main() -> None:
    """Build the source, start moto, run both (peer first), print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=int, default=4)
    ap.add_argument("--data-mib", type=int, default=512)
    args = ap.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    work = Path(tempfile.mkdtemp(prefix="shangyun-bench-convert-"))
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H",
                               "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        src = make_source(work, args.gib, args.data_mib)
        print(f"source: {args.gib} GiB sparse vmdk with {args.data_mib} MiB of data "
              f"({src.stat().st_size / MIB:.0f} MiB on disk)")
        t_peer = peer(src, work, endpoint, "bench")
        s3.delete_object(Bucket="bench", Key="peer/disk.img")
        t_same = peer(src, work, endpoint, "bench",
                      ("-O", "vmdk", "-o", "subformat=streamOptimized"))
        s3.delete_object(Bucket="bench", Key="peer/disk.img")
        t_ours, res = ours(src, work, endpoint, "bench", args.gib)
        up = res["upload"]
        print(f"peer  (qemu-img convert + boto3 upload_file, unverified): {t_peer:7.2f} s")
        print(f"peer, same target format (stream-optimized vmdk), unverified: "
              f"{t_same:7.2f} s")
        print(f"shangyun (convert + compare + digests + verified upload): {t_ours:7.2f} s  "
              f"[{up['parts_total']} parts, verified by {up['verified']}, "
              f"{res['convert']['content_digest'][:23]}…]")
        print("  steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in res["steps"].items()))
        print(f"ratio shangyun / peer = {t_ours / t_peer:.2f} (target ≤ 1.0); "
              f"vs the same-format peer = {t_ours / t_same:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
