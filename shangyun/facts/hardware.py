"""Facts about the machine: CPU, memory, boot firmware and virtualisation."""

from __future__ import annotations

from typing import Any

from shangyun.facts.base import Fact, shell_lines_starting, split_format, to_int


class Cpu(Fact):
    """Logical CPUs, model, sockets and the hypervisor flag, from ``/proc/cpuinfo``.

    Sample output::

        processors 4
        flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep hypervisor lahf_lm
        model name\t: Intel(R) Xeon(R) CPU E5-2650 v2 @ 2.60GHz
        physical id\t: 0
        physical id\t: 1

    Result: ``{"cores": 4, "model": "Intel(R) Xeon(R) …", "sockets": 2,
    "hypervisor_flag": True}``.
    """

    name = "cpu"

    @classmethod
    def command(cls) -> str:
        # one awk instead of grep -c, grep and sort (the old pipeline where awk is missing)
        return ("awk '/^processor/ {n++} /^(model name|physical id|flags|vendor_id|Model|"
                "CPU part)/ && !seen[$0]++ {print} END {print \"processors \" n+0}' "
                "/proc/cpuinfo 2>/dev/null || { "
                "echo \"processors $(grep -c '^processor' /proc/cpuinfo)\"; "
                "grep -E '^(model name|physical id|flags|vendor_id|Model|CPU part)' "
                "/proc/cpuinfo | sort -u; }")

    @classmethod
    def process(cls, lines: list[str]) -> dict[str, Any]:
        cores = 0
        model = ""
        sockets: set[str] = set()
        flags: set[str] = set()
        for line in lines:
            if line.startswith("processors "):
                cores = to_int(line.split()[1], 0) or 0
                continue
            if ":" not in line:
                continue
            key, value = (p.strip() for p in line.split(":", 1))
            if key == "model name" or (key == "Model" and not model):
                model = value
            elif key == "physical id":
                sockets.add(value)
            elif key == "flags":
                flags.update(value.split())
        return {"cores": cores, "model": model, "sockets": len(sockets) or (1 if cores else 0),
                "hypervisor_flag": "hypervisor" in flags}


class Memory(Fact):
    """Total and available memory in KiB, from ``/proc/meminfo``.

    Sample output::

        MemTotal:        8009496 kB
        MemFree:          301480 kB
        MemAvailable:    5112520 kB
        Buffers:          112332 kB
        Cached:          4463164 kB

    ``MemAvailable`` is missing before Linux 3.14 (CentOS 6): it is then estimated as
    ``MemFree + Buffers + Cached``.
    """

    name = "memory"

    @classmethod
    def command(cls) -> str:
        return shell_lines_starting("/proc/meminfo", ("MemTotal", "MemFree", "MemAvailable",
                                                      "Buffers", "Cached", "SwapTotal"))

    @classmethod
    def process(cls, lines: list[str]) -> dict[str, int]:
        kv = meminfo(lines)
        total = kv.get("MemTotal", 0)
        avail = kv.get("MemAvailable",
                       kv.get("MemFree", 0) + kv.get("Buffers", 0) + kv.get("Cached", 0))
        return {"total_kib": total, "available_kib": min(avail, total),
                "swap_kib": kv.get("SwapTotal", 0)}


def meminfo(lines: list[str]) -> dict[str, int]:
    """``/proc/meminfo`` lines as ``{name: KiB}``."""
    out: dict[str, int] = {}
    for line in lines:
        if ":" in line:
            k, v = line.split(":", 1)
            n = to_int(v.split()[0] if v.split() else "")
            if n is not None:
                out[k.strip()] = n
    return out


class Firmware(Fact):
    """Boot firmware: ``uefi`` when ``/sys/firmware/efi`` exists, else ``bios``.

    Sample output::

        bios
    """

    name = "firmware"

    @classmethod
    def command(cls) -> str:
        return "if [ -d /sys/firmware/efi ]; then echo uefi; else echo bios; fi"

    @classmethod
    def process(cls, lines: list[str]) -> str:
        value = next((ln.strip() for ln in lines if ln.strip()), "")
        return value if value in ("uefi", "bios") else ""


_DMI_VIRT = (
    ("vmware", "vmware"), ("virtualbox", "oracle"), ("innotek", "oracle"),
    ("qemu", "kvm"), ("kvm", "kvm"), ("openstack", "kvm"), ("bochs", "bochs"),
    ("microsoft corporation", "microsoft"), ("xen", "xen"), ("alibaba cloud", "kvm"),
    ("huawei cloud", "kvm"), ("parallels", "parallels"),
)
_CONTAINERS = {"docker", "lxc", "lxc-libvirt", "podman", "openvz", "systemd-nspawn", "rkt",
               "wsl", "container-other", "proot", "pouch"}


class Virtualisation(Fact):
    """Virtualisation type: ``systemd-detect-virt``, else DMI strings and the CPU flag.

    Sample output (CentOS 6 guest on VMware, no systemd)::

        #fmt dmi
        VMware, Inc.
        VMware Virtual Platform
        hypervisor

    Result: ``{"type": "vmware", "kind": "vm", "source": "dmi"}``; ``kind`` is ``vm``,
    ``container`` or ``physical``.
    """

    name = "virt"

    @classmethod
    def command(cls) -> str:
        return ("v=$(systemd-detect-virt 2>/dev/null); "
                "if [ -n \"$v\" ]; then echo '#fmt systemd'; echo \"$v\"; else echo '#fmt dmi'; "
                "cat /sys/class/dmi/id/sys_vendor /sys/class/dmi/id/product_name 2>/dev/null; "
                "grep -qw hypervisor /proc/cpuinfo && echo hypervisor; fi")

    @classmethod
    def process(cls, lines: list[str]) -> dict[str, str]:
        fmt, rest = split_format(lines, "dmi")
        values = [ln.strip() for ln in rest if ln.strip()]
        if fmt == "systemd" and values:
            vtype = values[0]
        else:
            text = " ".join(values).lower()
            vtype = next((t for word, t in _DMI_VIRT if word in text), "")
            if not vtype:
                vtype = "other" if "hypervisor" in values else "none"
        kind = "physical" if vtype == "none" else "container" if vtype in _CONTAINERS else "vm"
        return {"type": vtype, "kind": kind, "source": fmt}
