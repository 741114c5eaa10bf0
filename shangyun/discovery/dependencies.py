"""Dependency mapping: established TCP connections → host→host edges → system→system.

Pure. Each host's ``tcp`` fact says which sockets it has; a connection is *inbound* when its
local port is one the host listens on (the peer is the client), otherwise *outbound* (the
host is the client). The same connection seen from both ends counts once: an edge's
``seen_count`` is the number of distinct client sockets observed. Peers that are not hosts
of the estate become external dependencies (``external`` = ``ip:port``) when the estate's
host is the client; external *clients* cannot be a dependencies row (it needs a source host or
system), so they are kept as facts with the listening ports nobody was seen using.
The discovery's own SSH session (``session`` fact) and loopback/self traffic are ignored.
A client's connection to a virtual IP (DNAT) that a discovered server saw from the same
client address and port is that server's edge, not an external one.
A connection closing or closed a moment ago (``time-wait`` …) counts like an established
one: a client connecting briefly and often has most of its sockets in those states.

Cron jobs (``cron`` fact: tool, host and port named by a crontab line) add edges too: the
host named (an estate host's IP or host name, full or short; else external when the port
is known) is the server, the host running the job the client. Their evidence (file and
line, never the line) goes into the row's ``process`` as ``cron: pg_dump
/etc/cron.d/backup:2``; they add no ``seen_count`` (no socket was seen).

UDP (``udp`` fact: connected sockets and conntrack flows) gives edges of its own
(``proto`` ``udp``: row ids end in ``-udp``, services in ``/udp``); the host's listening
UDP ports are facts (``udp_services``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SERVICES = {
    20: "ftp-data", 21: "ftp", 22: "ssh", 25: "smtp", 53: "dns", 80: "http", 110: "pop3",
    111: "rpcbind", 139: "netbios", 143: "imap", 389: "ldap", 443: "https", 445: "smb",
    636: "ldaps", 873: "rsync", 1433: "sqlserver", 1521: "oracle", 2049: "nfs",
    3306: "mysql", 5236: "dm", 5432: "postgresql", 5672: "amqp", 6379: "redis",
    8080: "http", 8443: "https", 9092: "kafka", 11211: "memcached", 27017: "mongodb",
    54321: "kingbase", 61616: "activemq",
}
#: well-known UDP ports (a UDP row's service is ``<name>/udp``)
UDP_SERVICES = {
    53: "dns", 67: "dhcp", 69: "tftp", 111: "rpcbind", 123: "ntp", 137: "netbios-ns",
    138: "netbios-dgm", 161: "snmp", 162: "snmp-trap", 389: "ldap", 500: "isakmp",
    514: "syslog", 520: "rip", 1812: "radius", 1813: "radius-acct", 2049: "nfs",
    4789: "vxlan", 5353: "mdns", 6514: "syslog-tls", 8472: "vxlan", 12201: "gelf",
}
_TYPES = {
    "database": {"mysql", "postgresql", "oracle", "sqlserver", "dm", "kingbase", "redis",
                 "mongodb", "memcached"},
    "file": {"nfs", "smb", "ftp", "ftp-data", "rsync", "netbios", "scp", "sftp"},
    "async": {"amqp", "kafka", "activemq", "syslog", "snmp-trap", "gelf"},
    "sync": {"http", "https", "ldap", "ldaps", "dns", "smtp", "ntp", "snmp", "radius",
             "radius-acct"},
}


def service_of(port: int, process: str = "", proto: str = "tcp") -> str:
    """The service name of a server port (well-known ports first, else the process);
    a UDP port's ends in ``/udp`` (``syslog/udp``)."""
    if proto == "udp":
        return f"{UDP_SERVICES.get(port, process) or 'udp'}/udp"
    return SERVICES.get(port, process)


def type_of(service: str) -> str:
    """The ``dependencies.type`` for a service name (``/udp`` ignored)."""
    service = service.removesuffix("/udp")
    return next((t for t, names in _TYPES.items() if service in names), "other")


