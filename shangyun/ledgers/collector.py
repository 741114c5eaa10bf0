"""Collecting one ledger file's estate rows: stable ids, and names resolved to ids.

A ledger row usually describes one host together with its system and bureau, so one row
may give a bureau, a system, a host and a database. Ids are stable: derived from the bureau
name and the system name / host name (or IP), so the same row always gets the same id.
Databases and dependencies refer to systems and hosts by name; names are resolved within
the file first, then against the ``known`` estate (:class:`KnownIndex`), and otherwise
create a minimal row that the merge can match later.
"""

from __future__ import annotations

import hashlib
import re

from shangyun.estate.merge import _host_key_names, host_key_name, stable_id
from shangyun.estate.merge import match_key as _key
from shangyun.estate.model import Estate
from shangyun.estate.schema import TABLES
from shangyun.ledgers.model import Known, Row
from shangyun.ledgers.values import BadValue, clean, value_of

_HQ = re.compile(r"总部|机关|本部|总局|headquarter|\bhq\b", re.I)


def _add_any(index: dict[str, str], key: str, hid: str) -> None:
    prev = index.get(key)
    if prev is None:
        index[key] = hid
    elif prev != hid:
        index[key] = ""


def _sid(prefix: str, *keys: str) -> str:
    """:func:`stable_id` of parts that are already match keys (skips re-normalising)."""
    text = "\x1f".join(keys)
    return f"{prefix}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:10]}"


def _add_short(systems: dict[tuple[str, str], str], names: dict[str, dict[str, str]],
               bureau_key: str, short: object, sid: str, bureau: str) -> None:
    """Index system ``sid`` of ``bureau`` by its short name (简称) ``short``."""
    key = _key(short)
    if key:
        systems.setdefault((bureau_key, key), sid)
        names.setdefault(key, {})[sid] = bureau


class Unresolved(BadValue):
    """A name that no bureau has yet: the row waits until every file is read."""


class KnownIndex:
    """Names of the current estate (bureaus, systems, hosts) indexed for lookups.

    Built over rows per table that may grow (a :class:`~shangyun.estate.merge.Merger`'s
    ``rows``): :meth:`refresh` indexes only the rows added since the last call, so an
    import of many files indexes each row once.
    """

    def __init__(self, known: Known) -> None:
        self.tables = ({n: known.rows(n) for n in ("bureaus", "systems", "hosts")}
                       if isinstance(known, Estate) else known)
        self.done = {"bureaus": 0, "systems": 0, "hosts": 0}
        self.bureaus: dict[str, str] = {}
        self.systems: dict[tuple[str, str], str] = {}
        self.system_names: dict[str, dict[str, str]] = {}  # name -> {id: bureau name}
        self.hosts: dict[tuple[str, str], str] = {}
        self.hosts_any: dict[str, str] = {}  # name or IP -> id ("" when several)
        #: systems by their short names (简称), looked up only when no system has the name
        self.short_systems: dict[tuple[str, str], str] = {}
        self.short_names: dict[str, dict[str, str]] = {}  # short name -> {id: bureau name}

    def refresh(self) -> KnownIndex:
        """Index the rows added since the last refresh; returns ``self``."""
        bureaus = self.tables.get("bureaus", [])
        for b in bureaus[self.done["bureaus"]:]:
            self.bureaus[str(b["id"])] = str(b["name"] or "")
        self.done["bureaus"] = len(bureaus)
        systems = self.tables.get("systems", [])
        for s in systems[self.done["systems"]:]:
            key = (_key(self.bureaus.get(s["bureau_id"] or "", "")), _key(s["name"]))
            self.systems.setdefault(key, s["id"])
            self.system_names.setdefault(key[1], {})[s["id"]] = self.bureaus.get(
                s["bureau_id"] or "", "")
            if s.get("short_name"):
                _add_short(self.short_systems, self.short_names, key[0], s["short_name"],
                           s["id"], self.bureaus.get(s["bureau_id"] or "", ""))
        self.done["systems"] = len(systems)
        hosts = self.tables.get("hosts", [])
        for h in hosts[self.done["hosts"]:]:
            bname = _key(self.bureaus.get(h["bureau_id"] or "", ""))
            for key in (host_key_name(h.get("hostname")), str(h.get("ip") or "")):
                if key:
                    self.hosts.setdefault((bname, key), h["id"])
                    _add_any(self.hosts_any, key, h["id"])
        self.done["hosts"] = len(hosts)
        return self

    def rename_systems(self, renamed: dict[str, str], rows: dict[str, Row]) -> None:
        """Forget the systems ``renamed`` (old id -> new id: a placeholder a definition
        took over, :class:`~shangyun.estate.merge.Merger`) and index their new rows
        (``rows`` by id), so later files resolve the name to the new id."""
        if not renamed:
            return
        for key in [k for k, v in self.systems.items() if v in renamed]:
            del self.systems[key]
        for old, new in renamed.items():
            row = rows.get(new)
            if row is None:  # pragma: no cover - a renamed row is in the rows
                continue
            bureau = self.bureaus.get(row.get("bureau_id") or "", "")
            key = (_key(bureau), _key(row.get("name")))  # the name is the placeholder's
            self.system_names.get(key[1], {}).pop(old, None)
            self.systems[key] = new
            self.system_names.setdefault(key[1], {})[new] = bureau


