"""Bring the lab up (idempotently, repairing what died), report its status, tear it down."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import ipaddress
import os
import shutil
import socket
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import libvirt

from lab import hosts as hx
from lab import objectstore, qemulab
from lab.databases import init_datadir, seed_postgres
from lab.guests import ensure_guest_image
from lab.hypervisors import build_bureau, build_cloud
from lab.keys import ensure_keypair, known_hosts_lines
from lab.ledgers import write_ledgers
from lab.state import STATE_FILE, LabError, LabGuest, LabHost, LabService, LabState
from lab.topology import plan_bureaus, plan_hosts

DEFAULT_NET = 213
GUEST_BOOT_TIMEOUT = 300.0  # TCG boot of the legacy guest to its sshd, on a loaded machine
LAB_ENTRIES = ("hosts", "hypervisors", "cloud", "guests", "ledgers", "client",
               "authorized_keys",
               "known_hosts", STATE_FILE, STATE_FILE + ".tmp", objectstore.LOG_FILE,
               objectstore.PID_FILE)


def default_lab_dir() -> Path:
    """``$SHANGYUN_LAB``, else ``.lab/`` at the project root (the folder of pyproject.toml)."""
    env = os.environ.get("SHANGYUN_LAB")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[1] / ".lab"


def lab_tag(lab_dir: Path) -> str:
    """Five hex digits naming this lab's netns, veths and bridge (from its absolute path)."""
    return hashlib.sha1(str(lab_dir.resolve()).encode()).hexdigest()[:5]


#: Where the machine's own libvirt keeps its networks (``virsh net-list``): checked when
#: its socket exists (a libvirt network's bridge may be down, so ``ip`` alone misses it).
SYSTEM_LIBVIRT = ("qemu:///system", ("/run/libvirt/libvirt-sock",
                                     "/run/libvirt/virtnetworkd-sock"))
#: Words ``ip route`` puts before a route's destination (a route type).
_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "anycast", "unreachable",
                "blackhole", "prohibit", "throw", "nat"}


def _second_octets(net: ipaddress.IPv4Network) -> set[int]:
    """The ``10.<n>.0.0/16`` networks ``net`` overlaps (none for ``10.0.0.0/8`` or wider: a
    lab's /16 is more specific and wins, as it would against a default route)."""
    if net.prefixlen <= 8 or not net.subnet_of(ipaddress.IPv4Network("10.0.0.0/8")):
        return set()
    if net.prefixlen >= 16:
        return {int(net.network_address.packed[1])}
    return {int(s.network_address.packed[1]) for s in net.subnets(new_prefix=16)}


def _ip_nets() -> dict[int, str]:
    """Nets used by this machine's addresses and routes (every routing table), each with
    what uses it (``route 10.5.0.0/16 dev wg0``)."""
    used: dict[int, str] = {}
    found: list[tuple[str, str]] = []  # (network, how a person reads it)
    cp = hx.run(["ip", "-4", "-o", "addr", "show"], what="ip addr", check=False)
    for line in cp.stdout.splitlines():  # "2: eth0    inet 10.1.2.3/24 brd … eth0"
        words = line.split()
        if "inet" in words[:-1]:
            w = words[words.index("inet") + 1]
            found.append((w, f"address {w} on {words[1]}"))
    cp = hx.run(["ip", "-4", "route", "show", "table", "all"], what="ip route", check=False)
    for line in cp.stdout.splitlines():  # "[type] 10.1.0.0/16 dev br0 …"
        words = line.split()
        if words and words[0] in _ROUTE_TYPES:
            words = words[1:]
        if words:
            dev = f" dev {words[words.index('dev') + 1]}" if "dev" in words[:-1] else ""
            found.append((words[0], f"route {words[0]}{dev}"))
    for w, what in found:
        try:
            net = ipaddress.IPv4Network(w, strict=False)
        except ValueError:  # "default", a gateway-only line
            continue
        for n in _second_octets(net):
            used.setdefault(n, what)
    return used


