"""The steps of a wave run, as plain data: what will be done to which system, in order.

A :class:`Step` is one idempotent action on one system. Its ``key`` is unique in the wave
and is what the journal records it under; ``args`` hold everything the action needs and
``planned`` what it will create (so that an undo can clean up even after a crash in the
middle of the step). This module builds part 1's steps of one system
(:func:`system_steps`); the whole list a run does — part 1, then the cutover — comes from
the one builder, :func:`shangyun.wave.builder.wave_steps`, which the run, the dry run,
the progress bar, the runbook and the rehearsal all call.

Part 1 kinds, in order per system: ``precheck`` → ``convert`` (per disk) → ``adapt`` (per
host with disks: the guest OS made to boot on virtio and keep its network, on adapted
copies of the converted disks; docs/guests.md) → ``upload`` (per disk, to S3 staging) →
``import`` (per disk, into the target) → ``launch`` (per host, the isolated "test launch").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any, TypeVar

from shangyun.errors import StepError
from shangyun.guests.plan import GuestPlan
from shangyun.wave.model import SystemWork, WaveWork
from shangyun.wave.stepargs import (
    AdaptArgs,
    AdaptDisk,
    AdaptPlanned,
    ConvertArgs,
    ConvertPlanned,
    DiskArg,
    ImportArgs,
    ImportPlanned,
    LaunchArgs,
    LaunchPlanned,
    Planned,
    PrecheckArgs,
    StepArgs,
    UploadArgs,
    UploadPlanned,
    args_from_record,
    as_record,
    planned_from_record,
)

A = TypeVar("A")

TARGET_FORMATS = {"libvirt": "qcow2", "ec2": "vmdk"}
"""The disk format each target kind imports: compact formats (only allocated data; the
EC2 one stream-optimized, i.e. compressed) so the link carries as few bytes as possible."""
TARGET_SUBFORMATS = {"ec2": "streamOptimized"}

KINDS = ("precheck", "convert", "adapt", "upload", "import", "launch")

NOT_RUN = "not run"
"""A run's step listener hears this for each step that will not run because its system
stopped (failed and rolled back, refused, busy, or its move group failed)."""
UNDONE = "undone"
"""A run's step listener hears this for each step a rollback of the run undid."""


