"""Ledger rows → estate rows, one reader per sheet kind (hosts, systems, databases, disks,
dependencies, bureaus).

Each reader gets the row's cleaned values grouped by table (``parts``: ``{"hosts": {...},
"systems": {...}, ...}``) and adds estate rows through the file's
:class:`~shangyun.ledgers.collector.Collector`; it raises :class:`BadValue` for a row it
cannot use (the sheet reader reports it with the row number).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from shangyun.estate.merge import _match_keys, match_key, stable_id
from shangyun.estate.osname import os_name_key, split_os, tidy_os
from shangyun.ledgers.collector import Collector
from shangyun.ledgers.model import Row
from shangyun.ledgers.values import BadValue, External, other_product, parse_engine
from shangyun.ledgers.values import parse_ports as _parse_ports


def _engine_text(parts: dict[str, Row]) -> str:
    return str(parts.get("_", {}).get("engine_text", ""))


def _host_row(col: Collector, bureau: str, parts: dict[str, Row]) -> None:
    if parts.get("bureaus"):
        _bureau_row(col, bureau, parts)
    sys_fields = parts.get("systems", {})
    sid = None
    if sys_fields.get("name"):
        name = str(sys_fields.pop("name"))
        sid = col.system(bureau, name, sys_fields or None)
    elif sys_fields:
        raise BadValue("system details (等保级别, 负责人 …) without a 系统名称", "systems.name")
    host = parts.get("hosts", {})
    if not host.get("hostname") and not host.get("ip"):
        if sid is not None and not host:
            return
        raise BadValue("a host row needs a 主机名 (hostname) or an IP地址 (IP address)",
                       "hosts.hostname")
    host.setdefault("hostname", host.get("ip"))
    host["hostname"] = str(host["hostname"])
    if host.get("os") or host.get("os_version"):
        _os_fields(host)
    if sid:
        host["system_id"] = sid
    hid = col.host(bureau, host)
    db = parts.get("databases")
    if db and db.get("engine"):
        if sid is None:
            raise BadValue("a database (数据库类型) needs a 系统名称 on the same row",
                           "systems.name")
        _add_database(col, sid, hid, db, _engine_text(parts))


#: OS cells that name only a family; the version column then names the OS itself
_GENERIC_OS = frozenset({"linux", "windows", "unix", "其他", "other", "其它", "国产", "信创"})


def _os_fields(host: Row) -> None:
    """The OS as the estate keeps it (name in ``os``, version in ``os_version``) whichever
    way the ledger wrote it: one cell "CentOS 7.9" is split (a version column, when filled,
    keeps its own value); a version column naming the OS ("CentOS 7.9" beside an 操作系统
    of "Linux", or of "CentOS") gives the name too. An architecture written with the OS
    ("Ubuntu 18.04 aarch64") fills an empty 架构."""
    os_text = str(host.get("os") or "")
    version = str(host.get("os_version") or "")
    if version and not re.match(r"\s*[vV]?\d", version):  # "CentOS 7.9" in 版本
        vname, vver, varch = split_os(version)
        letters = len(re.findall(r"[A-Za-z\u4e00-\u9fff]", vname))
        if vver and letters >= 3 and (
                not os_text or os_text.lower() in _GENERIC_OS
                or os_name_key(vname).startswith(os_name_key(os_text))):
            host["os"], host["os_version"] = vname, vver
            if varch and not host.get("arch"):
                host["arch"] = varch
            return
    if not os_text:
        return
    name, ver, arch = split_os(os_text)
    if not ver:
        if version:  # Win + 2008R2 in two columns: written in full
            host["os"], host["os_version"] = tidy_os(os_text, version)
        return
    host["os"], ver = tidy_os(name, version or ver)
    if not version or ver != version:
        host["os_version"] = ver
    if arch and not host.get("arch"):
        host["arch"] = arch


def _add_database(col: Collector, sid: str, hid: str | None, db: Row, text: str) -> None:
    if db.get("engine") == "other" and other_product(text):
        # DB2 10.5, 神通数据库: the product is kept, before a version given apart (a warning
        # says so)
        given = str(db.get("version") or "")
        db["version"] = text if given in text else f"{text} {given}"
    elif not db.get("version") and text:
        _engine, version = parse_engine(text)
        if version:
            db["version"] = version
    db["id"] = stable_id("db", sid, db.get("engine"), db.get("name") or "", hid or "")
    db["system_id"] = sid
    if hid:
        db["host_id"] = hid
    db["source"] = col.source
    col.rows["databases"].append(db)


def _system_row(col: Collector, bureau: str, parts: dict[str, Row]) -> None:
    fields = parts.get("systems", {})
    if not fields.get("name"):
        raise BadValue("a system row needs a 系统名称 (system name)", "systems.name")
    name = str(fields.pop("name"))
    col.system(bureau, name, fields or {})


def _database_row(col: Collector, bureau: str, parts: dict[str, Row]) -> None:
    sys_fields = parts.get("systems", {})
    if not sys_fields.get("name"):
        raise BadValue("a database row needs the 系统名称 (system) it belongs to",
                       "systems.name")
    try:
        sid = col.system_ref(bureau, str(sys_fields["name"]))
    except BadValue as exc:
        exc.target = exc.target or "systems.name"
        raise
    host = parts.get("hosts", {})
    hid = None
    if host.get("hostname") or host.get("ip"):
        hid = col.host_ref(bureau, str(host.get("hostname") or host.get("ip")))
    _add_database(col, sid, hid, parts.get("databases", {}), _engine_text(parts))


def _dependency_row(col: Collector, bureau: str, parts: dict[str, Row]) -> None:
    dep = parts.get("dependencies", {})
    out: Row = {"origin": "declared", "source": col.source}
    outside = dep.get("target_system")
    if type(outside) is External:  # 外部:税务总局: an external endpoint, not a system
        out["external"] = dep.get("external") or outside.name
    for key, is_system in _ENDS:
        name = dep.get(key)
        if not name or type(name) is External:
            continue
        try:
            out[key] = (col.system_ref if is_system else col.host_ref)(bureau, str(name))
        except BadValue as exc:
            exc.target = exc.target or f"dependencies.{key}"
            raise
    for k in _EXTRAS:
        if dep.get(k):
            out[k] = dep[k]
    ports = _ports(str(dep["port"])) if dep.get("port") is not None else (None,)
    _add_dependencies(col, out, ports)


def _add_dependencies(col: Collector, out: Row, ports: tuple[int | None, ...]) -> None:
    """One dependency row per port of ``out`` (its ends resolved); raises
    :class:`BadValue` for a port out of range (the rows of the ports before it are added)."""
    ends = [out.get(k) or "" for k in _ID_PARTS]
    for port in ports:
        if port is not None and not 0 <= port <= 65535:
            raise BadValue(f"port {port} is not between 0 and 65535", "dependencies.port")
        row = dict(out)
        if port is not None:
            row["port"] = port
        row["id"] = stable_id("dep", *ends, port if port is not None else "")
        col.rows["dependencies"].append(row)


#: The reference columns of a dependency row, in the order read (and whether a system).
_ENDS = (("source_system", True), ("source_host", False), ("target_system", True),
         ("target_host", False))
#: The dependency columns copied as they are (when not empty).
_EXTRAS = ("external", "service", "type", "process")
#: The columns a dependency's id is made of (then the port).
_ID_PARTS = ("source_system", "target_system", "source_host", "target_host", "external")


_PORTS: dict[str, tuple[int, ...]] = {}


def _ports(text: str) -> tuple[int, ...]:
    """:func:`parse_ports` of ``text``, each distinct text parsed once (a port column
    repeats a few values over many rows); raises :class:`BadValue`."""
    got = _PORTS.get(text)
    if got is None:
        got = tuple(_parse_ports(text))
        if len(_PORTS) < 4096:
            _PORTS[text] = got
    return got


def _disk_row(col: Collector, bureau: str, parts: dict[str, Row]) -> None:
    host = parts.get("hosts", {})
    if not host.get("hostname") and not host.get("ip"):
        raise BadValue("a disk row needs the 主机名 (hostname) or IP地址 of its host",
                       "hosts.hostname")
    disk = parts.get("disks", {})
    if disk.get("size_gb") is None:
        raise BadValue("a disk row needs a 容量 (size)", "disks.size_gb")
    try:
        hid = col.host_ref(bureau, str(host.get("hostname") or host.get("ip")))
    except BadValue as exc:
        exc.target = exc.target or "hosts.hostname"
        raise
    _add_disk(col, hid, disk)


def _add_disk(col: Collector, hid: str, disk: Row) -> None:
    disk["host_id"] = hid
    disk["id"] = stable_id("d", hid, disk.get("name") or "")
    disk["source"] = col.source
    if not disk.get("datastore") and str(disk.get("path", "")).startswith("["):
        path = str(disk["path"])
        if "]" in path:
            disk["datastore"] = path[1:path.index("]")]
    if not disk.get("format"):
        fmt = format_of_path(disk.get("path"))
        if fmt is not None:
            disk["format"] = fmt
    col.rows["disks"].append(disk)


def _dr_pair_row(col: Collector, bureau: str, parts: dict[str, Row]) -> None:
    """A DR pair a system or host row gives (read once every file is read): the row's
    system and the partner its DR cell names — its primary (对应主系统 …), or its standby
    (灾备系统 …, ``names_standby``). The partner is the system of that name in the row's
    bureau, else the one system of that name in any bureau; none, or several, is an error
    naming the candidates. The pair is kept on the standby's row (``dr_primary``)."""
    fields = parts["systems"]
    own = col.system_ref(bureau, str(fields["name"]))
    partner = _dr_partner(col, bureau, str(fields["partner"]))
    if partner == own:
        raise BadValue("a system cannot be its own DR partner", "systems.dr_primary")
    standby, primary = (partner, own) if fields.get("names_standby") else (own, partner)
    if (standby, primary) in col.dr_pairs:  # each host row of a system repeats it
        return
    col.dr_pairs.add((standby, primary))
    row = col.system_row(standby)
    col.rows["systems"].append({"id": standby, "name": row.get("name"),
                                "bureau_id": row.get("bureau_id"), "dr_primary": primary,
                                "source": col.source})