def _libvirt_nets(uris: Sequence[str] | None = None) -> dict[int, str]:
    """Nets of the libvirt networks (active or not) at ``uris`` (default: the machine's
    own libvirt, when its socket exists); an unreachable libvirt is skipped."""
    if uris is None:
        uri, sockets = SYSTEM_LIBVIRT
        uris = [uri] if any(os.path.exists(s) for s in sockets) else []
    used: dict[int, str] = {}
    libvirt.registerErrorHandler(lambda *_: None, None)
    for uri in uris:
        try:
            conn = libvirt.openReadOnly(uri)
        except libvirt.libvirtError:
            continue
        try:
            for netw in conn.listAllNetworks():
                root = ET.fromstring(netw.XMLDesc(0))
                for ip in root.findall("ip"):
                    addr, mask = ip.get("address"), ip.get("prefix") or ip.get("netmask")
                    if not addr or ":" in addr or ip.get("family") == "ipv6":
                        continue
                    try:
                        net = ipaddress.IPv4Network(f"{addr}/{mask or 24}", strict=False)
                    except ValueError:  # an address libvirt itself would refuse
                        continue
                    for n in _second_octets(net):
                        used.setdefault(n, f"libvirt network {netw.name()} ({net}, {uri})")
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()
    return used


NET_RESERVATIONS = Path(tempfile.gettempdir()) / "shangyun-lab-nets"


def _reserved_nets(lab_dir: Path, reservations: Path = NET_RESERVATIONS) -> dict[int, str]:
    """Nets reserved by other labs whose folders still exist (stale ones are dropped)."""
    out: dict[int, str] = {}
    for f in reservations.glob("*"):
        try:
            owner = Path(f.read_text().strip())
        except OSError:
            continue
        if owner == lab_dir or not f.name.isdigit():
            continue
        if (owner / STATE_FILE).exists() or time.time() - f.stat().st_mtime < 600:
            out[int(f.name)] = f"the lab in {owner}"  # a running lab, or one being built
        else:
            f.unlink(missing_ok=True)
    return out


def net_candidates(lab_dir: Path) -> list[int]:
    """The nets a lab in ``lab_dir`` tries, in order: the same order every time for one
    folder (its tag picks where it starts in 100–199), led by 213 for the default lab
    (:func:`default_lab_dir`); 213 is never tried by another folder."""
    start = int(lab_tag(lab_dir), 16) % 100
    spread = [100 + (start + k) % 100 for k in range(100)]
    return [DEFAULT_NET, *spread] if lab_dir == default_lab_dir() else spread


def choose_net(lab_dir: Path, *, libvirt_uris: Sequence[str] | None = None,
               reservations: Path = NET_RESERVATIONS) -> int:
    """Pick and reserve a free ``10.<n>.0.0/16`` for the lab in ``lab_dir``.

    Free means: no address or route of this machine in it (``ip addr``, ``ip route``, all
    tables), no libvirt network of the machine's libvirt (``libvirt_uris``, default
    ``qemu:///system`` when it runs) and no other lab's reservation. The first free one of
    :func:`net_candidates` wins, so a folder gets the same net each time unless it is
    taken. Labs started at the same moment (parallel test sessions, two checkouts) must not
    pick the same net before either has created its bridge: the choice is made under a
    file lock and recorded in ``reservations/<n>`` (the lab's folder), which ``down``
    removes. :class:`LabError` naming what holds each net when none is free.
    """
    lab_dir = lab_dir.resolve()
    reservations.mkdir(exist_ok=True)
    with open(reservations.with_suffix(".lock"), "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            used = {**_libvirt_nets(libvirt_uris), **_ip_nets(),
                    **_reserved_nets(lab_dir, reservations)}
            candidates = net_candidates(lab_dir)
            for n in candidates:
                if n not in used:
                    _reserve(lab_dir, n, reservations)
                    return n
        finally:
            fcntl.flock(lk, fcntl.LOCK_UN)
    held = "; ".join(f"10.{n}: {used[n]}" for n in candidates[:8])
    raise LabError(f"no free 10.<n>.0.0/16 network for the lab in {lab_dir}: all "
                   f"{len(candidates)} it may use (10.{min(candidates)}–10.{max(candidates)}) "
                   f"are taken — {held}{' …' if len(candidates) > 8 else ''}; take a lab "
                   "down (`shangyun lab down --dir DIR`) or remove the route or libvirt "
                   "network holding one")


