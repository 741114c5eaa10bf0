"""Merging one source into an estate, and listing conflicts. Pure: no files, no network.

Ledger import and discovery both bring *incoming* rows (an :class:`Estate` of their own)
into the estate through :func:`merge`:

- rows are matched to existing rows — bureaus by id or name; systems by id or
  (bureau, name); hosts by id, MAC, IP (same bureau) or hostname (same bureau, short name,
  case-insensitive); disks by id or (host, name); databases by id or
  (system, engine, name, host); dependencies by id or (source/target system/host,
  external, port) — and references in the incoming rows are re-pointed to the matched ids;
- a matched row gets its empty fields filled; equal values are fine; a *different* value is
  never overwritten: it becomes a row of the ``conflicts`` table (current value, incoming
  value, current source, incoming source), once (the same conflict is not added twice);
- unmatched rows are added; ``source`` columns collect every source that brought the row.

Merging the same incoming rows twice changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from shangyun.errors import Problem
from shangyun.estate.decisions import rejected_cells
from shangyun.estate.model import Estate, empty_frame
from shangyun.estate.osname import more_precise_version, os_family, split_os, versions_agree
from shangyun.estate.schema import TABLES, Column

#: Merge order: referenced tables before the tables that refer to them.
ORDER = ("bureaus", "systems", "hosts", "disks", "databases", "dependencies")
#: The columns a dependency is matched by (with its port).
_DEP_ENDS = ("source_system", "target_system", "source_host", "target_host", "external")
#: Columns merged by rule instead of conflict: keep the first value / keep the largest.
_KEEP_CURRENT = {("dependencies", "origin")}
_KEEP_MAX = {("dependencies", "seen_count")}

Row = dict[str, Any]
#: (column, referenced table) of every reference column, per table.
_REFS: dict[str, list[tuple[str, str]]] = {
    name: [(c.name, str(c.ref)) for c in t.columns if c.ref] for name, t in TABLES.items()}


@dataclass
class TableCounts:
    """How many incoming rows of one table were added, updated (filled) or unchanged."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counts as plain data."""
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class MergeReport:
    """What :func:`merge` did: the merged estate, counts per table, new conflicts, id map.

    ``id_map[table][incoming_id]`` is the estate id an incoming row was matched to (or
    kept as, when added); ``problems`` are coercion problems of the merged rows (normally
    none, since both sides are typed estates).
    """

    source: str
    estate: Estate
    counts: dict[str, TableCounts] = field(default_factory=dict)
    conflicts: list[Row] = field(default_factory=list)
    id_map: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: what a person should know (a value replaced by a more precise one …), one line each
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """``True`` when anything was added, filled or a conflict recorded."""
        return bool(self.conflicts) or any(c.added or c.updated for c in self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able data (without the estate)."""
        return {
            "source": self.source,
            "counts": {t: c.to_dict() for t, c in self.counts.items()},
            "conflicts": self.conflicts,
            "notes": self.notes,
        }


def merge(estate: Estate, incoming: Estate, source: str) -> MergeReport:
    """Merge ``incoming`` (rows from ``source``) into a copy of ``estate``.

    ``estate`` is not modified; the result is ``report.estate``. ``source`` names where the
    incoming rows came from (a ledger file name, ``"discovery"`` …) and is recorded in the
    rows' ``source`` columns and in new conflicts. See the module docstring for matching.
    """
    return _merged(estate, {name: incoming.rows(name) for name in TABLES}, source)


def merge_rows(estate: Estate, incoming: Mapping[str, Iterable[Row]], source: str) -> MergeReport:
    """Like :func:`merge`, with the incoming rows given as plain dicts per table.

    Values must already be typed (numbers, bools, ``None`` for empty), as
    :meth:`Estate.rows` gives them. Several rows may share an id (the same host on two
    rows of one ledger): the later ones merge into the first. The given rows are not
    changed (the merge works on copies).
    """
    return _merged(estate, {name: [dict(r) for r in rows] for name, rows in incoming.items()},
                   source)


def _merged(estate: Estate, incoming: Mapping[str, list[Row]], source: str) -> MergeReport:
    """:func:`merge_rows` of rows the merge may keep and change."""
    m = Merger(estate)
    step = m.merge(incoming, source)
    est, problems = m.finish()
    return MergeReport(source=source, estate=est, counts=step.counts,
                       conflicts=step.conflicts, id_map=step.id_map, problems=problems,
                       notes=step.notes)


def conflicts(estate: Estate) -> list[Row]:
    """The estate's recorded conflicts as plain rows (id, table, key, column, current,
    incoming, current_source, incoming_source)."""
    return estate.rows("conflicts")


def stable_id(prefix: str, *parts: object) -> str:
    """A short id that is always the same for the same parts: ``prefix-<10 hex>``."""
    text = "\x1f".join([p.strip().lower() if type(p) is str and p.isascii() else match_key(p)
                        for p in parts])  # (match_key's own fast path, inlined)
    return f"{prefix}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:10]}"


def host_key_name(hostname: object) -> str:
    """A hostname in matching form: lower case, short name (up to the first dot) unless the
    name is an IP address."""
    h = match_key(hostname)
    if not h or _looks_like_ip(h):
        return h
    return h.split(".", 1)[0]


_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


def normalize_mac(mac: object) -> str:
    """A MAC address as ``aa:bb:cc:dd:ee:ff`` (``""`` when empty or malformed)."""
    if type(mac) is str and _MAC.fullmatch(mac):
        return mac
    hexes = "".join(ch for ch in match_key(mac) if ch in "0123456789abcdef")
    if len(hexes) != 12:
        return ""
    return ":".join(hexes[i:i + 2] for i in range(0, 12, 2))


# --------------------------------------------------------------------------- internals
def match_key(v: object) -> str:
    """A value in matching form: trimmed, NFKC (full-width folded), case-folded."""
    if type(v) is str and v.isascii():
        return v.strip().lower()
    if v is None:
        return ""
    if isinstance(v, float) and math.isnan(v):
        return ""
    text = str(v).strip()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.casefold()


def _looks_like_ip(h: str) -> bool:
    return h.replace(".", "").isdigit() or ":" in h


def standin_host(row: Row) -> bool:
    """Whether a host row is known only by its address: its host name is an IP (a
    dependency row naming ``10.1.1.5``, or a ledger row with an IP and no 主机名) and its
    ``ip`` is that address or empty."""
    name = host_key_name(row.get("hostname"))
    if not name or not _looks_like_ip(name):
        return False
    ip = row.get("ip")
    return _empty(ip) or match_key(ip) == name


def _maybe_standin(row: Row) -> bool:
    """``False`` when :func:`standin_host` is surely ``False`` for ``row``, told from the
    host name's text alone: an ASCII name that (trimmed) starts with neither a digit nor a
    ``.`` and holds no ``:`` does not match as an address. ``True`` means "ask
    :func:`standin_host`"."""
    name = row.get("hostname")
    if type(name) is not str or not name.isascii():
        return True
    first = name.lstrip()[:1]
    return not first or first in "0123456789." or ":" in name


