"""Benchmark: move the lab's real legacy guest with shangyun (convert + adapt + boot-verify)
vs ``virt-v2v -i disk -o local`` on the same image, side by side in one run.

shangyun = wave 1 of a one-system estate holding the guest (a cold move: its VM is shut
off first), onto the lab's QEMU cloud node: ``convert`` (qemu-img, verified), ``adapt``
(libguestfs: virtio in the initramfs, fstab/GRUB by UUID, the NIC pinned to its MAC with its
static address kept, VMware Tools removed), ``upload``/``import`` (S3 staging), ``launch``
with the boot proof (console login, SSH with the original host key, hostname, app). The
figure compared is convert + adapt + launch (the journal's step seconds); the whole part 1
is printed too. virt-v2v 2.2 converts the same source disk to a local qcow2 (no boot, and
its output keeps ``ens192`` in /etc/network/interfaces: the network is lost). Both run
libguestfs under TCG (LIBGUESTFS_BACKEND=direct, force_tcg: KVM is unusable here).

    .venv/bin/python benchmarks/guests/bench_guest.py [--skip-v2v] [--keep-lab]

Needs root (the lab) and scripts/setup's packages (virt-v2v, nbdkit, libnbd-bin).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import libvirt

import lab
from connectors.journal.wave import open_journal
from flows.wave import move_wave
from lab.guests import guestfs_env
from shangyun.estate import Estate
from shangyun.wave.steps import RunOptions
from tests.support import moto_server
from tests.wave.conftest import write_plan

SYSTEM = "SYS-B01-LEGACY"


def estate(state: lab.LabState, root: Path) -> None:
    """One system, one VM: the guest as discovery records it."""
    g = state.guests[0]
    roots = {"B01": [str(Path(g.disk).parent)]}  # its datastore: the disk's folder
    Estate.from_records({"name": "bench-guest", "datastore_roots": roots}, {
        "bureaus": [{"id": "B01", "name": "B01", "kind": "bureau", "link_mbps": 1000}],
        "systems": [{"id": SYSTEM, "name": "旧门户网站", "bureau_id": "B01"}],
        "hosts": [{"id": g.id, "hostname": g.hostname, "ip": g.ip, "mac": g.mac,
                   "system_id": SYSTEM, "bureau_id": "B01", "kind": "vm",
                   "hypervisor": g.hypervisor_uri, "cpu_cores": g.vcpus,
                   "memory_gb": g.memory_mib / 1024, "os": "Debian GNU/Linux 12"}],
        "disks": [{"id": f"{g.id}-sda", "host_id": g.id, "format": g.disk_format,
                   "size_gb": 4.0, "path": g.disk}],
    }).save(root)
    write_plan(root, {1: [[SYSTEM]]})


def power_off(state: lab.LabState) -> None:
    g = state.guests[0]
    conn = libvirt.open(g.hypervisor_uri)
    try:
        dom = conn.lookupByName(g.domain)
        if dom.isActive():
            dom.destroy()
    finally:
        conn.close()


def ours(state: lab.LabState, work: Path, s3: str) -> dict[str, Any]:
    """The wave; seconds per step kind from the journal, and the wall time."""
    cloud = state.qemu_cloud
    assert cloud is not None
    root = work / "estate"
    estate(state, root)
    opts = RunOptions(
        target="libvirt",
        target_options={"uri": cloud.uri, "pool": cloud.pool,
                        "isolated_network": cloud.isolated_network,
                        "production_network": cloud.production_network,
                        "domain_type": "qemu", "console_dir": cloud.console_dir},
        staging_dir=str(work / "staging"), s3_endpoint=s3, bucket="bench-guest",
        boot_verify={"key_file": state.client_key, "known_hosts": state.known_hosts,
                     "app_ports": str(state.guests[0].app_port),
                     "via_netns": cloud.probe_netns, "timeout": "900"})
    t0 = time.monotonic()
    result = move_wave(str(root), 1, options=opts.to_dict())
    wall = time.monotonic() - t0
    with open_journal(root) as j:
        recs = j.records(1)
    steps: dict[str, float] = {}
    boot: dict[str, Any] = {}
    for r in recs:
        steps[r.kind] = steps.get(r.kind, 0.0) + float(r.seconds or 0.0)
        if r.kind == "launch":
            boot = dict(r.payload.get("boot") or {})
    return {"state": result["systems"][0]["state"], "error": result["systems"][0].get("error"),
            "wall": wall, "steps": steps, "boot": boot}


def v2v(state: lab.LabState, work: Path) -> dict[str, Any]:
    """virt-v2v -i disk -o local on the same source disk."""
    out = work / "v2v"
    out.mkdir()
    cmd = ["virt-v2v", "-i", "disk", state.guests[0].disk, "-o", "local", "-os", str(out),
           "-of", "qcow2", "-on", "legacy-v2v"]
    t0 = time.monotonic()
    cp = subprocess.run(cmd, env=guestfs_env(), capture_output=True, text=True, check=False)
    secs = time.monotonic() - t0
    kept = ""
    disk = next(out.glob("legacy-v2v-sd*"), None)
    if cp.returncode == 0 and disk is not None:  # what its output did to the network
        got = subprocess.run(["virt-cat", "-a", str(disk), "/etc/network/interfaces"],
                             env=guestfs_env(), capture_output=True, text=True, check=False)
        kept = got.stdout
    return {"rc": cp.returncode, "seconds": secs, "interfaces": kept,
            "tail": (cp.stderr or cp.stdout)[-800:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-v2v", action="store_true")
    ap.add_argument("--keep-lab", action="store_true")
    args = ap.parse_args()
    lab_dir = Path(tempfile.mkdtemp(prefix="shangyun-bench-guest-", dir="/tmp"))
    lab_dir.chmod(0o755)
    work = Path(tempfile.mkdtemp(prefix="bench-guest-work-", dir="/var/tmp"))
    try:
        t0 = time.monotonic()
        state = lab.up(lab_dir, bureaus=1, guests=1)
        print(f"lab up with the guest: {time.monotonic() - t0:.1f} s")
        power_off(state)
        with moto_server() as s3:
            mine = ours(state, work, s3)
        print(f"shangyun: {mine['state']} in {mine['wall']:.1f} s; steps "
              + ", ".join(f"{k} {v:.1f} s" for k, v in mine["steps"].items()))
        if mine["boot"]:
            b = mine["boot"]
            print(f"  boot proof: login prompt {b['login_prompt_seconds']} s, SSH "
                  f"{b['ssh_seconds']} s, host key {b['host_key_fingerprint']}, "
                  f"hostname {b['hostname']}, app {b['app']}")
        elif mine["error"]:
            print(f"  error: {mine['error']}")
        core = sum(mine["steps"].get(k, 0.0) for k in ("convert", "adapt", "launch"))
        print(f"shangyun convert + adapt + boot-verify: {core:.1f} s")
        if args.skip_v2v:
            return 0
        peer = v2v(state, work)
        print(f"virt-v2v -i disk -o local: rc {peer['rc']} in {peer['seconds']:.1f} s")
        if peer["rc"] != 0:
            print(peer["tail"])
            return 1
        print("virt-v2v output /etc/network/interfaces:\n" + peer["interfaces"])
        print(f"ratio (convert + adapt + boot-verify) / virt-v2v = "
              f"{core / peer['seconds']:.2f}  (goal ≤ 0.25)")
        print(f"ratio (whole part 1, wall) / virt-v2v = {mine['wall'] / peer['seconds']:.2f}")
        return 0
    finally:
        if not args.keep_lab:
            lab.down(lab_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