def _dr_partner(col: Collector, bureau: str, name: str) -> str:
    """The id of the system ``name`` a DR cell names (see :func:`_dr_pair_row`)."""
    key = (match_key(bureau), match_key(name))
    for index in (col.systems, col.known.systems):
        if bureau and key in index:
            return index[key]
    found = dict(col.known.system_names.get(key[1], {}))
    found.update(col.system_names.get(key[1], {}))
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise BadValue(f"DR partner {name!r} is not a system of any bureau (in this import or "
                       "the estate): write its 系统名称 as its own ledger does",
                       "systems.dr_primary")
    cands = "; ".join(sorted(f"{b or '?'} / {name}" for b in found.values()))
    raise BadValue(f"DR partner {name!r} is ambiguous: {len(found)} bureaus have a system of "
                   f"that name ({cands}) and the row's bureau has none", "systems.dr_primary")


def _bureau_row(col: Collector, bureau: str, parts: dict[str, Row]) -> None:
    fields = dict(parts.get("bureaus", {}))
    fields.pop("name", None)
    bid = col.bureau(bureau)
    if fields:
        col.rows["bureaus"].append({"id": bid, "name": bureau, **fields})


ROW_READERS: dict[str, Callable[[Collector, str, dict[str, Row]], None]] = {
    "hosts": _host_row, "systems": _system_row, "databases": _database_row,
    "disks": _disk_row,
    "dependencies": _dependency_row, "bureaus": _bureau_row, "dr_pairs": _dr_pair_row,
}


