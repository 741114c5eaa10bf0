"""Target clouds: one small interface (:mod:`.base`), a libvirt and an EC2-compatible target.

Import the implementation you need (``connectors.targets.libvirt`` or
``connectors.targets.ec2``); this package only re-exports the interface and its data.
"""

from connectors.targets.base import (
    Capacity,
    CapacityError,
    CapacityRequest,
    CloudTarget,
    DiskSource,
    ImportedDisk,
    Instance,
    InstanceSpec,
    InstanceState,
    Labels,
    ObjectRef,
    TargetError,
)

__all__ = [
    "Capacity", "CapacityError", "CapacityRequest", "CloudTarget", "DiskSource",
    "ImportedDisk", "Instance", "InstanceSpec", "InstanceState", "Labels", "ObjectRef",
    "TargetError",
]
