"""Readiness: can a host (and so a system) run on the target cloud as it is?

``ready`` — nothing to do; ``conditional`` — it can move after a known action (OS upgrade,
P2V conversion, boot conversion, disk split) or once missing facts are discovered;
``not ready`` — the target cannot run it (unsupported OS family or CPU architecture).
Every verdict carries its reasons, drawn from the support matrix data file.
"""

from __future__ import annotations

import re
from typing import Any

from shangyun.assess.catalog import Catalog

READY, CONDITIONAL, NOT_READY = "ready", "conditional", "not ready"
_RANK = {READY: 0, CONDITIONAL: 1, NOT_READY: 2}
_NUM = re.compile(r"(\d+(?:\.\d+)*)")


def worst(statuses: list[str]) -> str:
    """The worst of several readiness verdicts (``ready`` for none)."""
    return max(statuses, key=_RANK.__getitem__, default=READY)


def os_family(os_name: str, catalog: Catalog) -> str | None:
    """The support matrix's family for an OS name (``CentOS Linux`` → ``centos``), or None."""
    name = os_name.strip().lower()
    if not name:
        return None
    for alias in sorted(catalog.aliases, key=len, reverse=True):
        if alias in name:
            return catalog.aliases[alias]
    known = list(catalog.support.get("os", {})) + list(catalog.support.get("unsupported_os", []))
    for fam in sorted(known, key=len, reverse=True):
        if fam in name:
            return fam
    return None


def version_tuple(text: str) -> tuple[int, ...] | None:
    """The first dotted number in ``text`` as a tuple (``"V10 SP2"`` → ``(10,)``)."""
    m = _NUM.search(text or "")
    return tuple(int(p) for p in m.group(1).split(".")) if m else None


def host_readiness(host: dict[str, Any], disks: list[dict[str, Any]],
                   catalog: Catalog) -> tuple[str, list[str]]:
    """The verdict and reasons for one host row (with its disk rows)."""
    sup = catalog.support
    reasons: list[str] = []
    verdicts: list[str] = []
    os_name = str(host.get("os") or "")
    fam = os_family(os_name, catalog)
    if not os_name:
        verdicts.append(CONDITIONAL)
        reasons.append("OS unknown: discover the host before moving it")
    elif fam is None:
        verdicts.append(CONDITIONAL)
        reasons.append(f"OS {os_name!r} is not in the support matrix: check with the cloud")
    elif fam in sup.get("unsupported_os", []):
        verdicts.append(NOT_READY)
        reasons.append(f"OS {os_name!r} ({fam}) cannot run on the target cloud")
    else:
        rule = sup["os"][fam]
        have = version_tuple(str(host.get("os_version") or "")) or version_tuple(os_name)
        need = version_tuple(str(rule["min"]))
        if have is None:
            verdicts.append(CONDITIONAL)
            reasons.append(f"{fam} version unknown (the target needs ≥ {rule['min']})")
        elif need is not None and have < need:
            verdicts.append(CONDITIONAL)
            reasons.append(f"{fam} {'.'.join(map(str, have))} is older than the supported "
                           f"{rule['min']}: upgrade the OS first")
        firmware = host.get("firmware")
        if firmware == "uefi" and not rule.get("uefi", True):
            verdicts.append(CONDITIONAL)
            reasons.append(f"UEFI boot is not supported for {fam} on the target: convert to BIOS")
    arch = str(host.get("arch") or "").lower()
    if not arch:
        verdicts.append(CONDITIONAL)
        reasons.append("CPU architecture unknown")
    elif arch in sup["arch"]["unsupported"]:
        verdicts.append(NOT_READY)
        reasons.append(f"CPU architecture {arch} is not offered by the target cloud")
    elif arch not in sup["arch"]["supported"]:
        verdicts.append(CONDITIONAL)
        reasons.append(f"CPU architecture {arch} is not in the support matrix")
    limits = sup["disk"]
    sizes = [float(d["size_gb"]) for d in disks if d.get("size_gb") is not None]
    if sizes:
        if sizes[0] > limits["max_system_disk_gb"]:
            verdicts.append(CONDITIONAL)
            reasons.append(f"system disk {sizes[0]:g} GB exceeds the import limit "
                           f"{limits['max_system_disk_gb']} GB: shrink or move data off it")
        big = [s for s in sizes[1:] if s > limits["max_data_disk_gb"]]
        if big:
            verdicts.append(CONDITIONAL)
            reasons.append(f"{len(big)} data disk(s) exceed {limits['max_data_disk_gb']} GB: "
                           "split the volume")
        if len(sizes) > limits["max_disks"]:
            verdicts.append(CONDITIONAL)
            reasons.append(f"{len(sizes)} disks exceed the {limits['max_disks']} a VM may have")
    if host.get("kind") == "physical":
        verdicts.append(CONDITIONAL)
        reasons.append("physical server: needs a P2V conversion")
    elif host.get("kind") == "container":
        verdicts.append(CONDITIONAL)
        reasons.append("container (docker, lxc …): it has no disk image of its own to "
                       "move; rebuild it on the target or move the machine it runs on")
    status = worst(verdicts)
    if status == READY:
        reasons.append("supported OS, architecture and disks")
    return status, reasons
