"""Pure readers and rewriters of a guest's configuration texts: fstab, kernel command
lines, ifupdown ``interfaces``, RHEL/SUSE ``ifcfg``, NetworkManager keyfiles, netplan,
udev persistent-net rules. Each takes text and returns data or new text; none touches a
file."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import yaml

from shangyun.guests.model import NicConfig

DEVICE_RE = re.compile(r"^/dev/(?:[shv]d|xvd)[a-z]+\d*$")
"""Block device names that change when the disk bus changes (IDE, SCSI/SATA, Xen, virtio)."""
_DISK_RE = re.compile(r"^/dev/(sd|hd|vd|xvd)([a-z]+)(\d*)$")
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def norm_mac(mac: str) -> str:
    """A MAC in lower case with colons (``00-50-56-AA-BB-01`` -> ``00:50:56:aa:bb:01``);
    empty when ``mac`` is not one."""
    m = mac.strip().strip('"').strip("'").lower().replace("-", ":")
    return m if _MAC_RE.match(m) else ""


def device_aliases(device: str) -> list[str]:
    """Every name a guest may have used for the appliance's ``device`` (same disk index
    and partition on IDE, SCSI/SATA, Xen and virtio): ``/dev/sdb2`` -> ``/dev/sdb2``,
    ``/dev/hdb2``, ``/dev/vdb2``, ``/dev/xvdb2``."""
    m = _DISK_RE.match(device)
    if not m:
        return [device]
    _, letters, part = m.groups()
    return [f"/dev/{p}{letters}{part}" for p in ("sd", "hd", "vd", "xvd")]


# ----------------------------------------------------------------------------- fstab

def fstab_by_uuid(text: str, uuids: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` with each device-name source (``/dev/sda1`` …) replaced by ``UUID=…``
    where ``uuids`` knows the device; the changed specs listed. Comments, spacing of
    other lines and unknown devices are kept (an unknown one is reported by the policy)."""
    out, changed = [], []
    for line in text.splitlines(keepends=True):
        body = line.strip()
        fields = body.split()
        if body and not body.startswith("#") and fields and DEVICE_RE.match(fields[0]) \
                and fields[0] in uuids:
            new = line.replace(fields[0], f"UUID={uuids[fields[0]]}", 1)
            changed.append(fields[0])
            out.append(new)
        else:
            out.append(line)
    return "".join(out), changed