# ------------------------------------------------------------ column by column
#: ``(table, column) -> the chunk's cleaned values`` (``None`` for a blank cell)
Columns = dict[tuple[str, str], list[Any]]
#: Per row of a chunk: ``True`` added, ``None`` blank (skipped), ``False`` for the row
#: reader (the row names what no bureau has yet, or is bad: the reader says which)
Status = list[bool | None]
_FAILED = object()


def _memo(values: list[Any], fn: Callable[[str], Any]) -> dict[str, Any]:
    """``fn(str(v))`` per distinct ``v`` but ``None`` (``_FAILED`` where it raised
    :class:`BadValue`), keyed by ``str(v)`` as the row readers use it."""
    out: dict[str, Any] = {}
    for v in dict.fromkeys(values):
        if v is None:
            continue
        key = str(v)
        if key not in out:
            try:
                out[key] = fn(key)
            except BadValue:
                out[key] = _FAILED
    return out


def _system_memo(col: Collector, values: list[Any]) -> dict[str, Any]:
    """``_memo(values, lambda t: col.system_ref("", t))``: each distinct name's system in
    any bureau, the names the collector has found already taken from its cache without a
    call (:meth:`Collector.system_ref`'s first look)."""
    out: dict[str, Any] = {}
    cache = col._anywhere
    for v in dict.fromkeys(values):
        if v is None:
            continue
        key = v if type(v) is str else str(v)
        if key in out:
            continue
        hit = cache.get(key)
        if hit is None:
            try:
                hit = col.system_ref("", key)
            except BadValue:
                hit = _FAILED
        out[key] = hit
    return out