def _reserve(lab_dir: Path, net: int, reservations: Path = NET_RESERVATIONS) -> None:
    """Record that the lab in ``lab_dir`` holds ``net`` (dropping its other reservations)."""
    reservations.mkdir(exist_ok=True)
    _release_net(lab_dir, reservations, keep=net)
    (reservations / str(net)).write_text(str(lab_dir))


def _release_net(lab_dir: Path, reservations: Path = NET_RESERVATIONS,
                 keep: int | None = None) -> None:
    """Drop every net reservation held by the lab in ``lab_dir`` (state file or not), but
    ``keep``."""
    for f in reservations.glob("*"):
        with contextlib.suppress(OSError):
            if f.name != str(keep) and Path(f.read_text().strip()) == lab_dir:
                f.unlink()


def _check_privileges(mode: str) -> None:
    if mode == "netns" and os.geteuid() != 0:
        raise LabError("a namespace lab needs root (network namespaces, mounts, sshd per "
                       "host); run `shangyun lab up` as root, or use the loopback mode")
    tools = ["qemu-img", "/usr/sbin/sshd", "mariadb-install-db"]
    if mode == "netns":
        tools += ["ip", "unshare"]
    for tool in tools:
        if not shutil.which(tool):
            raise LabError(f"{tool} is not installed; run ./scripts/setup")
    if not (hx.PG_BIN / "postgres").exists():
        raise LabError(f"{hx.PG_BIN / 'postgres'} is missing; run ./scripts/setup")


def _check_traversable(lab_dir: Path) -> None:
    """The database servers run as postgres/mysql: every parent must be world-searchable."""
    for p in [lab_dir, *lab_dir.parents]:
        if not os.stat(p).st_mode & 0o001:
            raise LabError(f"{p}: not searchable by other users (mode "
                           f"{oct(os.stat(p).st_mode & 0o777)}); the lab's PostgreSQL and "
                           "MariaDB run as their own users and need to reach "
                           f"{lab_dir}; choose a lab dir under a world-searchable folder")


def _wait_ports(targets: list[tuple[str, str, int]], timeout: float) -> None:
    """Wait until every (host id, ip, port) accepts TCP connections; LabError if not."""
    pending = list(targets)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        still = []
        for hid, ip, port in pending:
            try:
                with socket.create_connection((ip, port), timeout=0.5):
                    pass
            except OSError:
                still.append((hid, ip, port))
        pending = still
        if pending:
            time.sleep(0.2)
    if pending:
        shown = ", ".join(f"{h} ({ip}:{p})" for h, ip, p in pending[:10])
        raise LabError(f"{len(pending)} lab service(s) did not come up in {timeout:.0f} s: "
                       f"{shown}; see the host folders' *.log files")


def wait_guest(g: LabGuest, timeout: float, ssh_port: int = 22) -> None:
    """Wait until the real guest ``g`` answers on SSH and its app port. LabError naming it,
    its console file and the console's last lines when its boot fails (said on its
    console: at once) or it does not answer within ``timeout``."""
    console = Path(g.console)
    deadline = time.monotonic() + timeout
    pending = [ssh_port, g.app_port]
    text = ""
    while True:
        for port in list(pending):
            try:
                with socket.create_connection((g.ip, port), timeout=0.5):
                    pending.remove(port)
            except OSError:
                pass
        if not pending:
            return
        if console.exists():
            text = console.read_text(errors="replace")
        failed = qemulab.boot_failed(console, text)
        if failed or time.monotonic() >= deadline:
            why = (f"its boot failed ({failed!r} on its console)" if failed else
                   f"ports {', '.join(map(str, pending))} not answering after {timeout:.0f} s")
            tail = "\n".join(ln for ln in text.splitlines()[-8:] if ln.strip())
            raise LabError(f"the real legacy guest {g.hostname} ({g.ip}): {why}; its "
                           f"console {console}, last lines:\n{tail}")
        time.sleep(1)


