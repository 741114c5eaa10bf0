"""The adaptation policy: from a guest's inspected facts and the plan's settings, the
ordered edits that make it boot on virtio and keep its network — or a refusal with the
reason and what to do, or a recorded skip. Pure: :mod:`connectors.guestfs` reads the facts
and applies the edits; ``actions/adapt.py`` runs it as the wave's ``adapt`` step.

Per Linux family (``docs/guests.md``):

=========  ====================  ==========================================================
family     distributions         initramfs
=========  ====================  ==========================================================
debian     Debian, Ubuntu        ``/etc/initramfs-tools/modules`` + ``update-initramfs -u``
rhel       RHEL/CentOS ≥ 6, …    ``/etc/dracut.conf.d/…`` + ``dracut -f <initrd> <kver>``
suse       SLES/openSUSE ≥ 12    same as rhel (dracut)
=========  ====================  ==========================================================

Every family: hypervisor tools removed, fstab and the boot loader's ``root=`` by UUID,
each configured NIC's name pinned to its MAC (systemd ``.link``; udev rule without
systemd), static addresses kept (or re-addressed from the plan for ifupdown and ifcfg).
"""

from __future__ import annotations

from shangyun.guests.model import (
    AdaptPlan,
    Decision,
    Edit,
    GuestFacts,
    GuestSettings,
    NicConfig,
    Refused,
    Skipped,
)
from shangyun.guests.texts import (
    cmdline_by_uuid,
    fstab_by_uuid,
    fstab_devices,
    initramfs_modules,
    link_file,
    network_configs,
    norm_mac,
    persistent_net_macs,
    readdress_ifcfg,
    readdress_interfaces,
    udev_rules,
)

FAMILIES = {
    "debian": "debian", "ubuntu": "debian", "linuxmint": "debian",
    "rhel": "rhel", "centos": "rhel", "fedora": "rhel", "oraclelinux": "rhel",
    "rocky": "rhel", "almalinux": "rhel", "scientificlinux": "rhel", "redhat-based": "rhel",
    "kylin": "rhel", "openeuler": "rhel", "anolis": "rhel",
    "sles": "suse", "suse-based": "suse", "opensuse": "suse",
}
"""libguestfs distro name -> the family whose recipe adapts it."""

HYPERVISOR_TOOLS = ("open-vm-tools", "open-vm-tools-desktop", "open-vm-tools-sdmp",
                    "open-vm-tools-dev", "vmware-tools", "vmware-tools-core",
                    "vmware-tools-foundation", "xe-guest-utilities", "hyperv-daemons",
                    "hyper-v", "virtualbox-guest-utils", "virtualbox-guest-x11",
                    "virtualbox-guest-dkms")
"""Packages of the old hypervisor's guest tools: removed (they fail or spin on KVM)."""

UNINSTALLERS = ("/usr/bin/vmware-uninstall-tools.pl",)
"""Uninstallers of tarball-installed tools (VMware Tools from the ESXi ISO), run as
virt-v2v runs them."""

VIRTIO_NEEDED = ("virtio_pci", "virtio_blk")
"""Without these a kernel cannot find its root disk on the target."""
VIRTIO_WANTED = ("virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net", "virtio_console")
"""Added to the initramfs when the kernel has them as modules."""

FSTAB = "/etc/fstab"
BOOT_FILES = ("/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/boot/grub/menu.lst",
              "/etc/default/grub", "/etc/sysconfig/bootloader")
PERSISTENT_NET = "/etc/udev/rules.d/70-persistent-net.rules"
INITRAMFS_TOOLS_MODULES = "/etc/initramfs-tools/modules"
DRACUT_CONF = "/etc/dracut.conf.d/90-shangyun-virtio.conf"
UDEV_PIN_RULES = "/etc/udev/rules.d/70-shangyun-net.rules"
READ_FILES = (FSTAB, *BOOT_FILES, PERSISTENT_NET, INITRAMFS_TOOLS_MODULES,
              "/etc/network/interfaces")
