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
from shangyun.errors import EstateError
from shangyun.estate.datastores import roots_for
from shangyun.estate.names import resolve


def split_spec(spec: str) -> tuple[str, str]:
    """``"B01=test:///x.xml"`` → ``("B01", "test:///x.xml")``; a bare URI has bureau ''."""
    head, sep, rest = spec.partition("=")
    if sep and head and not any(c in head for c in ":/?&"):
        return head, rest
    return "", spec


def bureau_specs(specs: list[str], bureaus: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(bureau id, URI)`` of each ``[BUREAU=]URI``, BUREAU being a bureau's name or id
    among ``bureaus`` (id → name); a bare URI has bureau ``''``. An unknown or ambiguous
    bureau raises :class:`~shangyun.errors.EstateError` naming the spec, before any
    hypervisor is asked."""
    out = []
    for spec in specs:
        bureau, uri = split_spec(spec)
        if bureau:
            try:
                bureau = resolve("bureau", bureau, bureaus)
            except EstateError as exc:
                raise EstateError(f"--hypervisor {spec}: {exc}") from None
        out.append((bureau, uri))
    return out


def inventory_rows(specs: list[str], lister: HypervisorLister,
                   roots: Mapping[str, tuple[str, ...]] | None = None,
                   bureaus: Mapping[str, str] | None = None
                   ) -> dict[str, list[dict[str, Any]]]:
    """``{table: rows}`` for every domain ``lister`` finds at every ``[BUREAU=]URI``.

    ``roots`` (bureau id -> folders, ``"*"`` every bureau; :mod:`shangyun.estate.datastores`)
    are the datastore roots the lister may read a local image under, per bureau. With
    ``bureaus`` (the estate's bureau id → name), BUREAU may be a name (:func:`bureau_specs`);
    without it, BUREAU is taken as an id."""
    out: dict[str, list[dict[str, Any]]] = {}
    pairs = bureau_specs(specs, bureaus) if bureaus is not None else [
        split_spec(s) for s in specs]
    for bureau, uri in pairs:
        domains = lister(uri, datastore_roots=roots_for(roots or {}, bureau))
        rows = to_estate_rows(domains, bureau_id=bureau or UNASSIGNED_BUREAU,
                              hypervisor=uri)
        for table, table_rows in rows.items():
            out.setdefault(table, []).extend(table_rows)
    return out
