"""Target clouds: one small interface (:mod:`.base`), a libvirt and an EC2-compatible target.

Import the interface and its data from ``connectors.targets.base`` and the implementation
you need from ``connectors.targets.libvirt`` or ``connectors.targets.ec2``.
"""