def fstab_devices(text: str) -> list[str]:
    """The device-name sources of ``text`` (entries a bus change would break)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#") and DEVICE_RE.match(fields[0]):
            found.append(fields[0])
    return found


_ROOT_ARG = re.compile(r"\b(root|resume)=(/dev/(?:[shv]d|xvd)[a-z]+\d*)")


def cmdline_by_uuid(text: str, uuids: dict[str, str]) -> tuple[str, list[str]]:
    """A boot loader config (GRUB 2 ``grub.cfg``, GRUB legacy ``menu.lst``,
    ``/etc/default/grub``) with ``root=``/``resume=`` device names replaced by
    ``UUID=…``; the replaced names listed."""
    changed: list[str] = []

    def sub(m: re.Match[str]) -> str:
        dev = m.group(2)
        if dev not in uuids:
            return m.group(0)
        changed.append(dev)
        return f"{m.group(1)}=UUID={uuids[dev]}"

    return _ROOT_ARG.sub(sub, text), changed


# ----------------------------------------------------------------------------- network

def parse_interfaces(text: str, path: str) -> list[NicConfig]:
    """The ``inet``/``inet6`` stanzas of an ifupdown ``interfaces`` file (loopback left
    out): name, method, addresses (``address``+``netmask`` made CIDR), gateway, DNS."""
    nics: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "iface" and len(words) >= 4:
            current = nics.setdefault(words[1], {"method": "", "addresses": [],
                                                 "netmask": "", "gateway": "", "dns": [],
                                                 "mac": ""})
            if words[2] == "inet":
                current["method"] = words[3]
        elif words[0] in ("auto", "mapping", "source", "source-directory") \
                or words[0].startswith("allow-"):
            current = None
        elif current is not None:
            key, rest = words[0], words[1:]
            if key == "address" and rest:
                current["addresses"].append(rest[0])
            elif key == "netmask" and rest:
                current["netmask"] = rest[0]
            elif key == "gateway" and rest:
                current["gateway"] = rest[0]
            elif key == "dns-nameservers":
                current["dns"] += rest
            elif key == "hwaddress" and rest:
                current["mac"] = norm_mac(rest[-1])
    out = []
    for name, d in nics.items():
        if name == "lo":
            continue
        addrs = [_cidr(a, d["netmask"]) for a in d["addresses"]]
        out.append(NicConfig(name, "ifupdown", path, d["mac"], d["method"], tuple(addrs),
                             d["gateway"], tuple(d["dns"])))
    return out


def _cidr(address: str, netmask: str) -> str:
    if "/" in address or not netmask:
        return address
    try:
        return str(ipaddress.ip_interface(f"{address}/{netmask}"))
    except ValueError:
        return address


def parse_ifcfg(text: str) -> dict[str, str]:
    """The ``KEY=value`` pairs of an ifcfg file (quotes removed)."""
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out[k.strip()] = v.strip().strip('"').strip("'")
    return out


def ifcfg_nic(text: str, path: str, style: str = "ifcfg") -> NicConfig | None:
    """One NIC from an ``ifcfg-<name>`` file (RHEL network-scripts or SUSE wicked);
    ``None`` for loopback."""
    kv = parse_ifcfg(text)
    name = kv.get("DEVICE") or path.rsplit("/", 1)[-1].removeprefix("ifcfg-")
    if name == "lo":
        return None
    proto = kv.get("BOOTPROTO", "").lower()
    method = "dhcp" if proto.startswith("dhcp") else "static" if proto in (
        "none", "static", "") and (kv.get("IPADDR") or kv.get("IPADDR0")) else proto
    addrs = []
    for suffix in ("", "0", "1", "2"):
        ip = kv.get(f"IPADDR{suffix}")
        if not ip:
            continue
        if "/" in ip:
            addrs.append(ip)
        elif kv.get(f"PREFIX{suffix}"):
            addrs.append(f"{ip}/{kv[f'PREFIX{suffix}']}")
        else:
            addrs.append(_cidr(ip, kv.get(f"NETMASK{suffix}", "")))
    dns = tuple(kv[k] for k in ("DNS1", "DNS2", "DNS3") if kv.get(k))
    return NicConfig(name, style, path, norm_mac(kv.get("HWADDR", "")), method,
                     tuple(addrs), kv.get("GATEWAY", ""), dns)


def nm_nic(text: str, path: str) -> NicConfig | None:
    """One NIC from a NetworkManager keyfile (``[connection] interface-name``,
    ``[ethernet] mac-address``, ``[ipv4]``); ``None`` when it names no interface."""
    section, kv = "", {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            kv[f"{section}.{k.strip()}"] = v.strip()
    name = kv.get("connection.interface-name", "")
    mac = norm_mac(kv.get("ethernet.mac-address", ""))
    if not name and not mac:
        return None
    addrs = tuple(v.split(",")[0] for k, v in sorted(kv.items())
                  if re.match(r"ipv4\.address\d*$", k))
    gw = next((v.split(",")[1] for k, v in kv.items()
               if re.match(r"ipv4\.address\d*$", k) and "," in v), kv.get("ipv4.gateway", ""))
    dns = tuple(x for x in kv.get("ipv4.dns", "").split(";") if x)
    method = {"manual": "static", "auto": "dhcp"}.get(kv.get("ipv4.method", ""), "")
    return NicConfig(name, "networkmanager", path, mac, method, addrs, gw, dns)


def netplan_nics(text: str, path: str) -> list[NicConfig]:
    """The ethernets of a netplan file."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return []
    eths = ((data.get("network") or {}).get("ethernets") or {}) if isinstance(data, dict) \
        else {}
    out = []
    for key, spec in eths.items():
        spec = spec or {}
        match = spec.get("match") or {}
        name = str(spec.get("set-name") or match.get("name") or key)
        dns = tuple(str(x) for x in (spec.get("nameservers") or {}).get("addresses") or [])
        out.append(NicConfig(name, "netplan", path, norm_mac(str(match.get("macaddress", ""))),
                             "dhcp" if spec.get("dhcp4") else "static",
                             tuple(str(a) for a in spec.get("addresses") or []),
                             str(spec.get("gateway4") or ""), dns))
    return out


_RULE_MAC = re.compile(r'ATTR\{address\}=="([0-9A-Fa-f:]{17})"')
_RULE_NAME = re.compile(r'NAME="([^"]+)"')


def persistent_net_macs(text: str) -> dict[str, str]:
    """Interface name -> MAC from udev persistent-net rules
    (``/etc/udev/rules.d/70-persistent-net.rules``)."""
    out = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        mac, name = _RULE_MAC.search(line), _RULE_NAME.search(line)
        if mac and name:
            out[name.group(1)] = norm_mac(mac.group(1))
    return out


