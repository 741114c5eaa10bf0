"""What each kind of step needs (its *args*), what it will create (its *planned*
outputs) and what it journals when done (its *payload*), as typed records shared by the
step builder (:mod:`shangyun.wave.builder`), the step actions (``actions/``) and the flow.

One class per kind, named after it: ``ConvertArgs`` for a ``convert`` step, and so on.
The dry run and the journal see them as plain JSON (:func:`as_record`), with the fields
as keys; :func:`from_record` reads them back (from the journal, or a step's JSON).
``planned`` is what the engine journals before a step runs, so that its undo can clean
up after a crash; the payload a step journals when done is its planned outputs plus what
its action returns (:class:`ConvertDone`, :class:`ImportDone`, :class:`LaunchDone`,
:class:`CopyDone`; ``upload`` journals the object store connector's own record).

=============== =========================== ==================================="""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from functools import cache
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")

# ------------------------------------------------------------------ part 1: the images


@dataclass(frozen=True)
class DiskArg:
    """One source disk a pre-check reads."""

    id: str
    path: str
    format: str
    where: str = ""  # host and disk as a person reads them: "vm01 disk0"


@dataclass(frozen=True)
class PrecheckArgs:
    """Everything a pre-check looks at: the disks, the source hypervisors, the size the
    target must hold, the staging folder and the fingerprints that must still match."""

    disks: list[DiskArg]
    hypervisors: list[str]
    cpus: int
    memory_gb: float
    target: str
    target_options: dict[str, str]
    staging_dir: str
    plan_fingerprint: str
    estate_fingerprint: str
    hosts: list[str]
    datastore_roots: list[str] = field(default_factory=list)
    s3_endpoint: str = ""
    bucket: str = ""
    """The S3 staging area the system's disks are uploaded to (no bucket: no upload); the
    pre-check asks an endpoint given explicitly whether it answers (not AWS itself)."""
    diskless_hosts: list[str] = field(default_factory=list)
    """Hosts of the system no disk row lists: nothing of them would be copied."""
    steps: list[str] = field(default_factory=list)
    """Every step key of the system, in order (the builder's list, this one first): the
    pre-check journals it, so a run killed between two steps leaves a system that reads
    ``partial``, not ``done`` (:func:`shangyun.wave.state.unfinished`)."""
    frozen_databases: list[DataItem] = field(default_factory=list)
    """The databases the system's freeze step will make read-only (the builder's copy of
    its list): the pre-check refuses one that cannot be frozen on its own (a MariaDB
    database an account may write through a grant on every database)."""


@dataclass(frozen=True)
class ConvertArgs:
    """Convert one source disk into the target's format, with its digest."""

    source: str
    source_format: str
    target_format: str
    digest: str
    subformat: str | None
    staging_dir: str
    datastore_roots: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ConvertPlanned:
    """The converted image's path."""

    path: str


@dataclass(frozen=True)
class AdaptDisk:
    """One converted disk of the host being adapted, and where its adapted copy goes."""

    id: str
    convert_key: str
    adapted: str


@dataclass(frozen=True)
class AdaptArgs:
    """Adapt one host's converted disks (guest OS inspected with libguestfs; see
    ``docs/guests.md``) into adapted copies, in the target's format.

    ``mode``: ``auto`` (an image without an OS is skipped, recorded), ``required`` (it
    fails) or ``off``; ``nics``: interface name -> MAC the plan pins; ``macs``: what the
    estate knows of the host's MACs; ``readdress``: interface -> new address (plan);
    ``os``: what the estate says the host runs (recorded beside what inspection finds).
    """

    host_id: str
    hostname: str
    disks: list[AdaptDisk]
    target_format: str
    subformat: str | None
    digest: str
    mode: str = "auto"
    nics: dict[str, str] = field(default_factory=dict)
    macs: list[str] = field(default_factory=list)
    readdress: dict[str, dict[str, Any]] = field(default_factory=dict)
    os: str = ""


