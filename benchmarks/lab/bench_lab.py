"""Benchmark the lab: bring-up, no-op bring-up, status and teardown for N hosts, and the
network set-up side by side with the obvious peer (one ``ip`` process per command, as a
shell script would do it) versus the lab's single ``ip -batch``.

Usage (root): .venv/bin/python benchmarks/lab/bench_lab.py [--hosts 50 200] [--bureaus 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lab import LabHost, LabState, down, status, up
from lab import hosts as hx


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_lab(n: int, bureaus: int) -> dict[str, float]:
    """Full lab: cold up, no-op up, status, down (wall seconds) and CPU seconds of the up."""
    d = Path(tempfile.mkdtemp(prefix="shangyun-lab-bench-"))
    d.chmod(0o755)
    try:
        c0, t0 = _cpu(), time.monotonic()
        up(d, bureaus=bureaus, hosts=n)
        cold, cold_cpu = time.monotonic() - t0, _cpu() - c0
        t0 = time.monotonic()
        up(d, bureaus=bureaus, hosts=n)
        again = time.monotonic() - t0
        t0 = time.monotonic()
        st = status(d)
        stat = time.monotonic() - t0
        assert st["up"] == n, st
    finally:
        t0 = time.monotonic()
        down(d)
        dn = time.monotonic() - t0
    return {"up": cold, "up_cpu": cold_cpu, "again": again, "status": stat, "down": dn}


def _fake_state(tag: str, n: int) -> tuple[LabState, list[tuple[int, LabHost]]]:
    st = LabState(lab_dir="/nonexistent", tag=tag, mode="netns", net="10.250.0.0/16",
                  bridge=f"sy{tag}br", gateway="10.250.0.1", user="root", client_key="",
                  known_hosts="", bureaus=[], systems=[])
    hs = [(i, LabHost(id=f"h{i}", hostname=f"h{i}", ip=f"10.250.{i // 200 + 1}.{i % 200 + 10}",
                      port=22, bureau="B01", system="", role="light", netns=f"sy{tag}-h{i}",
                      os="debian12", os_pretty="")) for i in range(n)]
    return st, hs


def bench_network(n: int) -> tuple[float, float]:
    """(ours, peer) seconds to create and delete N netns + veth pairs on a bridge."""
    tag = f"b{os.getpid() % 10000:04d}"
    st, hs = _fake_state(tag, n)
    t0 = time.monotonic()
    hx.network_up(st, hs)
    hx.network_down(tag, st.bridge)
    ours = time.monotonic() - t0

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=60)

    t0 = time.monotonic()
    try:
        ip("link", "add", st.bridge, "type", "bridge")
        ip("link", "set", st.bridge, "up")
        for i, h in hs:
            v = hx.veth_name(st, i)
            ip("netns", "add", h.netns)
            ip("link", "add", v, "type", "veth", "peer", "name", "eth0", "netns", h.netns)
            ip("link", "set", v, "master", st.bridge)
            ip("link", "set", v, "up")
        for _, h in hs:
            ip("netns", "del", h.netns)
        ip("link", "del", st.bridge)
    finally:
        hx.network_down(tag, st.bridge)
    return ours, time.monotonic() - t0


def main() -> None:
    """Run the benchmarks and print a table with ratios."""
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, nargs="+", default=[50, 200])
    p.add_argument("--bureaus", type=int, default=2)
    a = p.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("hosts  up(s)  up CPU(s)  ms/host  no-op up(s)  status(s)  down(s)")
    for n in a.hosts:
        r = bench_lab(n, a.bureaus)
        print(f"{n:5d}  {r['up']:5.1f}  {r['up_cpu']:9.1f}  {1000 * r['up'] / n:7.0f}  "
              f"{r['again']:11.2f}  {r['status']:9.2f}  {r['down']:7.1f}")
    print("\nnetwork set-up + teardown: ours (one `ip -batch`) vs peer (one `ip` per command)")
    print("hosts  ours(s)  peer(s)  ours/peer")
    for n in a.hosts:
        ours, peer = bench_network(n)
        print(f"{n:5d}  {ours:7.2f}  {peer:7.2f}  {ours / peer:9.2f}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