def _host_memo(col: Collector, values: list[Any]) -> dict[str, Any]:
    """``_memo(values, lambda t: col.host_ref("", t))``: each distinct text's host in any
    bureau (:meth:`Collector.host_anywhere`), with the texts it has looked up already and
    the texts this file's hosts are known by exactly taken without a call."""
    out: dict[str, Any] = {}
    distinct = dict.fromkeys(values)
    distinct.pop(None, None)
    if not distinct:
        return out
    _ = col.known  # (refreshed here, as host_anywhere's first look-up would)
    cache, here = col._hosts_anywhere, col.hosts_any
    for v in distinct:
        key = v if type(v) is str else str(v)
        if key in out:
            continue
        hit = cache.get(key)
        if hit is None:
            hit = here.get(key.strip())  # (_host_anywhere's first look)
            if hit:
                cache[key] = hit
            else:
                try:
                    hit = col.host_anywhere(key)
                except BadValue:
                    hit = _FAILED
        out[key] = hit
    return out


def _keys_of(ids: Iterable[Any]) -> dict[Any, str]:
    """:func:`match_key` of each distinct id but ``None`` and ``_FAILED``, a column at a
    time (:func:`_match_keys`)."""
    distinct = dict.fromkeys(ids)
    distinct.pop(None, None)
    distinct.pop(_FAILED, None)
    ordered = list(distinct)
    return dict(zip(ordered, _match_keys(ordered), strict=True))


def _blank_rows(columns: Columns, n: int) -> list[bool]:
    """Per row, whether every cell is blank."""
    if any(None not in values for values in columns.values()):
        return [False] * n  # a column full in every row: no row is blank
    blank = [True] * n
    for values in columns.values():
        for j, v in enumerate(values):
            if v is not None:
                blank[j] = False
    return blank


def _dependency_columns(col: Collector, columns: Columns, n: int, _bureau: str | None) -> Status:
    """:func:`_dependency_row` for a chunk of a sheet that names no bureau (names resolve
    across the bureaus, which adds nothing, so each distinct name is resolved once, and
    each distinct id and text put in matching form once): the rows are added in order,
    the same as row by row."""
    ends = []
    # per row, the matching form of each part of the id (_add_dependencies's stable_id)
    id_parts: dict[str, list[str]] = {k: [""] * n for k in _ID_PARTS}
    for key, is_system in _ENDS:
        values = columns.get(("dependencies", key))
        if values is not None:
            ids = _system_memo(col, values) if is_system else _host_memo(col, values)
            hits = [ids[v if type(v) is str else str(v)] if v else None for v in values]
            ends.append((key, hits))
            keys = _keys_of(hits)
            id_parts[key] = [keys.get(h, "") for h in hits]
    external = columns.get(("dependencies", "external"))
    if external is not None:
        ext_keys = {v: match_key(v) for v in dict.fromkeys(external) if v}
        id_parts["external"] = [ext_keys[v] if v else "" for v in external]
    heads = ["\x1f".join(t) for t in zip(*(id_parts[k] for k in _ID_PARTS), strict=True)]
    extras = [(k, columns[("dependencies", k)]) for k in _EXTRAS
              if ("dependencies", k) in columns]
    port_values = columns.get(("dependencies", "port"))
    ports = _memo(port_values or [], _checked_ports)
    rows = col.rows["dependencies"]
    source = col.source
    sha1 = hashlib.sha1
    status: Status = []
    for j, blank in enumerate(_blank_rows(columns, n)):
        if blank:
            status.append(None)
            continue
        out: Row = {"origin": "declared", "source": source}
        ok = True
        for key, hits in ends:
            hit = hits[j]
            if hit is not None:
                if hit is _FAILED:
                    ok = False
                    break
                out[key] = hit
        port: Any = port_values[j] if port_values is not None else None
        row_ports: Any = (None,) if port is None else ports.get(str(port), _FAILED)
        if not ok or row_ports is _FAILED:
            status.append(False)  # a name no bureau has (or several), a bad port: the
            continue              # row reader says which
        for k, values in extras:
            if values[j]:
                out[k] = values[j]
        head = heads[j]
        last = len(row_ports) - 1
        for i, p in enumerate(row_ports):  # _add_dependencies: one row per port
            row = out if i == last else dict(out)
            if p is not None:
                row["port"] = p
            text = f"{head}\x1f{p if p is not None else ''}"  # _sid("dep", head, port)
            row["id"] = f"dep-{sha1(text.encode('utf-8')).hexdigest()[:10]}"
            rows.append(row)
        status.append(True)
    return status


