"""Journal, digest and object-storage benchmarks, each side by side with a bare peer.

1. upload: ``ObjectStore.upload_file`` (SM3 and SHA-256 digest of every byte, Content-MD5 per
   part, multipart ETag check, digest metadata) vs boto3's plain ``upload_file`` (same part
   size and concurrency, no verification), same file, same moto S3 server on 127.0.0.1 —
   run as its own process (``moto_server``) so it does not share our GIL.
2. digest: ``digest_file`` (SHA-256, SM3) vs coreutils ``sha256sum`` on the same file.
3. journal: one step (``step_started`` + ``step_done``, each its own durable transaction with
   an audit record) on SQLite and PostgreSQL vs two bare ``sqlite3`` INSERT/UPDATE commits
   with the same pragmas (WAL, synchronous=FULL).

Usage: .venv/bin/python benchmarks/journal/bench_journal.py [--size-mib 256] [--steps 300]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from connectors.journal import open_journal
from connectors.objectstore import MiB, ObjectStore
from shangyun.digest import digest_file


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def row(name: str, ours: float, peer: float, unit: str = "s") -> None:
    """Print one side-by-side line with the ratio ours/peer."""
    print(f"{name:<58} ours {ours:8.3f} {unit}  peer {peer:8.3f} {unit}  "
          f"ratio {ours / peer:5.2f}")


def bench_upload(size_mib: int, work: Path) -> None:
    """Verified resumable upload vs plain boto3 upload_file, on moto."""
    from boto3.s3.transfer import TransferConfig

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = Path(sys.executable).with_name("moto_server")
    server = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        path = work / "image.raw"
        with open(path, "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(MiB))
        store = ObjectStore(f"http://127.0.0.1:{port}", part_size=16 * MiB, concurrency=4)
        store.ensure_bucket("bench")
        plain = TransferConfig(multipart_chunksize=16 * MiB, max_concurrency=4)
        n = 0

        def key() -> str:
            nonlocal n
            n += 1
            return f"k{n}"

        def plain_upload() -> None:
            store.client.upload_file(str(path), "bench", key(), Config=plain)

        timed(plain_upload, repeat=1)  # warm-up: the first upload to a fresh server is slower
        # the peer is timed before and after ours (best of both) so drift in load cancels
        before = timed(plain_upload)
        known = "sha256:" + digest_file(path)
        cases = [(f"{alg} + etag verify vs boto3 upload_file",
                  lambda a=alg: store.upload_file(path, "bench", key(), algorithm=a))
                 for alg in ("sha256", "sm3")]
        cases += [("known sha256 digest= (no pre-hash)",
                   lambda: store.upload_file(path, "bench", key(), digest=known)),
                  ("sm3 + read-back verify",
                   lambda: store.upload_file(path, "bench", key(), algorithm="sm3",
                                             verify="read"))]
        results = [(name, timed(fn)) for name, fn in cases]
        after = timed(plain_upload)
        peer = min(before, after)
        print(f"(peer boto3 upload_file {size_mib} MiB: {before:.3f} s before ours, "
              f"{after:.3f} s after)")
        for name, ours in results:
            row(f"upload {size_mib} MiB, {name}", ours, peer)
        store.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def bench_digest(work: Path) -> None:
    """digest_file vs sha256sum."""
    path = work / "image.raw"
    peer = timed(lambda: subprocess.run(["sha256sum", str(path)], check=True,
                                        capture_output=True))
    for alg in ("sha256", "sm3"):
        ours = timed(lambda a=alg: digest_file(path, a))
        row(f"digest_file {alg} vs sha256sum ({path.stat().st_size // MiB} MiB)", ours, peer)


def bench_journal(steps: int, work: Path) -> None:
    """Durable step records per second vs bare sqlite3 commits."""
    db = work / "bare.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, sys TEXT, step TEXT, status TEXT, "
                 "undo TEXT, result TEXT)")

    def bare() -> None:
        for i in range(steps):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO s (sys, step, status, undo) VALUES (?, 'x', 'started', "
                         "'{}')", (f"sys-{i}",))
            conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE s SET status='done', result='{\"n\": 1}' WHERE sys=?",
                         (f"sys-{i}",))
            conn.execute("COMMIT")

    peer = timed(bare, repeat=1) / steps * 1000
    targets = {"sqlite": str(work / "estate")}
    (work / "estate").mkdir()
    name = f"shangyun_bench_{secrets.token_hex(4)}"
    pg_admin = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    try:
        import psycopg

        with psycopg.connect(pg_admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        targets["postgresql"] = f"postgresql://postgres@127.0.0.1:5432/{name}"
    except Exception as exc:  # PostgreSQL is optional for this benchmark
        print(f"(postgresql skipped: {exc})")
    try:
        for label, target in targets.items():
            with open_journal(target, algorithm="sm3") as j:
                run = j.begin_run(1)

                def ours(j=j, run=run) -> None:
                    for i in range(steps):
                        j.step_started(run, f"sys-{i}", "convert", undo={"path": f"/s/{i}"})
                        j.step_done(run, f"sys-{i}", "convert", result={"n": 1})

                ms = timed(ours, repeat=1) / steps * 1000
                row(f"journal step (started+done+2 audit) {label} vs bare sqlite3", ms, peer,
                    "ms")
    finally:
        if "postgresql" in targets:
            import psycopg

            with psycopg.connect(pg_admin, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def main() -> None:
    """Run all three benchmarks."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="shangyun-bench-journal-") as tmp:
        work = Path(tmp)
        bench_upload(args.size_mib, work)
        bench_digest(work)
        bench_journal(args.steps, work)


if __name__ == "__main__":
    main()
