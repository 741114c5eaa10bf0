"""Hypervisors through libvirt: list every domain with its CPUs, memory, disks and NICs.

One connector for every hypervisor libvirt speaks to: KVM over SSH (``qemu+ssh://``),
VMware ESXi/vCenter (``esx://``, ``vpx://``), Xen (``xen+ssh://``) and the ``test://``
driver the lab uses for bureau hypervisors. Listing connections are read-only; only
:class:`PowerSession`, the cutover's power control, changes anything (it stops a source's
domains and starts them again on undo). Disk capacity and allocation come from
``qemu-img info`` when the hypervisor is on this machine and the image lies under the
datastore roots (a path outside them is refused), else from libvirt's block info.

Errors (all name the URI)::

    ConnectorError
    └── HypervisorError             libvirt refused or failed a call
        ├── HypervisorUnreachable   cannot connect (also a TransientError: worth retrying)
        └── HypervisorAuthError     credentials refused (also an AuthError: never retried)
"""

from __future__ import annotations

import contextlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import libvirt

from connectors import qemu
from shangyun.discovery.domains import Domain, DomainDisk, DomainNic
from shangyun.errors import AuthError, ConnectorError, TransientError

libvirt.registerErrorHandler(lambda *a: None, None)  # libvirt prints every error otherwise

__all__ = [
    "Domain", "DomainDisk", "DomainNic", "HypervisorAuthError", "HypervisorError",
    "HypervisorUnreachable", "PowerSession", "connect", "esx_uri", "host_key_checked",
    "is_local", "kvm_ssh_uri",
    "list_domains", "missing_domains", "test_uri", "xen_ssh_uri",
]

STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate", libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked", libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown", libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed", libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}
_AUTH_CODES = {libvirt.VIR_ERR_AUTH_FAILED, libvirt.VIR_ERR_AUTH_CANCELLED,
               getattr(libvirt, "VIR_ERR_AUTH_UNAVAILABLE", -1)}
_UNREACHABLE_CODES = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_SYSTEM_ERROR,
                      libvirt.VIR_ERR_RPC}


_UNREACHABLE_WORDS = ("couldn't connect", "connection refused", "no route to host",
                      "timed out", "could not resolve", "network is unreachable")


class HypervisorError(ConnectorError):
    """libvirt failed a call on a hypervisor; the message names the URI."""

    def __init__(self, uri: str, message: str) -> None:
        self.uri = uri
        super().__init__(f"hypervisor {uri}: {message}")


class HypervisorUnreachable(HypervisorError, TransientError):
    """The hypervisor cannot be reached (down, refused, no route); worth retrying."""


class HypervisorAuthError(HypervisorError, AuthError):
    """The hypervisor refused our credentials; never retried."""


# -- URIs -----------------------------------------------------------------------------------
def _query(params: dict[str, str]) -> str:
    return ("?" + urlencode(params, safe="/")) if params else ""


def kvm_ssh_uri(host: str, *, user: str = "root", port: int | None = None,
                keyfile: str | Path | None = None, known_hosts: str | Path | None = None,
                system: bool = True) -> str:
    """A KVM/QEMU URI over SSH that verifies the host key (``no_verify=0``).

    >>> kvm_ssh_uri("10.0.0.5", keyfile="/k/id", known_hosts="/k/kh")
    'qemu+ssh://root@10.0.0.5/system?keyfile=/k/id&known_hosts=/k/kh&no_verify=0'
    """
    params: dict[str, str] = {}
    if keyfile:
        params["keyfile"] = str(keyfile)
    if known_hosts:
        params["known_hosts"] = str(known_hosts)
    params["no_verify"] = "0"
    hostpart = f"{quote(user)}@{host}" + (f":{port}" if port else "")
    return f"qemu+ssh://{hostpart}/{'system' if system else 'session'}{_query(params)}"


def xen_ssh_uri(host: str, *, user: str = "root", port: int | None = None,
                keyfile: str | Path | None = None,
                known_hosts: str | Path | None = None) -> str:
    """A Xen (libxl) URI over SSH that verifies the host key.

    >>> xen_ssh_uri("xen1", user="ops")
    'xen+ssh://ops@xen1/system?no_verify=0'
    """
    return "xen+ssh" + kvm_ssh_uri(host, user=user, port=port, keyfile=keyfile,
                                   known_hosts=known_hosts).removeprefix("qemu+ssh")


