"""Guest adaptation, the pure part: what a migrated guest needs changed to boot and keep
its network on the target (virtio, UUIDs, no hypervisor tools, NIC names pinned to MACs),
decided from facts inspected out of its disk image. No I/O here: ``connectors/guestfs.py``
reads the facts and applies the plan; ``actions/adapt.py`` is the wave step.
See ``docs/guests.md``.
"""
