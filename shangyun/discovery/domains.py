"""Hypervisor domains (VMs) as plain data, and their estate rows. Pure.

:func:`connectors.hypervisor.list_domains` fills these from libvirt; :func:`to_estate_rows`
turns them into estate ``hosts`` and ``disks`` rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Any

#: libvirt run state → the estate's power state (anything else is ``off``).
POWER = {"running": "on", "blocked": "on", "paused": "suspended", "pmsuspended": "suspended"}
GIB = 1024 ** 3
_DISK_FORMATS = ("raw", "qcow2", "vmdk", "vhd", "vhdx")


@dataclass
class DomainDisk:
    """One disk of a domain: where its image is and how big it is (bytes)."""

    target: str
    device: str
    bus: str
    path: str
    format: str
    capacity: int | None = None
    allocation: int | None = None
    readonly: bool = False
    #: libvirt's disk type: ``file`` (an image file), ``block`` (a device), ``network``
    #: (``path`` is then ``rbd://mon:6789/pool/image``, ``iscsi://host/iqn…``), ``volume``
    source_type: str = "file"


@dataclass
class DomainNic:
    """One NIC of a domain: its MAC and what it is plugged into."""

    mac: str
    type: str
    network: str
    model: str = ""


@dataclass
class Domain:
    """One virtual machine as its hypervisor describes it."""

    name: str
    uuid: str
    state: str
    vcpus: int
    memory_mib: int
    firmware: str
    arch: str
    os_type: str
    disks: list[DomainDisk] = field(default_factory=list)
    nics: list[DomainNic] = field(default_factory=list)
    hypervisor: str = ""

    @property
    def power_state(self) -> str:
        """The estate's power state: on, off or suspended."""
        return POWER.get(self.state, "off")

    def to_dict(self) -> dict[str, Any]:
        """The domain as plain JSON-able data."""
        return {**asdict(self), "power_state": self.power_state}


def to_estate_rows(domains: Iterable[Domain], *, bureau_id: str, hypervisor: str,
                   system_id: str = "", cluster: str = "") -> dict[str, list[dict[str, Any]]]:
    """Turn domains into estate ``hosts`` and ``disks`` rows (columns as in the schema).

    Host ids are the domain names; disk ids are ``<domain>:<target>``. Only real disks
    (not CD-ROMs) become disk rows; ``disk_gb`` is the sum of their capacities.
    """
    hosts, disks = [], []
    for d in domains:
        real = [x for x in d.disks if x.device == "disk"]
        total = sum(x.capacity or 0 for x in real)
        hosts.append({
            "id": d.name, "hostname": d.name, "ip": "",
            "mac": d.nics[0].mac if d.nics else "", "system_id": system_id,
            "bureau_id": bureau_id, "kind": "vm", "role": "", "hypervisor": hypervisor,
            "cluster": cluster, "power_state": d.power_state, "arch": d.arch,
            "firmware": d.firmware, "cpu_cores": d.vcpus,
            "memory_gb": round(d.memory_mib / 1024, 3),
            "disk_gb": round(total / GIB, 3), "source": f"libvirt:{d.hypervisor}",
        })
        for x in real:
            disks.append({
                "id": f"{d.name}:{x.target}", "host_id": d.name, "name": x.target,
                "size_gb": round((x.capacity or 0) / GIB, 6) or None,
                "used_gb": round(x.allocation / GIB, 6) if x.allocation is not None else None,
                "format": x.format if x.format in _DISK_FORMATS else "", "path": x.path,
                "datastore": _datastore(x.path),
            })
    return {"hosts": hosts, "disks": disks}


def _datastore(path: str) -> str:
    """The folder of an image path; of a network disk, its ``protocol://host/pool``."""
    if "://" in path:
        return path.rsplit("/", 1)[0]
    return str(PurePath(path).parent) if path else ""


__all__ = ["POWER", "Domain", "DomainDisk", "DomainNic", "to_estate_rows"]
