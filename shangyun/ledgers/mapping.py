"""Mapping files: a bureau's own headers → estate columns (``inventory import --mapping``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shangyun.errors import LedgerError
from shangyun.estate.schema import TABLES
from shangyun.ledgers import headers as H
from shangyun.ledgers.model import Mapping

#: libyaml's safe loader when PyYAML was built with it (same documents, ~10x faster).
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_mapping(path: str | Path) -> Mapping:
    """Read a mapping file: YAML ``header: table.column`` (or ``column``, ``ignore``/null,
    or ``{column: table.column, unit: MB}``). Raises :class:`LedgerError` for a bad entry."""
    p = Path(path)
    try:
        data = yaml.load(p.read_text(encoding="utf-8-sig"), Loader=SAFE_LOADER) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LedgerError(str(p), f"cannot read the mapping file: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("columns"), dict):
        data = data["columns"]
    if not isinstance(data, dict):
        raise LedgerError(str(p), "a mapping file is a YAML mapping of header: table.column")
    out: Mapping = {}
    for i, (header, spec) in enumerate(data.items(), start=1):
        unit = ""
        if isinstance(spec, dict):
            unit = H.normalize_header(spec.get("unit") or "")
            spec = spec.get("column")
        target = _resolve_target(spec)
        if target is None:
            raise LedgerError(str(p), f"{spec!r} is not an estate column (write table.column, "
                                      "e.g. hosts.memory_gb, or ignore)", row=i,
                              column=str(header))
        out[H.normalize_header(header)] = (target, unit)
    return out


def _resolve_target(spec: object) -> str | None:
    if spec is None or str(spec).strip().lower() in ("ignore", "skip", "-", ""):
        return H.IGNORE
    s = str(spec).strip()
    if "." in s:
        table, column = s.split(".", 1)
        table = {"host": "hosts", "system": "systems", "bureau": "bureaus",
                 "database": "databases", "dependency": "dependencies",
                 "disk": "disks"}.get(table, table)
        if table in TABLES and column in TABLES[table].column_names and column != "id":
            return f"{table}.{column}"
        return None
    for table in ("hosts", "systems", "bureaus", "databases", "dependencies", "disks"):
        if s in TABLES[table].column_names and s != "id":
            return f"{table}.{s}"
    return None


__all__ = ["SAFE_LOADER", "load_mapping"]
