"""Benchmark: move the lab's real legacy guest with shangyun (convert + adapt + boot-verify)
vs ``virt-v2v -i disk -o local`` on the same image, side by side in one run.

shangyun = wave 1 of a one-system estate holding the guest (a cold move: its VM is shut
off first), onto the lab's QEMU cloud node: ``convert`` (qemu-img, verified), ``adapt``
(libguestfs: virtio in the initramfs, fstab/GRUB by UUID, the NIC pinned to its MAC with its
static address kept, VMware Tools removed), ``upload``/``import`` (S3 staging), ``launch``
with the boot proof (console login, SSH with the original host key, hostname, app). The
figure compared is convert + adapt + launch (the journal's step seconds); the whole part 1
is printed too. virt-v2v 2.2 converts the same source disk to a local qcow2 (no boot).

The network is checked on both outputs (read-only libguestfs, outside the timings): it is
kept when /etc/network/interfaces has the static address on the NIC name (``ens192``) and
a ``.link`` or udev rule gives the NIC with the source's MAC that name. Ours must keep it
(and the boot proof reaches the guest at its old address); virt-v2v's output loses it (the
guest's only ``.link`` matches the ``e1000`` driver, so a virtio NIC gets another name).
The exit status is 0 only when both hold. Both run libguestfs under TCG
(LIBGUESTFS_BACKEND=direct, force_tcg: KVM is unusable here); the load average is printed
(the machine is shared).

    .venv/bin/python benchmarks/guests/bench_guest.py [--skip-v2v] [--keep-lab]

Needs root (the lab) and scripts/setup's packages (virt-v2v, nbdkit, libnbd-bin).
"""

from __future__ import annotations

import argparse
import re
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
from connectors.guestfs import GuestSession
from connectors.journal.wave import open_journal
from flows.move import move_wave
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
        entries = {(e.system, e.step): e for e in j.j.wave_steps(1)}  # the latest of each
    steps: dict[str, float] = {}
    boot: dict[str, Any] = {}
    edits: list[str] = []
    adapted: list[dict[str, Any]] = []
    for r in recs:
        secs = entries[(r.system_id, r.key)].seconds
        steps[r.kind] = steps.get(r.kind, 0.0) + float(secs or 0.0)
        if r.kind == "launch":
            boot = dict(r.payload.get("boot") or {})
        if r.kind == "adapt":
            edits = [str(e.get("why", "")) for e in r.payload.get("edits") or []]
            adapted = [dict(d) for d in (r.payload.get("disks") or {}).values()]
    net: dict[str, Any] = {}
    if adapted and Path(adapted[0]["path"]).is_file():  # the adapted copy, as uploaded
        net = network_files(adapted[0]["path"], adapted[0]["format"])
    return {"state": result["systems"][0]["state"], "error": result["systems"][0].get("error"),
            "wall": wall, "steps": steps, "boot": boot, "edits": edits, "net": net}


def v2v(state: lab.LabState, work: Path) -> dict[str, Any]:
    """virt-v2v -i disk -o local on the same source disk."""
    out = work / "v2v"
    out.mkdir()
    cmd = ["virt-v2v", "-i", "disk", state.guests[0].disk, "-o", "local", "-os", str(out),
           "-of", "qcow2", "-on", "legacy-v2v"]
    t0 = time.monotonic()
    cp = subprocess.run(cmd, env=guestfs_env(), capture_output=True, text=True, check=False)
    secs = time.monotonic() - t0
    disk = next(out.glob("legacy-v2v-sd*"), None)
    net: dict[str, Any] = {}
    if cp.returncode == 0 and disk is not None:  # what its output did to the network
        net = network_files(str(disk), "qcow2")
    return {"rc": cp.returncode, "seconds": secs, "net": net,
            "tail": (cp.stderr or cp.stdout)[-800:]}


def network_files(disk: str, fmt: str) -> dict[str, Any]:
    """/etc/network/interfaces and every NIC-naming file (systemd ``.link``, udev rules)
    of a converted guest, read-only with libguestfs."""
    with GuestSession([(disk, fmt)], readonly=True) as s:
        facts = s.inspect()
        g = s.g
        names: dict[str, str] = {}
        for folder in ("/etc/systemd/network", "/etc/udev/rules.d"):
            if g.is_dir(folder, followsymlinks=True):
                for n in sorted(g.ls(folder)):
                    p = f"{folder}/{n}"
                    if n.endswith((".link", ".rules")) and g.is_file(p, followsymlinks=True):
                        names[p] = bytes(g.read_file(p)).decode(errors="replace")
    return {"interfaces": facts.files.get("/etc/network/interfaces", ""), "naming": names}