@dataclass
class Edge:
    """Client ``source`` → server ``target`` on ``port`` (hosts are ids; externals are IPs)."""

    source: str
    target: str
    port: int
    source_external: bool = False
    target_external: bool = False
    server_process: str = ""
    client_process: str = ""
    sockets: set[tuple[str, int, str, int]] = field(default_factory=set)
    #: (tool, where, kind): a cron job's ``file:line``, a timer's ``unit (file:line)``;
    #: kind ``cron`` or ``timer``
    scheduled: list[tuple[str, str, str]] = field(default_factory=list)
    proto: str = "tcp"

    @property
    def seen_count(self) -> int:
        """How many distinct connections (client sockets) were observed."""
        return len(self.sockets)

    @property
    def service(self) -> str:
        """The service name (port map, else the server's process; for a cron job's rsync
        or scp over SSH, the tool)."""
        if self.scheduled and not self.sockets:
            tool = self.scheduled[0][0]
            if tool in ("rsync", "scp", "sftp") or not (self.port in SERVICES or
                                                          self.server_process):
                return tool
        return service_of(self.port, self.server_process, self.proto)

    @property
    def process(self) -> str:
        """The server's process when known, else the client's; else, for an edge known
        from scheduled jobs only, ``cron: <tool> <file>:<line>`` or ``timer: <tool> <unit>
        (<file>:<line>)`` (two at most, then a count)."""
        if self.server_process or self.client_process or not self.scheduled:
            return self.server_process or self.client_process
        jobs, last = [], ""
        for tool, where, kind in self.scheduled[:2]:
            jobs.append((f"{kind}: " if kind != last else "") + f"{tool} {where}")
            last = kind
        n = len(self.scheduled)
        return "; ".join(jobs) + (f" (+{n - 2} more)" if n > 2 else "")


@dataclass
class DependencyMap:
    """The result of mapping: host edges, system roll-up, external clients, unused ports,
    and each host's listening UDP services (``udp_services``: port, ip, process, service
    and ``flows``, the client sockets seen using it)."""

    edges: list[Edge]
    host_system: dict[str, str]
    external_clients: dict[str, list[dict[str, Any]]]
    unused_ports: dict[str, list[dict[str, Any]]]
    udp_services: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def host_rows(self) -> list[dict[str, Any]]:
        """``dependencies`` rows host→host (and host→external), origin ``observed``."""
        rows = []
        for e in self.edges:
            if e.source_external:
                continue
            tgt = "" if e.target_external else e.target
            ext = f"{e.target}:{e.port}" if e.target_external else ""
            ident = f"obs-{e.source}-{tgt or 'ext-' + e.target}-{e.port}" + (
                "-udp" if e.proto == "udp" else "")
            rows.append({
                "id": ident, "source_host": e.source, "target_host": tgt,
                "source_system": self.host_system.get(e.source, ""),
                "target_system": self.host_system.get(tgt, "") if tgt else "",
                "external": ext, "port": e.port, "service": e.service, "process": e.process,
                "type": type_of(e.service), "origin": "observed", "seen_count": e.seen_count,
            })
        return sorted(rows, key=lambda r: r["id"])

    def system_rows(self) -> list[dict[str, Any]]:
        """The roll-up: one row per (source system, target system, port), no host columns."""
        return rollup(self.host_rows())