def up(lab_dir: Path | str | None = None, bureaus: int = 2, hosts: int | None = None,
       *, net: int | None = None, mode: str | None = None, guests: int = 0) -> LabState:
    """Bring the lab up in ``lab_dir`` and return its state; idempotent.

    A second call with the same arguments changes nothing that is running: it restarts only
    hosts whose processes or namespace died and recreates only missing files. Called with a
    different ``bureaus``/``hosts``, it stops the hosts that no longer fit and starts the
    new ones (images and keys are kept). ``net`` picks the lab network ``10.<net>.0.0/16``
    (default: the one the lab had, else :func:`choose_net`'s: 213 for the default lab dir
    when free, else a free one in 100–199, the same for a folder each time).

    ``mode`` is ``"netns"`` (root: hosts are network namespaces) or ``"loopback"`` (the
    fallback without root: sshd and services on ``127.<net>.<b>.<n>``, no namespaces, so no
    per-host hostname, OS look, process view or ``ss`` view). Default: netns when root.

    ``guests`` (0 or 1; netns mode only) adds the real legacy guest (:mod:`lab.guests`):
    built or reused from the cache, booted under QEMU on a private libvirtd on the lab
    network, plus the cloud's QEMU node that runs migrated guests (:mod:`lab.qemulab`).
    """
    if guests not in (0, 1):
        raise LabError(f"guests={guests}: the lab has one real legacy guest (0 or 1)")
    if mode is None:
        mode = "netns" if os.geteuid() == 0 else "loopback"
    if mode not in ("netns", "loopback"):
        raise LabError(f"unknown lab mode {mode!r}; use netns or loopback")
    _check_privileges(mode)
    if guests and mode != "netns":
        raise LabError("the real legacy guest needs the netns mode (root, a lab bridge)")
    lab = Path(lab_dir).resolve() if lab_dir else default_lab_dir()
    plan_hosts(bureaus, hosts, tag="check", net=0)  # bad arguments fail before any change
    lab.mkdir(parents=True, exist_ok=True)
    lab.chmod(0o755)
    if os.geteuid() == 0:
        _check_traversable(lab)
    tag = lab_tag(lab)
    old: LabState | None = None
    if (lab / STATE_FILE).exists():
        try:
            old = LabState.load(lab)
        except LabError:  # unreadable: stop whatever runs under this lab's tag, start afresh
            _stop_all(_bare_state(lab, tag))
            objectstore.stop_recorded(lab)
            old = None
    if net is None and old is not None:
        net = int(old.net.split(".")[1])
    if net is None:
        net = choose_net(lab)
    else:  # kept or given: reserved all the same, so no other lab picks it
        _reserve(lab, net)
    bl, sl = plan_bureaus(bureaus)
    if guests:
        sl.append({"id": qemulab.GUEST_SYSTEM, "name": f"{bl[0]['name']}旧门户网站",
                   "bureau_id": "B01", "kind": "business"})
    loop = mode == "loopback"
    planned = plan_hosts(bureaus, hosts, tag=tag, net=net, loopback=loop)
    client_key = lab / "client" / "id_ed25519"
    client_key.parent.mkdir(exist_ok=True)
    state = LabState(
        lab_dir=str(lab), tag=tag, mode=mode, net=f"{127 if loop else 10}.{net}.0.0/16",
        bridge="" if loop else f"sy{tag}br", gateway="" if loop else f"10.{net}.0.1",
        user=getpass.getuser(), client_key=str(client_key),
        known_hosts=str(lab / "known_hosts"), bureaus=bl, systems=sl, hosts=planned,
        ledgers_dir=str(lab / "ledgers"))
    if old and (old.net != state.net or old.tag != tag or old.mode != mode):
        _stop_all(old)
        old = None
    if old and old.guests and not guests:
        qemulab.down_daemons(old.daemons, lab)
        old.daemons = {}
    # keep the pids of hosts that still run exactly as planned; stop the others
    old_hosts = {h.id: h for h in old.hosts} if old else {}
    index = {h.id: i for i, h in enumerate(planned)}
    for i, h in enumerate(planned):
        h.dir = str(hx.host_dir(state, h))
        h.mac = "" if loop else hx.host_mac(tag, i)
    to_start: list[tuple[int, LabHost]] = []
    for h in planned:
        prev = old_hosts.pop(h.id, None)
        if (prev and prev.ip == h.ip and prev.netns == h.netns and prev.mac == h.mac
                and hx.host_alive(prev, mode)):
            h.pid = prev.pid
            if prev.database and h.database:
                h.database.tables = prev.database.tables
        else:
            if prev:
                _stop_host(prev, mode)
            to_start.append((index[h.id], h))
    for gone in old_hosts.values():
        _stop_host(gone, mode)
        hx.remove_tree(hx.host_dir(state, gone))
    pub = ensure_keypair(client_key, f"shangyun-lab@{tag}")
    auth_keys = lab / "authorized_keys"
    if not auth_keys.exists() or auth_keys.read_text() != pub + "\n":
        auth_keys.write_text(pub + "\n")
        auth_keys.chmod(0o644)
    pubkeys: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futs = [pool.submit(init_datadir, h, hx.host_dir(state, h))
                for h in planned if h.database]
        hv_futs = [pool.submit(build_bureau, lab, b["id"], tag) for b in bl]
        starting = {h.id for _, h in to_start}
        for h in planned:
            pub_file = hx.host_dir(state, h) / "ssh_host_ed25519_key.pub"
            if h.id in starting or not pub_file.exists():
                pubkeys[h.id] = hx.prepare_host(state, h, auth_keys)
            else:  # running as planned: its files are in place
                pubkeys[h.id] = pub_file.read_text().strip()
        for f in futs:
            f.result()
        for f in hv_futs:
            hv, imgs = f.result()
            state.hypervisors.append(hv)
            state.images.extend(imgs)
    guest_image = ensure_guest_image() if guests else None  # cached: free after the first
    state.cloud_uri, state.cloud_node_xml, state.cloud_pool = build_cloud(lab)
    state.s3_endpoint, state.s3_pid = objectstore.ensure(
        lab, old.s3_endpoint if old else "", old.s3_pid if old else 0)
    Path(state.known_hosts).write_text("\n".join(known_hosts_lines(planned, pubkeys)) + "\n")
    if to_start and not loop:
        hx.network_up(state, to_start)
    for _, h in to_start:
        h.pid = hx.start_host(state, h)
    if guest_image is not None:
        if not Path("/sys/class/net", state.bridge).exists():
            hx.network_up(state, [])
        olds = old.daemons if old else {}
        qemulab.up_cloud(state, olds.get(str(lab / "cloud" / "qemu"), 0))
        qemulab.up_guest(state, guest_image, pub,
                         olds.get(str(lab / "hypervisors" / "b01-qemu"), 0))
        g = state.guests[0]
        with open(state.known_hosts, "a") as kh:
            kh.write(f"{g.hostname},{g.ip} {g.host_key}\n")
    state.save()  # early: `down` finds every pid even if the waiting below fails
    ports = [(h.id, h.ip, s.port) for h in planned for s in h.services]
    _wait_ports(ports, timeout=60 + 0.3 * len(planned))
    # every PostgreSQL host, running or just started (idempotent, two queries when seeded),
    # and before the guest's wait: a lab up that failed there used to leave the databases
    # it had started unseeded for good (no role shangyun: wave 1's copy failed)
    for h in planned:
        if h.database and h.database.engine == "postgresql":
            seed_postgres(h)
            h.database.tables = {"orders": 1000}
    if state.guests:
        wait_guest(state.guests[0], timeout=GUEST_BOOT_TIMEOUT)
    state.ledgers = write_ledgers(lab / "ledgers", bl, sl, planned + _guest_rows(state))
    state.save()
    return state


