"""Side by side: a wave-named flow run reporting to the persistent server (``shangyun server
start``) vs Prefect's own ephemeral server (what a flow does with no PREFECT_API_URL), and
how many task-run records survive on each; plus runbook/report rendering time by size.

    .venv/bin/python benchmarks/dashboard/bench.py [--rounds 3] [--tasks 20] [--systems 120]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

FLOW = """
import sys
from prefect import flow, task

@task
def step(i: int) -> int:
    return i

@flow(name="wave-1", flow_run_name="wave-1 · bench")
def wave_run(n: int) -> int:
    return sum(f.result() for f in step.map(range(n)))

wave_run(int(sys.argv[1]))
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as c:
    print(len(c.read_task_runs()))
"""


def flow_seconds(env: dict[str, str], script: Path, tasks: int) -> tuple[float, int]:
    """Wall time of one flow process and how many task runs the API then holds."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(script), str(tasks)], env=env, capture_output=True,
                       text=True, timeout=300, check=True)
    return time.perf_counter() - t0, int(r.stdout.strip().splitlines()[-1])


def bench_server(rounds: int, tasks: int) -> None:
    """Ephemeral vs persistent server: seconds per flow process, task runs kept."""
    from connectors import prefect_server

    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    script = tmp / "flow.py"
    script.write_text(FLOW, encoding="utf-8")
    base = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    base.pop("PREFECT_API_URL", None)
    t0 = time.perf_counter()
    info = prefect_server.start(tmp / "server", port=prefect_server.free_port())
    started = time.perf_counter() - t0
    try:
        eph, per = [], []
        for i in range(rounds):
            eph.append(flow_seconds({**base, "PREFECT_HOME": str(tmp / f"eph-{i}"),
                                     "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true"},
                                    script, tasks))
            per.append(flow_seconds({**base, "PREFECT_HOME": str(tmp / "client"),
                                     "PREFECT_API_URL": info.api_url}, script, tasks))
        count = tmp / "count.py"
        count.write_text(FLOW.split("wave_run(int(sys.argv[1]))")[1], encoding="utf-8")
        after = subprocess.run([sys.executable, str(count)], capture_output=True, text=True,
                               timeout=300, check=True,
                               env={**base, "PREFECT_HOME": str(tmp / "eph-0"),
                                    "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true"})
        kept = int(after.stdout.strip().splitlines()[-1])
    finally:
        prefect_server.stop(tmp / "server")
    e, p = statistics.median(x[0] for x in eph), statistics.median(x[0] for x in per)
    print(f"server start (once, until /api/health): {started:.1f} s")
    print(f"flow with {tasks} tasks, median of {rounds}: ephemeral {e:.2f} s, persistent "
          f"{p:.2f} s, ratio persistent/ephemeral {p / e:.2f}")
    print(f"task runs the API holds after each run: ephemeral {[x[1] for x in eph]}, "
          f"persistent (cumulative) {[x[1] for x in per]}")
    print(f"task runs of ephemeral run 1 still there from a new process: {kept} of {tasks}")


def bench_render(systems: int) -> None:
    """Runbook (largest wave) and report render times on a generated estate."""
    from shangyun.assess import assess, load_catalog, write_assessment
    from shangyun.estate import Estate
    from shangyun.planner import PlanOptions, make_plan, write_plan
    from shangyun.report import render_report
    from shangyun.runbook import render_runbook
    from shangyun.sample.generator import generate_estate

    root = Path(tempfile.mkdtemp(prefix="bench-runbook-")) / "estate"
    generate_estate(bureaus=35, systems=systems, seed=0).save(root)
    est = Estate.load(root)
    write_assessment(assess(est, load_catalog()), root)
    write_plan(make_plan(est, PlanOptions()), root)
    import pandas as pd

    waves = pd.read_csv(root / "plan" / "waves.csv", encoding="utf-8-sig")
    big = int(waves.sort_values("systems").iloc[-1]["wave"])
    n = int(waves.sort_values("systems").iloc[-1]["systems"])
    for fmt in ("md", "html"):
        t0 = time.perf_counter()
        text, _ = render_runbook(root, big, fmt, "zh")
        print(f"runbook wave {big} ({n} systems) {fmt}: {time.perf_counter() - t0:.2f} s, "
              f"{len(text) / 1024:.0f} KiB")
    t0 = time.perf_counter()
    render_report(root, "html", "zh")
    print(f"report ({systems} systems) html: {time.perf_counter() - t0:.2f} s")


def main() -> None:
    """Parse arguments and run both benchmarks."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--systems", type=int, default=120)
    a = ap.parse_args()
    bench_render(a.systems)
    bench_server(a.rounds, a.tasks)


if __name__ == "__main__":
    main()
