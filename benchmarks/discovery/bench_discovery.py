"""Discovery benchmark: shangyun vs ``ansible -m setup`` on the same lab hosts, then a
200-host shangyun discovery.

    .venv/bin/python benchmarks/discovery/bench_discovery.py [--hosts 50] [--big 200]
        [--concurrency 20] [--no-ansible]

Brings up a lab (network namespaces, one sshd per host; needs root) with ``--big`` hosts,
discovers the first ``--hosts`` with shangyun (the plain engine: SSH, parse, merge, save)
and with Ansible's setup module (ansible-core installed on first use into
benchmarks/discovery/.venv-ansible; same key, same known_hosts with strict checking,
forks = our concurrency), prints wall time, client CPU seconds per host and the ratios, then
discovers all ``--big`` hosts with shangyun. The lab is torn down at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from connectors.ssh import discovery_pool  # noqa: E402
from lab import LabError  # noqa: E402
from shangyun.discovery.engine import run_discovery  # noqa: E402
from shangyun.discovery.model import Defaults, SSHOptions  # noqa: E402
from shangyun.estate import Estate  # noqa: E402
from tests.lab_support import can_run_lab, lab_session  # noqa: E402

HERE = Path(__file__).resolve().parent
ANSIBLE_VENV = HERE / ".venv-ansible"


@contextmanager
def lab_up(bureaus: int, hosts: int) -> Iterator[Any]:
    """The lab, retried up to 3 times (its MariaDB initialisation can collide with
    another lab's starting at the same moment)."""
    for attempt in range(3):
        try:
            cm = lab_session(bureaus=bureaus, hosts=hosts)
            state = cm.__enter__()
        except LabError as exc:
            print(f"lab up failed (attempt {attempt + 1}): {exc}", file=sys.stderr)
            if attempt == 2:
                raise
            continue
        try:
            yield state
        finally:
            cm.__exit__(None, None, None)
        return


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ensure_ansible() -> Path:
    exe = ANSIBLE_VENV / "bin" / "ansible"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
        subprocess.run([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"],
                       check=True)
    return exe


def make_estate(state, hosts, path: Path) -> None:  # type: ignore[no-untyped-def]
    Estate.from_records({"name": "bench"}, {
        "bureaus": [{"kind": "bureau", **b} for b in state.bureaus],
        "systems": [dict(s) for s in state.systems],
        "hosts": [{"id": h.id, "hostname": h.hostname, "ip": h.ip, "bureau_id": h.bureau,
                   "system_id": h.system, "ssh_port": h.port} for h in hosts],
    }).save(path)


def run_shangyun(state, hosts, work: Path, concurrency: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    estate_dir = work / f"estate-{len(hosts)}"
    make_estate(state, hosts, estate_dir)
    opts = SSHOptions(state.client_key, state.known_hosts, Defaults(user=state.user),
                      concurrency=concurrency, connect_timeout=20, retries=1,
                      sample_seconds=1.0)
    c0, t0 = cpu_self(), time.perf_counter()
    run = run_discovery(str(estate_dir), opts, discovery_pool)
    wall, cpu = time.perf_counter() - t0, cpu_self() - c0
    ok = sum(1 for r in run.results if r.ok)
    return {"hosts": len(hosts), "ok": ok, "wall": wall, "cpu": cpu}


def run_ansible(state, hosts, work: Path, forks: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    exe = ensure_ansible()
    inv = work / "inventory.ini"
    ssh_args = (f"-o UserKnownHostsFile={state.known_hosts} -o StrictHostKeyChecking=yes "
                "-o IdentitiesOnly=yes -o ForwardAgent=no")
    lines = ["[lab]"] + [
        f"{h.id} ansible_host={h.ip} ansible_port={h.port} ansible_user={state.user} "
        f"ansible_ssh_private_key_file={state.client_key} "
        "ansible_python_interpreter=/usr/bin/python3" for h in hosts]
    lines += ["", "[lab:vars]", f"ansible_ssh_common_args='{ssh_args}'"]
    inv.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_LOCAL_TEMP":
           str(work / "ansible-tmp"), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_GATHERING": "explicit"}
    c0, t0 = cpu_children(), time.perf_counter()
    cp = subprocess.run([str(exe), "all", "-i", str(inv), "-m", "setup", "-f", str(forks)],
                        capture_output=True, text=True, env=env, timeout=1800)
    wall, cpu = time.perf_counter() - t0, cpu_children() - c0
    ok = cp.stdout.count("| SUCCESS")
    if ok != len(hosts):
        print(cp.stdout[-2000:], cp.stderr[-2000:], file=sys.stderr)
    return {"hosts": len(hosts), "ok": ok, "wall": wall, "cpu": cpu}


def show(name: str, r: dict[str, float]) -> None:
    print(f"{name:<22} hosts {int(r['hosts']):>4}  ok {int(r['ok']):>4}  wall {r['wall']:7.2f} s"
          f"  client CPU {r['cpu']:7.2f} s  ({r['cpu'] / r['hosts']:.3f} s/host)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--big", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--bureaus", type=int, default=4)
    ap.add_argument("--no-ansible", action="store_true")
    args = ap.parse_args()
    reason = can_run_lab()
    if reason:
        print(f"cannot run the lab here: {reason}", file=sys.stderr)
        return 2
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    work = Path(tempfile.mkdtemp(prefix="shangyun-bench-disc-"))
    try:
        total = max(args.hosts, args.big)
        t0 = time.perf_counter()
        with lab_up(args.bureaus, total) as state:
            print(f"lab: {len(state.hosts)} hosts ({state.mode}) up in "
                  f"{time.perf_counter() - t0:.1f} s; concurrency/forks {args.concurrency}")
            subset = state.hosts[:args.hosts]
            ours = run_shangyun(state, subset, work, args.concurrency)
            show("shangyun discover", ours)
            if not args.no_ansible:
                theirs = run_ansible(state, subset, work, args.concurrency)
                show("ansible -m setup", theirs)
                print(f"ratio (ansible/shangyun): wall {theirs['wall'] / ours['wall']:.1f}x, "
                      f"client CPU {theirs['cpu'] / ours['cpu']:.1f}x")
            if args.big > args.hosts:
                big = run_shangyun(state, state.hosts[:args.big], work, args.concurrency)
                show("shangyun discover", big)
                print(f"{args.big}-host discovery: {big['wall']:.1f} s "
                      f"({'under' if big['wall'] < 60 else 'OVER'} the 60 s target)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
