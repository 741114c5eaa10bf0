"""A target whose writes are fenced (docs/safety.md L5).

A target cloud (libvirt, EC2) cannot check a fencing token itself. :class:`FencedTarget`
wraps one and runs :func:`shangyun.journal.fence.guard_writes` before every call that
changes it — ``import_disk``, ``create_instance``, ``start``, ``stop``,
``delete_instance``, ``delete_disk`` — so a worker whose system lock another worker took
over (a newer fencing token in Redis, or its lease lost) is stopped with
:class:`connectors.locks.LeaseLostError` before the write reaches the target. Reads
(``check_capacity``, ``status``, ``has_disk``) are not fenced. In a local run no guard
is set and the wrapper only delegates.
"""

from __future__ import annotations

from connectors.targets.base import (
    Capacity,
    CapacityRequest,
    CloudTarget,
    DiskSource,
    ImportedDisk,
    Instance,
    InstanceSpec,
    InstanceState,
    Labels,
)
from shangyun.journal.fence import guard_writes


class FencedTarget(CloudTarget):
    """``inner``'s writes, each after the fence guards of the systems fenced here."""

    def __init__(self, inner: CloudTarget) -> None:
        self.inner = inner
        self.name = inner.name
        self.accepted_formats = inner.accepted_formats
        self.takes_local_files = inner.takes_local_files

    def check_capacity(self, request: CapacityRequest) -> Capacity:
        """A read: not fenced."""
        return self.inner.check_capacity(request)

    def import_disk(self, source: DiskSource, *, name: str, fmt: str, digest: str,
                    labels: Labels) -> ImportedDisk:
        """Fenced :meth:`CloudTarget.import_disk`."""
        guard_writes()
        return self.inner.import_disk(source, name=name, fmt=fmt, digest=digest,
                                      labels=labels)

    def create_instance(self, spec: InstanceSpec, disks: list[ImportedDisk], *,
                        test_mode: bool) -> Instance:
        """Fenced :meth:`CloudTarget.create_instance`."""
        guard_writes()
        return self.inner.create_instance(spec, disks, test_mode=test_mode)

    def start(self, instance: Instance) -> None:
        """Fenced :meth:`CloudTarget.start`."""
        guard_writes()
        self.inner.start(instance)

    def stop(self, instance: Instance) -> None:
        """Fenced :meth:`CloudTarget.stop`."""
        guard_writes()
        self.inner.stop(instance)

    def status(self, instance: Instance) -> InstanceState:
        """A read: not fenced."""
        return self.inner.status(instance)

    def delete_instance(self, instance: Instance) -> None:
        """Fenced :meth:`CloudTarget.delete_instance`."""
        guard_writes()
        self.inner.delete_instance(instance)

    def delete_disk(self, disk: ImportedDisk) -> None:
        """Fenced :meth:`CloudTarget.delete_disk`."""
        guard_writes()
        self.inner.delete_disk(disk)

    def has_disk(self, disk: ImportedDisk) -> bool:
        """A read: not fenced."""
        return self.inner.has_disk(disk)

    def close(self) -> None:
        """Close the wrapped target."""
        self.inner.close()


__all__ = ["FencedTarget"]
