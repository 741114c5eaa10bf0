"""Settling conflicts by decision: keep the estate's value or take the incoming one.

A conflict (:mod:`shangyun.estate.merge`) is a cell two sources disagree on; the estate
keeps its value and lists the other. ``inventory resolve`` settles chosen conflicts: with
``keep="current"`` the estate's value stays, with ``keep="incoming"`` the incoming value
replaces it. Either way the conflict row goes, and the decision is recorded in
``estate.yaml`` ``decisions`` (table, key, column, the value kept, the values rejected, when)
so a later import bringing the same rejected value to the same cell does not raise the
conflict again (:func:`rejected_cells`, read by the merge). A source bringing yet another
value, or the cell's value changing otherwise, makes a new conflict as before.

Pure core: works on an :class:`~shangyun.estate.model.Estate` in memory; the caller saves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shangyun.errors import EstateError, ValidationFailed
from shangyun.estate.lock import writes_estate
from shangyun.estate.model import Estate, Problem
from shangyun.estate.names import (
    NAME_COLUMNS,
    AmbiguousName,
    NameNotFound,
    label,
    names_of,
    resolve,
)

Keep = Literal["current", "incoming"]
Row = dict[str, Any]

#: The tables whose rows people name (their conflicts' key can be given by name).
NAMED_TABLES: dict[str, Literal["system", "host", "bureau"]] = {
    "systems": "system", "hosts": "host", "bureaus": "bureau"}
#: The columns settled together (a host's OS name and version).
OS_PAIR = {"os": {"os", "os_version"}, "os_version": {"os", "os_version"}}
#: ``estate.yaml`` key holding the decisions.
META_KEY = "decisions"


class NoSuchConflict(EstateError):
    """No conflict of the estate matches what was asked (the message says what exists)."""


@dataclass
class Settlement:
    """What settling chosen conflicts does: the conflicts, the cells whose value changes
    (``{table, key, column, current, incoming}``), and the decisions recorded."""

    keep: Keep
    conflicts: list[Row] = field(default_factory=list)
    changes: list[Row] = field(default_factory=list)
    decisions: list[Row] = field(default_factory=list)


def find_conflicts(estate: Estate, row: str | None = None, column: str | None = None,
                   source: str | None = None, table: str | None = None) -> list[Row]:
    """The conflicts of ``estate`` matching every selector given.

    ``row``: a system, host or bureau (id or name, as ``plan explain`` takes them) or the
    id of any row (a disk, database, dependency); ``column``: the column name (``os``,
    ``cpu_cores``; a host's ``os`` and ``os_version`` go together); ``source``: the file
    (full path as recorded, or its name) that brought the incoming value; ``table``: the
    table name. Raises :class:`NoSuchConflict` when nothing matches, naming what exists."""
    rows = estate.rows("conflicts")
    if not rows:
        raise NoSuchConflict("the estate has no conflicts (`inventory conflicts` lists them)")
    chosen = rows
    if table:
        chosen = [c for c in chosen if c.get("table") == table]
    if row:
        keys = _row_keys(estate, row, rows)
        chosen = [c for c in chosen if str(c.get("key") or "") in keys]
    if column:
        # a host's OS is one fact in two columns: settling one settles its pair too, or
        # the host would read ``UOS 7.9``
        wanted = OS_PAIR.get(column.strip(), {column.strip()})
        chosen = [c for c in chosen if str(c.get("column") or "") in wanted
                  and (c.get("table") == "hosts" or str(c.get("column")) == column.strip())]
    if source:
        names = _same_content(estate, source)
        chosen = [c for c in chosen if any(_same_source(n, c) for n in names)]
    if not chosen:
        asked = ", ".join(f"{k} {v!r}" for k, v in (("table", table), ("row", row),
                          ("column", column), ("source", source)) if v)
        columns = sorted({str(c.get("column")) for c in rows})
        raise NoSuchConflict(
            f"no conflict matches {asked}: the estate has {len(rows)} conflict(s), on "
            f"column(s) {', '.join(columns)} (`inventory conflicts` lists them)")
    return chosen


def settle(estate: Estate, chosen: Iterable[Row], keep: Keep,
           now: dt.datetime | None = None) -> Settlement:
    """Settle ``chosen`` conflicts of ``estate`` in place (rows, conflicts table, ``meta``).

    Raises :class:`EstateError` when taking the incoming values is ambiguous (two conflicts
    on one cell bring different values: choose one with a source) or an incoming value
    does not fit its column (nothing is changed then)."""
    chosen = list(chosen)
    by_cell: dict[tuple[str, str, str], list[Row]] = {}
    for c in chosen:
        by_cell.setdefault(_cell(c), []).append(c)
    if keep == "incoming":  # the cell's other conflicts compared with the value it loses
        ids = {str(c.get("id")) for c in chosen}
        for c in estate.rows("conflicts"):
            if _cell(c) in by_cell and str(c.get("id")) not in ids:
                chosen.append(c)
    out = Settlement(keep, conflicts=chosen)
    at = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    tables: dict[str, list[Row]] = {}
    for (table, key, column), cs in by_cell.items():
        incoming = list(dict.fromkeys(str(c.get("incoming") or "") for c in cs))
        others = [str(c.get("incoming") or "") for c in chosen
                  if _cell(c) == (table, key, column) and c not in cs]
        if keep == "incoming" and len(incoming) > 1:
            raise EstateError(
                f"{table} {key!r} {column}: {len(incoming)} conflicts bring different values ("
                + "; ".join(f"{c.get('incoming')!r} from {c.get('incoming_source')}" for c in cs)
                + "): choose one with --source")
        current = str(cs[0].get("current") or "")
        kept = incoming[0] if keep == "incoming" else current
        rejected = ([current, *(v for v in dict.fromkeys(others) if v != kept)]
                    if keep == "incoming" else incoming)
        if keep == "incoming":
            rows = tables.setdefault(table, estate.rows(table))
            target = next((r for r in rows if str(r.get("id")) == key), None)
            if target is None:
                raise EstateError(f"{table} {key!r} is no longer in the estate: the conflict "
                                  f"on its column {column} cannot take the incoming value")
            target[column] = kept
            out.changes.append({"table": table, "key": key, "column": column,
                                "current": current, "incoming": kept})
        out.decisions.append({"table": table, "key": key, "column": column, "kept": kept,
                              "rejected": rejected, "keep": keep, "at": at,
                              "sources": sorted({str(c.get(s) or "") for c in cs
                                                 for s in ("current_source",
                                                           "incoming_source")} - {""})})
    problems: list[Problem] = []
    for table, rows in tables.items():
        problems += estate.set_rows(table, rows)
    if problems:
        raise EstateError("an incoming value does not fit its column: "
                          + "; ".join(str(p) for p in problems[:5]))
    ids = {str(c.get("id")) for c in chosen}
    estate.set_rows("conflicts", [c for c in estate.rows("conflicts")
                                  if str(c.get("id")) not in ids])
    recorded = [d for d in estate.meta.get(META_KEY) or [] if isinstance(d, dict)]
    estate.meta[META_KEY] = recorded + out.decisions
    return out


@writes_estate("inventory resolve")
def resolve_conflicts(estate_dir: str | Path, keep: Keep, *, row: str | None = None,
                      column: str | None = None, source: str | None = None,
                      table: str | None = None, dry_run: bool = True,
                      now: dt.datetime | None = None) -> Settlement:
    """Settle the conflicts of the estate at ``estate_dir`` matching the selectors
    (:func:`find_conflicts`), keeping the ``keep`` side (:func:`settle`). With ``dry_run``
    (the default) nothing is written and no lock is taken; otherwise the estate is
    validated and saved all-or-nothing under the estate's write lock. Raises
    :class:`NoSuchConflict`, :class:`EstateError` or :class:`ValidationFailed` (nothing is
    written then)."""
    est = Estate.load(estate_dir, check=False)
    out = settle(est, find_conflicts(est, row, column, source, table), keep, now)
    if not dry_run:
        problems = est.validate()
        if problems:
            raise ValidationFailed(problems, what=str(estate_dir))
        est.save(estate_dir)
    return out


def rejected_cells(meta: Mapping[str, Any]) -> set[tuple[str, str, str, str, str]]:
    """``(table, key, column, kept, rejected)`` for every recorded decision: a merge
    bringing ``rejected`` to a cell still holding ``kept`` raises no conflict."""
    out: set[tuple[str, str, str, str, str]] = set()
    for d in meta.get(META_KEY) or []:
        if not isinstance(d, dict):
            continue
        for r in d.get("rejected") or []:
            out.add((str(d.get("table")), str(d.get("key")), str(d.get("column")),
                     str(d.get("kept") or ""), str(r or "")))
    return out


def key_labels(estate: Estate) -> dict[str, dict[str, str]]:
    """Id -> name per named table, to show a conflict's row as ``name (id)``."""
    return {t: names_of(estate, k) for t, k in NAMED_TABLES.items()}


def row_label(conflict: Row, labels: Mapping[str, Mapping[str, str]]) -> str:
    """A conflict's row as a person reads it: ``name (id)`` for a named table, else its id."""
    key = str(conflict.get("key") or "")
    return label(key, labels.get(str(conflict.get("table")), {}))


def settled_row_label(conflict: Row, labels: Mapping[str, Mapping[str, str]],
                      keep: str) -> str:
    """A settled conflict's row for a person, with ``labels`` taken from the estate *before*
    the settlement: ``name (id)``; when the cell settled is the row's own name and the
    incoming name is taken, ``old → new (id)`` (the name the estate knew it by, and the one
    it has now)."""
    table, key, column = _cell(conflict)
    kind = NAMED_TABLES.get(table)
    old = str(conflict.get("current") or "")
    new = str(conflict.get("incoming") or "")
    if (kind and keep == "incoming" and NAME_COLUMNS[kind][1] == column and new
            and new != old):
        return f"{old or labels.get(table, {}).get(key) or '(no name)'} → {new} ({key})"
    return row_label(conflict, labels)


def _cell(c: Row) -> tuple[str, str, str]:
    return str(c.get("table") or ""), str(c.get("key") or ""), str(c.get("column") or "")


def _same_content(estate: Estate, source: str) -> set[str]:
    """``source`` and the file it was recorded as the same content of (``same_as`` in the
    estate's sources: a ledger imported again under another name brings no conflict of its
    own — its values are the first file's, whose name the conflicts cite)."""
    given = Path(source.strip()).name
    names = {source}
    for rec in estate.meta.get("sources") or []:
        if isinstance(rec, dict) and rec.get("same_as") and \
                Path(str(rec.get("path") or "")).name == given:
            names.add(str(rec["same_as"]))
    return names


def _same_source(source: str, c: Row) -> bool:
    given = source.strip()
    s = str(c.get("incoming_source") or "")
    return bool(s) and (s == given or Path(s).name == Path(given).name)


def _row_keys(estate: Estate, text: str, conflicts: list[Row]) -> set[str]:
    """The row ids ``text`` means: a raw key of a conflict, else the one system, host or
    bureau of that id or name (ambiguous across kinds: an error listing them)."""
    wanted = text.strip()
    if any(str(c.get("key") or "") == wanted for c in conflicts):
        return {wanted}
    found: list[tuple[str, str]] = []
    errors: list[str] = []
    for kind in NAMED_TABLES.values():
        names = names_of(estate, kind)
        try:
            found.append((kind, resolve(kind, wanted, names)))
        except AmbiguousName as exc:
            raise NoSuchConflict(str(exc)) from None
        except NameNotFound as exc:
            errors.append(str(exc))
    if len(found) > 1:
        raise NoSuchConflict(f"{wanted!r} names " + " and ".join(
            f"a {kind} ({ident})" for kind, ident in found) + "; give the id")
    if not found:
        raise NoSuchConflict(f"no system, host or bureau {wanted!r}"
                             + next((e[e.index(';'):] for e in errors if ';' in e), ""))
    return {found[0][1]}


__all__ = ["META_KEY", "NoSuchConflict", "Settlement", "find_conflicts", "key_labels",
           "rejected_cells", "resolve_conflicts", "row_label", "settle"]
