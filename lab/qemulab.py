"""The lab's real QEMU hypervisors: a bureau node running the legacy guest, and the
cloud's QEMU node that runs migrated guests.

Each is a private libvirtd (:mod:`lab.libvirtd`). The bureau node (``b01-qemu01``) has a
network ``b01-lan`` bridged onto the lab bridge (the guest lives on the lab network like
every lab host, so discovery reaches it over SSH) and the guest's domain: SATA disk, e1000
NIC with a fixed MAC, serial console to a file, ``type='qemu'`` (TCG). The cloud node has a
directory pool, a production network bridged onto the lab bridge (a migrated guest keeps
its old address there) and an isolated network (no ``<forward>``) whose only other member
is the probe namespace ``sy<tag>-probe``, from which the test launch is checked.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lab import libvirtd
from lab.guests import GuestImage, is_placed, place_guest
from lab.hosts import PREFIX_LEN, netns_exists, run
from lab.state import LabDomain, LabError, LabGuest, LabHypervisor, LabQemuCloud, LabState

GUEST_ID = "b01-legacy01"
GUEST_HOST_OCTET = 200
GUEST_SYSTEM = "SYS-B01-LEGACY"


def virsh(uri: str, *args: str, check: bool = True, timeout: float = 60) -> str:
    """Run ``virsh -c uri args...``; its stdout."""
    return run(["virsh", "-q", "-c", uri, *args], what=f"virsh {args[0]}", check=check,
               timeout=timeout).stdout


def _define(uri: str, kind: str, name: str, xml: str, folder: Path) -> None:
    """Define (once) and start a network/pool/domain; leaves a running one alone."""
    lister = f"{kind}-list" if kind != "dom" else "list"
    names = set(virsh(uri, lister, "--all", "--name").split())
    if name not in names:
        f = folder / f"{kind}-{name}.xml"
        f.write_text(xml)
        virsh(uri, "define" if kind == "dom" else f"{kind}-define", str(f))
    if name not in set(virsh(uri, lister, "--name").split()):  # defined, not active
        virsh(uri, "start" if kind == "dom" else f"{kind}-start", name, timeout=120)


def guest_domain_xml(g: LabGuest, network: str) -> str:
    """The legacy guest as a VMware-era machine: SATA disk, e1000 NIC, serial console."""
    return f"""<domain type='qemu'>
  <name>{g.domain}</name>
  <uuid>{g.uuid}</uuid>
  <memory unit='MiB'>{g.memory_mib}</memory>
  <vcpu>{g.vcpus}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='{g.disk_format}'/>
      <source file={quoteattr(g.disk)}/>
      <target dev='sda' bus='sata'/>
    </disk>
    <interface type='network'>
      <mac address='{g.mac}'/>
      <source network='{network}'/>
      <model type='e1000'/>
    </interface>
    <serial type='file'><source path={quoteattr(g.console)}/><target port='0'/></serial>
    <console type='file'><source path={quoteattr(g.console)}/><target type='serial'/></console>
  </devices>
</domain>
"""


def bridged_network_xml(name: str, bridge: str) -> str:
    """A libvirt network that plugs guests into an existing host bridge."""
    return (f"<network><name>{name}</name><forward mode='bridge'/>"
            f"<bridge name='{bridge}'/></network>")


def isolated_network_xml(name: str, bridge: str) -> str:
    """A libvirt network with no ``<forward>`` and no address: reaches nothing outside."""
    return f"<network><name>{name}</name><bridge name='{bridge}' stp='off'/></network>"


def guest_mac(tag: str) -> str:
    """The legacy guest's fixed MAC (VMware's OUI 00:50:56, as a VMware NIC has)."""
    return f"00:50:56:{tag[0:2]}:{tag[2:4]}:{tag[4]}1"


def up_guest(state: LabState, image: GuestImage, pub: str, old_pid: int = 0) -> int:
    """Place, define and start the legacy guest on the bureau's QEMU node; its libvirtd pid."""
    lab = Path(state.lab_dir)
    folder = lab / "hypervisors" / "b01-qemu"
    gdir = lab / "guests"
    gdir.mkdir(parents=True, exist_ok=True)
    net = state.net.split(".")[1]
    g = LabGuest(
        id=GUEST_ID, hostname=image.hostname, ip=f"10.{net}.1.{GUEST_HOST_OCTET}",
        prefix=PREFIX_LEN, gateway=state.gateway, mac=guest_mac(state.tag), nic=image.nic,
        # the domain is named as the machine (as VMware-era inventories name their VMs):
        # discovery merges the hypervisor's view and the SSH view of it on that name
        bureau="B01", system=GUEST_SYSTEM, domain=image.hostname,
        uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"shangyun-lab/{state.tag}/{GUEST_ID}")),
        hypervisor_uri=libvirtd.uri(folder), disk=str(gdir / f"{GUEST_ID}.qcow2"),
        disk_format="qcow2", console=str(gdir / f"{GUEST_ID}.console.log"),
        host_key=image.host_keys["ssh-ed25519"], app_port=image.app_port,
        image=image.path, recipe_hash=image.recipe_hash)
    pid = libvirtd.start(folder, old_pid)
    uri = g.hypervisor_uri
    running = g.domain in virsh(uri, "list", "--name").split()
    if running and not is_placed(image, Path(g.disk), ip=g.ip, prefix=g.prefix,
                                 gateway=g.gateway, authorized_key=pub):
        # a guest from an earlier image (or other settings) is not reused: it is replaced
        virsh(uri, "destroy", g.domain)
        running = False
    if running and boot_failed(Path(g.console)):
        virsh(uri, "destroy", g.domain)  # stuck in its initramfs or a panic: boot it again
        running = False
    if not running:
        place_guest(image, Path(g.disk), ip=g.ip, prefix=g.prefix, gateway=g.gateway,
                    authorized_key=pub)
        Path(g.console).unlink(missing_ok=True)
    _define(uri, "net", "b01-lan", bridged_network_xml("b01-lan", state.bridge), folder)
    _define(uri, "dom", g.domain, guest_domain_xml(g, "b01-lan"), folder)
    state.guests = [g]
    state.daemons[str(folder)] = pid
    dom = LabDomain(name=g.domain, uuid=g.uuid, state="running", vcpus=g.vcpus,
                    memory_mib=g.memory_mib, firmware="bios", macs=[g.mac], network="b01-lan",
                    disks=[g.disk])
    state.hypervisors.append(LabHypervisor(bureau="B01", name="b01-qemu01", uri=uri,
                                           node_xml="", domains=[dom]))
    return pid