def esx_uri(host: str, *, user: str | None = None, no_verify: bool = False,
            vcenter_path: str | None = None) -> str:
    """A VMware ESXi URI (or vCenter with ``vcenter_path``); certificates verified by default.

    >>> esx_uri("esx1.example")
    'esx://esx1.example/?no_verify=0'
    >>> esx_uri("vc.example", user="ro", vcenter_path="DC1/cluster1/esx1")
    'vpx://ro@vc.example/DC1/cluster1/esx1?no_verify=0'
    """
    scheme = "vpx" if vcenter_path else "esx"
    hostpart = (f"{quote(user)}@" if user else "") + host
    path = "/" + (vcenter_path.strip("/") if vcenter_path else "")
    return f"{scheme}://{hostpart}{path}?no_verify={1 if no_verify else 0}"


_SSH_TRANSPORTS = ("ssh", "libssh", "libssh2")


def host_key_checked(uri: str) -> str:
    """The URI libvirt is given for ``uri``: an SSH transport (``qemu+ssh://``,
    ``xen+ssh://``, ``+libssh2``) becomes libvirt's own libssh client checking the host key
    against the URI's ``known_hosts`` file only (``known_hosts_verify=normal``: an unknown
    or changed key is refused, there is no one to ask), never the user's ssh config or
    ``~/.ssh/known_hosts``. Without ``known_hosts`` no host is trusted (``/dev/null``).
    ``no_verify``/``command`` are dropped. Other URIs are returned unchanged.

    >>> host_key_checked("qemu+ssh://root@h/system?keyfile=/k/id&known_hosts=/k/kh&no_verify=0")
    'qemu+libssh://root@h/system?keyfile=/k/id&known_hosts=/k/kh&known_hosts_verify=normal'
    """
    parts = urlsplit(uri)
    driver, _, transport = parts.scheme.partition("+")
    if transport not in _SSH_TRANSPORTS:
        return uri
    params = {k: v for k, v in parse_qsl(parts.query, keep_blank_values=True)
              if k not in ("no_verify", "command", "known_hosts_verify")}
    params["known_hosts"] = params.get("known_hosts") or "/dev/null"
    params["known_hosts_verify"] = "normal"
    return urlunsplit((f"{driver}+libssh", parts.netloc, parts.path, _query(params)[1:],
                       parts.fragment))


def test_uri(node_xml: str | Path) -> str:
    """The libvirt test-driver URI of a node definition file (used by the lab)."""
    return f"test://{Path(node_xml).resolve()}"


# -- connecting and listing -----------------------------------------------------------------
def _wrap(uri: str, exc: libvirt.libvirtError) -> HypervisorError:
    code = exc.get_error_code()
    msg = exc.get_error_message() or str(exc)
    if code in _AUTH_CODES or "credentials" in msg.lower():
        return HypervisorAuthError(uri, f"authentication refused: {msg}")
    low = msg.lower()
    if code in _UNREACHABLE_CODES or any(w in low for w in _UNREACHABLE_WORDS):
        return HypervisorUnreachable(uri, f"cannot connect: {msg}")
    return HypervisorError(uri, msg)


def _check_test_uri(uri: str) -> None:
    """A ``test://`` URI must name an existing node file (libxml2 would only print a warning)."""
    if uri.startswith("test://"):
        path = uri.removeprefix("test://").split("?", 1)[0]
        if path not in ("/default", "") and not Path(path).is_file():
            raise HypervisorError(uri, f"node definition {path} does not exist")


@contextlib.contextmanager
def connect(uri: str, *, username: str | None = None,
            password: str | None = None) -> Iterator[libvirt.virConnect]:
    """A read-only libvirt connection to ``uri``, closed afterwards.

    ``username``/``password`` answer the hypervisor's credential prompts (ESXi, vCenter);
    the password is handed to libvirt only and never logged. SSH-based URIs use the key
    and known_hosts named in the URI.
    """
    _check_test_uri(uri)

    def _answer(creds: list[list[Any]], _data: object) -> int:
        for cred in creds:
            if cred[0] == libvirt.VIR_CRED_AUTHNAME and username:
                cred[4] = username
            elif cred[0] == libvirt.VIR_CRED_PASSPHRASE and password is not None:
                cred[4] = password
            else:
                return -1
        return 0

    try:
        if username or password:
            auth = [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], _answer, None]
            conn = libvirt.openAuth(host_key_checked(uri), auth, libvirt.VIR_CONNECT_RO)
        else:
            conn = libvirt.openReadOnly(host_key_checked(uri))
    except libvirt.libvirtError as exc:
        raise _wrap(uri, exc) from None
    if conn is None:
        raise HypervisorUnreachable(uri, "cannot connect")
    try:
        yield conn
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()


def _firmware(os_el: ET.Element | None) -> str:
    if os_el is None:
        return "bios"
    if os_el.get("firmware") == "efi":
        return "uefi"
    loader = os_el.find("loader")
    if loader is not None and (loader.get("type") == "pflash"
                               or "ovmf" in (loader.text or "").lower()
                               or "efi" in (loader.text or "").lower()):
        return "uefi"
    return "bios"


