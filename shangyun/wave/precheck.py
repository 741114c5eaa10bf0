"""Pre-check logic: given what was observed, is it safe to start moving a system?

Pure: the flow gathers :class:`Observations` (reads the files, asks the hypervisor and the
target, measures free space) and :func:`precheck_problems` decides. Every problem names the
system and what is wrong; an empty list means go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REQUIRED_TOOLS = ("qemu-img",)


@dataclass
class Observations:
    """What the pre-check saw for one system (sizes in bytes)."""

    system_id: str
    plan_fingerprint: str
    estate_fingerprint: str
    tools: dict[str, str | None] = field(default_factory=dict)
    unreadable_disks: dict[str, str] = field(default_factory=dict)
    unreachable_hypervisors: dict[str, str] = field(default_factory=dict)
    unusable_services: dict[str, str] = field(default_factory=dict)
    """What the run needs and cannot use (the S3 staging area, the target cloud) -> why."""
    staging_unwritable: str = ""
    """Why the staging folder cannot be written (empty: it can)."""
    staging_free: int = 0
    staging_needed: int = 0
    target_free: dict[str, float] = field(default_factory=dict)
    target_needed: dict[str, float] = field(default_factory=dict)
    who: str = ""  # how a message names the system (its name; empty: the id)
    diskless_hosts: list[str] = field(default_factory=list)
    """Hosts no disk row lists (a ledger-only estate before discovery)."""
    disk_where: dict[str, str] = field(default_factory=dict)  # path -> "vm01 disk0"
    wrong_formats: dict[str, tuple[str, str]] = field(default_factory=dict)
    """path -> (the estate's format, the format the file's header shows), when they differ."""
    changed_disks: list[tuple[str, str, str]] = field(default_factory=list)
    """Disks copied by an earlier run from another image than the estate names now (a
    re-import changed them): (host and disk, copied from, now)."""


def precheck_problems(obs: Observations) -> list[str]:
    """Every reason not to start ``obs.system_id`` (empty: go)."""
    s = obs.who or obs.system_id
    out: list[str] = []
    if not obs.plan_fingerprint:
        out.append(f"system {s}: the plan records no estate fingerprint; re-run 'shangyun plan'")
    elif obs.plan_fingerprint != obs.estate_fingerprint:
        out.append(f"system {s}: the estate changed since the plan was made (fingerprint "
                   f"{obs.estate_fingerprint[:12]} ≠ plan {obs.plan_fingerprint[:12]}); "
                   "re-run 'shangyun plan'")
    for host in obs.diskless_hosts:
        out.append(f"system {s}: host {host} has no disks in the estate, so nothing of it "
                   "would be copied: run 'shangyun discover' with --hypervisor for its "
                   "bureau, or list its disks (a 磁盘 sheet) and plan again")
    for tool in REQUIRED_TOOLS:
        if not obs.tools.get(tool):
            out.append(f"system {s}: tool {tool!r} is not installed (not on PATH)")
    for uri, why in sorted(obs.unreachable_hypervisors.items()):
        out.append(f"system {s}: hypervisor {uri} is not reachable: {why}")
    for path, why in sorted(obs.unreadable_disks.items()):
        where = obs.disk_where.get(path)
        disk = f"disk {where} ({path})" if where else f"disk image {path}"
        out.append(f"system {s}: {disk} is not readable: {why}")
    for path, (said, found) in sorted(obs.wrong_formats.items()):
        where = obs.disk_where.get(path)
        disk = f"disk {where} ({path})" if where else f"disk image {path}"
        out.append(f"system {s}: {disk} is a {found} image but the estate gives its format "
                   f"as {said} (a disk without a format is read as raw), so its copy would "
                   f"hold the wrong bytes: set the disk's format (格式) to {found} or run "
                   "'shangyun discover --hypervisor', then plan again")
    for where, was, now in obs.changed_disks:
        out.append(f"system {s}: disk {where} was copied from {was} by an earlier run but "
                   f"the estate now names {now}: that copy is not moved — the system's "
                   "copies are rolled back; run the wave again to copy the disk it names now")
    for what, why in sorted(obs.unusable_services.items()):
        out.append(f"system {s}: {what} cannot be used: {why}")
    if obs.staging_unwritable:
        out.append(f"system {s}: {obs.staging_unwritable}")
    elif obs.staging_needed > obs.staging_free:
        out.append(f"system {s}: staging needs {_gib(obs.staging_needed)} but has "
                   f"{_gib(obs.staging_free)} free")
    for what, need in sorted(obs.target_needed.items()):
        have = obs.target_free.get(what)
        if have is not None and need > have:
            out.append(f"system {s}: the target has {have:g} {what} free, {need:g} needed")
    return out


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"