@dataclass(frozen=True)
class AdaptPlanned:
    """The adapted copies (and their overlays while the step runs): all an undo deletes.
    The converted images are never among them."""

    paths: list[str]


@dataclass(frozen=True)
class UploadArgs:
    """Upload one converted image (the ``convert`` step ``convert_key``, or the adapted
    copy the ``adapt`` step ``adapt_key`` made of it, disk ``disk_id``) to S3 staging."""

    path: str
    endpoint: str
    bucket: str
    digest: str
    convert_key: str
    adapt_key: str = ""
    disk_id: str = ""


@dataclass(frozen=True)
class UploadPlanned:
    """The staged object."""

    endpoint: str
    bucket: str
    key: str


@dataclass(frozen=True)
class ImportArgs:
    """Import one staged object into the target as a volume of host ``host_id``."""

    bucket: str
    key: str
    endpoint: str
    format: str
    volume: str
    host_id: str
    upload_key: str
    convert_key: str
    wave: int
    bureau: str
    target: str
    target_options: dict[str, str]
    adapt_key: str = ""
    disk_id: str = ""


@dataclass(frozen=True)
class ImportPlanned:
    """The volume on the target, and where its bytes land first."""

    target: str
    target_options: dict[str, str]
    volume: str
    landing: str


@dataclass(frozen=True)
class LaunchArgs:
    """Test-launch one host (isolated) on the volumes of its ``import`` steps."""

    name: str
    cpus: int
    wave: int
    bureau: str
    memory_mb: int
    import_keys: list[str]
    target: str
    target_options: dict[str, str]
    hostname: str = ""
    ip: str = ""
    mac: str = ""
    boot_verify: dict[str, str] = field(default_factory=dict)
    """When set (``RunOptions.boot_verify``), the launch proves the guest booted: console
    login, SSH with its original host key (from ``known_hosts``), its hostname, its app."""


@dataclass(frozen=True)
class LaunchPlanned:
    """The test instance."""

    target: str
    target_options: dict[str, str]
    name: str


# ------------------------------------------------------------------ cutover: the data


@dataclass(frozen=True)
class DataItem:
    """One database or file set to move (the args of its ``copy`` and ``delta`` steps):
    ``kind`` is ``db`` (``engine`` postgresql or mariadb; ``source``/``target`` are
    database endpoints) or ``files`` (``engine`` rsync; ``source`` an SSH endpoint with
    a path, ``target`` a folder). No secrets: passwords are environment variable names."""

    id: str
    kind: str
    engine: str
    source: dict[str, Any]
    target: Any


@dataclass(frozen=True)
class CopyPlanned:
    """The item copied (its undo drops the copy, never the source)."""

    item: DataItem


@dataclass(frozen=True)
class DomainRef:
    """One source domain on its hypervisor."""

    hypervisor: str
    name: str


@dataclass(frozen=True)
class FreezeArgs:
    """Stop the source: its domains (each given ``shutdown_seconds`` to stop; forced off
    after that only with ``force_off``, else the step fails), and (``freeze_databases``)
    its PostgreSQL and MariaDB databases made read-only."""

    domains: list[DomainRef]
    databases: list[DataItem]
    shutdown_seconds: float = 30.0
    force_off: bool = False


@dataclass(frozen=True)
class VerifyArgs:
    """Compare every item end to end."""

    items: list[DataItem]


# ------------------------------------------------------------- cutover: the target


@dataclass(frozen=True)
class StartHost:
    """One production instance to start on the disks of the host's ``import`` steps (its
    test instance, the ``launch`` step ``launch_key``, is stopped first)."""

    launch_key: str
    name: str
    import_keys: list[str]
    cpus: int
    memory_mb: int
    wave: int
    bureau: str
    mac: str = ""  # the source NIC's MAC, kept on the production instance


@dataclass(frozen=True)
class StartArgs:
    """Start the target in production."""

    hosts: list[StartHost]


@dataclass(frozen=True)
class DnsRecordArg:
    """One DNS record to switch to."""

    name: str
    type: str
    values: list[str]
    ttl: int = 60


