"""Right-sizing: from observed utilisation to the smallest fitting flavour.

The need is ``allocated × p95 / target`` (CPU and memory separately): a host whose p95 CPU
is 14 % of 8 cores, sized for a 70 % target, needs 1.6 vCPU. Without discovered p95 the
average utilisation is used; without any utilisation the ledger's allocation is kept as is.
A ``headroom`` fraction is added on top; the cheapest flavour covering both needs wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shangyun.assess.catalog import Catalog, Flavour


@dataclass(frozen=True)
class Sizing:
    """The right-sized need of one host and the flavour chosen for it."""

    basis: str
    vcpu_need: float
    memory_need_gb: float
    flavour: Flavour | None
    note: str


def _need(alloc: float, p95: Any, avg: Any, target: float, headroom: float) -> tuple[float, str]:
    if p95 is not None:
        return alloc * float(p95) / 100 / target * (1 + headroom), "p95"
    if avg is not None:
        return alloc * float(avg) / 100 / target * (1 + headroom), "average"
    return alloc, "ledger"


def right_size(host: dict[str, Any], catalog: Catalog, *, target: float = 0.70,
               headroom: float = 0.10) -> Sizing:
    """Right-size one host row for utilisation ``target`` (0–1) with ``headroom`` on top."""
    cores = float(host.get("cpu_cores") or 1)
    mem = float(host.get("memory_gb") or 1)
    vcpu, b1 = _need(cores, host.get("cpu_p95_pct"), host.get("cpu_util_pct"), target, headroom)
    ram, b2 = _need(mem, host.get("mem_p95_pct"), host.get("mem_util_pct"), target, headroom)
    vcpu, ram = max(vcpu, 1.0), max(ram, 1.0)
    basis = b1 if b1 == b2 else f"cpu {b1}, memory {b2}"
    fits = [f for f in catalog.flavours if f.vcpu >= vcpu - 1e-9 and f.memory_gb >= ram - 1e-9]
    if fits:
        best = min(fits, key=lambda f: (f.monthly_cny, f.vcpu, f.memory_gb))
        return Sizing(basis, round(vcpu, 2), round(ram, 2), best, "")
    return Sizing(basis, round(vcpu, 2), round(ram, 2), None,
                  f"needs {math.ceil(vcpu)} vCPU / {math.ceil(ram)} GB: larger than any "
                  "flavour, plan a dedicated host")