"""Guest files the policy reads (the connector also reads every file under
``NETWORK_DIRS``)."""
NETWORK_DIRS = ("/etc/network/interfaces.d", "/etc/sysconfig/network-scripts",
                "/etc/sysconfig/network", "/etc/NetworkManager/system-connections",
                "/etc/netplan")
PACKAGE_DB = {"deb": ("/var/lib/dpkg/status",),
              "rpm": ("/var/lib/rpm/Packages", "/var/lib/rpm/rpmdb.sqlite",
                      "/usr/lib/sysimage/rpm/rpmdb.sqlite")}

WINDOWS_REASON = (
    "Windows guest: it boots on virtio only with the virtio-win drivers (viostor/vioscsi "
    "for the disk, netkvm for the NIC) injected, and Debian does not package virtio-win. "
    "Path: install the virtio-win drivers inside the source guest before the move (then "
    "set guest.adapt: off for it in cutover.yaml), or fetch the virtio-win ISO from the "
    "Fedora virtio-win project and run `VIRTIO_WIN=<iso> virt-v2v-in-place` on the "
    "converted copy yourself; shangyun does not adapt Windows (docs/guests.md)")


def decide(facts: GuestFacts, settings: GuestSettings) -> Decision:
    """The adaptation of one guest: an :class:`AdaptPlan`, a :class:`Refused` with the
    reason and the way out, or a :class:`Skipped` with the reason recorded."""
    if settings.mode == "off":
        return Skipped("adaptation off in the plan (cutover.yaml guest.adapt: off)")
    if facts.roots == 0:
        if facts.encrypted:
            return Refused(
                f"encrypted root: {', '.join(facts.encrypted)} is LUKS-encrypted and "
                "shangyun holds no key to open it; adapt the guest from inside before the "
                "move (add virtio_blk/virtio_pci to its initramfs, fstab by UUID, remove "
                "the hypervisor tools), then set guest.adapt: off for it")
        if settings.mode == "required":
            return Refused("no operating system found on the host's disks, and the plan "
                           "requires it to boot (guest.adapt: required)")
        return Skipped("no operating system found: nothing to adapt")
    if facts.roots > 1:
        return Refused(f"{facts.roots} operating systems on the host's disks (multi-boot): "
                       "shangyun adapts one")
    if facts.os_type == "windows":
        return Refused(WINDOWS_REASON)
    if facts.os_type != "linux":
        return Refused(f"unknown operating system ({facts.os_type or 'unrecognised'}): "
                       "shangyun adapts Linux of the Debian, Red Hat and SUSE families")
    family = FAMILIES.get(facts.distro)
    if family is None:
        return Refused(f"unknown Linux distribution {facts.distro or '(unrecognised)'!r} "
                       f"({facts.product}): shangyun adapts the Debian, Red Hat and SUSE "
                       "families; add it to FAMILIES in shangyun/guests/policy.py "
                       "(docs/guests.md, 'Adding an OS')")
    edits: list[Edit] = []
    notes: list[str] = []
    edits += tools_edits(facts)
    boot, boot_notes = boot_edits(facts)
    edits += boot
    notes += boot_notes
    net = network_edits(facts, settings)
    if isinstance(net, Refused):
        return net
    edits += net[0]
    notes += net[1]
    initrd = initramfs_edits(facts, family)
    if isinstance(initrd, Refused):
        return initrd
    edits += initrd[0]
    notes += initrd[1]
    verify = tuple(m for m in VIRTIO_NEEDED
                   if any(m in facts.kernel_modules.get(k, ()) for k in facts.kernels))
    return AdaptPlan(tuple(edits), tuple(notes), verify)


