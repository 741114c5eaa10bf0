"""Do two source trees make the same plans? A speed change must not change any plan.

Usage::

    git archive main | tar -x -C /tmp/old
    .venv/bin/python benchmarks/planner/same_plans.py /tmp/old .

Plans ``inventories/sample`` (a copy, with default options) and the 10k-host benchmark
estate (``generate_estate(35, 3000, seed=1, hosts=10000, dependencies=100_000)``, the
systems whose data alone overflows their window ``--exclude``d as ``bench.py`` does) with
each tree's ``shangyun`` in its own process, writes every plan file, ``Plan.to_json()`` and
``plan explain`` of every sample system, and compares them byte for byte (the plan's
``created`` time set to a fixed word). Prints each tree's make_plan CPU seconds; exits 1
naming the files that differ.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ONE = r'''
import json, re, shutil, sys, time
from pathlib import Path
from shangyun.errors import PlanError
from shangyun.planner import PlanOptions, explain, make_plan, write_plan
out, sample = Path(sys.argv[1]), Path(sys.argv[2])

def run(name, est, est_dir):
    opts, too_big = PlanOptions(), []
    while True:
        try:
            c0 = time.process_time()
            plan = make_plan(est, opts, estate_dir=est_dir)
            cpu = time.process_time() - c0
            break
        except PlanError as exc:
            hit = re.search(r"system (\S+) alone does not fit", str(exc))
            if not hit:
                raise
            too_big.append(hit.group(1))
            opts = PlanOptions(exclude=tuple(too_big))
    plan.created = "FIXED"
    write_plan(plan, out / name)
    (out / name / "plan.json").write_text(json.dumps(
        plan.to_json(), ensure_ascii=False, sort_keys=True, default=str), encoding="utf-8")
    print(f"{name}: make_plan {cpu:.2f} CPU s, {plan.metrics['waves']} waves")
    return plan

from shangyun.estate import Estate
shutil.copytree(sample, out / "sample")
plan = run("sample", Estate.load(out / "sample"), str(out / "sample"))
why = {s["system"]: explain(str(out / "sample"), s["system"]) for s in plan.systems}
(out / "sample" / "explain.json").write_text(json.dumps(
    why, ensure_ascii=False, sort_keys=True, default=str), encoding="utf-8")
from shangyun.sample import generate_estate
(out / "10k").mkdir()
run("10k", generate_estate(35, 3000, seed=1, hosts=10000, dependencies=100_000), "")
'''


def plans(tree: Path, out: Path, sample: Path) -> None:
    """Plan both estates with the ``shangyun`` of ``tree`` into ``out``."""
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    print(f"== {tree}")
    subprocess.run([sys.executable, "-c", ONE, str(out), str(sample)], env=env, check=True,
                   cwd=out.parent)


def differ(a: Path, b: Path) -> list[str]:
    """Files under ``a`` and ``b`` that differ or exist on one side only."""
    cmp = filecmp.dircmp(a, b)
    out = [str(a / f) for f in cmp.left_only + cmp.right_only]
    out += [str(a / f) for f in cmp.common_files
            if not filecmp.cmp(a / f, b / f, shallow=False)]
    for d in cmp.common_dirs:
        out += differ(a / d, b / d)
    return out


def main() -> None:
    """Plan with both trees and compare."""
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    old, new = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    sample = new / "inventories" / "sample"
    with tempfile.TemporaryDirectory(prefix="same_plans.") as tmp:
        a, b = Path(tmp) / "old", Path(tmp) / "new"
        a.mkdir()
        b.mkdir()
        plans(old, a, sample)
        plans(new, b, sample)
        bad = differ(a, b)
    if bad:
        print("plans differ:", *bad, sep="\n  ")
        sys.exit(1)
    print("same plans: every file byte-identical (sample and 10k)")


if __name__ == "__main__":
    main()
