"""The adaptation policy on hand-made facts: every decision, no appliance (fast)."""

from __future__ import annotations

import dataclasses

from shangyun.guests.model import AdaptPlan, GuestFacts, GuestSettings, Refused, Skipped
from shangyun.guests.policy import decide
from shangyun.guests.probe import signatures
from shangyun.guests.texts import (
    cmdline_by_uuid,
    fstab_by_uuid,
    ifcfg_nic,
    netplan_nics,
    nm_nic,
    parse_interfaces,
    readdress_ifcfg,
    readdress_interfaces,
)

UUID = "0b3c1a52-7c1e-4f57-9f55-3f1e2d0a9b11"
INTERFACES = """auto lo
iface lo inet loopback

allow-hotplug ens192
iface ens192 inet static
    address 192.168.50.10
    netmask 255.255.255.0
    gateway 192.168.50.1
    dns-nameservers 192.168.50.2
"""
DEBIAN = GuestFacts(
    os_type="linux", distro="debian", major=12, product="Debian GNU/Linux 12", roots=1,
    package_format="deb", init="systemd", packages=("bash", "open-vm-tools"),
    initrd_tools=("update-initramfs",), kernels=("6.1.0-50-amd64",),
    kernel_modules={"6.1.0-50-amd64": ("virtio_blk", "virtio_net", "virtio_pci",
                                       "virtio_scsi")},
    initrds={"6.1.0-50-amd64": "/boot/initrd.img-6.1.0-50-amd64"},
    devices={"/dev/sda1": UUID, "/dev/hda1": UUID, "/dev/vda1": UUID, "/dev/xvda1": UUID},
    files={"/etc/fstab": "/dev/sda1 / ext4 errors=remount-ro 0 1\n",
           "/boot/grub/grub.cfg": "linux /vmlinuz root=/dev/sda1 ro\n",
           "/etc/network/interfaces": INTERFACES,
           "/etc/initramfs-tools/modules": "ahci\n"})
MAC = "00:50:56:aa:bb:01"


def _plan(facts: GuestFacts, settings: GuestSettings | None = None) -> AdaptPlan:
    d = decide(facts, settings or GuestSettings(macs=(MAC,)))
    assert isinstance(d, AdaptPlan), d
    return d


def test_debian_plan_in_order() -> None:
    plan = _plan(DEBIAN)
    kinds = [(e.kind, e.path or e.argv[0]) for e in plan.edits]
    assert kinds == [("command", "dpkg"), ("write", "/etc/fstab"),
                     ("write", "/boot/grub/grub.cfg"),
                     ("write", "/etc/systemd/network/05-shangyun-ens192.link"),
                     ("write", "/etc/initramfs-tools/modules"),
                     ("command", "update-initramfs")]
    by = {e.path: e.text for e in plan.edits if e.kind == "write"}
    assert by["/etc/fstab"].startswith(f"UUID={UUID} / ext4")
    assert f"root=UUID={UUID}" in by["/boot/grub/grub.cfg"]
    assert f"MACAddress={MAC}" in by["/etc/systemd/network/05-shangyun-ens192.link"]
    assert "virtio_blk\n" in by["/etc/initramfs-tools/modules"]
    assert plan.verify_modules == ("virtio_pci", "virtio_blk")
    assert any("192.168.50.10/24 via 192.168.50.1" in n for n in plan.notes)


def test_nic_mac_from_plan_wins_and_missing_mac_refused() -> None:
    plan = _plan(DEBIAN, GuestSettings(nics={"ens192": "00-50-56-AA-BB-09"}, macs=(MAC,)))
    link = next(e for e in plan.edits if e.path.endswith(".link"))
    assert "MACAddress=00:50:56:aa:bb:09" in link.text
    d = decide(DEBIAN, GuestSettings())
    assert isinstance(d, Refused) and "ens192" in d.reason and "guest.nics" in d.reason


def test_sysv_guest_gets_udev_rule() -> None:
    plan = _plan(dataclasses.replace(DEBIAN, init="sysv"))
    rule = next(e for e in plan.edits if "udev" in e.path)
    assert f'ATTR{{address}}=="{MAC}", NAME="ens192"' in rule.text


def test_refusals_and_skips() -> None:
    assert isinstance(decide(GuestFacts(), GuestSettings()), Skipped)
    assert decide(GuestFacts(), GuestSettings()).reason == \
        "no operating system found: nothing to adapt"  # type: ignore[union-attr]
    assert isinstance(decide(GuestFacts(), GuestSettings(mode="required")), Refused)
    assert isinstance(decide(DEBIAN, GuestSettings(mode="off")), Skipped)
    luks = decide(GuestFacts(encrypted=("/dev/sda2",)), GuestSettings())
    assert isinstance(luks, Refused) and "encrypted root" in luks.reason
    win = decide(GuestFacts(os_type="windows", roots=1), GuestSettings())
    assert isinstance(win, Refused) and "virtio-win" in win.reason
    odd = decide(dataclasses.replace(DEBIAN, distro="gentoo"), GuestSettings())
    assert isinstance(odd, Refused) and "unknown Linux distribution 'gentoo'" in odd.reason
    bsd = decide(GuestFacts(os_type="freebsd", roots=1), GuestSettings())
    assert isinstance(bsd, Refused) and "unknown operating system" in bsd.reason
    old = decide(dataclasses.replace(DEBIAN, kernel_modules={}), GuestSettings(macs=(MAC,)))
    assert isinstance(old, Refused) and "virtio" in old.reason