def tools_edits(facts: GuestFacts) -> list[Edit]:
    """Remove the old hypervisor's guest tools (packages, then tarball installs)."""
    edits = []
    found = [p for p in HYPERVISOR_TOOLS if p in facts.packages]
    if found:
        watch = PACKAGE_DB.get(facts.package_format, ())
        if facts.package_format == "deb":
            argv: tuple[str, ...] = ("dpkg", "--purge", *found)
        else:
            argv = ("rpm", "-e", "--nodeps", *found)
        edits.append(Edit("command", f"remove the old hypervisor's tools ({', '.join(found)})",
                          argv=argv, watch=watch))
    for path in UNINSTALLERS:
        if path in facts.uninstallers:
            edits.append(Edit("command", "uninstall VMware Tools (tarball install)",
                              argv=(path,), watch=(path,)))
    return edits


def boot_edits(facts: GuestFacts) -> tuple[list[Edit], list[str]]:
    """fstab and the boot loader's ``root=``/``resume=`` by UUID (device names change
    with the bus: ``/dev/sda1`` on SATA is ``/dev/vda1`` on virtio-blk)."""
    edits, notes = [], []
    fstab = facts.files.get(FSTAB)
    if fstab is not None:
        text, changed = fstab_by_uuid(fstab, facts.devices)
        unknown = [d for d in fstab_devices(fstab) if d not in facts.devices]
        if unknown:
            notes.append(f"fstab names {', '.join(unknown)}, on no disk of this host: "
                         "left as it is")
        if changed:
            edits.append(Edit("write", f"fstab by UUID ({', '.join(changed)})", path=FSTAB,
                              text=text))
    for path in BOOT_FILES:
        cfg = facts.files.get(path)
        if cfg is None:
            continue
        text, changed = cmdline_by_uuid(cfg, facts.devices)
        if changed:
            devs = ", ".join(sorted(set(changed)))
            edits.append(Edit("write", f"boot loader root by UUID ({devs})", path=path,
                              text=text))
    return edits, notes


def nic_macs(facts: GuestFacts, settings: GuestSettings,
             nics: list[NicConfig]) -> tuple[dict[str, str], list[str]]:
    """Interface name -> MAC for each configured NIC, and the names left without one.

    In order: the plan's ``guest.nics``; the MAC the configuration names; the guest's
    persistent-net rules; then, when exactly one NIC and one MAC of the estate are left,
    that pair."""
    rules = persistent_net_macs(facts.files.get(PERSISTENT_NET, ""))
    plan = {k: norm_mac(v) for k, v in settings.nics.items()}
    macs: dict[str, str] = {}
    for nic in nics:
        mac = plan.get(nic.name) or nic.mac or rules.get(nic.name, "")
        if mac:
            macs[nic.name] = mac
    names = sorted({n.name for n in nics})
    left = [n for n in names if n not in macs]
    spare = [m for m in (norm_mac(x) for x in settings.macs) if m and m not in macs.values()]
    if len(left) == 1 and len(spare) == 1:
        macs[left[0]] = spare[0]
        left = []
    return macs, left


def network_edits(facts: GuestFacts,
                  settings: GuestSettings) -> tuple[list[Edit], list[str]] | Refused:
    """Pin each configured NIC's name to its MAC and keep (or re-address) its address."""
    nics = network_configs(facts.files)
    edits: list[Edit] = []
    notes: list[str] = []
    if not nics:
        return edits, ["no network configuration found in the guest: nothing to pin"]
    macs, left = nic_macs(facts, settings, nics)
    if left:
        return Refused(
            f"cannot tell the MAC of NIC(s) {', '.join(left)}: their configuration names "
            "none, and the estate's MACs do not pair them; give them in cutover.yaml "
            "(systems.<id>.guest.nics: {<name>: <mac>}) so the names can be pinned and the "
            "static addresses kept")
    if facts.init == "systemd":
        for name, mac in sorted(macs.items()):
            edits.append(Edit("write", f"pin NIC {name} to {mac}",
                              path=f"/etc/systemd/network/05-shangyun-{name}.link",
                              text=link_file(name, mac)))
    else:
        edits.append(Edit("write", "pin NIC names to their MACs (" + ", ".join(
            f"{n}={m}" for n, m in sorted(macs.items())) + ")", path=UDEV_PIN_RULES,
            text=udev_rules(macs)))
    for nic in nics:
        kept = ", ".join(nic.addresses) or nic.method or "no address"
        notes.append(f"{nic.name} ({nic.style}, {nic.path}): {kept}"
                     + (f" via {nic.gateway}" if nic.gateway else "")
                     + (f", DNS {' '.join(nic.dns)}" if nic.dns else "") + " kept")
    for name, new in sorted(settings.readdress.items()):
        targets = [n for n in nics if n.name == name]
        if not targets:
            return Refused(f"the plan re-addresses NIC {name}, which the guest does not "
                           "configure")
        for nic in targets:
            text = facts.files[nic.path]
            if nic.style == "ifupdown":
                new_text = readdress_interfaces(text, name, new)
            elif nic.style in ("ifcfg", "wicked"):
                new_text = readdress_ifcfg(text, new)
            else:
                return Refused(f"re-addressing a {nic.style} configuration ({nic.path}) is "
                               "not supported: change it in the guest, or re-address on the "
                               "target network (docs/guests.md)")
            edits.append(Edit("write", f"re-address {name} to {new['address']}",
                              path=nic.path, text=new_text))
    return edits, notes


