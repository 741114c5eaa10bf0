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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    return merge_rows(estate, {name: incoming.rows(name) for name in TABLES}, source)


def merge_rows(estate: Estate, incoming: Mapping[str, Iterable[Row]], source: str) -> MergeReport:
    """Like :func:`merge`, with the incoming rows given as plain dicts per table.

    Values must already be typed (numbers, bools, ``None`` for empty), as
    :meth:`Estate.rows` gives them. Several rows may share an id (the same host on two
    rows of one ledger): the later ones merge into the first.
    """
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
    def _natural_keys(self, name: str, r: Row) -> list[Any]:
        if name == "bureaus":
            return [("name", match_key(r.get("name")))] if r.get("name") else []
        if name == "systems":
            if not r.get("name"):
                return []
            return [("name", r.get("bureau_id") or "", match_key(r.get("name")))]
        if name == "hosts":
            keys: list[Any] = []
            mac = r.get("mac")
            if mac and (mac := normalize_mac(mac)):
                keys.append(("mac", mac))
            b = r.get("bureau_id") or ""
            if r.get("ip"):
                keys.append(("ip", b, match_key(r.get("ip"))))
            if r.get("hostname"):
                keys.append(("hostname", b, host_key_name(r.get("hostname"))))
            return keys
        if name == "disks":
            if not r.get("name"):
                return []
            return [("name", r.get("host_id") or "", match_key(r.get("name")))]
        if name == "databases":
            return [("db", r.get("system_id") or "", match_key(r.get("engine")),
                     match_key(r.get("name")), r.get("host_id") or "")]
        if name == "dependencies":
            ends = [r.get(c) for c in _DEP_ENDS]
            return [("dep", *[v.strip().lower() if type(v) is str and v.isascii()
                              else match_key(v) for v in ends], _text(r.get("port")))]
        return []

    def _index_all(self) -> None:
        for name in ORDER:
            idx: dict[Any, Row] = {}
            for r in self.rows[name]:
                for k in self._natural_keys(name, r):
                    idx.setdefault(k, r)
            self.keys[name] = idx
        self.conflict_ids = {c["id"] for c in self.rows["conflicts"]}
        self.rejected = rejected_cells(self.meta)

    # ----------------------------------------------------------------- merging
    def merge_table(self, name: str, incoming: Iterable[Row]) -> None:
        """Merge one table's incoming rows (see :func:`merge` for matching)."""
        has_source = "source" in TABLES[name].column_names
        counts = self.counts[name]
        refs = _REFS[name]
        id_map, by_id, index, rows = (self.id_map[name], self.by_id[name], self.keys[name],
                                      self.rows[name])
        natural_keys = self._natural_keys
        renamed = self.renamed
        placeholders = self.meta.get("placeholders") if name == "systems" else None
        ref_maps = [(column, self.id_map[ref]) for column, ref in refs]
        for raw in incoming:
            r = dict(raw)
            for column, ref_map in ref_maps:
                v = r.get(column)
                if v:
                    v = r[column] = ref_map.get(v, v)
                    if renamed and v in renamed:
                        r[column] = renamed[v]
            if has_source:
                src = r.get("source")
                if not (type(src) is str and src) and _empty(src):
                    r["source"] = self.source
            keys = natural_keys(name, r)
            cur = by_id.get(r.get("id"))
            if cur is None:
                for k in keys:
                    cur = index.get(k)
                    if cur is not None:
                        break
            if placeholders:
                if cur is None and self._defines:
                    cur = self._take_over(r)
                    if cur is not None:
                        id_map[raw["id"]] = cur["id"]
                        counts.updated += 1
                        continue
                elif cur is not None and self._defines:
                    placeholders.pop(cur["id"], None)  # defined in its own bureau now
            if cur is None:
                if r["id"] in by_id:  # pragma: no cover - defensive
                    r["id"] = stable_id(r["id"], self.source)
                rows.append(r)
                by_id[r["id"]] = r
                for k in keys:
                    index.setdefault(k, r)
                id_map[raw["id"]] = r["id"]
                counts.added += 1
                continue
            id_map[raw["id"]] = cur["id"]
            if self._merge_row(name, cur, r, has_source):
                counts.updated += 1
                for k in natural_keys(name, cur):
                    index.setdefault(k, cur)
            else:
                counts.unchanged += 1

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
        for k in self._natural_keys("systems", cur):
            if index.get(k) is cur:
                del index[k]
        old_bureau = self._bureau_name(cur.get("bureau_id"))
        del by_id[old]
        cur["id"] = new
        cur["bureau_id"] = r.get("bureau_id")
        by_id[new] = cur
        self._merge_row("systems", cur, r, True)
        for k in self._natural_keys("systems", cur):
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
        keys = self._natural_keys("dependencies", dep)
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
                idx: dict[Any, Row] = {}
                for r in self.rows[table]:
                    for k in self._natural_keys(table, r):
                        idx.setdefault(k, r)
                self.keys[table] = idx
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
        standins = [_maybe_standin(h) and standin_host(h) for h in hosts]
        if not any(standins):
            return []  # the usual case: every host has a name (one cheap pass)
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
        for d in self.rows["dependencies"]:
            key = self._natural_keys("dependencies", d)[0]
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


