"""The one small interface every target cloud implements, and the plain data it returns.

A wave step calls a :class:`CloudTarget` and writes what it got back (an
:class:`ImportedDisk`, an :class:`Instance`) to the journal with ``to_record()``; the undo
rebuilds it with ``from_record()`` and calls ``delete_instance``/``delete_disk``. Those undo
operations are idempotent: deleting something already gone is not an error. ``import_disk``
and ``create_instance`` are idempotent too: a second call with the same labels and name finds
what the first made (after a crash between the cloud call and the journal write) instead of
making a duplicate.

Labels (wave, bureau, system) go onto everything a target creates, as tags (EC2) or domain
metadata (libvirt), so an operator can find — and a sweep can clean up — what a run made.

Errors are :class:`shangyun.errors.ConnectorError` (``TransientError`` when worth
retrying) and :class:`shangyun.errors.VerificationError` when an imported disk's digest
differs from the one given.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from shangyun.errors import ConnectorError

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class TargetError(ConnectorError):
    """A target cloud refused or failed an operation; the message names the target and object."""


class CapacityError(TargetError):
    """The target lacks room for a request (raised by callers that want to stop on it)."""


class InstanceState(StrEnum):
    """Where an instance is in its life, the same words for every target."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ABSENT = "absent"
    """Deleted or never existed."""
    OTHER = "other"


@dataclass(frozen=True)
class Labels:
    """Who a cloud object belongs to: the wave, the bureau and the system."""

    wave: str
    bureau: str
    system: str

    def to_dict(self) -> dict[str, str]:
        """``{"shangyun:wave": …, "shangyun:bureau": …, "shangyun:system": …}``."""
        return {"shangyun:wave": self.wave, "shangyun:bureau": self.bureau,
                "shangyun:system": self.system}

    def slug(self, *parts: str) -> str:
        """A name safe for clouds: ``w<wave>-<system>-<parts…>`` (letters, digits, ``_.-``).

        When characters had to be replaced (e.g. a Chinese system id), a short hash of the
        original is appended so two different names never share a slug.
        """
        raw = "-".join([f"w{self.wave}", self.system, *parts])
        safe = _SAFE.sub("_", raw).strip("_")
        if safe != raw:
            safe = f"{safe[:180]}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"
        return safe[:200]


@dataclass(frozen=True)
class CapacityRequest:
    """What a wave (or a system) will need from the target."""

    vcpus: int = 0
    memory_mb: int = 0
    disk_bytes: int = 0
    instances: int = 0


@dataclass(frozen=True)
class Capacity:
    """The answer to a capacity request: ``ok`` and, when not, every reason."""

    ok: bool
    reasons: tuple[str, ...] = ()
    free_vcpus: int | None = None
    free_memory_mb: int | None = None
    free_disk_bytes: int | None = None
    free_instances: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        return d


@dataclass(frozen=True)
class ObjectRef:
    """An object already in object storage (staged by :mod:`connectors.objectstore`)."""

    bucket: str
    key: str
    size: int | None = None
    digest: str | None = None


@dataclass(frozen=True)
class ImportedDisk:
    """A disk the target now holds. ``disk_id`` is what ``delete_disk`` needs; ``extra``
    holds the target's other ids (pool, object key, import task …) as strings.

    ``digest`` is the content digest the disk was imported for; ``verification`` says
    honestly what proved it: ``"verified: …"`` when the target read the disk back and its
    content digest matched, ``"not verifiable by the target: …"`` when the target cannot
    read it back (EC2 snapshots), ``"not verified: …"`` when a check was switched off.
    Only a ``verified`` disk proves ``digest``; the others merely record it."""

    target: str
    disk_id: str
    name: str
    format: str
    size_bytes: int
    digest: str
    labels: Labels
    extra: dict[str, str] = field(default_factory=dict)
    verification: str = "not verified: no record of a check"

    @property
    def verified(self) -> bool:
        """True only when the target itself read the disk back and its digest matched."""
        return self.verification.startswith("verified:")

    def to_record(self) -> dict[str, Any]:
        """Plain data for the journal."""
        return {**asdict(self), "kind": "disk"}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ImportedDisk:
        """Rebuild from :meth:`to_record`'s output."""
        data = {k: v for k, v in record.items() if k != "kind"}
        data["labels"] = Labels(**data["labels"])
        data["extra"] = dict(data.get("extra") or {})
        return cls(**data)


