"""Plain data of guest adaptation: the facts read from a guest, the settings the plan
gives, and the decision (a plan of edits, a refusal or a skip)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ADAPT_MODES = ("auto", "required", "off")
"""``auto``: adapt a guest whose disks hold an OS, skip (recorded) an image without one;
``required``: an image without an OS fails the step; ``off``: the step records a skip."""


@dataclass(frozen=True)
class NicConfig:
    """One network interface as a guest's configuration describes it."""

    name: str
    style: str
    """``ifupdown``, ``ifcfg`` (RHEL network-scripts), ``wicked`` (SUSE ifcfg),
    ``networkmanager`` (keyfile) or ``netplan``."""
    path: str
    mac: str = ""
    """The MAC the configuration itself names (ifcfg ``HWADDR``, NM ``mac-address``,
    netplan ``match.macaddress``), lower case; empty when it names none."""
    method: str = ""
    """``static``, ``dhcp`` or empty (unknown)."""
    addresses: tuple[str, ...] = ()
    gateway: str = ""
    dns: tuple[str, ...] = ()


@dataclass(frozen=True)
class GuestFacts:
    """What inspection found on a guest's disks (all paths are guest paths).

    ``devices`` maps every name the guest may use for a block device (``/dev/sda1``,
    ``/dev/hda1``, ``/dev/xvda1``, ``/dev/vda1``) to its filesystem UUID. ``files`` holds
    the text of the small configuration files the policy reads (fstab, boot loader,
    network, initramfs configuration, persistent-net rules). ``kernel_modules`` maps each
    installed kernel version to the virtio drivers it has as loadable modules.
    """

    os_type: str = "none"
    """``linux``, ``windows``, another libguestfs type, ``unknown`` or ``none`` (no
    operating system found)."""
    distro: str = ""
    major: int = 0
    minor: int = 0
    product: str = ""
    hostname: str = ""
    package_format: str = ""
    init: str = ""
    """``systemd`` or ``sysv`` (anything else without systemd)."""
    roots: int = 0
    encrypted: tuple[str, ...] = ()
    filesystems: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    uninstallers: tuple[str, ...] = ()
    initrd_tools: tuple[str, ...] = ()
    kernels: tuple[str, ...] = ()
    kernel_modules: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kernel_builtin: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Kernel version -> the virtio drivers built into it (no module to add)."""
    initrds: dict[str, str] = field(default_factory=dict)
    """Kernel version -> its initramfs image path, where one exists."""
    devices: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A short JSON-able account for the journal and the runbook."""
        return {"os_type": self.os_type, "distro": self.distro,
                "version": f"{self.major}.{self.minor}", "product": self.product,
                "hostname": self.hostname, "init": self.init,
                "package_format": self.package_format, "kernels": list(self.kernels),
                "initrd_tools": list(self.initrd_tools),
                "encrypted": list(self.encrypted)}


@dataclass(frozen=True)
class GuestSettings:
    """What the plan says about adapting one host (``cutover.yaml`` ``guest:``, the
    estate's MAC).

    ``nics``: interface name -> MAC, where the plan pins it; ``macs``: the MACs the
    estate or the source hypervisor knows for the host, used to pair a configuration
    that names no MAC; ``readdress``: interface name -> ``{address: CIDR, gateway, dns}``
    when the target subnet differs.
    """

    mode: str = "auto"
    nics: dict[str, str] = field(default_factory=dict)
    macs: tuple[str, ...] = ()
    readdress: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Edit:
    """One change made inside the guest, in order.

    ``write``: ``path`` gets ``text`` (a new file, or a file rewritten);
    ``command``: ``argv`` runs inside the guest (``watch``: the files it changes, whose
    digests are recorded before and after).
    """

    kind: Literal["write", "command"]
    why: str
    path: str = ""
    text: str = ""
    argv: tuple[str, ...] = ()
    watch: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for logs and errors."""
        return f"write {self.path}" if self.kind == "write" else " ".join(self.argv)


@dataclass(frozen=True)
class AdaptPlan:
    """The edits to make, in order, and what was decided on the way."""

    edits: tuple[Edit, ...]
    notes: tuple[str, ...] = ()
    verify_modules: tuple[str, ...] = ()
    """Modules every rebuilt initramfs must contain (checked after the rebuild)."""


@dataclass(frozen=True)
class Refused:
    """The guest cannot be adapted; ``reason`` says why and what to do."""

    reason: str


@dataclass(frozen=True)
class Skipped:
    """Nothing to adapt (no operating system on an image the plan does not require to
    boot, or adaptation off); ``reason`` is recorded."""

    reason: str


Decision = AdaptPlan | Refused | Skipped


@dataclass(frozen=True)
class EditRecord:
    """What one applied edit changed: each file's SHA-256 before and after (``absent``
    when it did not exist, ``removed`` when it no longer does)."""

    why: str
    action: str
    files: tuple[tuple[str, str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the journal."""
        return {"why": self.why, "action": self.action,
                "files": [{"path": p, "before": b, "after": a} for p, b, a in self.files]}


def record_dict(value: Any) -> dict[str, Any]:
    """Plain data of any record of this module."""
    return asdict(value)