def _guest_rows(state: LabState) -> list[LabHost]:
    """The real guests as ledger rows (hosts the lab does not start as namespaces)."""
    return [LabHost(id=g.id, hostname=g.hostname, ip=g.ip, port=22, bureau=g.bureau,
                    system=g.system, role="guest", netns="", os="debian12",
                    os_pretty="Debian GNU/Linux 12 (bookworm)",
                    services=[LabService("legacy-app", g.app_port, "python3")],
                    mac=g.mac, cpu_cores=g.vcpus, memory_gb=g.memory_mib / 1024)
            for g in state.guests]


def _bare_state(lab: Path, tag: str) -> LabState:
    """A state that knows only the lab's tag: enough to sweep its namespaces and bridge."""
    return LabState(lab_dir=str(lab), tag=tag, mode="netns", net="", bridge=f"sy{tag}br",
                    gateway="", user="root", client_key="", known_hosts="", bureaus=[],
                    systems=[])


def _stop_host(h: LabHost, mode: str) -> None:
    if mode == "loopback":
        hx.stop_groups([h.pid] if h.pid else [])
        return
    pids = [h.pid] if h.pid else []
    pids += hx.netns_pids([h.netns])
    hx.stop_pids(pids)
    if hx.netns_exists(h.netns):
        hx.run(["ip", "netns", "del", h.netns], what=f"netns {h.netns}", check=False)


