"""Benchmark: ``shangyun wave run 1`` through the real CLI on Prefect's SQLite temporary
server (no dashboard, no ``PREFECT_API_URL``): wall time, the gaps between a system's
steps (journal), and the 503s the server answered (``httpx`` log of the CLI process, by
endpoint). A small estate (tests.wave.conftest.build_estate: the libvirt test driver,
qemu-img, moto S3); the CLI's Prefect logs go to the API as a user's do. One run per
pytest invocation; a line of JSON appended to $BENCH_OUT (default: printed only).
$BENCH_ROOT is the checkout whose code the CLI runs (A/B: main vs a branch).
$BENCH_SERVER=1: the run reports to the dashboard's persistent server instead
(``shangyun server start`` of $BENCH_ROOT's code on SQLite, a fresh state folder; stopped
after the run).

    BENCH_ROOT=$PWD BENCH_VARIANT=B BENCH_SYSTEMS=2 env -u PREFECT_LOGGING_TO_API_ENABLED \
      .venv/bin/python -m pytest -q -s -p no:cacheprovider benchmarks/wave/cli_sqlite_busy.py
"""
from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)

ROOT = Path(os.environ.get("BENCH_ROOT", Path(__file__).resolve().parents[2]))
WRAP = ("import logging,sys; h=logging.StreamHandler(sys.stderr); "
        "h.setFormatter(logging.Formatter('HTTPX %(message)s')); "
        "l=logging.getLogger('httpx'); l.setLevel(logging.INFO); l.addHandler(h); "
        "l.propagate=False; "
        "from shangyun.cli import main; main()")


def test_cli_wave_run(tmp_path: Path, cloud: Cloud, moto_endpoint: str,  # noqa: F811
                      bucket: str) -> None:  # noqa: F811
    """One ``wave run 1`` of a small estate; its figures printed (and appended)."""
    n = int(os.environ.get("BENCH_SYSTEMS", "2"))
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=n, formats=FORMATS[:1], mib=4)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
           "SHANGYUN_AUDIT_KEY": str(tmp_path / "audit.key")}
    for k in ("PREFECT_API_URL", "PREFECT_API_DATABASE_CONNECTION_URL",
              "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        env.pop(k, None)
    cli = [sys.executable, "-c", "from shangyun.cli import main; main()"]
    server = os.environ.get("BENCH_SERVER") == "1"
    if server:
        s = subprocess.run([*cli, "server", "start", "--estate", str(root), "--port",
                            str(_free_port()), "--json", "--timeout", "300"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=400)
        assert s.returncode == 0, s.stdout + s.stderr
        env["PREFECT_API_URL"] = json.loads(s.stdout)["api_url"]
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", WRAP, "wave", "run", "1", "--estate", str(root),
                        "--json", "--target", "libvirt", "--target-uri", cloud.uri,
                        "--pool", cloud.pool, "--staging", str(tmp_path / "staging"),
                        "--s3-endpoint", moto_endpoint, "--bucket", bucket],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    if server:
        subprocess.run([*cli, "server", "stop", "--estate", str(root)], cwd=ROOT, env=env,
                       capture_output=True, timeout=120, check=True)
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads(p.stdout)["state"] == "done"
    r503 = [ln for ln in p.stderr.splitlines() if ln.startswith("HTTPX") and " 503 " in ln]
    ends = {}
    for ln in r503:
        m = re.search(r"POST \S+?/api(/\S+)", ln) or re.search(r"(\w+) (\S+)", ln)
        ends[m.group(1)] = ends.get(m.group(1), 0) + 1
    con = sqlite3.connect(root / "journal.db")
    rows = con.execute("select system, step, started_at, ended_at from steps"
                       " order by system, id").fetchall()
    gaps: list[float] = []
    last: dict[str, datetime] = {}
    for system, _step, s, e in rows:
        s, e = datetime.fromisoformat(s), datetime.fromisoformat(e)
        if system in last:
            gaps.append((s - last[system]).total_seconds())
        last[system] = e
    out = {"variant": os.environ.get("BENCH_VARIANT", "?"), "server": server,
           "wall": round(wall, 1),
           "steps": len(rows), "gap_sum": round(sum(gaps), 2),
           "gap_max": round(max(gaps), 2), "n503": len(r503), "by_endpoint": ends}
    if os.environ.get("BENCH_OUT"):
        with open(os.environ["BENCH_OUT"], "a") as f:
            f.write(json.dumps(out) + "\n")
    print(out)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