def rollup(host_rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """System→system rows from host-level rows (same-system traffic is not a dependency;
    UDP rows, whose service ends in ``/udp``, roll up apart from TCP on the same port)."""
    acc: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for r in host_rows:
        src, tgt = r.get("source_system") or "", r.get("target_system") or ""
        if not src or not tgt or src == tgt or not r.get("source_host"):
            continue
        udp = "-udp" if str(r.get("service") or "").endswith("/udp") else ""
        key = (src, tgt, int(r["port"] or 0), udp)
        row = acc.setdefault(key, {
            "id": f"obs-sys-{src}-{tgt}-{key[2]}{udp}", "source_host": "", "target_host": "",
            "source_system": src, "target_system": tgt, "external": "", "port": key[2],
            "service": r.get("service") or "", "process": r.get("process") or "",
            "type": r.get("type") or "other", "origin": "observed", "seen_count": 0})
        row["seen_count"] += int(r.get("seen_count") or 0)
    return sorted(acc.values(), key=lambda r: r["id"])


def _local(ip: str) -> bool:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return a.is_loopback or a.is_unspecified


def _own_ips(facts: Mapping[str, Any]) -> set[str]:
    return {a for i in facts.get("interfaces", []) for a in i.get("addresses", [])}


#: Bridges a host keeps for its own containers or guests (Docker's docker0 and br-<id>,
#: CNI, Podman, libvirt's NAT network, LXC/LXD): traffic over them stays in the host
_INNER_BRIDGE = re.compile(r"docker0|br-[0-9a-f]{12}|cni\d*|cbr0|podman\d+|virbr\d+|"
                           r"lxcbr\d+|lxdbr\d+|kube-bridge")


def _inner_ips(facts: Mapping[str, Any]) -> set[str]:
    """The host's addresses on its container/guest bridges: a connection with one of
    them as its local end (docker-proxy into its container, a container using the
    host's database) is the host talking to itself, not a dependency."""
    return {a for i in facts.get("interfaces", []) if _INNER_BRIDGE.fullmatch(i["name"])
            for a in i.get("addresses", [])}


#: The TCP states that show a connection (being or just been) made
CONNECTED = frozenset({"established", "time-wait", "close-wait", "fin-wait", "last-ack",
                       "closing"})


def _through_nat(edges: dict[tuple[str, str, int], Edge],
                 served: set[tuple[str, int]]) -> None:
    """Drop from the host → external edges the connections a discovered server saw from
    the same client address and port: a virtual IP (DNAT: LVS, kube-proxy, iptables) in
    front of an estate host — the client sees the virtual IP, the server the client; the
    connection is the server's edge, not a dependency on an outside address."""
    for key, e in list(edges.items()):
        if not e.target_external or e.source_external:
            continue
        e.sockets = {s for s in e.sockets if (s[0], s[1]) not in served}
        if not e.sockets:
            del edges[key]


def _names(hosts: list[Mapping[str, Any]]) -> tuple[dict[str, str], set[str]]:
    """Host name (lower case; full, else short) → host id, and the names of more than one
    host (a short name two hosts share: such a name says no host)."""
    full: dict[str, set[str]] = {}
    short: dict[str, set[str]] = {}
    for h in hosts:
        name = str(h.get("hostname") or "").strip().lower()
        if name and not _is_ip(name):
            full.setdefault(name, set()).add(str(h["id"]))
            short.setdefault(name.split(".", 1)[0], set()).add(str(h["id"]))
    out = {n: next(iter(ids)) for n, ids in short.items() if len(ids) == 1}
    out.update({n: next(iter(ids)) for n, ids in full.items() if len(ids) == 1})
    many = {n for table in (full, short) for n, ids in table.items() if len(ids) > 1}
    return out, many - set(out)


def _scheduled(edges: dict[tuple[str, str, int], Edge], observed: Mapping[str, Mapping[str, Any]],
               ip_host: Mapping[str, str], names: tuple[dict[str, str], set[str]]) -> None:
    """Add each discovered host's cron jobs (``cron`` fact) and enabled systemd timers'
    services (``timers`` fact) to ``edges``: the host a job
    names (by IP, else host name) is the server; an unknown one is external when the job
    says its port. A job naming the host itself (or localhost), or a name several estate
    hosts share, is no dependency."""
    known, many = names
    for hid, facts in observed.items():
        own = _own_ips(facts)
        me = {str(facts.get("hostname") or "").lower(), "localhost", "localhost.localdomain"}
        jobs = [(j, "cron", f"{j.get('file')}:{j.get('line')}")
                for j in facts.get("cron") or []]
        jobs += [(h, "timer", f"{t.get('unit')} ({t.get('service_file')}:{h.get('line')})")
                 for t in facts.get("timers") or [] if t.get("enabled")
                 for h in t.get("hosts") or []]
        for job, kind, where in jobs:
            host, port = str(job.get("host") or "").lower(), int(job.get("port") or 0)
            if not host or host in own or _local(host) or host in me or \
                    host.split(".", 1)[0] in me:
                continue
            target = ip_host.get(host) or known.get(host) or (
                "" if _is_ip(host) else known.get(host.split(".", 1)[0], ""))
            if target == hid or (not target and (host in many or
                                                host.split(".", 1)[0] in many)):
                continue
            if not target and not port:
                continue  # an address outside the estate, port unknown: nothing to say
            tgt, ext = (target, False) if target else (host, True)
            edge = edges.setdefault((hid, tgt, port), Edge(hid, tgt, port, False, ext))
            edge.scheduled.append((str(job.get("tool") or ""), where, kind))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _not_a_host(ip: str) -> bool:
    """Multicast, broadcast, loopback or unspecified: no host to depend on."""
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return True
    return (a.is_multicast or a.is_loopback or a.is_unspecified or a.is_link_local
            or str(a) == "255.255.255.255")


def _udp_edges(observed: Mapping[str, Mapping[str, Any]], ip_host: Mapping[str, str],
               clients: dict[str, dict[tuple[str, int], dict[str, Any]]]
               ) -> tuple[dict[tuple[str, str, int], Edge], dict[str, list[dict[str, Any]]]]:
    """UDP edges from each host's ``udp`` fact, and its listening UDP services.

    A connected socket (``ss`` ESTAB) is the host sending to its peer; a conntrack flow
    the host sent is the host → the one who answers (the real server behind a DNAT'd
    address), a flow it received on a port it listens on is the sender → the host (an
    outside sender: an external client, ``protocol`` ``udp``). Each client socket counts
    once, seen from one end or both."""
    edges: dict[tuple[str, str, int], Edge] = {}
    listeners: dict[str, dict[int, dict[str, Any]]] = {}
    for hid, facts in observed.items():
        socks = facts.get("udp") or []
        own = _own_ips(facts)
        inner = _inner_ips(facts)
        served = listeners.setdefault(hid, {})
        for u in socks:
            if u["state"] == "listen" and not u.get("ephemeral") and u["local_port"]:
                served.setdefault(u["local_port"], u)
        for u in socks:
            if u["state"] == "established":
                if u["local_ip"] in inner:
                    continue
                inbound = u["local_port"] in served and u["peer_port"] not in served
                client = (u["peer_ip"], u["peer_port"]) if inbound else (
                    u["local_ip"], u["local_port"])
                server = (u["local_ip"], u["local_port"]) if inbound else (
                    u["peer_ip"], u["peer_port"])
                process = u["process"]
            elif u["state"] == "flow":
                if u["src"] in inner or u["dst"] in inner:
                    continue
                inbound = u["dst"] in own and u["src"] not in own
                if not inbound and u["src"] not in own:
                    continue  # forwarded through this host: not its own traffic
                client = (u["src"], u["sport"])
                server = (u["dst"], u["dport"]) if inbound else (
                    (u["reply_src"], u["reply_sport"]) if u["reply_src"] not in own
                    else (u["dst"], u["dport"]))
                process = ""
            else:
                continue
            peer = client[0] if inbound else server[0]
            if _not_a_host(peer) or peer in own or not server[1] or (
                    peer.endswith(".255") and peer not in ip_host):  # a subnet broadcast
                continue
            if inbound:
                src = ip_host.get(client[0])
                if src is None:
                    seen = clients.setdefault(hid, {}).setdefault(
                        (client[0], -server[1]), {
                            "client": client[0], "port": server[1], "process": "",
                            "connections": 0, "protocol": "udp"})
                    seen["connections"] += 1
                    seen["process"] = seen["process"] or process or str(
                        (served.get(server[1]) or {}).get("process") or "")
                    continue
                key = (src, hid, server[1])
                edge = edges.setdefault(key, Edge(src, hid, server[1], proto="udp"))
            else:
                tgt = ip_host.get(server[0])
                key = (hid, tgt or server[0], server[1])
                edge = edges.setdefault(key, Edge(hid, tgt or server[0], server[1],
                                                  target_external=tgt is None, proto="udp"))
                if process:
                    edge.client_process = edge.client_process or process
            edge.sockets.add((client[0], client[1], "", server[1]))
    for e in edges.values():  # the server's process: its listening socket's
        if not e.target_external:
            e.server_process = str((listeners.get(e.target, {}).get(e.port) or {})
                                   .get("process") or "")
    services: dict[str, list[dict[str, Any]]] = {}
    for hid, served in listeners.items():
        for port, u in sorted(served.items()):
            if _local(u["local_ip"]) and u["local_ip"] not in ("0.0.0.0", "::"):
                continue
            flows = sum(e.seen_count for e in edges.values() if (e.target, e.port) == (hid, port))
            flows += sum(c["connections"] for c in clients.get(hid, {}).values()
                         if c.get("protocol") == "udp" and c["port"] == port)
            services.setdefault(hid, []).append({
                "port": port, "ip": u["local_ip"], "process": u["process"],
                "service": service_of(port, u["process"], "udp"), "flows": flows})
    return edges, services


def map_dependencies(observed: Mapping[str, Mapping[str, Any]],
                     hosts: Iterable[Mapping[str, Any]],
                     ignore: Iterable[tuple[str, str, int]] = ()) -> DependencyMap:
    """Map the ``tcp`` facts of the discovered hosts (``{host id: facts}``) against the
    estate's ``hosts`` rows (id, ip, hostname, system_id) into a :class:`DependencyMap`
    (cron jobs naming a host by its name find it by ``hostname``).

    Discovery's own traffic is left out: each host's SSH session (``session`` fact), any
    other connection from that same client to the host's SSH port (a jump host's tunnel),
    and the outbound connections listed in ``ignore`` as ``(host id, peer ip, peer port)``
    (a jump host's forwarded connections to the targets behind it)."""
    skip = set(ignore)
    host_list = list(hosts)
    ip_host = {str(h["ip"]): str(h["id"]) for h in host_list if h.get("ip")}
    host_system = {str(h["id"]): str(h.get("system_id") or "") for h in host_list}
    for hid, facts in observed.items():
        host_system.setdefault(hid, "")
        for ip in _own_ips(facts):
            if not _local(ip):
                ip_host.setdefault(ip, hid)
    edges: dict[tuple[str, str, int], Edge] = {}
    clients: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}
    served: set[tuple[str, int]] = set()  # client (ip, port) a discovered server saw
    for hid, facts in observed.items():
        conns = facts.get("tcp", [])
        own = _own_ips(facts)
        inner = _inner_ips(facts)
        listening = {(c["local_ip"], c["local_port"]) for c in conns if c["state"] == "listen"}
        ports = {p for _, p in listening}
        sess = facts.get("session") or {}
        for c in conns:
            if c["state"] not in CONNECTED or _local(c["peer_ip"]) or c["peer_ip"] in own \
                    or c["local_ip"] in inner:
                continue
            if (sess and c["local_port"] == sess.get("server_port")
                    and c["peer_ip"] == sess.get("client_ip")):
                continue
            inbound = c["local_port"] in ports
            if not inbound and (hid, c["peer_ip"], c["peer_port"]) in skip:
                continue
            if inbound:
                client_ip, client_port = c["peer_ip"], c["peer_port"]
                served.add((client_ip, client_port))
                server_ip, server_port = c["local_ip"], c["local_port"]
                client = ip_host.get(client_ip)
                if client is None:  # one entry per (address, port), not per socket
                    seen = clients.setdefault(hid, {}).setdefault(
                        (client_ip, server_port), {"client": client_ip, "port": server_port,
                                                   "process": "", "connections": 0})
                    seen["connections"] += 1
                    seen["process"] = seen["process"] or c["process"]
                src, src_ext = (client, False) if client else (client_ip, True)
                tgt, tgt_ext = hid, False
            else:
                client_ip, client_port = c["local_ip"], c["local_port"]
                server_ip, server_port = c["peer_ip"], c["peer_port"]
                server = ip_host.get(server_ip)
                src, src_ext = hid, False
                tgt, tgt_ext = (server, False) if server else (server_ip, True)
            if src == tgt:
                continue
            edge = edges.setdefault((src, tgt, server_port),
                                    Edge(src, tgt, server_port, src_ext, tgt_ext))
            edge.sockets.add((client_ip, client_port, server_ip, server_port))
            if inbound and c["process"]:
                edge.server_process = c["process"]
            elif not inbound and c["process"]:
                edge.client_process = c["process"]
    _through_nat(edges, served)
    _scheduled(edges, observed, ip_host, _names(host_list))
    udp_edges, udp_services = _udp_edges(observed, ip_host, clients)
    external_clients = {hid: sorted(found.values(), key=lambda e: (
        e["client"], e["port"], e.get("protocol", ""))) for hid, found in clients.items()}
    used = {(e.target, e.port) for e in edges.values() if not e.target_external}
    unused: dict[str, list[dict[str, Any]]] = {}
    for hid, facts in observed.items():
        seen: set[int] = set()
        for c in facts.get("tcp", []):
            if c["state"] != "listen" or (_local(c["local_ip"]) and c["local_ip"] not in (
                    "0.0.0.0", "::")):
                continue
            if (hid, c["local_port"]) in used or c["local_port"] in seen:
                continue
            seen.add(c["local_port"])
            unused.setdefault(hid, []).append(
                {"port": c["local_port"], "ip": c["local_ip"], "process": c["process"],
                 "service": service_of(c["local_port"], c["process"])})
    return DependencyMap(sorted([*edges.values(), *udp_edges.values()],
                                key=lambda e: (e.source, e.target, e.port, e.proto)),
                         host_system, external_clients, unused, udp_services)


