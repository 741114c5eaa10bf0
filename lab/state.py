"""The lab state file (``lab.json``): everything a lab is, for the tests, demo and benchmarks.

Written atomically by :func:`lab.up` and read by :meth:`LabState.load`. Paths are
absolute. ``mode`` is ``"netns"`` (hosts are network namespaces on a bridge) or
``"loopback"`` (the unprivileged fallback: sshd on 127.0.0.1 ports, no per-host network).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shangyun.errors import ShangyunError

STATE_FILE = "lab.json"
STATE_VERSION = 1


class LabError(ShangyunError):
    """The lab cannot be built, read or torn down (the message names the host or file)."""


@dataclass
class LabService:
    """A service a lab host runs: its name, TCP port and the process name ``ss`` shows."""

    name: str
    port: int
    process: str


@dataclass
class LabDependency:
    """A long-lived TCP connection a lab host keeps open to another host's service."""

    target_host: str
    target_ip: str
    port: int
    service: str
    process: str


@dataclass
class LabDatabase:
    """A real database instance on a lab host (engine, port, database name, login user)."""

    engine: str
    version: str
    port: int
    name: str
    user: str
    tables: dict[str, int] = field(default_factory=dict)


@dataclass
class LabHost:
    """One lab host: a network namespace with its own address, sshd and role services."""

    id: str
    hostname: str
    ip: str
    port: int
    bureau: str
    system: str
    role: str
    netns: str
    os: str
    os_pretty: str
    services: list[LabService] = field(default_factory=list)
    dependencies: list[LabDependency] = field(default_factory=list)
    database: LabDatabase | None = None
    pid: int | None = None
    dir: str = ""
    mac: str = ""
    cpu_cores: int = 2
    memory_gb: float = 4.0
    files: list[str] = field(default_factory=list)


@dataclass
class LabImage:
    """A disk image in a legacy format whose guest-visible content has a known SHA-256."""

    path: str
    format: str
    subformat: str
    virtual_size: int
    sha256: str
    domain: str
    bureau: str


@dataclass
class LabDomain:
    """A domain (VM) defined on a bureau hypervisor of the lab."""

    name: str
    uuid: str
    state: str
    vcpus: int
    memory_mib: int
    firmware: str
    macs: list[str]
    network: str
    disks: list[str]


@dataclass
class LabHypervisor:
    """A bureau hypervisor: a libvirt ``test://`` node definition and its domains."""

    bureau: str
    name: str
    uri: str
    node_xml: str
    domains: list[LabDomain] = field(default_factory=list)


@dataclass
class LabGuest:
    """A real legacy guest (see :mod:`lab.guests`) running under QEMU on a lab hypervisor.

    ``host_key`` is its own ed25519 public key line (made when the image was built),
    ``console`` the file its serial console writes to, ``disk`` the lab's copy of its disk,
    ``hypervisor_uri`` the private libvirtd (QEMU driver) it runs on.
    """

    id: str
    hostname: str
    ip: str
    prefix: int
    gateway: str
    mac: str
    nic: str
    bureau: str
    system: str
    domain: str
    uuid: str
    hypervisor_uri: str
    disk: str
    disk_format: str
    console: str
    host_key: str
    app_port: int
    image: str
    recipe_hash: str
    memory_mib: int = 512
    vcpus: int = 1


@dataclass
class LabQemuCloud:
    """The cloud's QEMU-backed libvirt node (beside the test-driver one): runs guests.

    ``production_network`` bridges onto the lab network (a guest keeps its old address);
    ``isolated_network`` has no ``<forward>`` and reaches nothing but ``probe_netns``, a
    network namespace on it (address ``probe_ip``) from which a test launch is checked.
    """

    uri: str
    pool: str
    pool_path: str
    production_network: str
    isolated_network: str
    isolated_bridge: str
    probe_netns: str
    probe_ip: str
    console_dir: str