class Collector:
    """Estate rows of one file, with indexes to resolve names to ids.

    Every format adds its rows through one collector, so the same bureau, system or host
    gets the same stable id whichever format (or sheet) it came from."""

    def __init__(self, source: str, known: Known | KnownIndex | None) -> None:
        self.source = source
        self.rows: dict[str, list[Row]] = {name: [] for name in TABLES}
        self.bureaus: dict[str, str] = {}
        self.systems: dict[tuple[str, str], str] = {}
        self.system_fields: dict[tuple[str, str], Row] = {}
        self.system_raw: dict[tuple[str, str], tuple[str, Row]] = {}
        self.system_names: dict[str, dict[str, str]] = {}  # name -> {id: bureau name}
        self.short_systems: dict[tuple[str, str], str] = {}  # (bureau, 简称) -> id
        self.short_names: dict[str, dict[str, str]] = {}  # 简称 -> {id: bureau name}
        self.bureau_keys: dict[str, str] = {}
        self.hosts: dict[tuple[str, str], str] = {}
        self.hosts_any: dict[str, str] = {}  # name or IP -> id ("" when several)
        self._known_source = known
        self._known: KnownIndex | None = None
        #: a system or host name no bureau has yet raises :class:`Unresolved` (the row
        #: waits for the other files) instead of adding a new row to the given bureau
        self.defer_unknown = False
        self._anywhere: dict[str, str] = {}  # name -> the one system of that name (found)
        #: systems added only because a row names them and no bureau has them (yet): id ->
        #: where they were first named (``where`` as the row was read); see
        #: :class:`~shangyun.estate.merge.Merger` for how a later definition takes them over
        self.placeholders: dict[str, str] = {}
        self.where = ""
        self._hosts_anywhere: dict[str, str] = {}  # text -> the one host (while no host added)
        #: systems by id (:meth:`system_row`), for the row counts it was built at
        self._system_rows: tuple[tuple[int, int], dict[str, Row]] = ((-1, -1), {})
        #: DR pairs (standby, primary) already given a row (a host sheet repeats them)
        self.dr_pairs: set[tuple[str, str]] = set()

    @property
    def known(self) -> KnownIndex:
        """The index of the current estate, refreshed on first use by this file."""
        if self._known is None:
            src = self._known_source
            if isinstance(src, KnownIndex):
                self._known = src.refresh()
            else:
                self._known = KnownIndex(src if src is not None else {}).refresh()
        return self._known

    def bureau(self, name: str) -> str:
        """The id of bureau ``name``, adding its row on first sight."""
        bid = self.bureaus.get(name)
        if bid is None:
            bid = stable_id("b", name)
            self.bureaus[name] = bid
            self.rows["bureaus"].append({"id": bid, "name": name,
                                         "kind": "hq" if _HQ.search(name) else "bureau"})
        return bid

    def system(self, bureau: str, name: str, fields: Row | None = None) -> str:
        """The id of system ``name`` of ``bureau``; a row is added on first sight and again
        when ``fields`` differ from those seen (the merge then reconciles them)."""
        seen = self.system_raw.get((bureau, name))
        if seen is not None and (not fields or seen[1] == fields):
            return seen[0]
        b = self.bureau_keys.get(bureau)
        if b is None:
            b = self.bureau_keys[bureau] = _key(bureau)
        key = (b, _key(name))
        sid = self.systems.get(key)
        if sid is not None and (not fields or self.system_fields.get(key) == fields):
            return sid
        # (stable_id("s", bureau, name): its parts are the match keys formed above)
        row: Row = {"id": sid or _sid("s", *key), "name": name,
                    "bureau_id": self.bureau(bureau), "source": self.source}
        if fields:
            row.update(fields)
        if sid is None or (fields and self.system_fields.get(key) != fields):
            self.rows["systems"].append(row)
            if fields:
                self.system_fields[key] = dict(fields)
        self.systems[key] = row["id"]
        self.system_names.setdefault(key[1], {})[row["id"]] = bureau
        self.system_raw[(bureau, name)] = (row["id"], dict(fields or {}))
        if fields and fields.get("short_name"):
            _add_short(self.short_systems, self.short_names, key[0], fields["short_name"],
                       row["id"], bureau)
        return row["id"]

    def system_ref(self, bureau: str, name: str) -> str:
        """The id of system ``name`` seen from ``bureau``: this file, the estate, or new.

        With ``bureau`` empty (a sheet without a 单位 column) the name is looked up across
        every bureau (:meth:`system_anywhere`). Each lookup is a dict access: linear in rows.
        """
        if not bureau:
            hit = self._anywhere.get(name)
            if hit is None:
                hit = self._anywhere[name] = self.system_anywhere(name)
            return hit
        key = (_key(bureau), _key(name))
        if key in self.systems:
            return self.systems[key]
        if key in self.known.systems:
            return self.known.systems[key]
        here = self.system_names.get(key[1], {})
        if len(here) == 1:
            return next(iter(here))
        there = self.known.system_names.get(key[1], {})
        if len(there) == 1:
            return next(iter(there))
        if not here and not there:
            short = self.by_short_name(key)
            if short is not None:
                return short
            if self.defer_unknown:
                raise Unresolved(f"system {name!r} is not known yet")
            sid = self.system(bureau, name)
            self.placeholders.setdefault(sid, self.where)
            return sid
        return self.system(bureau, name)

    def system_row(self, sid: str) -> Row:
        """The row of system ``sid`` (this file's first, else the estate's); ``{}`` if none.
        Indexed by id on first use, again only when rows were added since."""
        mine, known = self.rows["systems"], self.known.tables.get("systems", [])
        if self._system_rows[0] != (len(mine), len(known)):
            index: dict[str, Row] = {}
            for rows in (known, mine):  # this file's rows win: indexed last, first row kept
                seen: set[str] = set()
                for r in rows:
                    rid = str(r.get("id"))
                    if rid not in seen:
                        seen.add(rid)
                        index[rid] = r
            self._system_rows = ((len(mine), len(known)), index)
        return self._system_rows[1].get(sid, {})

    def by_short_name(self, key: tuple[str, str]) -> str | None:
        """The system whose short name (简称) is ``key`` (bureau, name keys): the bureau's
        own, else the one system of any bureau with it; ``None`` when none (or several)."""
        for index in (self.short_systems, self.known.short_systems):
            if key in index:
                return index[key]
        found = dict(self.known.short_names.get(key[1], {}))
        found.update(self.short_names.get(key[1], {}))
        return next(iter(found)) if len(found) == 1 else None

    def system_anywhere(self, name: str) -> str:
        """The id of the one system called ``name`` in any bureau (this file or the estate).

        Raises :class:`Unresolved` when no bureau has it (yet), :class:`BadValue` listing
        the candidates when several have it."""
        key = _key(name)
        found = dict(self.known.system_names.get(key, {}))
        found.update(self.system_names.get(key, {}))
        if not found:  # no system has the name: the one whose short name (简称) it is
            found = dict(self.known.short_names.get(key, {}))
            found.update(self.short_names.get(key, {}))
        if len(found) == 1:
            return next(iter(found))
        if not found:
            raise Unresolved(f"system {name!r} is not defined in any bureau (in this import "
                             "or the estate); add a 单位 column or pass --bureau NAME")
        cands = "; ".join(sorted(f"{b or '?'} / {name}" for b in found.values()))
        raise BadValue(f"system {name!r} is ambiguous: {len(found)} bureaus have it ({cands});"
                       " add a 单位 column to say which")

    def host_anywhere(self, text: str) -> str:
        """The id of the one host named (or addressed) ``text`` in any bureau (each text
        looked up once until a host is added)."""
        hit = self._hosts_anywhere.get(text)
        if hit is None:
            hit = self._hosts_anywhere[text] = self._host_anywhere(text)
        return hit

    def _host_anywhere(self, text: str) -> str:
        key = text.strip()
        indexes = (self.hosts_any, self.known.hosts_any)
        for k in (key, None):
            if k is None:  # the text as a host name (short, lower case), once needed
                k = host_key_name(key)
            for index in indexes:
                hid = index.get(k)
                if hid:
                    return hid
                if hid == "":
                    raise BadValue(f"host {text!r} is ambiguous: several bureaus have a host "
                                   "of that name or address; add a 单位 column")
        raise Unresolved(f"host {text!r} is not defined in any bureau (in this import or the "
                         "estate); add a 单位 column or pass --bureau NAME")

    def host(self, bureau: str, row: Row) -> str:
        """Add host ``row`` of ``bureau`` (its id set from bureau and hostname or IP);
        returns the id."""
        b = self.bureau_keys.get(bureau)
        if b is None:
            b = self.bureau_keys[bureau] = _key(bureau)
        name = host_key_name(row.get("hostname"))
        ip = str(row.get("ip") or "")
        hid = _sid("h", b, name or ip)
        row["id"] = hid
        if self._hosts_anywhere:
            self._hosts_anywhere.clear()  # a new name or address may make one ambiguous
        row["bureau_id"] = self.bureaus.get(bureau) or self.bureau(bureau)
        if "source" not in row:
            row["source"] = self.source
        self.rows["hosts"].append(row)
        hosts, hosts_any = self.hosts, self.hosts_any
        for key in (name, ip):
            if key:
                hosts[(b, key)] = hid
                prev = hosts_any.get(key)  # _add_any, inlined (once per host and key)
                if prev is None:
                    hosts_any[key] = hid
                elif prev != hid:
                    hosts_any[key] = ""
        return hid

    def add_hosts(self, bureaus: list[str], rows: list[Row]) -> None:
        """:meth:`host` for each row of ``rows`` (of bureau ``bureaus[i]``), in order, with
        the host names put in matching form a column at a time. Each bureau must have its
        row already (:meth:`bureau`)."""
        if not rows:
            return
        names = _host_key_names([r.get("hostname") for r in rows])
        ips = [str(r.get("ip") or "") for r in rows]
        keys = self.bureau_keys
        for b in dict.fromkeys(bureaus):
            if b not in keys:
                keys[b] = _key(b)
        if self._hosts_anywhere:
            self._hosts_anywhere.clear()  # a new name or address may make one ambiguous
        bids, source, sha1 = self.bureaus, self.source, hashlib.sha1
        hosts, hosts_any = self.hosts, self.hosts_any
        for bureau, row, name, ip in zip(bureaus, rows, names, ips, strict=True):
            b = keys[bureau]
            text = f"{b}\x1f{name or ip}"  # _sid("h", b, name or ip)
            hid = row["id"] = f"h-{sha1(text.encode('utf-8')).hexdigest()[:10]}"
            row["bureau_id"] = bids[bureau]
            if "source" not in row:
                row["source"] = source
            for key in (name, ip):
                if key:
                    hosts[(b, key)] = hid
                    prev = hosts_any.get(key)
                    if prev is None:
                        hosts_any[key] = hid
                    elif prev != hid:
                        hosts_any[key] = ""
        self.rows["hosts"] += rows

    def host_ref(self, bureau: str, text: str) -> str:
        """The id of the host named (or addressed) ``text`` in ``bureau`` (any bureau when
        ``bureau`` is empty: :meth:`host_anywhere`)."""
        if not bureau:
            return self.host_anywhere(text)
        b = _key(bureau)
        ip = ""
        try:
            ip = value_of(clean("hosts.ip", text)) or ""
        except BadValue:
            ip = ""
        key = (b, ip) if ip and ip == text.strip() else (b, host_key_name(text))
        for index in (self.hosts, self.known.hosts):
            if key in index:
                return index[key]
        for any_index in (self.hosts_any, self.known.hosts_any):
            hid = any_index.get(key[1])
            if hid:  # the one host of that name in another bureau (such as headquarters)
                return hid
        if self.defer_unknown and not any(key[1] in i for i in (self.hosts_any,
                                                                  self.known.hosts_any)):
            raise Unresolved(f"host {text!r} is not known yet")
        row: Row = {"hostname": text.strip()}
        if ip and ip == text.strip():
            row["ip"] = ip
        return self.host(bureau, row)


__all__ = ["Collector", "KnownIndex", "Unresolved"]