def _typed_frame(name: str, rows: list[Row]) -> pd.DataFrame | None:
    """A typed frame of ``rows`` for table ``name``, or ``None`` when a value does not fit."""
    table = TABLES[name]
    if not rows:
        return empty_frame(table)
    columns = _columns_of(rows, table.column_names)
    extra = [k for k in columns if k not in table.column_names]
    absent: list[Any] = [None] * len(rows)  # a column no row has
    out: dict[str, Any] = {}
    for col in table.columns:
        values = columns.get(col.name, absent)
        kind = col.kind
        try:
            if values is absent and kind not in ("int", "bool"):
                series = pd.Series(np.full(len(rows), np.nan), dtype="float64")
                if kind != "float":
                    if col.required:
                        return None
                    out[col.name] = pd.Series([""] * len(rows), dtype="object")
                    continue
            elif kind == "float":
                series = pd.Series([math.nan if v is None or v == "" else v for v in values],
                                   dtype="float64")
            elif kind in ("int", "bool"):
                if kind == "bool" and any(type(v) not in (bool, type(None)) for v in values):
                    return None
                series = pd.Series(pd.array([None if v == "" else v for v in values],
                                            dtype=_DTYPES[kind]))
            else:
                texts = [v if type(v) is str else ("" if v is None else _text(v))
                         for v in values]
                distinct = set(texts)
                if kind == "enum" and distinct - set(col.choices) - {""}:
                    return None
                if col.required and "" in distinct:
                    return None
                out[col.name] = pd.Series(texts, dtype="object")
                continue
        except (TypeError, ValueError):
            return None
        if kind in ("int", "float") and series.notna().any() and (
                (col.low is not None and bool((series < col.low).any()))
                or (col.high is not None and bool((series > col.high).any()))):
            return None
        if col.required and series.isna().any():
            return None
        out[col.name] = series
    for k in extra:
        out[k] = pd.Series(["" if v is None else str(v) for v in columns[k]], dtype="object")
    return pd.DataFrame(out)


def _columns_of(rows: list[Row], names: Iterable[str]) -> dict[str, list[Any]]:
    """``rows`` turned into columns (``None`` where a row lacks the key) for the keys some
    row has: the schema's ``names`` first, then other keys in the order they first appear."""
    n = len(rows)
    present: set[str] = set().union(*rows)
    order = [k for k in names if k in present]
    if len(order) < len(present):
        known = set(order)
        order += dict.fromkeys(k for r in rows for k in r if k not in known)
    columns: dict[str, list[Any]] = {k: [None] * n for k in order}
    for i, r in enumerate(rows):
        for k, v in r.items():
            columns[k][i] = v
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