def _stop_all(state: LabState) -> list[int]:
    objectstore.stop(state.s3_pid)
    vm_left = qemulab.down_daemons(state.daemons, Path(state.lab_dir))
    if state.mode == "loopback":
        return vm_left + hx.stop_groups([h.pid for h in state.hosts if h.pid])
    hx.stop_pids([h.pid for h in state.hosts if h.pid])  # each takes its PID namespace along
    prefix = f"sy{state.tag}-"
    names = [n for n in os.listdir("/run/netns")
             if n.startswith(prefix)] if Path("/run/netns").is_dir() else []
    left = hx.stop_pids(hx.netns_pids(names))  # anything else still in the lab's namespaces
    hx.network_down(state.tag, state.bridge)
    return vm_left + left


def down(lab_dir: Path | str | None = None) -> dict[str, Any]:
    """Stop every lab process (by pid), delete its namespaces, veths, bridge and files.

    Works from the state file, and also without one (it finds the lab's namespaces by the
    tag derived from the folder's path). Removes only what the lab created in ``lab_dir``.
    """
    lab = Path(lab_dir).resolve() if lab_dir else default_lab_dir()
    tag = lab_tag(lab)
    try:
        state: LabState | None = LabState.load(lab)
    except LabError:
        state = None
    if state is None:
        state = _bare_state(lab, tag)
    left = _stop_all(state)
    objectstore.stop_recorded(lab)
    _release_net(lab)
    if left:
        raise LabError(f"{lab}: processes {left} did not stop; the lab folder is kept")
    removed = 0
    if lab.is_dir():
        for name in LAB_ENTRIES:
            p = lab / name
            if p.is_dir():
                hx.remove_tree(p)
                removed += 1
            elif p.exists():
                p.unlink()
                removed += 1
        if not any(lab.iterdir()):
            lab.rmdir()
    return {"lab_dir": str(lab), "hosts_stopped": len(state.hosts), "entries_removed": removed}


def status(lab_dir: Path | str | None = None) -> dict[str, Any]:
    """The lab's health: per host, whether it runs and whether its sshd answers."""
    lab = Path(lab_dir).resolve() if lab_dir else default_lab_dir()
    state = LabState.load(lab)
    rows = []
    for h in state.hosts:
        alive = hx.host_alive(h, state.mode)
        ssh = False
        if alive:
            try:
                with socket.create_connection((h.ip, h.port), timeout=1) as s:
                    ssh = s.recv(64).startswith(b"SSH-")
            except OSError:
                ssh = False
        rows.append({"id": h.id, "ip": h.ip, "role": h.role, "bureau": h.bureau, "os": h.os,
                     "pid": h.pid, "running": alive, "ssh": ssh})
    return {"lab_dir": str(lab), "mode": state.mode, "net": state.net,
            "hosts": rows, "up": sum(r["running"] and r["ssh"] for r in rows),
            "total": len(rows), "hypervisors": state.hypervisor_uris,
            "cloud_uri": state.cloud_uri, "images": len(state.images),
            "ledgers": state.ledgers}