def _checked_ports(text: str) -> tuple[int, ...]:
    ports = _ports(text)
    for port in ports:
        if not 0 <= port <= 65535:
            raise BadValue(f"port {port} is not between 0 and 65535", "dependencies.port")
    return ports


def _disk_columns(col: Collector, columns: Columns, n: int, _bureau: str | None) -> Status:
    """:func:`_disk_row` for a chunk of a sheet that names no bureau (each distinct host
    name resolved once, across the bureaus; each distinct disk name and path looked at
    once): the rows are added in order, the same as row by row."""
    names = columns.get(("hosts", "hostname")) or [None] * n
    ips = columns.get(("hosts", "ip")) or [None] * n
    sizes = columns.get(("disks", "size_gb"))
    disk_names = [c for t, c in columns if t == "disks"]
    disk_lists = [v for (t, _c), v in columns.items() if t == "disks"]
    texts = [str(h or ip) if h or ip else None for h, ip in zip(names, ips, strict=True)]
    hids = _host_memo(col, texts)
    hid_keys = _keys_of(hids.values())
    name_values = columns.get(("disks", "name"))
    name_keys = {v: match_key(v) for v in dict.fromkeys(name_values or ()) if v}
    paths = columns.get(("disks", "path"))
    path_fields = {v: _path_fields(v) for v in dict.fromkeys(paths or ()) if v is not None}
    rows = col.rows["disks"]
    source = col.source
    sha1 = hashlib.sha1
    disks = ([{k: v for k, v in zip(disk_names, vs, strict=True) if v is not None}
              for vs in zip(*disk_lists, strict=True)] if disk_lists else [{} for _ in range(n)])
    status: Status = []
    for j, blank in enumerate(_blank_rows(columns, n)):
        if blank:
            status.append(None)
            continue
        text = texts[j]
        hid = hids.get(text, _FAILED) if text else _FAILED
        if hid is _FAILED or sizes is None or sizes[j] is None:
            status.append(False)  # no host (or an unknown one), no size: the row reader
            continue              # says which
        disk = disks[j]
        # _add_disk, with the id's parts and the path's fields looked up
        disk["host_id"] = hid
        name = disk.get("name")
        text = f"{hid_keys[hid]}\x1f{name_keys[name] if name else ''}"  # _sid("d", …)
        disk["id"] = f"d-{sha1(text.encode('utf-8')).hexdigest()[:10]}"
        disk["source"] = source
        path = disk.get("path")
        if path is not None:
            store, fmt = path_fields[path]
            if store is not None and not disk.get("datastore"):
                disk["datastore"] = store
            if fmt is not None and not disk.get("format"):
                disk["format"] = fmt
        rows.append(disk)
        status.append(True)
    return status


def _path_fields(path: Any) -> tuple[str | None, str | None]:
    """The datastore and format a disk's path gives (``[ds1] vm/vm.vmdk``: ``ds1``,
    ``vmdk``), as :func:`_add_disk` reads them."""
    text = str(path)
    store = text[1:text.index("]")] if text.startswith("[") and "]" in text else None
    return store, format_of_path(text)


#: A disk file's format by its name's ending (``.img`` says nothing: raw or qcow2).
_FORMAT_SUFFIXES = {".vmdk": "vmdk", ".qcow2": "qcow2", ".vhd": "vhd", ".vhdx": "vhdx"}


def format_of_path(path: Any) -> str | None:
    """The disk format a disk file's path names by its ending (``…/vm.vmdk``: ``vmdk``;
    ``.qcow2``, ``.vhd``, ``.vhdx`` likewise), ``None`` for any other path. A wave's
    pre-check still compares it with what the file's header says."""
    if path is None:
        return None
    text = str(path).strip().lower()
    dot = text.rfind(".")
    return _FORMAT_SUFFIXES.get(text[dot:]) if dot >= 0 else None