def network_kept(net: dict[str, Any], nic: str, mac: str) -> tuple[bool, str]:
    """Does a virtio NIC with the source's MAC come up as ``nic``, the name the static
    address in /etc/network/interfaces is configured on? Only a ``.link`` matching that
    MAC (or a udev rule naming it by MAC) does it: the legacy guest's own ``.link``
    matches the ``e1000`` driver, which a virtio NIC is not."""
    static = re.search(rf"^iface {re.escape(nic)} inet static", net["interfaces"], re.M)
    if not static:
        return False, f"/etc/network/interfaces has no static address on {nic}"
    for path, text in net["naming"].items():
        t = text.lower()
        if mac.lower() in t and re.search(rf"name\s*:?=\s*\"?{re.escape(nic)}\b", t):
            return True, f"{nic} (static) pinned to {mac} by {path}"
    return False, (f"{nic} (static) in /etc/network/interfaces, but no .link or udev rule "
                   f"names a NIC {nic} by its MAC {mac} (only: "
                   + ("; ".join(f"{p}: {' '.join(t.split())}" for p, t in net["naming"].items())
                      or "none") + "): on virtio it comes up under another name, unconfigured")


def load() -> str:
    """The 1/5/15-minute load averages (the machine is shared: say how busy it was)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-v2v", action="store_true")
    ap.add_argument("--keep-lab", action="store_true")
    args = ap.parse_args()
    lab_dir = Path(tempfile.mkdtemp(prefix="shangyun-bench-guest-", dir="/tmp"))
    lab_dir.chmod(0o755)
    work = Path(tempfile.mkdtemp(prefix="bench-guest-work-", dir="/var/tmp"))
    ok = True
    try:
        print(f"load average at start: {load()}")
        t0 = time.monotonic()
        state = lab.up(lab_dir, bureaus=1, guests=1)
        print(f"lab up with the guest: {time.monotonic() - t0:.1f} s")
        g = state.guests[0]
        power_off(state)
        with moto_server() as s3:
            mine = ours(state, work, s3)
        print(f"shangyun: {mine['state']} in {mine['wall']:.1f} s; steps "
              + ", ".join(f"{k} {v:.1f} s" for k, v in mine["steps"].items()))
        print("  adapt edits: " + "; ".join(mine["edits"]))
        if mine["boot"]:
            b = mine["boot"]
            print(f"  boot proof at {g.ip}: login prompt {b['login_prompt_seconds']} s, SSH "
                  f"{b['ssh_seconds']} s, host key {b['host_key_fingerprint']}, "
                  f"hostname {b['hostname']}, app {b['app']}")
        else:
            ok = False
            print(f"  NO BOOT PROOF; error: {mine['error']}")
        if mine["net"]:
            kept, why = network_kept(mine["net"], g.nic, g.mac)
            print(f"  network {'KEPT' if kept else 'LOST'} in the adapted copy: {why}")
            ok = ok and kept
        else:
            ok = False
            print("  the adapted copy is gone: network not checked")
        core = sum(mine["steps"].get(k, 0.0) for k in ("convert", "adapt", "launch"))
        print(f"shangyun convert + adapt + boot-verify: {core:.1f} s")
        print(f"load average after ours: {load()}")
        if args.skip_v2v:
            return 0 if ok else 1
        peer = v2v(state, work)
        print(f"virt-v2v -i disk -o local: rc {peer['rc']} in {peer['seconds']:.1f} s")
        if peer["rc"] != 0:
            print(peer["tail"])
            return 1
        kept, why = network_kept(peer["net"], g.nic, g.mac)
        print(f"  network {'KEPT' if kept else 'LOST'} in virt-v2v's output: {why}")
        print("  its /etc/network/interfaces:\n    "
              + "\n    ".join(peer["net"]["interfaces"].splitlines()))
        print(f"load average at the end: {load()}")
        print(f"ratio (convert + adapt + boot-verify) / virt-v2v = "
              f"{core / peer['seconds']:.2f}  (goal <= 0.25)")
        print(f"ratio (whole part 1, wall) / virt-v2v = {mine['wall'] / peer['seconds']:.2f}")
        return 0 if ok and not kept else 1
    finally:
        if not args.keep_lab:
            lab.down(lab_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