def is_local(uri: str) -> bool:
    """Whether the hypervisor at ``uri`` runs on this machine (no host in the URI:
    ``qemu:///system``, ``test:///…``): only then is a disk path in its XML a local file."""
    return not urlsplit(uri).hostname


def _image_sizes(uri: str, dom: str, disk: DomainDisk,
                 roots: Sequence[str]) -> tuple[int | None, int | None, str]:
    """(virtual size, bytes on disk, format) of a local domain's image, via qemu-img.

    The path comes from the hypervisor's XML, so it is read only under the datastore
    ``roots`` (:func:`connectors.qemu.admit`: no ``..``, no ``/dev``, no backing file or
    extent outside its folder); a path outside them is refused with
    :class:`HypervisorError` naming the domain and the disk, nothing read. Sizes are
    ``None`` when the file is not there (an empty format is probed by qemu-img)."""
    try:
        info = qemu.admit(disk.path, disk.format or None, roots=roots)
    except qemu.ImageRefused as exc:
        raise HypervisorError(uri, f"domain {dom}, disk {disk.target or disk.path}: {exc} "
                              "(the datastore roots decide which image files may be "
                              "read)") from None
    except ConnectorError:
        return None, None, disk.format
    return info.virtual_size, info.actual_size, disk.format or info.format


def _network_source(src: ET.Element) -> str:
    """Where a network disk is: ``rbd://mon1:6789/pool/image``, ``iscsi://san1/iqn…/1``
    (its first host), never a local path."""
    host = src.find("host")
    where = ""
    if host is not None and host.get("name"):
        where = host.get("name", "") + (f":{host.get('port')}" if host.get("port") else "")
    return f"{src.get('protocol') or 'network'}://{where}/{src.get('name') or ''}"