def merge_observed(existing: Iterable[Mapping[str, Any]], new_host_rows: list[dict[str, Any]],
                   discovered: set[str]) -> list[dict[str, Any]]:
    """The estate's new dependencies table: declared rows kept; observed host rows touching
    a host discovered now replaced by ``new_host_rows``; the system roll-up recomputed."""
    kept: list[dict[str, Any]] = []
    observed_hosts: list[dict[str, Any]] = []
    for r in existing:
        row = dict(r)
        if row.get("origin") != "observed":
            kept.append(row)
        elif row.get("source_host") and row.get("source_host") not in discovered and \
                row.get("target_host") not in discovered:
            observed_hosts.append(row)
    observed_hosts += new_host_rows
    return kept + observed_hosts + rollup(observed_hosts)


_ENDS = ("source_system", "target_system", "source_host", "target_host", "external")


def _dep_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (*(str(row.get(c) or "").strip().lower() for c in _ENDS), int(row.get("port") or 0))


def meet_declared(rows: list[dict[str, Any]]
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split ``rows`` (a dependencies table) into the rows to keep and the observed rows
    that say the same dependency as a declared one (same ends and port: a ledger's
    system → system on 5432 and discovery's roll-up of it). Those are to be merged into
    the declared row through the estate's merge — blanks filled, a differing value a
    conflict — not kept beside it as a second row with the same key."""
    declared = {_dep_key(r) for r in rows if r.get("origin") != "observed"}
    keep, meeting = [], []
    for r in rows:
        (meeting if r.get("origin") == "observed" and _dep_key(r) in declared else keep
         ).append(r)
    return keep, meeting