@dataclass(frozen=True)
class DnsArgs:
    """Switch the records in ``zone`` (``endpoint``: a Route53-compatible API)."""

    endpoint: str
    zone: str
    records: list[DnsRecordArg]


@dataclass(frozen=True)
class DnsPlanned:
    """Where the records are (the previous ones are journaled by the step)."""

    endpoint: str
    zone: str


@dataclass(frozen=True)
class HealthArgs:
    """The checks, each as the cutover file gives it (read by the health connector)."""

    checks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class CutoverArgs:
    """Mark the system cut over in this wave."""

    wave: int


# ------------------------------------------------------------------ what steps journal


@dataclass(frozen=True)
class ConvertDone:
    """What a ``convert`` step journals (and ``upload``, ``import`` and the run's
    verification table read): the staged image, its format and its digests."""

    path: str
    format: str
    content_digest: str
    source_digest: str
    file_digest: str
    size: int
    algorithm: str
    compare: str = "not recorded"
    """What ``qemu-img compare`` of source and copy said (``identical``: it ran and found
    no difference; a difference fails the step). ``not recorded`` in older journals."""
    source: str = ""
    source_format: str = ""
    """The source image the copy was made from, and its format (empty in older journals):
    a pre-check after a re-import compares them with the estate's disk."""


@dataclass(frozen=True)
class AdaptDone:
    """What an ``adapt`` step journals: ``state`` ``adapted`` or ``skipped`` (with the
    ``reason``), what inspection found (``guest``), every edit made inside the guest with
    each file's SHA-256 before and after (``edits``), the policy's ``notes``, and per disk
    id the staged image ``upload`` and ``import`` take (:class:`ConvertDone` records: the
    adapted copy, or the converted image itself when skipped)."""

    state: str
    reason: str
    adaptation: str
    guest: dict[str, Any]
    edits: list[dict[str, Any]]
    notes: list[str]
    disks: dict[str, dict[str, Any]]
    seconds: float = 0.0


@dataclass(frozen=True)
class ImportDone:
    """What an ``import`` step journals: the target's record of the imported disk (read
    by ``launch`` and ``start``; the target connector knows its fields)."""

    disk: dict[str, Any]


@dataclass(frozen=True)
class LaunchDone:
    """What a ``launch`` step journals: the target's record of the test instance (``start``
    stops it) and the state it reached."""

    instance: dict[str, Any]
    state: str
    boot: dict[str, Any] = field(default_factory=dict)
    """The boot proof's evidence (``connectors.bootproof.BootEvidence``), when asked for."""
    target_options: dict[str, str] = field(default_factory=dict)
    """The target the instance is in (``start`` makes the production one there too)."""


@dataclass(frozen=True)
class CopyDone:
    """What a ``copy`` or ``delta`` step journals: the database or file connector's
    account of the copy."""

    result: dict[str, Any]
    source_identity: dict[str, Any] | None = None
    """The source's server identity read at the copy (PostgreSQL ``system_identifier`` +
    database OID, MariaDB ``@@server_uid``; files: none, the host key pins the host):
    a fail-back writes only into the database that still has it."""


# ------------------------------------------------------------------ fail-back


@dataclass(frozen=True)
class InstanceRef:
    """One production instance of the target, as the ``start`` step journaled it."""

    record: dict[str, Any]


@dataclass(frozen=True)
class FailbackFreezeArgs:
    """Freeze the target for a fail-back: stop its production instances and make its
    databases read-only (undo: writable again, instances started)."""

    instances: list[InstanceRef]
    databases: list[DataItem]


@dataclass(frozen=True)
class FailbackItem:
    """One item to carry back, target → source, and the source identity journaled by its
    ``copy`` step (the only database the reverse delta may write into)."""

    item: DataItem
    source_identity: dict[str, Any] | None = None


Payload = ConvertDone | AdaptDone | ImportDone | LaunchDone | CopyDone
"""The typed part of what a step journals (the rest is its planned outputs)."""