def parse_domain_xml(xml: str, state: str, hypervisor: str = "") -> Domain:
    """A :class:`Domain` from libvirt domain XML (pure: no image is read here)."""
    root = ET.fromstring(xml)
    mem_el = root.find("memory")
    mem_kib = int(mem_el.text or 0) if mem_el is not None else 0
    unit = (mem_el.get("unit", "KiB") if mem_el is not None else "KiB").lower()
    factor = {"b": 1 / 1024, "bytes": 1 / 1024, "kib": 1, "k": 1, "mib": 1024, "m": 1024,
              "gib": 1024 ** 2, "g": 1024 ** 2}.get(unit, 1)
    os_el = root.find("os")
    type_el = os_el.find("type") if os_el is not None else None
    dom = Domain(
        name=root.findtext("name", ""), uuid=root.findtext("uuid", ""), state=state,
        vcpus=int(root.findtext("vcpu", "1") or 1), memory_mib=int(mem_kib * factor // 1024),
        firmware=_firmware(os_el),
        arch=type_el.get("arch", "") if type_el is not None else "",
        os_type=(type_el.text or "") if type_el is not None else "", hypervisor=hypervisor)
    for d in root.iterfind("devices/disk"):
        src = d.find("source")
        path, kind = "", d.get("type", "file")
        if src is not None and kind == "network":
            path = _network_source(src)
        elif src is not None:
            path = src.get("file") or src.get("dev") or src.get("name") or ""
        drv, tgt = d.find("driver"), d.find("target")
        fmt = drv.get("type", "") if drv is not None else ""
        fmt = {"vpc": "vhd"}.get(fmt, fmt)
        disk = DomainDisk(target=tgt.get("dev", "") if tgt is not None else "",
                          device=d.get("device", "disk"),
                          bus=tgt.get("bus", "") if tgt is not None else "",
                          path=path, format=fmt, readonly=d.find("readonly") is not None,
                          source_type=kind)
        dom.disks.append(disk)
    for n in root.iterfind("devices/interface"):
        mac, src, model = n.find("mac"), n.find("source"), n.find("model")
        net = ""
        if src is not None:
            net = src.get("network") or src.get("bridge") or src.get("dev") or ""
        dom.nics.append(DomainNic(mac=(mac.get("address", "") if mac is not None else "").lower(),
                                  type=n.get("type", ""), network=net,
                                  model=model.get("type", "") if model is not None else ""))
    return dom


def list_domains(uri: str, *, datastore_roots: Sequence[str] = (),
                 username: str | None = None, password: str | None = None) -> list[Domain]:
    """Every domain on the hypervisor at ``uri`` (running and shut off), sorted by name.

    Disk sizes come from the image files (``qemu-img info``) only for a hypervisor on this
    machine (:func:`is_local`) and only under ``datastore_roots``: an image file path in the
    XML outside them is refused (:class:`HypervisorError`, nothing read); with no roots, or
    for a remote hypervisor, and for network disks (``rbd://…``, ``iscsi://…``) and block
    devices, no local file is read and libvirt's own block info is used.

    Implements :class:`shangyun.discovery.ports.HypervisorLister`; the domains' estate rows
    come from :func:`shangyun.discovery.domains.to_estate_rows`."""
    local = is_local(uri) and bool(datastore_roots)
    with connect(uri, username=username, password=password) as conn:
        try:
            doms = conn.listAllDomains(0)
            out = []
            for d in doms:
                state = STATES.get(d.state()[0], "nostate")
                dom = parse_domain_xml(d.XMLDesc(0), state, hypervisor=uri)
                dom.vcpus = max(dom.vcpus, 1)
                for disk in dom.disks:
                    # only an image file is read; a network disk (rbd, iscsi …) or a
                    # block device (a SAN LUN) has libvirt's sizes
                    if local and disk.device == "disk" and disk.path and \
                            disk.source_type == "file":
                        disk.capacity, disk.allocation, disk.format = _image_sizes(
                            uri, dom.name, disk, datastore_roots)
                    if disk.device == "disk" and disk.capacity is None and disk.target:
                        with contextlib.suppress(libvirt.libvirtError):
                            disk.capacity, disk.allocation, _ = d.blockInfo(disk.target)
                out.append(dom)
        except libvirt.libvirtError as exc:
            raise _wrap(uri, exc) from None
    return sorted(out, key=lambda x: x.name)


# -- power control (the cutover's freeze and its undo) --------------------------------------
def missing_domains(uri: str, names: Iterable[str]) -> str | None:
    """Why the hypervisor at ``uri`` cannot serve a system (None when it can): it must open
    read-only and know every one of ``names`` as a domain."""
    try:
        conn = libvirt.openReadOnly(host_key_checked(uri))
    except libvirt.libvirtError as exc:
        return str(exc)
    try:
        known = {d.name() for d in conn.listAllDomains()}
        missing = [n for n in names if n not in known]
        return f"no domain named {', '.join(missing)}" if missing else None
    finally:
        conn.close()


class PowerSession:
    """Power control of one source hypervisor's domains: one read-write connection kept
    for the session (the ``test://`` driver keeps its domains' state in the connection, so
    a freeze and its undo in one process must share it). Errors are
    :class:`HypervisorError` naming the URI and the domain."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        try:
            self._conn: libvirt.virConnect | None = libvirt.open(host_key_checked(uri))
        except libvirt.libvirtError as exc:
            raise HypervisorError(uri, exc.get_error_message()) from None

    def _domain(self, name: str) -> libvirt.virDomain:
        if self._conn is None:
            raise HypervisorError(self.uri, f"domain {name}: the session is closed")
        try:
            return self._conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            raise HypervisorError(self.uri, f"domain {name}: {exc.get_error_message()}") \
                from None

    def is_active(self, name: str) -> bool:
        """Whether domain ``name`` runs (running, blocked or paused)."""
        return bool(self._domain(name).isActive())

    def shut_down(self, name: str, *, polls: int, poll_seconds: float,
                  force: bool = False) -> None:
        """Shut ``name`` down and wait ``polls`` times ``poll_seconds`` for it to stop
        (no-op when it is off). When it still runs: forced off only with ``force``, else a
        :class:`HypervisorError` (a guest killed mid-write can lose what it was writing)."""
        dom = self._domain(name)
        if not dom.isActive():
            return
        with contextlib.suppress(libvirt.libvirtError):
            dom.shutdown()
        for _ in range(polls):
            if not dom.isActive():
                break
            time.sleep(poll_seconds)
        if dom.isActive() and not force:
            raise HypervisorError(self.uri, f"domain {name} still runs "
                                            f"{polls * poll_seconds:g} s after its shutdown; "
                                            "not forced off (force_off: true forces it)")
        if dom.isActive():
            try:
                dom.destroy()
            except libvirt.libvirtError as exc:
                raise HypervisorError(self.uri, f"cannot stop {name}: "
                                                f"{exc.get_error_message()}") from None

    def start(self, name: str) -> None:
        """Start ``name`` (no-op when it runs)."""
        dom = self._domain(name)
        if dom.isActive():
            return
        try:
            dom.create()
        except libvirt.libvirtError as exc:
            raise HypervisorError(self.uri, f"cannot restart {name}: "
                                            f"{exc.get_error_message()}") from None

    def alive(self) -> bool:
        """Whether the session's connection is open and answers."""
        if self._conn is None:
            return False
        try:
            return bool(self._conn.isAlive())
        except libvirt.libvirtError:
            return False

    def close(self) -> None:
        """Close the connection (safe twice)."""
        if self._conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
            self._conn = None
