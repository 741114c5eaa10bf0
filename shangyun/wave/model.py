"""What one wave moves: its systems, their hosts and disks, read from the estate and plan.

Plain frozen dataclasses; no I/O here except :func:`shangyun.wave.plan.load_wave`, which
builds them from files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shangyun.errors import EstateError
from shangyun.estate.datastores import roots_for


@dataclass(frozen=True)
class DiskWork:
    """One source disk image: where it lives and in which legacy format."""

    id: str
    host_id: str
    name: str
    path: str
    format: str
    size_gb: float


@dataclass(frozen=True)
class HostWork:
    """One VM of a system: its hypervisor URI, size, and disks (in the estate's order);
    ``os`` and ``mac`` as the estate records them (guest adaptation reads them)."""

    id: str
    hostname: str
    hypervisor: str
    cpu_cores: int
    memory_gb: float
    disks: tuple[DiskWork, ...] = ()
    ip: str = ""
    os: str = ""
    mac: str = ""


@dataclass(frozen=True)
class SystemWork:
    """One business system of the wave and what it owns."""

    id: str
    name: str
    bureau_id: str
    bureau_name: str
    move_group: str
    link_mbps: float | None = None
    hosts: tuple[HostWork, ...] = ()

    @property
    def disks(self) -> list[DiskWork]:
        """Every disk of every host of this system."""
        return [d for h in self.hosts for d in h.disks]


@dataclass(frozen=True)
class WaveWork:
    """One wave of the plan: its number and its systems in plan order."""

    number: int
    estate_dir: str
    plan_fingerprint: str
    estate_fingerprint: str
    systems: tuple[SystemWork, ...] = field(default_factory=tuple)
    datastore_roots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Bureau id (``"*"``: every bureau) -> the folders its source images may be read from
    (``estate.yaml``, :mod:`shangyun.estate.datastores`)."""

    def roots_of(self, system: SystemWork) -> list[str]:
        """The datastore roots configured for ``system``'s bureau."""
        return roots_for(self.datastore_roots, system.bureau_id)

    def system(self, system_id: str) -> SystemWork:
        """The system ``system_id`` of this wave (KeyError if it is not in the wave)."""
        for s in self.systems:
            if s.id == system_id:
                return s
        raise KeyError(system_id)

    @property
    def move_groups(self) -> dict[str, list[str]]:
        """Move group id -> the system ids of this wave in it (plan order)."""
        out: dict[str, list[str]] = {}
        for s in self.systems:
            out.setdefault(s.move_group, []).append(s.id)
        return out


def host_os(row: dict[str, Any]) -> str:
    """What an estate host row says it runs (``os`` and ``os_version``), for the record."""
    return " ".join(str(row.get(k) or "") for k in ("os", "os_version")).strip()


@dataclass(frozen=True)
class EstateIndex:
    """The estate rows :func:`system_work` takes, indexed once: systems and bureaus by id,
    host rows by system id (``""`` for hosts of no system), disk rows by host id."""

    systems: dict[str, dict[str, Any]]
    bureaus: dict[str, dict[str, Any]]
    hosts: dict[str, list[dict[str, Any]]]
    disks: dict[str, list[dict[str, Any]]]


def estate_index(rows: Any) -> EstateIndex:
    """Index an estate (anything with ``rows(table)``: an :class:`~shangyun.estate.Estate`)
    for :func:`system_work`."""
    hosts: dict[str, list[dict[str, Any]]] = {}
    for h in rows.rows("hosts"):
        hosts.setdefault(h["system_id"] or "", []).append(h)
    disks: dict[str, list[dict[str, Any]]] = {}
    for d in rows.rows("disks"):
        disks.setdefault(d["host_id"], []).append(d)
    return EstateIndex({r["id"]: r for r in rows.rows("systems")},
                       {r["id"]: r for r in rows.rows("bureaus")}, hosts, disks)


def system_work(row: dict[str, Any], bureaus: dict[str, dict[str, Any]],
                hosts: list[dict[str, Any]], disks_by_host: dict[str, list[dict[str, Any]]],
                group: str, strict: bool = True) -> SystemWork:
    """One system of the estate (its ``systems.csv`` row, its host rows, every host's disk
    rows) as a wave moves it, in move group ``group``. ``strict``: a disk without a path is
    an error (a run needs it); otherwise its path is left empty (the runbook warns, the
    plan only estimates)."""
    bureau = bureaus.get(row["bureau_id"], {})
    host_work = []
    for h in hosts:
        disks = []
        for d in disks_by_host.get(h["id"], []):
            if not d.get("path") and strict:
                raise EstateError(f"disks.csv: disk {d['id']!r} of host {h['id']!r} has no "
                                  "path, column path (where its image lives)")
            disks.append(DiskWork(id=d["id"], host_id=h["id"], name=d.get("name") or d["id"],
                                  path=d.get("path") or "", format=d.get("format") or "raw",
                                  size_gb=float(d["size_gb"])))
        host_work.append(HostWork(id=h["id"], hostname=h["hostname"],
                                  hypervisor=h.get("hypervisor") or "",
                                  cpu_cores=int(h.get("cpu_cores") or 1),
                                  memory_gb=float(h.get("memory_gb") or 1),
                                  disks=tuple(disks), ip=str(h.get("ip") or ""),
                                  os=host_os(h), mac=str(h.get("mac") or "")))
    link = bureau.get("link_mbps")
    return SystemWork(id=row["id"], name=row["name"], bureau_id=row["bureau_id"],
                      bureau_name=bureau.get("name") or row["bureau_id"], move_group=group,
                      link_mbps=float(link) if link is not None else None,
                      hosts=tuple(host_work))