@dataclass(frozen=True)
class RunOptions:
    """How a wave is run: the target cloud and the staging areas.

    ``target`` is ``libvirt`` or ``ec2``; ``target_options`` are that target's settings
    (e.g. ``uri``/``pool`` for libvirt, ``endpoint``/``region`` for ec2) — never secrets,
    which come from the environment. ``staging_dir`` holds converted images;
    ``s3_endpoint``/``bucket``/``prefix`` name the S3 staging area. ``datastore_roots``:
    the folders source images may be read from (docs/safety.md); when given, they replace
    the estate's (``estate.yaml`` ``datastore_roots``, per bureau). The pre-check and the
    convert refuse a disk path outside the roots (``..``, ``/dev``, symlinks resolved), and
    every disk when no root is configured.
    ``boot_verify``: when set, each test launch of a host with an address proves the guest
    booted (:mod:`connectors.bootproof`): ``key_file`` (our key, authorised in the guest),
    ``known_hosts`` (its original host keys), ``user`` (root), ``app_ports`` (comma
    list), ``app_path``, ``via_netns`` (a namespace on the isolated network), ``timeout``.
    ``system_target_options``: system id -> target options replacing ``target_options``
    for that system's steps (same target kind).
    """

    target: str = "libvirt"
    target_options: dict[str, str] = field(default_factory=dict)
    staging_dir: str = ""
    s3_endpoint: str = ""
    bucket: str = "shangyun-staging"
    prefix: str = ""
    digest: str = "sha256"
    part_size: int = 16 * 2**20
    datastore_roots: list[str] = field(default_factory=list)
    boot_verify: dict[str, str] = field(default_factory=dict)
    system_target_options: dict[str, dict[str, str]] = field(default_factory=dict)

    def target_options_for(self, system_id: str) -> dict[str, str]:
        """The target options of one system (``system_target_options`` overrides the run's:
        e.g. the cloud's node that runs real guests for the system that has one)."""
        return dict(self.system_target_options.get(system_id) or self.target_options)

    @property
    def target_format(self) -> str:
        """The disk format the target imports."""
        return TARGET_FORMATS[self.target]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the journal and the dry run."""
        return asdict(self)


@dataclass(frozen=True)
class Step:
    """One idempotent action on one system; see the module docstring. ``args`` and
    ``planned`` are the kind's typed records (:mod:`shangyun.wave.stepargs`)."""

    kind: str
    system_id: str
    key: str
    title: str
    args: StepArgs | None = None
    planned: Planned | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (``args`` and ``planned`` as mappings, ``{}`` if none)."""
        return {"kind": self.kind, "system_id": self.system_id, "key": self.key,
                "title": self.title, "args": as_record(self.args),
                "planned": as_record(self.planned)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        """A step back from :meth:`to_dict`'s data (its args and planned outputs typed by
        its kind)."""
        kind = str(data["kind"])
        return cls(kind, str(data["system_id"]), str(data["key"]), str(data["title"]),
                   args_from_record(kind, data.get("args")),
                   planned_from_record(kind, data.get("planned")))

    def planned_record(self) -> dict[str, Any]:
        """What the step will create, as the journal records it before the step runs."""
        return as_record(self.planned)

    def args_as(self, kind: type[A]) -> A:
        """The args, checked to be a ``kind`` (:class:`StepError` otherwise)."""
        return _typed(self, "args", self.args, kind)

    def planned_as(self, kind: type[A]) -> A:
        """The planned outputs, checked to be a ``kind`` (:class:`StepError` otherwise)."""
        return _typed(self, "planned outputs", self.planned, kind)


def _typed(step: Step, what: str, value: object, kind: type[A]) -> A:
    if not isinstance(value, kind):
        raise StepError(f"system {step.system_id}, step {step.key}: {what} are "
                        f"{type(value).__name__}, not {kind.__name__}")
    return value


def disk_source(path: str, hostname: str) -> str:
    """A disk to convert as a person reads it: its path, after its host's name when the path
    does not say which host (``db01:/dev/sda``, a physical server's raw disk)."""
    return path if not hostname or hostname in path else f"{hostname}:{path}"


def staged_name(wave: int, system: SystemWork, disk_id: str, fmt: str) -> str:
    """The file/object name of a converted disk: ``wave-N/<system>/<disk>.<fmt>``."""
    leaf = f"{disk_id}.{fmt}"
    if "/" not in system.id and "/" not in leaf and system.id not in ("", ".") and leaf != ".":
        return f"wave-{wave}/{system.id}/{leaf}"  # what the path join gives, without it
    return str(PurePosixPath(f"wave-{wave}") / system.id / leaf)


def adapted_name(staged: str) -> str:
    """The adapted copy of a staged image: ``…/disk.qcow2`` -> ``…/disk.adapted.qcow2``."""
    parts = staged.split("/")
    name = parts[-1]
    if name not in ("", "..") and all(parts[1:]) and "." not in parts \
            and not staged.startswith("//"):
        # a plain path (what staged_name gives): the path's own rename, without parsing it
        dot = name.rfind(".")
        stem, suffix = (name[:dot], name[dot:]) if 0 < dot < len(name) - 1 else (name, "")
        return f"{staged[:len(staged) - len(name)]}{stem}.adapted{suffix}"
    p = PurePosixPath(staged)
    return str(p.with_name(f"{p.stem}.adapted{p.suffix}"))


def system_steps(wave: WaveWork, system: SystemWork, opts: RunOptions,
                 guest: GuestPlan | None = None) -> list[Step]:
    """The ordered part 1 steps that move ``system`` in this wave; ``guest``: the plan's
    adaptation settings for it (``cutover.yaml`` ``guests:``; None: the defaults)."""
    fmt = opts.target_format
    sid = system.id
    roots = list(opts.datastore_roots) or wave.roots_of(system)
    topts = opts.target_options_for(sid)
    hostnames = {h.id: h.hostname for h in system.hosts}
    steps = [Step("precheck", sid, f"{sid}/precheck", f"pre-check {system.name}",
                  args=PrecheckArgs(
                      disks=[DiskArg(d.id, d.path, d.format,
                                     f"{hostnames.get(d.host_id, d.host_id)} {d.name or d.id}")
                             for d in system.disks],
                      hypervisors=sorted({h.hypervisor for h in system.hosts if h.hypervisor}),
                      cpus=sum(h.cpu_cores for h in system.hosts),
                      memory_gb=sum(h.memory_gb for h in system.hosts),
                      target=opts.target, target_options=topts,
                      staging_dir=opts.staging_dir,
                      plan_fingerprint=wave.plan_fingerprint,
                      estate_fingerprint=wave.estate_fingerprint,
                      hosts=[h.hostname for h in system.hosts],
                      datastore_roots=roots,
                      s3_endpoint=opts.s3_endpoint if system.disks else "",
                      bucket=opts.bucket if system.disks else "",
                      diskless_hosts=[h.hostname for h in system.hosts if not h.disks]))]
    for d in system.disks:
        name = staged_name(wave.number, system, d.id, fmt)
        staged = str(PurePosixPath(opts.staging_dir) / name) if opts.staging_dir else name
        steps.append(Step("convert", sid, f"{sid}/convert/{d.id}",
                          f"convert {disk_source(d.path, hostnames.get(d.host_id, ''))} "
                          f"({d.format}) → {fmt}",
                          args=ConvertArgs(source=d.path, source_format=d.format,
                                           target_format=fmt, digest=opts.digest,
                                           subformat=TARGET_SUBFORMATS.get(opts.target),
                                           staging_dir=opts.staging_dir,
                                           datastore_roots=roots),
                          planned=ConvertPlanned(path=staged)))
    adapt_keys: dict[str, str] = {}
    for h in system.hosts:
        if not h.disks:
            continue
        g = (guest or GuestPlan()).for_host(h.id, h.hostname)
        key = f"{sid}/adapt/{h.id}"
        disks = []
        for d in h.disks:
            name = staged_name(wave.number, system, d.id, fmt)
            staged = str(PurePosixPath(opts.staging_dir) / name) if opts.staging_dir else name
            disks.append(AdaptDisk(d.id, f"{sid}/convert/{d.id}", adapted_name(staged)))
            adapt_keys[d.id] = key
        steps.append(Step("adapt", sid, key, f"adapt the guest of {h.hostname} "
                          f"({g.mode}: virtio, UUIDs, tools, network)",
                          args=AdaptArgs(host_id=h.id, hostname=h.hostname, disks=disks,
                                         target_format=fmt,
                                         subformat=TARGET_SUBFORMATS.get(opts.target),
                                         digest=opts.digest, mode=g.mode, nics=g.nics,
                                         macs=[h.mac] if h.mac else [],
                                         readdress=g.readdress, os=h.os),
                          planned=AdaptPlanned(paths=[x.adapted for x in disks])))
    for d in system.disks:
        name = staged_name(wave.number, system, d.id, fmt)
        key = f"{opts.prefix.rstrip('/')}/{name}" if opts.prefix else name
        staged = str(PurePosixPath(opts.staging_dir) / name) if opts.staging_dir else name
        steps.append(Step("upload", sid, f"{sid}/upload/{d.id}",
                          f"upload {name} → s3://{opts.bucket}/{key}",
                          args=UploadArgs(path=staged, endpoint=opts.s3_endpoint,
                                          bucket=opts.bucket, digest=opts.digest,
                                          convert_key=f"{sid}/convert/{d.id}",
                                          adapt_key=adapt_keys.get(d.id, ""), disk_id=d.id),
                          planned=UploadPlanned(endpoint=opts.s3_endpoint, bucket=opts.bucket,
                                                key=key)))
    for h in system.hosts:
        for d in h.disks:
            name = staged_name(wave.number, system, d.id, fmt)
            key = f"{opts.prefix.rstrip('/')}/{name}" if opts.prefix else name
            vol = f"w{wave.number}-{sid}-{d.id}"
            steps.append(Step("import", sid, f"{sid}/import/{d.id}",
                              f"import s3://{opts.bucket}/{key} into {opts.target} as {vol}",
                              args=ImportArgs(bucket=opts.bucket, key=key,
                                              endpoint=opts.s3_endpoint, format=fmt,
                                              volume=vol, host_id=h.id,
                                              upload_key=f"{sid}/upload/{d.id}",
                                              convert_key=f"{sid}/convert/{d.id}",
                                              wave=wave.number, bureau=system.bureau_id,
                                              target=opts.target,
                                              target_options=topts,
                                              adapt_key=adapt_keys.get(d.id, ""),
                                              disk_id=d.id),
                              planned=ImportPlanned(
                                  target=opts.target, target_options=topts,
                                  volume=vol, landing=str(
                                      PurePosixPath(opts.staging_dir or ".") / "landing"
                                      / f"{vol}.{fmt}"))))
    for h in system.hosts:
        if not h.disks:
            continue
        name = f"w{wave.number}-{sid}-{h.id}"
        steps.append(Step("launch", sid, f"{sid}/launch/{h.id}",
                          f"test-launch {h.hostname} on {opts.target} as {name} (isolated)",
                          args=LaunchArgs(name=name, cpus=h.cpu_cores, wave=wave.number,
                                          bureau=system.bureau_id,
                                          memory_mb=int(h.memory_gb * 1024),
                                          import_keys=[f"{sid}/import/{d.id}"
                                                       for d in h.disks],
                                          target=opts.target,
                                          target_options=topts,
                                          hostname=h.hostname, ip=h.ip, mac=h.mac,
                                          boot_verify=dict(opts.boot_verify) if h.ip
                                          else {}),
                          planned=LaunchPlanned(target=opts.target,
                                                target_options=topts,
                                                name=name)))
    return steps
