"""Estate rows from hypervisors (``--hypervisor [BUREAU=]URI``) through a
:class:`~shangyun.discovery.ports.HypervisorLister` (the CLI and the flow pass
:func:`connectors.hypervisor.list_domains`).

Each domain becomes a ``hosts`` row (kind ``vm``, with its first NIC's MAC, so the merge
matches it with a ledger or SSH-discovered host by MAC) and ``disks`` rows. Domains of a
URI given without a bureau go to the ``unassigned`` bureau unless the merge matches them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shangyun.discovery.domains import to_estate_rows
from shangyun.discovery.model import UNASSIGNED_BUREAU
from shangyun.discovery.ports import HypervisorLister
from shangyun.estate.datastores import roots_for


def split_spec(spec: str) -> tuple[str, str]:
    """``"B01=test:///x.xml"`` → ``("B01", "test:///x.xml")``; a bare URI has bureau ''."""
    head, sep, rest = spec.partition("=")
    if sep and head and not any(c in head for c in ":/?&"):
        return head, rest
    return "", spec


def inventory_rows(specs: list[str], lister: HypervisorLister,
                   roots: Mapping[str, tuple[str, ...]] | None = None
                   ) -> dict[str, list[dict[str, Any]]]:
    """``{table: rows}`` for every domain ``lister`` finds at every ``[BUREAU=]URI``.

    ``roots`` (bureau id -> folders, ``"*"`` every bureau; :mod:`shangyun.estate.datastores`)
    are the datastore roots the lister may read a local image under, per bureau."""
    out: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        bureau, uri = split_spec(spec)
        domains = lister(uri, datastore_roots=roots_for(roots or {}, bureau))
        rows = to_estate_rows(domains, bureau_id=bureau or UNASSIGNED_BUREAU,
                              hypervisor=uri)
        for table, table_rows in rows.items():
            out.setdefault(table, []).extend(table_rows)
    return out