@dataclass
class LabState:
    """Everything the lab is: hosts, keys, hypervisors, cloud, images, ledgers."""

    lab_dir: str
    tag: str
    mode: str
    net: str
    bridge: str
    gateway: str
    user: str
    client_key: str
    known_hosts: str
    bureaus: list[dict[str, str]]
    systems: list[dict[str, str]]
    hosts: list[LabHost] = field(default_factory=list)
    hypervisors: list[LabHypervisor] = field(default_factory=list)
    cloud_uri: str = ""
    cloud_node_xml: str = ""
    cloud_pool: str = ""
    images: list[LabImage] = field(default_factory=list)
    ledgers_dir: str = ""
    ledgers: list[str] = field(default_factory=list)
    s3_endpoint: str = ""  # the lab's object store (moto on 127.0.0.1): wave staging
    s3_pid: int = 0
    guests: list[LabGuest] = field(default_factory=list)
    qemu_cloud: LabQemuCloud | None = None
    daemons: dict[str, int] = field(default_factory=dict)  # private libvirtd folder -> pid
    version: int = STATE_VERSION

    # -- lookups -----------------------------------------------------------------------
    def datastore_roots(self) -> dict[str, list[str]]:
        """Lab bureau -> the folders its hypervisors' disk images are in (its datastores:
        the test-driver images and the real guests' disks)."""
        out: dict[str, list[str]] = {}
        disks = [(i.bureau, i.path) for i in self.images] + [(g.bureau, g.disk)
                                                             for g in self.guests]
        for bureau, path in disks:
            folder = str(Path(path).parent)
            if folder not in out.setdefault(bureau, []):
                out[bureau].append(folder)
        return out

    def host(self, key: str) -> LabHost:
        """The host whose id, hostname or IP is ``key``."""
        for h in self.hosts:
            if key in (h.id, h.hostname, h.ip):
                return h
        raise LabError(f"{self.lab_dir}: no lab host {key!r}")

    def hosts_with_role(self, role: str) -> list[LabHost]:
        """The hosts of one role (``app``, ``db``, ``fs``, ``auth``, ``light``)."""
        return [h for h in self.hosts if h.role == role]

    def guest(self, key: str) -> LabGuest:
        """The real guest whose id, hostname or IP is ``key``."""
        for g in self.guests:
            if key in (g.id, g.hostname, g.ip):
                return g
        raise LabError(f"{self.lab_dir}: no lab guest {key!r}")

    @property
    def hypervisor_uris(self) -> list[str]:
        """The ``test://`` URIs of the bureau hypervisors."""
        return [hv.uri for hv in self.hypervisors]

    # -- files -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The state as plain JSON-able data."""
        return asdict(self)

    def save(self) -> Path:
        """Write ``lab.json`` atomically (temp file, fsync, rename)."""
        path = Path(self.lab_dir) / STATE_FILE
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False, indent=2)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, lab_dir: str | Path) -> LabState:
        """Read the state of the lab in ``lab_dir``; :class:`LabError` if none or unreadable."""
        path = Path(lab_dir).resolve() / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LabError(f"{path}: no lab here (run `shangyun lab up`)") from None
        except (OSError, ValueError) as exc:
            raise LabError(f"{path}: cannot read the lab state: {exc}") from None
        if data.get("version") != STATE_VERSION:
            raise LabError(f"{path}: lab state version {data.get('version')!r}, "
                           f"expected {STATE_VERSION}; run `shangyun lab down` and `up` again")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabState:
        """Build the state from the data :meth:`to_dict` wrote."""
        d = dict(data)
        d["hosts"] = [_host(h) for h in d.get("hosts", [])]
        d["hypervisors"] = [
            LabHypervisor(**{**hv, "domains": [LabDomain(**x) for x in hv.get("domains", [])]})
            for hv in d.get("hypervisors", [])
        ]
        d["images"] = [LabImage(**i) for i in d.get("images", [])]
        d["guests"] = [LabGuest(**g) for g in d.get("guests", [])]
        d["qemu_cloud"] = LabQemuCloud(**d["qemu_cloud"]) if d.get("qemu_cloud") else None
        return cls(**d)


def _host(h: dict[str, Any]) -> LabHost:
    d = dict(h)
    d["services"] = [LabService(**s) for s in d.get("services", [])]
    d["dependencies"] = [LabDependency(**x) for x in d.get("dependencies", [])]
    d["database"] = LabDatabase(**d["database"]) if d.get("database") else None
    return LabHost(**d)