def initramfs_edits(facts: GuestFacts, family: str) -> tuple[list[Edit], list[str]] | Refused:
    """Add the virtio drivers to every kernel's initramfs with the guest's own tool."""
    if not facts.kernels:
        return Refused("no kernel found under /lib/modules: cannot add virtio drivers")
    usable = [k for k in facts.kernels
              if all(m in facts.kernel_modules.get(k, ()) or m in facts.kernel_builtin.get(k, ())
                     for m in VIRTIO_NEEDED)]
    if not usable:
        return Refused(f"no kernel of this guest ({', '.join(facts.kernels)}) has the virtio "
                       "drivers (virtio_pci, virtio_blk): install a newer kernel first")
    notes = [f"kernel {k} has no virtio disk driver: it will not boot on the target"
             for k in facts.kernels if k not in usable]
    wanted = tuple(m for m in VIRTIO_WANTED
                   if any(m in facts.kernel_modules.get(k, ()) for k in usable))
    if not wanted:
        return [], [*notes, "virtio drivers are built into the kernel: initramfs kept"]
    watch = tuple(sorted(facts.initrds[k] for k in usable if k in facts.initrds))
    if family == "debian":
        if "update-initramfs" not in facts.initrd_tools:
            return Refused("Debian-family guest without update-initramfs "
                           "(initramfs-tools): cannot rebuild its initramfs")
        current = facts.files.get(INITRAMFS_TOOLS_MODULES, "")
        return [Edit("write", "virtio drivers in the initramfs", path=INITRAMFS_TOOLS_MODULES,
                     text=initramfs_modules(current, wanted)),
                Edit("command", "rebuild the initramfs with virtio (update-initramfs)",
                     argv=("update-initramfs", "-u", "-k", "all"), watch=watch)], notes
    if "dracut" not in facts.initrd_tools:
        tool = "mkinitrd" if "mkinitrd" in facts.initrd_tools else "no initramfs tool"
        return Refused(f"{facts.product or facts.distro}: {tool} found, not dracut; "
                       "mkinitrd-era guests (RHEL 5, SLES 11) are not adapted by shangyun: "
                       "use virt-v2v for them (docs/guests.md)")
    edits = [Edit("write", "virtio drivers in the initramfs (dracut)", path=DRACUT_CONF,
                  text="# shangyun guest adaptation: virtio drivers for the new hypervisor\n"
                       f'add_drivers+=" {" ".join(wanted)} "\n')]
    for k in usable:
        initrd = facts.initrds.get(k) or (f"/boot/initrd-{k}" if family == "suse"
                                          else f"/boot/initramfs-{k}.img")
        edits.append(Edit("command", f"rebuild the initramfs of {k} with virtio (dracut)",
                          argv=("dracut", "-f", initrd, k), watch=(initrd,)))
    return edits, notes
