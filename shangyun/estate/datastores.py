"""Datastore roots: the only folders a source disk image is ever read from.

A disk path comes from outside (a ledger, remote ``lsblk``, hypervisor XML), so it is
never trusted as a local path: the wave's pre-check and convert, and discovery's image
sizes, read an image only under the datastore roots configured for its bureau
(:func:`connectors.qemu.source_path` enforces it). They are set in ``estate.yaml``::

    datastore_roots:            # every bureau
      - /srv/datastores
or, per bureau (``"*"``: every bureau)::

    datastore_roots:
      "*": [/srv/shared]
      B01: [/mnt/b01-datastore]

A relative folder is taken from the estate folder. ``shangyun wave run --datastore-root``
(or ``SHANGYUN_DATASTORE_ROOTS``) replaces them for one run. None configured: nothing is
read (the pre-check says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shangyun.errors import EstateError

KEY = "datastore_roots"
"""The ``estate.yaml`` key."""
EVERY_BUREAU = "*"
"""The bureau key whose roots apply to every bureau."""

RootsByBureau = dict[str, tuple[str, ...]]


def _folders(value: Any, where: str, estate_dir: Path) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) and x.strip()
                                              for x in items):
        raise EstateError(f"{where}: expected a folder or a list of folders, got {value!r}")
    return tuple(str(Path(estate_dir, x.strip()).resolve()) for x in items)


def roots_by_bureau(meta: Mapping[str, Any], estate_dir: str | Path) -> RootsByBureau:
    """Bureau id (``"*"`` for every bureau) -> its datastore roots (absolute), from the
    estate's ``meta`` (``estate.yaml``); :class:`EstateError` naming the key when it is not
    a list of folders or a mapping of bureau id to folders."""
    value = meta.get(KEY)
    where = f"{Path(estate_dir) / 'estate.yaml'}: {KEY}"
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): _folders(v, f"{where}.{k}", Path(estate_dir))
                for k, v in value.items()}
    return {EVERY_BUREAU: _folders(value, where, Path(estate_dir))}


def setting_problems(meta: Mapping[str, Any], bureaus: set[str]) -> list[str]:
    """What is wrong with the ``datastore_roots`` setting of ``meta`` (``[]``: nothing): not
    a list or a mapping of folders, or a bureau id that is not one of ``bureaus``."""
    try:
        roots = roots_by_bureau(meta, "/")
    except EstateError as exc:
        return [str(exc).split(": ", 1)[-1]]
    return [f"{KEY}: refers to unknown bureau {b!r}" for b in sorted(roots)
            if b != EVERY_BUREAU and b not in bureaus]


def roots_for(roots: Mapping[str, tuple[str, ...]], bureau: str) -> list[str]:
    """The datastore roots of ``bureau``: its own and every bureau's (``"*"``)."""
    return list(dict.fromkeys([*roots.get(EVERY_BUREAU, ()), *roots.get(bureau, ())]))


__all__ = ["EVERY_BUREAU", "KEY", "RootsByBureau", "roots_by_bureau", "roots_for",
           "setting_problems"]
