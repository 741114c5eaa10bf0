"""Estate rows from hypervisors (``--hypervisor [BUREAU=]URI``) via ``connectors.hypervisor``.

Each domain becomes a ``hosts`` row (kind ``vm``, with its first NIC's MAC, so the merge
matches it with a ledger or SSH-discovered host by MAC) and ``disks`` rows. Domains of a
URI given without a bureau go to the ``unassigned`` bureau unless the merge matches them.
"""

from __future__ import annotations

from typing import Any

UNASSIGNED = "unassigned"


def split_spec(spec: str) -> tuple[str, str]:
    """``"B01=test:///x.xml"`` → ``("B01", "test:///x.xml")``; a bare URI has bureau ''."""
    head, sep, rest = spec.partition("=")
    if sep and head and not any(c in head for c in ":/?&"):
        return head, rest
    return "", spec


def inventory_rows(specs: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``{table: rows}`` for every domain of every ``[BUREAU=]URI``."""
    from connectors.hypervisor import list_domains, to_estate_rows

    out: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        bureau, uri = split_spec(spec)
        rows = to_estate_rows(list_domains(uri), bureau_id=bureau or UNASSIGNED,
                              hypervisor=uri)
        for table, table_rows in rows.items():
            out.setdefault(table, []).extend(table_rows)
    return out