@dataclass(frozen=True)
class InstanceSpec:
    """The shape of an instance to create.

    ``flavour`` is the target's instance type (EC2) when it has named sizes; ``network`` is
    the production network/subnet, used only when *not* in test mode. ``macs``: the source
    NICs' MACs, kept by targets that can (libvirt), so a guest's MAC-pinned NIC names hold.
    """

    name: str
    vcpus: int
    memory_mb: int
    labels: Labels
    firmware: str = "bios"
    arch: str = "x86_64"
    flavour: str | None = None
    network: str | None = None
    macs: tuple[str, ...] = ()   # keep the source's NIC MACs where the target allows it


@dataclass(frozen=True)
class Instance:
    """An instance the target made; ``instance_id`` is what start/stop/delete need."""

    target: str
    instance_id: str
    name: str
    test_mode: bool
    labels: Labels
    disk_ids: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """Plain data for the journal."""
        d = asdict(self)
        d["disk_ids"] = list(self.disk_ids)
        d["kind"] = "instance"
        return d

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Instance:
        """Rebuild from :meth:`to_record`'s output."""
        data = {k: v for k, v in record.items() if k != "kind"}
        data["labels"] = Labels(**data["labels"])
        data["disk_ids"] = tuple(data.get("disk_ids") or ())
        data["extra"] = dict(data.get("extra") or {})
        return cls(**data)


DiskSource = Path | ObjectRef


class CloudTarget(ABC):
    """A target cloud. One object per run (it may hold a connection); close it at the end.

    ``accepted_formats`` lists the disk formats ``import_disk`` takes (estate names), best
    first; convert into one of them first (:func:`shangyun.images.choose_target_format`).
    """

    name: str
    accepted_formats: tuple[str, ...]
    takes_local_files: bool = False
    """Whether ``import_disk`` is given a local file: the wave's import step then downloads
    the staged object first (digest-checked) instead of passing an :class:`ObjectRef`."""

    @abstractmethod
    def check_capacity(self, request: CapacityRequest) -> Capacity:
        """Whether the target has room for ``request``, with every reason when not."""

    @abstractmethod
    def import_disk(self, source: DiskSource, *, name: str, fmt: str, digest: str,
                    labels: Labels) -> ImportedDisk:
        """Put a converted disk into the target, verified against ``digest`` (content digest).

        ``name`` is unique within the system (e.g. the estate's disk id). Idempotent: the same
        name and labels again return the disk already there when its digest matches.
        """

    @abstractmethod
    def create_instance(self, spec: InstanceSpec, disks: list[ImportedDisk], *,
                        test_mode: bool) -> Instance:
        """Define an instance booting from ``disks[0]`` with the rest attached, not started.

        ``test_mode`` = the test launch: isolated, never on the production network.
        Idempotent by ``spec.name`` and labels.
        """

    @abstractmethod
    def start(self, instance: Instance) -> None:
        """Start the instance (no-op when running)."""

    @abstractmethod
    def stop(self, instance: Instance) -> None:
        """Stop the instance (no-op when stopped or gone)."""

    @abstractmethod
    def status(self, instance: Instance) -> InstanceState:
        """The instance's state; ``ABSENT`` when it does not exist."""

    @abstractmethod
    def delete_instance(self, instance: Instance) -> None:
        """Undo ``create_instance``: stop and remove it. Idempotent."""

    @abstractmethod
    def delete_disk(self, disk: ImportedDisk) -> None:
        """Undo ``import_disk``: remove the disk and anything staged for it. Idempotent."""

    def has_disk(self, disk: ImportedDisk) -> bool:
        """Whether the target still holds ``disk`` (a resume imports it again when not).
        By default the journal is trusted; a target that can tell cheaply overrides this."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections. Safe to call twice."""

    def __enter__(self) -> CloudTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