def up_cloud(state: LabState, old_pid: int = 0) -> int:
    """Start the cloud's QEMU node (pool, production and isolated networks, probe netns)."""
    lab = Path(state.lab_dir)
    folder = lab / "cloud" / "qemu"
    pool_path = lab / "cloud" / "qpool"
    consoles = lab / "cloud" / "consoles"
    for p in (pool_path, consoles):
        p.mkdir(parents=True, exist_ok=True)
    pid = libvirtd.start(folder, old_pid)
    uri = libvirtd.uri(folder)
    iso_bridge = f"sy{state.tag}iso"
    probe = f"sy{state.tag}-probe"
    _define(uri, "net", "cloud-prod", bridged_network_xml("cloud-prod", state.bridge), folder)
    _define(uri, "net", "cloud-iso", isolated_network_xml("cloud-iso", iso_bridge), folder)
    _define(uri, "pool", "cloud-qpool",
            f"<pool type='dir'><name>cloud-qpool</name><target><path>{pool_path}</path>"
            "</target></pool>", folder)
    if not netns_exists(probe):
        veth = f"sy{state.tag}pv"
        cmds = [f"netns add {probe}",
                f"link add {veth} type veth peer name eth0 netns {probe}",
                f"link set {veth} master {iso_bridge}", f"link set {veth} up"]
        inner = [f"addr add {state.gateway}/{PREFIX_LEN} dev eth0", "link set eth0 up",
                 "link set lo up"]
        run(["ip", "-batch", "-"], input="\n".join(cmds) + "\n",
            what=f"probe namespace {probe}", timeout=60)
        run(["ip", "-n", probe, "-batch", "-"], input="\n".join(inner) + "\n",
            what=f"probe namespace {probe}", timeout=60)
    state.qemu_cloud = LabQemuCloud(
        uri=uri, pool="cloud-qpool", pool_path=str(pool_path),
        production_network="cloud-prod", isolated_network="cloud-iso",
        isolated_bridge=iso_bridge, probe_netns=probe, probe_ip=state.gateway,
        console_dir=str(consoles))
    state.daemons[str(folder)] = pid
    return pid


#: What a guest's console shows when its boot has failed for good (no use waiting on).
BOOT_FAILED = ("Dropping to a shell", "Gave up waiting for root", "Kernel panic",
               "grub rescue>")


def boot_failed(console: Path, text: str | None = None) -> str | None:
    """The sign of a failed boot on a guest's console (file, or its ``text``), if any."""
    if text is None:
        text = console.read_text(errors="replace") if console.exists() else ""
    return next((m for m in BOOT_FAILED if m in text), None)


def wait_console(path: Path, needle: str, timeout: float) -> str:
    """Wait until the console file holds ``needle``; the console text (LabError if not)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text(errors="replace")
            if needle in text:
                return text
        time.sleep(1)
    raise LabError(f"{path}: no {needle!r} in {timeout:.0f} s; last lines:\n"
                   + "\n".join(text.splitlines()[-15:]))


def down_daemons(daemons: dict[str, int], lab_dir: Path) -> list[int]:
    """Stop the lab's private libvirtds and their QEMUs (also ones found only by folder)."""
    folders = {Path(f): pid for f, pid in daemons.items()}
    for f in (lab_dir / "hypervisors" / "b01-qemu", lab_dir / "cloud" / "qemu"):
        folders.setdefault(f, 0)
    left: list[int] = []
    for f, pid in folders.items():
        if f.is_dir():
            left += libvirtd.stop(f, pid or libvirtd.recorded_pid(f))
    return left


__all__ = ["GUEST_ID", "down_daemons", "guest_domain_xml", "up_cloud", "up_guest",
           "wait_console"]