#: What a line of host names (each after a newline) has where a name may read as an
#: address: a newline then a digit, a dot or white space (a blank or indented name).
_ADDRESS_START = re.compile("\n[0-9." + re.escape(
    "".join(c for c in map(chr, range(128)) if c.isspace())) + "]")


def _maybe_standins(hosts: list[Row]) -> bool:
    """``False`` when :func:`_maybe_standin` is ``False`` for every host, told from the
    host name column at once: ASCII text names joined by newlines, none of them starting
    (after white space) with a digit or ``.`` and no ``:`` anywhere. ``True`` means "ask
    each host"."""
    names = [h.get("hostname") for h in hosts]
    if not names:
        return False
    if set(map(type, names)) != {str}:
        return True
    text = "\n" + "\n".join(names) + "\n"
    return not text.isascii() or ":" in text or _ADDRESS_START.search(text) is not None


def _empty(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return match_key(a) == match_key(b)


def _same_in_column(col: str, a: Any, b: Any) -> bool:
    if col == "hostname":
        return host_key_name(a) == host_key_name(b)
    if col == "mac":
        return normalize_mac(a) == normalize_mac(b) != ""
    if col == "os":  # "CentOS 7.9" (one cell, an older import) and "CentOS" (+ os_version)
        (na, va, _), (nb, vb, _) = split_os(str(a)), split_os(str(b))
        return os_family(na) == os_family(nb) and versions_agree(va, vb)
    return False


def _os_precise(cur: Row, inc: Row, col: str, old: Any, value: Any) -> Any:
    """For a host's ``os``/``os_version`` that differ in writing only ("CentOS" / "7.9" in
    a ledger, "CentOS Linux" / "7.9.2009" from discovery: the same family, one version a
    prefix of the other), the value to keep — the more precise; ``None`` when they really
    differ (CentOS 7 and 6, Ubuntu and CentOS: a conflict)."""
    if col == "os":
        if not _same_in_column("os", old, value):
            return None
        (_, va, _), (_, vb, _) = split_os(str(old)), split_os(str(value))
        if va or vb:
            return old
        return value if len(str(value).split()) > len(str(old).split()) else old
    cur_os, inc_os = cur.get("os"), inc.get("os")
    if not _empty(cur_os) and not _empty(inc_os) and not _same_in_column("os", cur_os, inc_os):
        return None
    if not versions_agree(old, value):
        return None
    return more_precise_version(str(old), str(value))


def _text(v: Any) -> str:
    if _empty(v):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _or_empty(v: Any) -> Any:
    return v or ""


#: The types whose equal values are written alike (not 1, 1.0 and True; not 0.0 and -0.0).
_ONE_WRITING = frozenset({str, int, type(None)})


def _per_distinct(fn: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``[fn(v) for v in values]``, calling ``fn`` once per distinct value (a column
    repeats a few OS, bureau or system texts). Values of other types than text, integers
    and ``None`` are done one by one: 1, 1.0 and ``True`` are one dict key but
    ``match_key`` writes them differently."""
    if set(map(type, values)) <= _ONE_WRITING:  # (of the values: a set keeps 1 or True)
        distinct = set(values)
        if len(distinct) == 1:  # (one value, or a column no row has)
            return [fn(values[0])] * len(values)
        done = {v: fn(v) for v in distinct}
        return list(map(done.__getitem__, values))
    return [fn(v) for v in values]


def _column(rows: list[Row], key: str) -> list[Any]:
    """The values of ``key`` in ``rows``, ``None`` where a row lacks it."""
    try:  # (a key every row has: read by the C getter)
        return list(map(itemgetter(key), rows))
    except KeyError:
        return [r.get(key) for r in rows]


def _match_keys(values: list[Any]) -> list[str]:
    """``[match_key(v) for v in values]``: a column of ASCII texts trimmed and lower-cased
    at C speed; other columns per distinct value."""
    if set(map(type, values)) == {str} and "".join(values).isascii():
        return list(map(str.lower, map(str.strip, values)))
    return _per_distinct(match_key, values)


def _host_key_names(values: list[Any]) -> list[str]:
    """``[host_key_name(v) for v in values]``: the match keys themselves when none has a
    dot (nothing to shorten); otherwise per distinct value."""
    keys = _match_keys(values)
    if "." not in "".join(keys):
        return keys
    return _per_distinct(host_key_name, values)


def _or_empties(values: list[Any]) -> list[Any]:
    """``[v or "" for v in values]`` (a reference column: usually every cell filled)."""
    return values if all(values) else [v or "" for v in values]


#: How a column is formed at once, where that is quicker than per distinct value.
_COLUMN_FORMS: dict[Callable[[Any], Any], Callable[[list[Any]], list[Any]]] = {
    match_key: _match_keys, host_key_name: _host_key_names, _or_empty: _or_empties}


#: What a column's value becomes in a natural key: ``None`` for the value itself.
_Form = Callable[[Any], Any] | None
#: The natural keys of each table, in matching order: (tag, when, parts). A row has the
#: key when ``when`` is ``None`` or its (column, form) is not empty (a MAC must also be a
#: well-formed address); the key is the tag and the formed values of ``parts``.
_KEYS: dict[str, tuple[tuple[str, tuple[str, _Form] | None, tuple[tuple[str, _Form], ...]],
                       ...]] = {
    "bureaus": (("name", ("name", None), (("name", match_key),)),),
    "systems": (("name", ("name", None), (("bureau_id", _or_empty), ("name", match_key))),),
    "hosts": (("mac", ("mac", normalize_mac), (("mac", normalize_mac),)),
              ("ip", ("ip", None), (("bureau_id", _or_empty), ("ip", match_key))),
              ("hostname", ("hostname", None),
               (("bureau_id", _or_empty), ("hostname", host_key_name)))),
    "disks": (("name", ("name", None), (("host_id", _or_empty), ("name", match_key))),),
    "databases": (("db", None, (("system_id", _or_empty), ("engine", match_key),
                                ("name", match_key), ("host_id", _or_empty))),),
    "dependencies": (("dep", None, (*((c, match_key) for c in _DEP_ENDS), ("port", _text))),),
}


def _natural_keys(name: str, r: Row) -> list[Any]:
    """The natural keys of one row of table ``name`` (:data:`_KEYS`), in matching order."""
    keys = []
    for tag, when, parts in _KEYS.get(name, ()):
        if when is not None:
            column, form = when
            v = r.get(column)
            if not (v if form is None else form(v)):
                continue
        keys.append((tag, *[r.get(c) if f is None else f(r.get(c)) for c, f in parts]))
    return keys


def _key_columns(name: str, rows: list[Row],
                 columns: dict[str, list[Any]] | None = None) -> list[list[Any]]:
    """The natural keys of ``rows`` (table ``name``) column by column: one list per key of
    :data:`_KEYS`, holding each row's key or ``None`` where the row has none. Each column
    is read once (``columns``: the ones read already) and formed a column at a time."""
    columns = {} if columns is None else columns
    formed: dict[tuple[str, _Form], list[Any]] = {}

    def form(column: str, f: _Form) -> list[Any]:
        if (column, f) not in formed:
            if column not in columns:
                columns[column] = _column(rows, column)
            formed[column, f] = (columns[column] if f is None else
                                 _COLUMN_FORMS.get(f, partial(_per_distinct, f))(columns[column]))
        return formed[column, f]

    out = []
    for tag, when, parts in _KEYS.get(name, ()):
        keys: list[Any] = list(zip(repeat(tag), *[form(c, f) for c, f in parts]))
        if when is not None and not all(filled := form(*when)):
            keys = [k if w else None for k, w in zip(keys, filled, strict=True)]
        out.append(keys)
    return out


@dataclass
class MergeStep:
    """What merging one source into a :class:`Merger` did (counts, new conflicts, ids)."""

    source: str
    counts: dict[str, TableCounts]
    conflicts: list[Row]
    id_map: dict[str, dict[str, str]]
    #: systems whose id changed (a placeholder a definition took over): old id -> new id
    renamed: dict[str, str] = field(default_factory=dict)
    #: what a person should know (a placeholder taken over …), one line each
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """``True`` when anything was added, filled or a conflict recorded."""
        return bool(self.conflicts) or any(c.added or c.updated for c in self.counts.values())


class Merger:
    """Merges several sources, one after the other, into an estate's rows.

    ``Merger(estate)`` copies the estate's rows; each :meth:`merge` brings in one source's
    rows (see :func:`merge`); :meth:`finish` builds the merged :class:`Estate`. ``rows``
    holds the current rows per table at any time (what readers resolve names against).

    **Placeholders.** A dependency row may name a system no ledger has defined yet; the
    ledger reader then adds it to the row's bureau, and the estate records it in
    ``estate.yaml`` ``placeholders`` (id -> where it was named). When a later source
    *defines* a system of that name (``merge(..., defines=True)``) in another bureau, the
    definition takes the placeholder over: the row gets the definition's id and bureau
    and every reference to the old id (hosts, databases, dependencies, conflicts) is
    re-pointed, so the estate is the same whichever ledger was imported first. A
    definition in the placeholder's own bureau matches it by name and ends it.
    """

    def __init__(self, estate: Estate) -> None:
        self.source = ""
        self.meta = dict(estate.meta)
        self.rows: dict[str, list[Row]] = {name: estate.rows(name) for name in TABLES}
        self.by_id: dict[str, dict[str, Row]] = {
            name: {r["id"]: r for r in rows} for name, rows in self.rows.items()}
        self.id_map: dict[str, dict[str, str]] = {name: {} for name in TABLES}
        self.counts: dict[str, TableCounts] = {name: TableCounts() for name in ORDER}
        self.new_conflicts: list[Row] = []
        self.keys: dict[str, dict[Any, Row]] = {}
        #: every system id a placeholder had, across merges: old id -> new id
        self.renamed: dict[str, str] = {}
        self._defines = True
        self._shared_hosts = True
        self._step_renamed: dict[str, str] = {}
        self._notes: list[str] = []
        #: what :meth:`finish` folded (:meth:`fold_standins`), one line each
        self.fold_notes: list[str] = []
        self._index_all()

    @property
    def placeholders(self) -> dict[str, str]:
        """The systems known only by a row naming them: id -> where (``estate.yaml``)."""
        ph = self.meta.get("placeholders")
        if not isinstance(ph, dict):
            ph = self.meta["placeholders"] = {}
        return ph

    def add_placeholders(self, found: Mapping[str, str],
                         id_map: Mapping[str, str]) -> list[str]:
        """Record systems added only because a row names them (incoming id -> where),
        ``id_map`` giving their estate ids (:attr:`MergeStep.id_map`); returns a line for
        each new one."""
        out: list[str] = []
        for sid, where in found.items():
            eid = id_map.get(sid, sid)
            row = self.by_id["systems"].get(eid)
            if row is not None and eid not in self.placeholders:
                self.placeholders[eid] = where
                out.append(f"system {row.get('name')!r} ({where}) is defined by no ledger of "
                           f"this import or the estate: added to "
                           f"{self._bureau_name(row.get('bureau_id'))} as a placeholder; "
                           "importing the ledger that defines it (any bureau) merges it there")
        if not self.placeholders:
            self.meta.pop("placeholders", None)
        return out

    def merge(self, incoming: Mapping[str, Iterable[Row]], source: str,
              defines: bool = True, shared_hosts: bool = True) -> MergeStep:
        """Merge one source's rows (typed values, ``None`` for empty) into the rows.

        The rows become the merger's (not copied: they are changed and kept); pass copies
        to keep them as they were.

        ``defines=False`` says the source's systems are only names rows referred to (the
        deferred rows of a ledger): they never take a placeholder over.
        ``shared_hosts=False`` makes a host's different ``system_id`` a conflict, not a
        shared use (an edited export: the move is an edit)."""
        self.source = source
        self.id_map = {name: {} for name in TABLES}
        self.counts = {name: TableCounts() for name in ORDER}
        self.new_conflicts = []
        self._defines = defines
        self._shared_hosts = shared_hosts
        self._step_renamed = {}
        self._notes = []
        for name in ORDER:
            self.merge_table(name, incoming.get(name, ()))
            if name == "systems" and self._step_renamed:
                self._repoint(self._step_renamed)
        for c in incoming.get("conflicts", ()):
            self.add_conflict_row(dict(c))
        if "placeholders" in self.meta and not self.meta["placeholders"]:
            del self.meta["placeholders"]
        return MergeStep(source, self.counts, self.new_conflicts, self.id_map,
                         dict(self._step_renamed), list(self._notes))

    # ----------------------------------------------------------------- indexes
    def _index_all(self) -> None:
        for name in ORDER:
            self._index_table(name)
        self.conflict_ids = {c["id"] for c in self.rows["conflicts"]}
        self.rejected = rejected_cells(self.meta)

    def _index_table(self, name: str) -> None:
        """Index table ``name``'s rows by natural key (the first row with a key has it)."""
        rows = self.rows[name]
        index: dict[Any, Row] = {}
        for keys in _key_columns(name, rows):
            # (earlier rows overwrite later ones: the first row with a key has it)
            first = dict(zip(reversed(keys), reversed(rows), strict=True))
            first.pop(None, None)
            index.update(first)  # (keys of different kinds never meet: their tags differ)
        self.keys[name] = index

    # ----------------------------------------------------------------- merging
    def merge_table(self, name: str, incoming: Iterable[Row]) -> None:
        """Merge one table's incoming rows (see :func:`merge` for matching). The rows
        become the merger's: they are changed (references re-pointed, empty sources
        filled) and kept as the rows they add.

        The work is done column by column where rows cannot meet: a row whose id and
        natural keys are in neither the indexes nor another incoming row (nor name a
        placeholder) is added together with its neighbours of the same kind; the others
        are matched one by one, in order, since each may meet a row added or filled just
        before it."""
        rows = incoming if type(incoming) is list else list(incoming)
        if not rows:
            return
        columns: dict[str, list[Any]] = {}
        self._prepare(name, rows, columns)
        keycols = [c for c in _key_columns(name, rows, columns) if c.count(None) < len(c)]
        ids = list(map(itemgetter("id"), rows))
        has_source = "source" in TABLES[name].column_names
        counts = self.counts[name]
        id_map, by_id, index, table = (self.id_map[name], self.by_id[name], self.keys[name],
                                       self.rows[name])
        placeholders = self.meta.get("placeholders") if name == "systems" else None
        #: keys and ids a row matched one by one put in the indexes (a filled row's new
        #: keys): a row of a later run that has one is matched one by one too
        met: set[Any] = set()

        def add_run(lo: int, hi: int) -> None:
            run = rows[lo:hi]
            run_ids = ids[lo:hi]
            table.extend(run)
            by_id.update(zip(run_ids, run, strict=True))
            id_map.update(zip(run_ids, run_ids, strict=True))
            for keys in keycols:
                index.update(zip(keys[lo:hi], run, strict=True))
            index.pop(None, None)
            counts.added += hi - lo

        def one(i: int) -> None:
            r = rows[i]
            keys = [c[i] for c in keycols if c[i] is not None]
            cur = by_id.get(r["id"])
            if cur is None:
                for k in keys:
                    cur = index.get(k)
                    if cur is not None:
                        break
            if placeholders:
                if cur is None and self._defines:
                    cur = self._take_over(r)
                    if cur is not None:
                        id_map[ids[i]] = cur["id"]
                        counts.updated += 1
                        return
                elif cur is not None and self._defines:
                    placeholders.pop(cur["id"], None)  # defined in its own bureau now
            if cur is None:
                if r["id"] in by_id:  # pragma: no cover - defensive
                    r["id"] = stable_id(r["id"], self.source)
                    met.add(r["id"])
                table.append(r)
                by_id[r["id"]] = r
                for k in keys:
                    index.setdefault(k, r)
                id_map[ids[i]] = r["id"]
                counts.added += 1
                return
            id_map[ids[i]] = cur["id"]
            if self._merge_row(name, cur, r, has_source):
                counts.updated += 1
                for k in _natural_keys(name, cur):
                    if k not in index:
                        index[k] = cur
                        met.add(k)
            else:
                counts.unchanged += 1

        start = 0
        for stop in [*self._one_by_one(name, rows, ids, keycols), len(rows)]:
            while start < stop:  # rows start..stop-1 meet nothing known at the start
                hit = stop
                if met:  # (rare: a row filled above got a key or id one of them has)
                    hit = next((i for i in range(start, stop) if ids[i] in met
                                or any(c[i] in met for c in keycols)), stop)
                add_run(start, hit)
                if hit < stop:
                    one(hit)
                start = hit + 1
            if stop < len(rows):
                one(stop)
            start = stop + 1

    def _prepare(self, name: str, rows: list[Row], columns: dict[str, list[Any]]) -> None:
        """Re-point ``rows``' references to the estate ids of the rows they name (and
        system ids to where a placeholder went), and fill empty ``source`` cells; column
        by column, per distinct value. ``columns`` gets the reference columns read."""
        for column, ref in _REFS[name]:
            id_map = self.id_map[ref]
            renamed = self.renamed if ref == "systems" else {}
            values = columns[column] = _column(rows, column)
            distinct = list(set(values))
            mapped = list(map(id_map.get, distinct, distinct))
            if renamed:
                mapped = list(map(renamed.get, mapped, mapped))
            if mapped == distinct:  # (the usual case: every id is kept as it came)
                continue
            moved = {v: w for v, w in zip(distinct, mapped, strict=True) if v and w != v}
            if moved:
                for r, v in zip(rows, values, strict=True):
                    if v in moved:
                        r[column] = moved[v]
                columns[column] = _column(rows, column)
        if "source" in TABLES[name].column_names:
            values = _column(rows, "source")
            if not all(type(v) is str and v for v in set(values)):
                for r, v in zip(rows, values, strict=True):
                    if not (type(v) is str and v) and _empty(v):
                        r["source"] = self.source

    def _one_by_one(self, name: str, rows: list[Row], ids: list[Any],
                    keycols: list[list[Any]]) -> list[int]:
        """The positions of the incoming ``rows`` that must be matched one by one, in
        order: their id or a natural key is known already (a row of the estate or an
        earlier source) or shared with another incoming row, or (systems of a defining
        source) their name is a placeholder's."""
        by_id, index = self.by_id[name], self.keys[name]
        distinct_ids = set(ids)
        met_ids = distinct_ids & by_id.keys()
        if len(distinct_ids) < len(ids):
            met_ids |= {v for v, n in Counter(ids).items() if n > 1}
        met_keys: set[Any] = set()
        for keys in keycols:
            distinct = set(keys)
            distinct.discard(None)
            met_keys |= distinct & index.keys()
            if len(distinct) < len(keys) - keys.count(None):
                met_keys |= {k for k, n in Counter(keys).items() if n > 1 and k is not None}
        out = {i for i, v in enumerate(ids) if v in met_ids} if met_ids else set()
        if met_keys:
            for keys in keycols:
                out.update(i for i, k in enumerate(keys) if k in met_keys)
        placeholders = self.meta.get("placeholders") if name == "systems" else None
        if placeholders and self._defines:  # a definition may take a placeholder over
            named = {match_key(by_id[p].get("name")) for p in placeholders if p in by_id}
            out.update(i for i, k in enumerate(_match_keys(_column(rows, "name")))
                       if k in named)
        return sorted(out)

    def _take_over(self, r: Row) -> Row | None:
        """The one placeholder system called like ``r`` in another bureau, taken over by
        ``r`` (a definition): given ``r``'s id, bureau and values; ``None`` when there is
        no such placeholder (or several)."""
        placeholders = self.placeholders
        by_id = self.by_id["systems"]
        key = match_key(r.get("name"))
        found = [by_id[p] for p in placeholders if p in by_id
                 and match_key(by_id[p].get("name")) == key
                 and by_id[p].get("bureau_id") != r.get("bureau_id")]
        if len(found) != 1:
            return None
        cur = found[0]
        old, new = cur["id"], r["id"]
        index = self.keys["systems"]
        for k in _natural_keys("systems", cur):
            if index.get(k) is cur:
                del index[k]
        old_bureau = self._bureau_name(cur.get("bureau_id"))
        del by_id[old]
        cur["id"] = new
        cur["bureau_id"] = r.get("bureau_id")
        by_id[new] = cur
        self._merge_row("systems", cur, r, True)
        for k in _natural_keys("systems", cur):
            index.setdefault(k, cur)
        where = placeholders.pop(old, "")
        self.renamed = {o: (new if n == old else n) for o, n in self.renamed.items()}
        self.renamed[old] = new
        self._step_renamed[old] = new
        self._notes.append(
            f"system {cur.get('name')!r} was named by a row of {old_bureau}"
            f"{' (' + where + ')' if where else ''} before any ledger defined it, and kept "
            f"there as a placeholder; {self.source} defines it in "
            f"{self._bureau_name(cur.get('bureau_id'))}: the placeholder is merged into it "
            "(its dependencies now point there)")
        return cur

    def _shared_host(self, host: Row, owner: str, other: str, owner_source: str) -> None:
        """Host ``host`` of system ``owner`` listed under system ``other`` too (a shared
        database server): it stays in ``owner``, and ``other`` gets a declared dependency on
        the host (``source_system`` = other, ``target_host`` = host), so a plan moves them
        together or in order. Noted once, when the dependency is new."""
        dep: Row = {"source_system": other, "target_host": host["id"], "origin": "declared",
                    "service": "shared host", "source": self.source}
        dep["id"] = stable_id("dep", other, "", "", host["id"], "", "")
        index = self.keys["dependencies"]
        keys = _natural_keys("dependencies", dep)
        if any(k in index for k in keys) or dep["id"] in self.by_id["dependencies"]:
            return
        self.rows["dependencies"].append(dep)
        self.by_id["dependencies"][dep["id"]] = dep
        for k in keys:
            index.setdefault(k, dep)
        self.counts["dependencies"].added += 1
        self.id_map["dependencies"][dep["id"]] = dep["id"]
        systems = self.by_id["systems"]
        first = systems.get(owner, {}).get("name", owner)
        second = systems.get(other, {}).get("name", other)
        where = (f"in {self.source}" if self.source in owner_source.split(";")
                 else f"in {owner_source or 'the estate'} and {self.source}")
        ip = f" ({host.get('ip')})" if host.get("ip") else ""
        self._notes.append(
            f"host {host.get('hostname')!r}{ip} is listed under two systems {where}: "
            f"{first!r} and {second!r}; it stays in {first!r} (listed first) and {second!r} "
            "gets a declared dependency on it (shared use). To move the host, edit its "
            "所属系统 in an `inventory export --xlsx` workbook and import it with --apply")

    def _bureau_name(self, bid: Any) -> str:
        row = self.by_id["bureaus"].get(bid or "")
        return repr(row.get("name")) if row else repr(bid)

    def _repoint(self, renamed: Mapping[str, str]) -> None:
        """Re-point every reference to a renamed system id, and re-index what keys on it."""
        for table in ("hosts", "databases", "dependencies"):
            cols = [c for c, ref in _REFS[table] if ref == "systems"]
            touched = False
            for row in self.rows[table]:
                for c in cols:
                    v = row.get(c)
                    if v and v in renamed:
                        row[c] = renamed[v]
                        touched = True
            if touched and table != "hosts":
                self._index_table(table)
        for c in self.rows["conflicts"]:
            if c.get("table") == "systems" and c.get("key") in renamed:
                c["key"] = renamed[c["key"]]

    def _merge_row(self, name: str, cur: Row, inc: Row, has_source: bool) -> bool:
        changed = False
        cur_source = _text(cur.get("source")) if has_source else ""
        for col, value in inc.items():
            if col in ("id", "source") or _empty(value):
                continue
            old = cur.get(col)
            if _empty(old):
                cur[col] = value
                changed = True
            elif (name == "hosts" and col in ("os", "os_version")
                  and (keep := _os_precise(cur, inc, col, old, value)) is not None):
                if keep != old:  # the same OS, said more precisely: say so
                    self._notes.append(
                        f"host {cur.get('hostname')!r}: {col} {_text(old)!r} "
                        f"({cur_source or 'estate'}) and {_text(value)!r} ({self.source}) "
                        f"agree; kept {_text(keep)!r}, the more precise")
                    cur[col] = keep
                    changed = True
            elif (_same(old, value) or _same_in_column(col, old, value)
                  or (name, col) in _KEEP_CURRENT):
                continue
            elif (name, col) in _KEEP_MAX:
                if value > old:
                    cur[col] = value
                    changed = True
            elif (name == "hosts" and col == "hostname" and standin_host(cur)
                  and not _looks_like_ip(host_key_name(value))):
                cur[col] = value  # a host known by its address now has its name
                changed = True
            elif name == "hosts" and col == "system_id" and self._shared_hosts:
                self._shared_host(cur, old, value, cur_source)
            else:
                self._conflict(name, cur["id"], col, old, value, cur_source)
        if has_source:
            sources = [s for s in _text(cur.get("source")).split(";") if s]
            incoming = [s for s in _text(inc.get("source")).split(";") if s]
            added = [s for s in incoming if s not in sources]
            if added:
                cur["source"] = ";".join(sources + added)
                changed = True
        return changed

    def _conflict(self, table: str, key: str, column: str, current: Any, incoming: Any,
                  current_source: str) -> None:
        cid = stable_id("c", table, key, column, _text(incoming))
        if cid in self.conflict_ids:
            return
        if (table, key, column, _text(current), _text(incoming)) in self.rejected:
            return  # decided before (`inventory resolve`): this value was rejected
        row = {"id": cid, "table": table, "key": key, "column": column,
               "current": _text(current), "incoming": _text(incoming),
               "current_source": current_source or "estate",
               "incoming_source": self.source}
        self.add_conflict_row(row)

    def add_conflict_row(self, row: Row) -> None:
        """Record a conflict row once (by id)."""
        if row["id"] in self.conflict_ids:
            return
        self.conflict_ids.add(row["id"])
        self.rows["conflicts"].append(row)
        self.new_conflicts.append(row)

    def fold_standins(self) -> list[str]:
        """Fold each host known only by its address (a dependency row naming ``10.1.1.5``:
        its host name is its IP, :func:`standin_host`) into the one named host of the same
        bureau with that IP (a host sheet of a later import): the named host gets the
        stand-in's empty facts (a different value is a conflict), every reference (disks,
        databases, dependencies, conflicts) is re-pointed to it, a dependency that becomes
        a copy of another is dropped, and the stand-in row goes. Returns a line for each
        host folded. Called by :meth:`finish`; safe to call again (nothing left to fold)."""
        hosts = self.rows["hosts"]
        if not _maybe_standins(hosts):
            return []  # the usual case: no host name reads as an address
        standins = [_maybe_standin(h) and standin_host(h) for h in hosts]
        if not any(standins):
            return []
        named: dict[tuple[str, str], list[Row]] = {}
        for h, standin in zip(hosts, standins, strict=True):
            if h.get("ip") and not standin:
                named.setdefault((h.get("bureau_id") or "", match_key(h["ip"])), []).append(h)
        into: dict[str, Row] = {}
        for h, standin in zip(hosts, standins, strict=True):
            if standin:
                cands = named.get((h.get("bureau_id") or "", host_key_name(h.get("hostname"))))
                if cands and len(cands) == 1:
                    into[h["id"]] = cands[0]
        if not into:
            return []
        notes = []
        source = self.source
        for h in hosts:
            target = into.get(h["id"])
            if target is None:
                continue
            self.source = _text(h.get("source")) or source
            facts = {k: v for k, v in h.items() if k not in ("hostname", "ip", "id")}
            self._merge_row("hosts", target, facts, True)
            notes.append(f"host {h.get('hostname')!r} (named by its address in "
                         f"{_text(h.get('source')) or 'the estate'}) is "
                         f"{target.get('hostname')!r} of {self._bureau_name(h.get('bureau_id'))}"
                         ": merged into it")
        self.source = source
        ids = {old: t["id"] for old, t in into.items()}
        self.rows["hosts"] = [h for h in hosts if h["id"] not in ids]
        for old in ids:
            self.by_id["hosts"].pop(old, None)
        for table in ("disks", "databases", "dependencies"):
            cols = [c for c, ref in _REFS[table] if ref == "hosts"]
            for row in self.rows[table]:
                for c in cols:
                    if row.get(c) in ids:
                        row[c] = ids[row[c]]
        kept: dict[Any, Row] = {}
        deps = []
        (dep_keys,) = _key_columns("dependencies", self.rows["dependencies"])
        for d, key in zip(self.rows["dependencies"], dep_keys, strict=True):
            first = kept.get(key)
            if first is None:
                kept[key] = d
                deps.append(d)
            else:  # the same dependency, named once by address and once by name
                self._merge_row("dependencies", first, d, True)
                self.by_id["dependencies"].pop(d["id"], None)
        self.rows["dependencies"] = deps
        for c in self.rows["conflicts"]:
            if c.get("table") == "hosts" and c.get("key") in ids:
                c["key"] = ids[c["key"]]
        self._index_all()
        return notes

    def finish(self) -> tuple[Estate, list[Problem]]:
        """The merged estate, and the coercion problems of its rows (normally none).

        Rows hold typed values already (from an estate or a cleaning reader), so tables are
        built directly; a table whose values do not fit their columns' types goes through
        :meth:`Estate.set_rows`, which reports every such value as a problem.
        """
        self.fold_notes = self.fold_standins()
        est = Estate(meta=dict(self.meta))
        problems: list[Problem] = []
        for name in TABLES:
            frame = _typed_frame(name, self.rows[name])
            if frame is None:
                problems += est.set_rows(name, self.rows[name])
            else:
                est.tables[name] = frame
        return est, problems


_DTYPES = {"int": "Int64", "float": "float64", "bool": "boolean"}
_NONE = type(None)
#: The masked array of an ``Int64`` / ``boolean`` column, and its numpy values' type.
_MASKED: dict[str, tuple[Any, Any]] = {"int": (pd.arrays.IntegerArray, np.int64),
                                       "bool": (pd.arrays.BooleanArray, np.bool_)}


def _typed_frame(name: str, rows: list[Row]) -> pd.DataFrame | None:
    """A typed frame of ``rows`` for table ``name``, or ``None`` when a value does not fit.

    Column by column, on whole arrays: a column of the usual types (texts and ``None``;
    numbers and ``None``) is converted at once and its bounds, enum choices and required
    cells are checked on the array (or its distinct values); a column holding other types
    (a number in a text column, a text in a number column) goes value by value, as each
    may need writing or may not fit."""
    table = TABLES[name]
    if not rows:
        return empty_frame(table)
    n = len(rows)
    columns = _columns_of(rows, table.column_names)
    extra = [k for k in columns if k not in table.column_names]
    texts_of: dict[str, list[Any] | None] = {}  # (None: a column no row has)
    numbers: dict[str, Any] = {}
    for col in table.columns:
        values = columns.get(col.name)
        kind = col.kind
        try:
            if kind in ("float", "int", "bool"):
                typed = _number_array(kind, values, n)
                if typed is None:
                    return None
                array, data, missing = typed
                if kind != "bool" and not missing.all() and (
                        (col.low is not None and bool((data[~missing] < col.low).any()))
                        or (col.high is not None and bool((data[~missing] > col.high).any()))):
                    return None
                if col.required and missing.any():
                    return None
                numbers[col.name] = array
                continue
            if values is None:  # a column no row has
                if col.required:
                    return None
                texts_of[col.name] = None
                continue
            types = set(map(type, values))
            if types <= {str}:
                texts = values
            elif types <= {str, _NONE}:
                texts = [v if v is not None else "" for v in values]
            else:
                texts = [v if type(v) is str else ("" if v is None else _text(v))
                         for v in values]
            if kind == "enum" and set(texts) - set(col.choices) - {""}:
                return None
            if col.required and "" in texts:
                return None
            texts_of[col.name] = texts
        except (TypeError, ValueError):
            return None
    for k in extra:
        texts_of[k] = ["" if v is None else str(v) for v in columns[k]]
    # the text columns as one block of objects (not a Series each: pandas would read
    # them as strings, and a frame of many Series costs more than the values), then the
    # number columns beside them, in the table's order
    block = np.empty((len(texts_of), n), dtype=object)
    for i, texts in enumerate(texts_of.values()):
        block[i] = "" if texts is None else texts
    frame = pd.DataFrame(block.T, columns=list(texts_of), dtype=object, copy=False)
    if numbers:
        frame = pd.concat([frame, pd.DataFrame(numbers)], axis=1)
    return frame[[*table.column_names, *extra]]


def _number_array(kind: str, values: list[Any] | None, n: int) -> tuple[Any, Any, Any] | None:
    """A number or bool column (``values``; ``None``: no row has it) as its ``float64``
    array or ``Int64`` / ``boolean`` masked array, with its values as a numpy array and
    where it is empty; ``None`` for a bool column holding something else than bools.
    Plain numbers and ``None`` are converted at once; other values (texts, a bool among
    numbers …) one by one, as the cleaning left them."""
    if values is None:  # (no row has the column)
        if kind == "float":
            array = np.full(n, np.nan)
            return array, array, np.ones(n, dtype=bool)
        masked, dtype = _MASKED[kind]
        data, missing = np.zeros(n, dtype=dtype), np.ones(n, dtype=bool)
        return masked(data, missing), data, missing
    types = set(map(type, values))
    if kind == "float":
        if types <= {float, int, _NONE}:
            array = np.array(values, dtype="float64")
        else:
            array = pd.Series([math.nan if v is None or v == "" else v for v in values],
                              dtype="float64").to_numpy()
        return array, array, np.isnan(array)
    if kind == "bool" and not types <= {bool, _NONE}:
        return None
    masked, dtype = _MASKED[kind]
    if types <= {int if kind == "int" else bool, _NONE}:
        data = np.array(values, dtype=object)
        missing = np.equal(data, None)
        data[missing] = 0
        try:
            data = data.astype(dtype)
        except OverflowError:  # (an integer beyond Int64: pandas says why, below)
            pass
        else:
            return masked(data, missing), data, missing
    array = pd.array([None if v == "" else v for v in values], dtype=_DTYPES[kind])
    missing = np.asarray(array.isna())
    return array, array.to_numpy(dtype=dtype, na_value=0), missing


def _columns_of(rows: list[Row], names: Iterable[str]) -> dict[str, list[Any]]:
    """``rows`` turned into columns (``None`` where a row lacks the key) for the keys some
    row has: the schema's ``names`` first, then other keys in the order they first appear."""
    present: set[str] = set().union(*rows)
    order = [k for k in names if k in present]
    if len(order) < len(present):
        known = set(order)
        order += dict.fromkeys(k for r in rows for k in r if k not in known)
    columns: dict[str, list[Any]] = {}
    for k in order:
        try:  # (a key every row has: read by the C getter; else row by row with None)
            columns[k] = list(map(itemgetter(k), rows))
        except KeyError:
            columns[k] = [r.get(k) for r in rows]
    return columns


def _in_bounds(col: Column, v: float) -> bool:
    return not ((col.low is not None and v < col.low) or (col.high is not None and v > col.high))


__all__ = [
    "MergeReport",
    "MergeStep",
    "Merger",
    "TableCounts",
    "conflicts",
    "host_key_name",
    "match_key",
    "merge",
    "merge_rows",
    "normalize_mac",
    "stable_id",
    "standin_host",
]
