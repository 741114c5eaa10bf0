"""Estate rows from hypervisors (``--hypervisor URI``) through ``connectors.hypervisor``."""

from __future__ import annotations

from typing import Any

from shangyun.errors import ConnectorError


def inventory_rows(uris: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``{table: rows}`` for every domain of every URI (via the hypervisor connector)."""
    try:
        from connectors import hypervisor
    except ImportError as exc:
        raise ConnectorError("--hypervisor: the hypervisor connector (connectors/hypervisor.py)"
                             " is not available in this checkout") from exc
    out: dict[str, list[dict[str, Any]]] = {}
    for uri in uris:
        rows = hypervisor.to_estate_rows(uri)  # type: ignore[attr-defined]
        for table, table_rows in rows.items():
            out.setdefault(table, []).extend(table_rows)
    return out
