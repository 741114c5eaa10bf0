"""Image pipeline benchmark: shangyun's qemu connector side by side with the plain tools.

(1) content digest of a qcow2 image: ``connectors.qemu.content_digest`` (qemu-nbd + NBD
    reads, no temporary copy) vs the usual ``qemu-img convert -O raw`` to a temp file
    followed by ``sha256sum``;
(2) conversion vmdk → qcow2: ``connectors.qemu.convert`` (progress parsing, space check,
    temp file + fsync + rename) vs a bare ``qemu-img convert``;
(3) convert + ``verify_copy`` (``qemu-img compare`` + content digest of the output) vs the
    bare convert;
(4) ``convert_verified`` (source digest computed while converting, then the output's
    digest) vs the bare convert.

Prints seconds and ratios (ours / peer; < 1.0 = ours faster). Usage::

    .venv/bin/python benchmarks/images/bench_images.py [--size-gib 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from connectors import qemu

MIB = 1 << 20


def make_disk(folder: Path, size_gib: float, data_fraction: float) -> Path:
    """A raw disk with ``data_fraction`` of its 1 MiB blocks filled with random bytes."""
    raw = folder / "seed.raw"
    blocks = int(size_gib * 1024)
    every = max(1, round(1 / data_fraction)) if data_fraction > 0 else 0
    with raw.open("wb") as fh:
        fh.truncate(blocks * MIB)
        for i in range(blocks):
            if every and i % every == 0:
                fh.seek(i * MIB)
                fh.write(os.urandom(MIB))
    return raw


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, object]:
    """Median seconds over ``rounds`` runs, and the last result."""
    times, result = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def drop(path: Path) -> None:
    """Remove a file if present."""
    path.unlink(missing_ok=True)


def main() -> None:
    """Run the four comparisons and print a table with ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gib", type=float, default=2.0)
    ap.add_argument("--data", type=float, default=0.5, help="fraction of blocks with data")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="shangyun-bench-images-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        raw = make_disk(root, args.size_gib, args.data)
        vmdk, qcow = root / "src.vmdk", root / "src.qcow2"
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", str(raw), str(vmdk)],
                       check=True)
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow)],
                       check=True)
        rows: list[tuple[str, float, float]] = []

        def peer_digest() -> str:
            out = root / "peer.raw"
            subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(qcow),
                            str(out)], check=True)
            digest = subprocess.run(["sha256sum", str(out)], check=True, capture_output=True,
                                    text=True).stdout.split()[0]
            drop(out)
            return "sha256:" + digest

        ours_t, ours_d = timed(lambda: qemu.content_digest(qcow, fmt="qcow2"), args.rounds)
        peer_t, peer_d = timed(peer_digest, args.rounds)
        assert ours_d == peer_d, (ours_d, peer_d)
        rows.append(("content digest of qcow2 (NBD) vs convert-to-raw + sha256sum",
                     ours_t, peer_t))

        dst = root / "out.qcow2"

        def ours_convert() -> None:
            drop(dst)
            qemu.convert(vmdk, dst, "qcow2", src_format="vmdk", progress=lambda _p: None)

        def peer_convert() -> None:
            drop(dst)
            subprocess.run(["qemu-img", "convert", "-f", "vmdk", "-O", "qcow2", str(vmdk),
                            str(dst)], check=True)

        ours_t, _ = timed(ours_convert, args.rounds)
        peer_t, _ = timed(peer_convert, args.rounds)
        rows.append(("convert vmdk→qcow2 (progress, space check, fsync+rename) vs qemu-img",
                     ours_t, peer_t))

        def ours_verified() -> None:
            ours_convert()
            qemu.verify_copy(vmdk, dst, src_format="vmdk", dst_format="qcow2")

        ours_t, _ = timed(ours_verified, args.rounds)
        rows.append(("convert + verify_copy (compare + digest) vs bare qemu-img convert",
                     ours_t, peer_t))

        def ours_overlapped() -> None:
            drop(dst)
            qemu.convert_verified(vmdk, dst, "qcow2", src_format="vmdk")

        ours_t, _ = timed(ours_overlapped, args.rounds)
        rows.append(("convert_verified (src digest during convert + dst digest) vs bare",
                     ours_t, peer_t))

    print(f"image: {args.size_gib:g} GiB virtual, {args.data:.0%} data, "
          f"median of {args.rounds} rounds, {os.cpu_count()} cores")
    print(f"{'comparison':<74} {'ours s':>8} {'peer s':>8} {'ratio':>6}")
    for name, ours, peer in rows:
        print(f"{name:<74} {ours:8.2f} {peer:8.2f} {ours / peer:6.2f}")


if __name__ == "__main__":
    main()