StepArgs = (PrecheckArgs | ConvertArgs | AdaptArgs | UploadArgs | ImportArgs | LaunchArgs | DataItem
            | FreezeArgs | VerifyArgs | StartArgs | DnsArgs | HealthArgs | CutoverArgs
            | FailbackFreezeArgs | FailbackItem)
"""The args of any step."""

Planned = (ConvertPlanned | AdaptPlanned | UploadPlanned | ImportPlanned | LaunchPlanned
           | CopyPlanned | FreezeArgs | DnsPlanned | FailbackFreezeArgs)
"""The planned outputs of any step that creates something."""


ARGS: dict[str, type[Any]] = {
    "precheck": PrecheckArgs, "convert": ConvertArgs, "adapt": AdaptArgs,
    "upload": UploadArgs,
    "import": ImportArgs, "launch": LaunchArgs, "copy": DataItem, "freeze": FreezeArgs,
    "delta": DataItem, "verify": VerifyArgs, "start": StartArgs, "dns": DnsArgs,
    "health": HealthArgs, "cutover": CutoverArgs, "failback-freeze": FailbackFreezeArgs,
    "failback-delta": FailbackItem, "failback-verify": VerifyArgs, "failback": CutoverArgs}
"""Step kind -> the class of its args."""

PLANNED: dict[str, type[Any]] = {
    "convert": ConvertPlanned, "adapt": AdaptPlanned, "upload": UploadPlanned,
    "import": ImportPlanned,
    "launch": LaunchPlanned, "copy": CopyPlanned, "freeze": FreezeArgs, "dns": DnsPlanned,
    "failback-freeze": FailbackFreezeArgs}
"""Step kind -> the class of its planned outputs (kinds that create nothing have none)."""


def staged_image(done: Mapping[str, Mapping[str, Any]], convert_key: str, adapt_key: str = "",
                 disk_id: str = "") -> ConvertDone:
    """The staged image of one disk that ``upload`` and ``import`` take: the adapted copy
    the ``adapt`` step ``adapt_key`` journaled for ``disk_id`` (or the converted image it
    passed on when it skipped), else — no adapt step, an older journal — the ``convert``
    step's image."""
    if adapt_key and adapt_key in done:
        rec = (done[adapt_key].get("disks") or {}).get(disk_id)
        if rec:
            return from_record(ConvertDone, rec)
    return from_record(ConvertDone, done[convert_key])


def as_record(value: StepArgs | Planned | Payload | None) -> dict[str, Any]:
    """Plain JSON-able data with the fields as keys (``{}`` for nothing)."""
    return {} if value is None else asdict(value)


def from_record(kind: type[T], data: Mapping[str, Any]) -> T:
    """A ``kind`` record (any class of this module) back from :func:`as_record`'s data,
    e.g. read from the journal or a dry run's JSON."""
    hints = _hints(kind)
    return kind(**{f.name: _value(hints[f.name], data[f.name])
                   for f in fields(kind) if f.name in data})  # type: ignore[arg-type]


@cache
def _hints(kind: type[Any]) -> dict[str, Any]:
    return get_type_hints(kind)


def _value(hint: Any, value: Any) -> Any:
    if isinstance(hint, type) and is_dataclass(hint) and isinstance(value, Mapping):
        return from_record(hint, value)
    if get_origin(hint) is list and isinstance(value, list):
        (item,) = get_args(hint)
        return [_value(item, v) for v in value]
    return value


def args_from_record(kind: str, data: Mapping[str, Any] | None) -> StepArgs | None:
    """The typed args of a step of ``kind`` from their plain data (``None`` if none)."""
    cls = ARGS.get(kind)
    return from_record(cls, data) if cls is not None and data else None


def planned_from_record(kind: str, data: Mapping[str, Any] | None) -> Planned | None:
    """The typed planned outputs of a step of ``kind`` from plain data (``None`` if none)."""
    cls = PLANNED.get(kind)
    return from_record(cls, data) if cls is not None and data else None