def _host_columns(col: Collector, columns: Columns, n: int, bureau: str | None) -> Status:
    """:func:`_host_row` for a chunk of a host sheet: each row's host dict built by one
    comprehension, the system of a row looked up only when it differs from the row
    before's (the same call again adds nothing), each distinct OS text split once. The
    rows are added in order, the same as row by row."""
    if any(t == "bureaus" and c != "name" for t, c in columns) \
            or ("systems", "dr_primary") in columns:
        return [False] * n  # bureau details (their own rows), a DR pair: the row reader
    bnames = columns.get(("bureaus", "name")) or [None] * n
    snames = columns.get(("systems", "name")) or [None] * n
    sys_names = [c for t, c in columns if t == "systems" and c != "name"]
    sys_lists = [v for (t, c), v in columns.items() if t == "systems" and c != "name"]
    host_names = [c for t, c in columns if t == "hosts"]
    host_lists = [v for (t, _c), v in columns.items() if t == "hosts"]
    hosts = ([{k: v for k, v in zip(host_names, vs, strict=True) if v is not None}
              for vs in zip(*host_lists, strict=True)] if host_lists else [{} for _ in range(n)])
    sys_rows = list(zip(*sys_lists, strict=True)) if sys_lists else [()] * n
    has_os = ("hosts", "os") in columns or ("hosts", "os_version") in columns
    os_memo: dict[tuple[Any, Any, Any], list[tuple[str, Any]]] = {}
    status: Status = []
    last: tuple[str, str, tuple[Any, ...]] | None = None
    sid = ""
    added: list[Row] = []  # the hosts, added together at the end (Collector.add_hosts)
    added_bureaus: list[str] = []
    bureau_ids = col.bureaus
    for j, blank in enumerate(_blank_rows(columns, n)):
        if blank:
            status.append(None)
            continue
        b = bnames[j] or bureau
        name = snames[j]
        host = hosts[j]
        fields = sys_rows[j]
        if not b or (not name and any(v is not None for v in fields)) or (
                not host.get("hostname") and not host.get("ip") and (not name or host)):
            status.append(False)  # no bureau, system details without a name, no host
            continue              # name or IP: the row reader says which
        b = str(b)
        if name:
            key = (b, str(name), fields)
            if key != last:  # the same call as the row before's adds nothing
                given = {k: v for k, v in zip(sys_names, fields, strict=True)
                         if v is not None}
                sid = col.system(b, key[1], given or None)
                last = key
            if not host:
                status.append(True)  # a system's row without a host
                continue
        if "hostname" not in host:
            host["hostname"] = host.get("ip")
        hostname = host["hostname"]
        if type(hostname) is not str:
            host["hostname"] = str(hostname)
        if has_os and (host.get("os") or host.get("os_version")):
            os_key = (host.get("os"), host.get("os_version"), host.get("arch"))
            changes = os_memo.get(os_key)
            if changes is None:
                changes = os_memo[os_key] = _os_changes(os_key)
            for k, v in changes:
                host[k] = v
        if name:
            host["system_id"] = sid
        if b not in bureau_ids:
            col.bureau(b)  # (the bureau's row where Collector.host would add it)
        added.append(host)
        added_bureaus.append(b)
        status.append(True)
    col.add_hosts(added_bureaus, added)  # (nothing above looks a host up)
    return status


def _os_changes(key: tuple[Any, Any, Any]) -> list[tuple[str, Any]]:
    """What :func:`_os_fields` sets on a host of OS, version and architecture ``key``,
    in the order it sets them."""
    before = {k: v for k, v in zip(("os", "os_version", "arch"), key, strict=True)
              if v is not None}
    after = dict(before)
    _os_fields(after)
    return [(k, v) for k, v in after.items() if k not in before or before[k] is not v]


#: Sheet kinds whose chunks can be read column by column: the tables their columns may
#: belong to, the column reader, and whether only a sheet naming no bureau (no 单位
#: column, no 填报单位 line: its names resolve across the bureaus) is read so.
COLUMN_READERS: dict[str, tuple[frozenset[str],
                                Callable[[Collector, Columns, int, str | None], Status],
                                bool]] = {
    "hosts": (frozenset({"hosts", "systems", "bureaus"}), _host_columns, False),
    "dependencies": (frozenset({"dependencies"}), _dependency_columns, True),
    "disks": (frozenset({"hosts", "disks"}), _disk_columns, True),
}


__all__ = ["COLUMN_READERS", "ROW_READERS", "Columns", "Status"]
