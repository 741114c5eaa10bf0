"""Placement constraints: classified systems, MLPS zones and DR placement.

- classified (涉密) systems never move to the cloud: they are excluded, with the reason;
- the MLPS level (等保级别) and network zone decide the security zones a system may use;
- the DR tier decides where it runs in the two-sites-three-centres layout (两地三中心).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shangyun.assess.catalog import Catalog

CLASSIFIED_REASON = "classified (涉密) system: never moves to the cloud"


@dataclass(frozen=True)
class Placement:
    """Where one system may go: allowed zones, DR sites, and why (or why not at all)."""

    excluded: str
    mlps_level: int
    zones: tuple[str, ...]
    dr_tier: int
    sites: tuple[str, ...]
    note: str


def placement(system: dict[str, Any], catalog: Catalog) -> Placement:
    """The zones and DR sites for one system row; ``excluded`` names why it cannot move."""
    level = int(system.get("mlps_level") or catalog.default_mlps_level)
    network = system.get("network_zone") or None
    tier = int(system.get("dr_tier") or 0)
    zones = tuple(z.id for z in catalog.zones
                  if level in z.levels and (network is None or network in z.networks))
    tiers = catalog.dr_tiers
    rule = tiers.get(tier) or tiers[max(t for t in tiers if t <= tier)]
    sites = tuple(rule["placement"])
    excluded = ""
    if system.get("classified"):
        excluded = CLASSIFIED_REASON
    elif not zones:
        excluded = (f"no security zone accepts MLPS level {level}"
                    + (f" in network zone {network}" if network else ""))
    given = "MLPS {level}" if system.get("mlps_level") else (
        "MLPS unknown (no 等保级别 in the ledgers): level {level} assumed (layout.yaml "
        "default_mlps_level)")
    note = f"{given.format(level=level)} → {', '.join(zones) or 'none'}; DR tier {tier} → " \
           f"{' + '.join(catalog.sites[s]['name'] for s in sites)} ({rule.get('note', '')})"
    return Placement(excluded, level, zones, tier, sites, note)