def network_configs(files: dict[str, str]) -> list[NicConfig]:
    """Every NIC configuration found among ``files`` (guest path -> text)."""
    out: list[NicConfig] = []
    for path, text in sorted(files.items()):
        if path == "/etc/network/interfaces" or path.startswith("/etc/network/interfaces.d/"):
            out += parse_interfaces(text, path)
        elif path.startswith("/etc/sysconfig/network-scripts/ifcfg-"):
            nic = ifcfg_nic(text, path)
            out += [nic] if nic else []
        elif path.startswith("/etc/sysconfig/network/ifcfg-"):
            nic = ifcfg_nic(text, path, "wicked")
            out += [nic] if nic else []
        elif path.startswith("/etc/NetworkManager/system-connections/"):
            nic = nm_nic(text, path)
            out += [nic] if nic else []
        elif path.startswith("/etc/netplan/"):
            out += netplan_nics(text, path)
    return out


# ------------------------------------------------------------------ pinning and re-addressing

def link_file(name: str, mac: str) -> str:
    """A systemd ``.link`` file that names the NIC with ``mac`` ``name``."""
    return ("# written by shangyun guest adaptation: keep this NIC's name on the new\n"
            "# hypervisor (its PCI slot and driver changed; its MAC did not)\n"
            f"[Match]\nMACAddress={mac}\n\n[Link]\nName={name}\n")


def udev_rules(pins: dict[str, str]) -> str:
    """udev rules that name each NIC by its MAC (name -> MAC), for guests without
    systemd."""
    lines = ["# written by shangyun guest adaptation: keep NIC names on the new hypervisor"]
    for name, mac in sorted(pins.items()):
        lines.append(f'SUBSYSTEM=="net", ACTION=="add", ATTR{{address}}=="{mac}", '
                     f'NAME="{name}"')
    return "\n".join(lines) + "\n"


def readdress_interfaces(text: str, name: str, new: dict[str, Any]) -> str:
    """``text`` (an ifupdown file) with ``name``'s stanza given the static address
    ``new['address']`` (CIDR), ``gateway`` and ``dns`` (others kept)."""
    out: list[str] = []
    inside = False
    indent = "    "
    for line in text.splitlines(keepends=True):
        words = line.split()
        if words and words[0] == "iface":
            inside = len(words) >= 4 and words[1] == name and words[2] == "inet"
            if inside:
                out.append(f"iface {name} inet static\n")
                out.append(f"{indent}address {new['address']}\n")
                if new.get("gateway"):
                    out.append(f"{indent}gateway {new['gateway']}\n")
                if new.get("dns"):
                    out.append(f"{indent}dns-nameservers {' '.join(new['dns'])}\n")
                continue
        elif words and (words[0] in ("auto", "mapping", "source")
                        or words[0].startswith("allow-")):
            inside = False
        if inside and words and words[0] in ("address", "netmask", "gateway",
                                             "dns-nameservers", "network", "broadcast"):
            continue
        out.append(line)
    return "".join(out)


def readdress_ifcfg(text: str, new: dict[str, Any]) -> str:
    """``text`` (an ifcfg file) made static on ``new['address']`` (CIDR) with
    ``gateway`` and ``dns``; other keys kept."""
    iface = ipaddress.ip_interface(str(new["address"]))
    drop = re.compile(r"^(IPADDR\d*|PREFIX\d*|NETMASK\d*|GATEWAY|DNS\d|BOOTPROTO)=")
    kept = [line for line in text.splitlines() if not drop.match(line.strip())]
    kept += ["BOOTPROTO=none", f"IPADDR={iface.ip}", f"PREFIX={iface.network.prefixlen}"]
    if new.get("gateway"):
        kept.append(f"GATEWAY={new['gateway']}")
    kept += [f"DNS{i}={d}" for i, d in enumerate(new.get("dns") or [], 1)]
    return "\n".join(kept) + "\n"


def initramfs_modules(text: str, modules: tuple[str, ...]) -> str:
    """``/etc/initramfs-tools/modules`` with each of ``modules`` listed (once)."""
    have = {ln.split()[0] for ln in text.splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")}
    missing = [m for m in modules if m not in have]
    if not missing:
        return text
    body = text if not text or text.endswith("\n") else text + "\n"
    return body + "# virtio drivers for the new hypervisor (shangyun guest adaptation)\n" + \
        "".join(f"{m}\n" for m in missing)
