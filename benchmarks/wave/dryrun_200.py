"""Benchmark (b): the orchestration overhead of a 200-system ``wave run --dry-run``.

Builds an estate of 200 systems (one VM each, two disks, 20 bureaus) with a one-wave plan
in a temp folder, then times ``shangyun wave run 1 --dry-run --json`` as a fresh process
(what an operator pays: start-up, reading the estate and plan, planning every step,
rendering). The peer is the issue's budget: ≤ 60 s on 2 cores. Prints the ratio.

    .venv/bin/python benchmarks/wave/dryrun_200.py [--systems 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from shangyun.estate import Estate

BUDGET_S = 60.0


def build(root: Path, n: int) -> None:
    """An estate of ``n`` systems over 20 bureaus and a plan putting them all in wave 1."""
    bureaus = [{"id": f"bureau-{b:02d}", "name": f"第{b}局", "kind": "bureau",
                "link_mbps": 100 + 50 * b} for b in range(1, 21)]
    systems, hosts, disks = [], [], []
    fmts = ["vmdk", "vhd", "vhdx", "qcow2", "raw"]
    for i in range(n):
        b = bureaus[i % 20]["id"]
        systems.append({"id": f"sys-{i:04d}", "name": f"业务系统{i}", "bureau_id": b})
        hosts.append({"id": f"host-{i:04d}", "hostname": f"vm{i:04d}", "system_id":
                      f"sys-{i:04d}", "bureau_id": b, "kind": "vm", "cpu_cores": 2,
                      "memory_gb": 4, "hypervisor": f"test:///lab/{b}.xml"})
        for j in range(2):
            disks.append({"id": f"disk-{i:04d}-{j}", "host_id": f"host-{i:04d}",
                          "size_gb": 40, "format": fmts[(i + j) % 5],
                          "path": f"/srv/images/{b}/vm{i:04d}-{j}.img"})
    est = Estate.from_records({"name": "bench"}, {"bureaus": bureaus, "systems": systems,
                                                  "hosts": hosts, "disks": disks})
    est.save(root)
    groups = [[s["id"] for s in systems[k:k + 2]] for k in range(0, n, 2)]
    plan = {"schema_version": 1, "estate_fingerprint": est.fingerprint(),
            "waves": [{"number": 1, "move_groups": [{"id": f"mg-{k}", "systems": g}
                                                    for k, g in enumerate(groups)]}]}
    (root / "plan").mkdir()
    (root / "plan" / "plan.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True))


def main() -> None:
    """Build, time the dry run (best of 3), print the figures and the ratio."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--systems", type=int, default=200)
    n = ap.parse_args().systems
    with tempfile.TemporaryDirectory(prefix="shangyun-bench-wave-") as tmp:
        root = Path(tmp) / "estate"
        build(root, n)
        times, steps = [], 0
        for _ in range(3):
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-c", "from shangyun.cli import main; main()",
                                "wave", "run",
                                "1", "--estate", str(root), "--dry-run", "--json"],
                               capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - t0)
            steps = json.loads(r.stdout)["step_count"]
        best = min(times)
        print(f"{n}-system dry run: {steps} steps, best of 3 = {best:.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
        print(f"budget {BUDGET_S:.0f} s → ratio {best / BUDGET_S:.3f} (target ≤ 1.0)")


if __name__ == "__main__":
    main()
