"""The assessment's data files: support matrix, flavour catalogue, price table, layout.

They ship in ``shangyun/data/`` and can be replaced by a folder of the same files
(``--data DIR``), so a programme can describe its own target cloud without code changes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from shangyun.errors import SchemaVersionError, ShangyunError

DATA_SCHEMA_VERSION = 1


class CatalogError(ShangyunError):
    """A data file (support matrix, flavours, prices, layout) cannot be understood."""


@dataclass(frozen=True)
class Flavour:
    """One target-cloud flavour (instance type) and its monthly price."""

    name: str
    family: str
    vcpu: int
    memory_gb: float
    monthly_cny: float


@dataclass(frozen=True)
class Zone:
    """A security zone of the target cloud: which MLPS levels and networks it accepts."""

    id: str
    name: str
    levels: tuple[int, ...]
    networks: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """Everything the assessment reads besides the estate."""

    support: dict[str, Any]
    flavours: tuple[Flavour, ...]
    prices: dict[str, Any]
    sites: dict[str, dict[str, str]]
    dr_tiers: dict[int, dict[str, Any]]
    zones: tuple[Zone, ...]
    default_mlps_level: int = 2
    source: str = "shangyun/data"
    aliases: dict[str, str] = field(default_factory=dict)


def _read_text(data_dir: Path | None, name: str) -> tuple[str, str]:
    if data_dir is not None:
        path = data_dir / name
        if not path.is_file():
            raise CatalogError(f"{path}: data file is missing")
        return path.read_text(encoding="utf-8"), str(path)
    res = resources.files("shangyun") / "data" / name
    return res.read_text(encoding="utf-8"), f"shangyun/data/{name}"


def _yaml(data_dir: Path | None, name: str) -> tuple[dict[str, Any], str]:
    text, where = _read_text(data_dir, name)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise CatalogError(f"{where}: expected a mapping at the top level")
    version = doc.get("schema_version")
    if version != DATA_SCHEMA_VERSION:
        raise SchemaVersionError(f"{where}: schema_version is {version!r}, this shangyun reads "
                                 f"schema_version {DATA_SCHEMA_VERSION}")
    return doc, where


def _flavours(data_dir: Path | None) -> tuple[Flavour, ...]:
    text, where = _read_text(data_dir, "flavours.csv")
    out: list[Flavour] = []
    for i, row in enumerate(csv.DictReader(text.splitlines())):
        try:
            out.append(Flavour(name=row["name"].strip(), family=row["family"].strip(),
                               vcpu=int(row["vcpu"]), memory_gb=float(row["memory_gb"]),
                               monthly_cny=float(row["monthly_cny"])))
        except (KeyError, ValueError, AttributeError) as exc:
            raise CatalogError(f"{where}, row {i + 2}: bad flavour ({exc})") from exc
    if not out:
        raise CatalogError(f"{where}: no flavours")
    return tuple(sorted(out, key=lambda f: (f.monthly_cny, f.vcpu, f.memory_gb)))


def load_catalog(data_dir: str | Path | None = None) -> Catalog:
    """Read the four data files from ``data_dir`` (default: the packaged ``shangyun/data``)."""
    d = Path(data_dir) if data_dir is not None else None
    support, _ = _yaml(d, "support_matrix.yaml")
    prices, _ = _yaml(d, "prices.yaml")
    layout, where = _yaml(d, "layout.yaml")
    try:
        zones = tuple(Zone(id=str(z["id"]), name=str(z["name"]),
                           levels=tuple(int(x) for x in z["levels"]),
                           networks=tuple(str(x) for x in z["networks"]))
                      for z in layout["zones"])
        tiers = {int(k): dict(v) for k, v in layout["dr_tiers"].items()}
        sites = {str(k): dict(v) for k, v in layout["sites"].items()}
        for t, v in tiers.items():
            for s in v["placement"]:
                if s not in sites:
                    raise CatalogError(f"{where}: dr tier {t} places in unknown site {s!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{where}: bad layout ({exc!r})") from exc
    aliases = {str(k).lower(): str(v) for k, v in (support.get("aliases") or {}).items()}
    return Catalog(support=support, flavours=_flavours(d), prices=prices, sites=sites,
                   dr_tiers=tiers, zones=zones,
                   default_mlps_level=int(layout.get("default_mlps_level", 2)),
                   source=str(d) if d else "shangyun/data", aliases=aliases)