def test_rhel_uses_dracut_per_kernel() -> None:
    rhel = dataclasses.replace(
        DEBIAN, distro="centos", major=7, package_format="rpm", packages=("open-vm-tools",),
        initrd_tools=("dracut",), kernels=("3.10.0-1160",),
        kernel_modules={"3.10.0-1160": ("virtio_blk", "virtio_pci")}, initrds={},
        files={"/etc/sysconfig/network-scripts/ifcfg-eth0":
               "DEVICE=eth0\nHWADDR=00:50:56:AA:BB:02\nIPADDR=10.0.0.5\nPREFIX=24\n"})
    plan = _plan(rhel, GuestSettings())
    argv = [e.argv for e in plan.edits if e.kind == "command"]
    assert argv[0][:3] == ("rpm", "-e", "--nodeps")
    assert argv[-1] == ("dracut", "-f", "/boot/initramfs-3.10.0-1160.img", "3.10.0-1160")
    assert any("MACAddress=00:50:56:aa:bb:02" in e.text for e in plan.edits)
    mk = decide(dataclasses.replace(rhel, initrd_tools=("mkinitrd",)), GuestSettings())
    assert isinstance(mk, Refused) and "mkinitrd" in mk.reason


def test_readdress() -> None:
    new = {"address": "10.9.0.5/24", "gateway": "10.9.0.1", "dns": ["10.9.0.2"]}
    plan = _plan(DEBIAN, GuestSettings(macs=(MAC,), readdress={"ens192": new}))
    text = next(e.text for e in plan.edits if e.path == "/etc/network/interfaces")
    nic = parse_interfaces(text, "x")[0]
    assert (nic.addresses, nic.gateway, nic.dns) == (("10.9.0.5/24",), "10.9.0.1",
                                                     ("10.9.0.2",))
    assert "allow-hotplug ens192" in text and "192.168.50" not in text
    ifcfg = readdress_ifcfg("DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n", new)
    got = ifcfg_nic(ifcfg, "/etc/sysconfig/network-scripts/ifcfg-eth0")
    assert got is not None and got.addresses == ("10.9.0.5/24",) and got.method == "static"
    assert readdress_interfaces(INTERFACES, "eth9", new) == INTERFACES


def test_texts() -> None:
    uuids = {"/dev/sda1": UUID, "/dev/sdb1": "u2"}
    text, changed = fstab_by_uuid("# c\n/dev/sda1  /  ext4 defaults 0 1\n"
                                  "UUID=x /boot ext4 defaults 0 2\n/dev/sdb1 swap swap sw 0 0\n",
                                  uuids)
    assert changed == ["/dev/sda1", "/dev/sdb1"] and text.count("UUID=") == 3
    cfg, ch = cmdline_by_uuid("linux /v root=/dev/sda1 resume=/dev/sdb1 ro\n", uuids)
    assert cfg == f"linux /v root=UUID={UUID} resume=UUID=u2 ro\n" and len(ch) == 2
    nm = nm_nic("[connection]\ninterface-name=ens33\n[ethernet]\nmac-address=00:0C:29:01:02:03"
                "\n[ipv4]\nmethod=manual\naddress1=10.1.1.5/24,10.1.1.1\ndns=10.1.1.2;\n", "p")
    assert nm is not None and (nm.name, nm.mac, nm.addresses, nm.gateway) == (
        "ens33", "00:0c:29:01:02:03", ("10.1.1.5/24",), "10.1.1.1")
    (np,) = netplan_nics("network:\n  ethernets:\n    ens160:\n      addresses: [10.2.0.4/24]\n"
                         "      gateway4: 10.2.0.1\n", "p")
    assert (np.name, np.addresses, np.gateway) == ("ens160", ("10.2.0.4/24",), "10.2.0.1")


def test_probe_signatures() -> None:
    head = bytearray(1 << 20)
    assert signatures(bytes(head)) == []
    head[446 + 4] = 0x83
    head[510:512] = b"\x55\xaa"
    assert signatures(bytes(head)) == ["MBR partition table"]
    luks = bytearray(1 << 20)
    luks[0:6] = b"LUKS\xba\xbe"
    assert signatures(bytes(luks)) == ["LUKS"]


def test_guest_settings_from_the_cutover_file() -> None:
    import pytest

    from shangyun.errors import EstateError
    from shangyun.wave.cutover import parse_cutover

    plan = parse_cutover({"schema_version": 1,
                          "systems": {"s1": {"guest": {"adapt": "required"}}},
                          "guests": {"s2": {"adapt": "off", "nics": {"eth0": "00-50-56-AA-BB-01"},
                                            "hosts": {"h9": {"readdress": {"eth0": {
                                                "address": "10.0.0.9/24"}}}}}}})
    assert plan.guests["s1"].mode == "required"
    h9 = plan.guests["s2"].for_host("h9", "vm9")
    assert (h9.mode, h9.nics, h9.readdress["eth0"]["address"]) == (
        "off", {"eth0": "00:50:56:aa:bb:01"}, "10.0.0.9/24")
    for bad, needle in (({"adapt": "maybe"}, "adapt"), ({"nics": {"e": "xx"}}, "MAC"),
                        ({"readdress": {"e": {"address": "10.0.0.300/24"}}}, "readdress"),
                        ({"colour": 1}, "unknown key")):
        with pytest.raises(EstateError, match=needle):
            parse_cutover({"schema_version": 1, "guests": {"s": bad}})
    with pytest.raises(EstateError, match="given twice"):
        parse_cutover({"schema_version": 1, "systems": {"s": {"guest": {}}},
                       "guests": {"s": {}}})
