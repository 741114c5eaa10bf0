"""Facts about the network: interfaces and addresses, the SSH session, TCP connections."""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
from typing import Any

from shangyun.facts.base import Fact, split_format, to_int


class Interfaces(Fact):
    """Network interfaces with their MAC and IP addresses (``/sys/class/net``, ``ip -o addr``,
    else ``ifconfig -a`` where ``ip`` is missing: net-tools' new or old format, busybox;
    else ``/proc/net/fib_trie``, ``route`` and ``if_inet6`` where both are).

    Sample output::

        link eth0 52:54:00:12:34:56
        link lo 00:00:00:00:00:00
        1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
        2: eth0    inet 10.3.1.21/24 brd 10.3.1.255 scope global eth0

    Result: ``[{"name": "eth0", "mac": "52:54:00:12:34:56", "addresses": ["10.3.1.21"]}, …]``
    """

    name = "interfaces"

    @classmethod
    def command(cls) -> str:
        return ('for d in /sys/class/net/*; do a=; read -r a < "$d/address"; '
                'echo "link ${d##*/} $a"; done; '
                'if o=$(ip -o addr show 2>/dev/null) && [ -n "$o" ]; then echo "$o"; '
                'elif o=$(ifconfig -a 2>/dev/null) && [ -n "$o" ]; then '
                'echo \'#fmt ifconfig\'; echo "$o"; '
                'else echo \'#fmt proc\'; cat /proc/net/fib_trie; echo \'#route\'; '
                'cat /proc/net/route; echo \'#inet6\'; cat /proc/net/if_inet6; fi')

    @classmethod
    def process(cls, lines: list[str]) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        ifconfig: str | None = None  # the interface of the ifconfig block being read
        if "#fmt proc" in lines:
            at = lines.index("#fmt proc")
            lines, proc = lines[:at], lines[at + 1:]
            for name, addr in _proc_addresses(proc):
                entry = found.setdefault(name, {"name": name, "mac": "", "addresses": []})
                entry["addresses"].append(addr)
        for line in lines:
            parts = line.split()
            if line == "#fmt ifconfig":
                ifconfig = ""
            elif ifconfig is not None and parts:
                if not line[0].isspace():  # "eth0: flags=…" or "eth0      Link encap:…"
                    ifconfig = parts[0].rstrip(":").split("@")[0]
                    continue
                addr = _ifconfig_address(parts)
                if ifconfig and addr:
                    entry = found.setdefault(ifconfig, {"name": ifconfig, "mac": "",
                                                        "addresses": []})
                    entry["addresses"].append(addr)
            elif len(parts) >= 2 and parts[0] == "link":
                entry = found.setdefault(parts[1], {"name": parts[1], "mac": "", "addresses": []})
                entry["mac"] = parts[2].lower() if len(parts) > 2 else ""
            elif len(parts) >= 4 and parts[0].endswith(":") and parts[2] in ("inet", "inet6"):
                name = parts[1].split("@")[0]
                entry = found.setdefault(name, {"name": name, "mac": "", "addresses": []})
                entry["addresses"].append(parts[3].split("/")[0])
        return list(found.values())


def _proc_addresses(lines: list[str]) -> list[tuple[str, str]]:
    """``(interface, address)`` from ``/proc`` where neither ``ip`` nor ``ifconfig`` exists:
    IPv4 local addresses (``/32 host LOCAL`` in ``fib_trie``) put on the interface whose
    route (``/proc/net/route``) holds them (``lo`` for 127/8), IPv6 from ``if_inet6``."""
    part = "fib"
    last = ""
    local: list[str] = []
    routes: list[tuple[str, int, int]] = []
    out: list[tuple[str, str]] = []
    for line in lines:
        if line in ("#route", "#inet6"):
            part = line[1:]
            continue
        parts = line.split()
        if part == "fib":
            if len(parts) == 2 and parts[0] == "|--":
                last = parts[1]
            elif parts[:3] == ["/32", "host", "LOCAL"] and last and last not in local:
                local.append(last)
        elif part == "route" and len(parts) >= 8 and parts[0] != "Iface":
            try:  # the address's network-order bytes read as a little-endian number
                dest, mask = int(parts[1], 16), int(parts[7], 16)
            except ValueError:
                continue
            routes.append((parts[0], dest, mask))
        elif part == "inet6" and len(parts) >= 6 and len(parts[0]) == 32:
            with_colons = ":".join(parts[0][i:i + 4] for i in range(0, 32, 4))
            out.append((parts[5], str(ipaddress.IPv6Address(with_colons))))
    for addr in local:
        value = struct.unpack("<I", socket.inet_aton(addr))[0]
        names = ["lo"] if addr.startswith("127.") else [
            name for name, dest, mask in sorted(routes, key=lambda r: -bin(r[2]).count("1"))
            if mask and value & mask == dest]
        if names:
            out.append((names[0], addr))
    return out


def _ifconfig_address(parts: list[str]) -> str:
    """The address of an ``ifconfig`` line: ``inet 10.0.0.2  netmask …`` (net-tools 2),
    ``inet addr:10.0.0.2  Bcast:…`` (net-tools 1, busybox), ``inet6 addr: fe80::1/64 …``."""
    if len(parts) < 2 or parts[0] not in ("inet", "inet6"):
        return ""
    value = parts[1]
    if value == "addr:" and len(parts) > 2:
        value = parts[2]
    value = value.removeprefix("addr:").split("/")[0].split("%")[0]
    return value if re.fullmatch(r"[0-9A-Fa-f.:]+", value) else ""


def primary_ip_mac(interfaces: list[dict[str, Any]], prefer_ip: str = "") -> tuple[str, str]:
    """The host's main IPv4 address and MAC (the interface carrying ``prefer_ip`` if any)."""
    best: tuple[str, str] = ("", "")
    for iface in interfaces:
        if iface["name"] == "lo":
            continue
        v4 = [a for a in iface["addresses"] if "." in a and not a.startswith("127.")]
        if prefer_ip and prefer_ip in iface["addresses"]:
            return prefer_ip, iface["mac"]
        if v4 and not best[0]:
            best = (v4[0], iface["mac"])
    return best


class Session(Fact):
    """The SSH session as the host sees it (``$SSH_CONNECTION``), to leave it out of the
    dependencies, and the login's user id (``/proc/self/status``, else ``id -u``: not 0
    means partial facts).

    Sample output::

        10.0.0.1 50122 10.3.1.21 22
        1000

    Result: ``{"client_ip": "10.0.0.1", "client_port": 50122, "server_ip": "10.3.1.21",
    "server_port": 22, "uid": 1000}`` (no connection keys outside SSH; no ``uid`` where
    ``id`` printed nothing).
    """

    name = "session"

    @classmethod
    def command(cls) -> str:
        # the real uid from /proc/self/status with built-ins (no process), else id -u
        return ('echo "$SSH_CONNECTION"; _u=; while read -r _k _v _r; do '
                'case $_k in Uid:) _u=$_v; break;; esac; done < /proc/self/status; '
                'echo "${_u:-$(id -u)}"')

    @classmethod
    def process(cls, lines: list[str]) -> dict[str, Any]:
        parts = lines[0].split() if lines else []
        out: dict[str, Any] = {}
        if len(parts) == 4:
            out = {"client_ip": normalise_ip(parts[0]), "client_port": to_int(parts[1], 0),
                   "server_ip": normalise_ip(parts[2]), "server_port": to_int(parts[3], 0)}
        uid = to_int(lines[1], None) if len(lines) > 1 else None
        if uid is not None:
            out["uid"] = uid
        return out


class TcpConnections(Fact):
    """Listening and established TCP sockets with their processes: ``ss -tnpa``, else
    ``netstat -tnpa``, else ``/proc/net/tcp`` and ``tcp6`` (no process names there).

    Sample output (CentOS 6 netstat)::

        #fmt netstat
        Active Internet connections (servers and established)
        Proto Recv-Q Send-Q Local Address     Foreign Address    State       PID/Program name
        tcp        0      0 0.0.0.0:5432      0.0.0.0:*          LISTEN      1520/postmaster
        tcp        0      0 10.3.1.21:41022   10.3.1.30:5432     ESTABLISHED 2211/java

    Result: one dict per socket: ``state`` (``listen``, ``established``, or one of a
    connection closing or just closed: ``time-wait``, ``close-wait``, ``fin-wait``,
    ``last-ack``, ``closing``; connections being opened are left out), ``local_ip``,
    ``local_port``, ``peer_ip``, ``peer_port``, ``process`` and ``pid`` ('' / 0 if unknown).
    """

    name = "tcp"

    @classmethod
    def command(cls) -> str:
        return ("if o=$(ss -tnpa 2>/dev/null) && [ -n \"$o\" ]; then echo '#fmt ss'; echo \"$o\"; "
                "elif o=$(netstat -tnpa 2>/dev/null) && [ -n \"$o\" ]; then echo '#fmt netstat'; "
                "echo \"$o\"; else echo '#fmt proc'; cat /proc/net/tcp /proc/net/tcp6; fi")

    @classmethod
    def process(cls, lines: list[str]) -> list[dict[str, Any]]:
        fmt, rest = split_format(lines, "proc")
        parser = {"ss": _from_ss, "netstat": _from_netstat}.get(fmt, _from_proc)
        return [c for c in (parser(line) for line in rest) if c is not None]


_STATES = {"LISTEN": "listen", "ESTAB": "established", "ESTABLISHED": "established",
           # a connection closing or closed a moment ago (TIME_WAIT lasts 60 s): a client
           # that connects briefly and often is seen in these states only
           "TIME-WAIT": "time-wait", "TIME_WAIT": "time-wait", "CLOSE-WAIT": "close-wait",
           "CLOSE_WAIT": "close-wait", "FIN-WAIT-1": "fin-wait", "FIN_WAIT1": "fin-wait",
           "FIN-WAIT-2": "fin-wait", "FIN_WAIT2": "fin-wait", "LAST-ACK": "last-ack",
           "LAST_ACK": "last-ack", "CLOSING": "closing"}
_PROC_STATES = {"0A": "listen", "01": "established", "06": "time-wait", "08": "close-wait",
                "04": "fin-wait", "05": "fin-wait", "09": "last-ack", "0B": "closing"}


def normalise_ip(text: str) -> str:
    """An address without brackets, zone or IPv4-mapped prefix; ``*`` becomes ``0.0.0.0``."""
    text = text.strip("[]").split("%")[0]
    if text in ("*", ""):
        return "0.0.0.0"
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return str(addr.ipv4_mapped)
    return str(addr)


def split_endpoint(text: str) -> tuple[str, int]:
    """``"[::1]:22"``, ``":::22"``, ``"10.0.0.1:22"``, ``"*:*"`` → ``(ip, port)``."""
    host, _, port = text.rpartition(":")
    return normalise_ip(host), to_int(port, 0) or 0


def _conn(state: str, local: str, peer: str, process: str, pid: int) -> dict[str, Any]:
    lip, lport = split_endpoint(local)
    pip, pport = split_endpoint(peer)
    return {"state": state, "local_ip": lip, "local_port": lport, "peer_ip": pip,
            "peer_port": pport, "process": process, "pid": pid}


_SS_USER = re.compile(r'\(\("(?P<proc>[^"]*)",(?:pid=)?(?P<pid>\d+)')


def _from_ss(line: str) -> dict[str, Any] | None:
    parts = line.split()
    if len(parts) < 5 or parts[0] not in _STATES:
        return None
    m = _SS_USER.search(line)
    return _conn(_STATES[parts[0]], parts[3], parts[4], m.group("proc") if m else "",
                 int(m.group("pid")) if m else 0)


def _from_netstat(line: str) -> dict[str, Any] | None:
    parts = line.split()
    if len(parts) < 6 or not parts[0].startswith("tcp") or parts[5] not in _STATES:
        return None
    pid, process = 0, ""
    if len(parts) > 6 and "/" in parts[6]:
        p, _, process = parts[6].partition("/")
        pid = to_int(p, 0) or 0
        process = " ".join([process, *parts[7:]]).strip()
    return _conn(_STATES[parts[5]], parts[3], parts[4], process, pid)


def _hex_ip(text: str) -> str:
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, struct.pack("<I", struct.unpack(">I", raw)[0]))
    words = struct.unpack(">4I", raw)
    return normalise_ip(socket.inet_ntop(socket.AF_INET6, struct.pack("<4I", *words)))


def _from_proc(line: str) -> dict[str, Any] | None:
    parts = line.split()
    if len(parts) < 4 or not parts[0].rstrip(":").isdigit():
        return None
    state = _PROC_STATES.get(parts[3].upper())
    if state is None:
        return None
    (lh, lp), (ph, pp) = parts[1].split(":"), parts[2].split(":")
    return {"state": state, "local_ip": _hex_ip(lh), "local_port": int(lp, 16),
            "peer_ip": _hex_ip(ph), "peer_port": int(pp, 16), "process": "", "pid": 0}


#: Connected UDP sockets and conntrack flows kept per host at most (a DNS server or a
#: syslog collector can have thousands): the map needs one per client, not every socket
MAX_UDP = 2000


class UdpSockets(Fact):
    """UDP sockets and recent UDP flows: ``ss -unap``, else ``netstat -unap``, else
    ``/proc/net/udp`` and ``udp6`` (no process names there); then the UDP flows of the
    kernel's connection tracking (``/proc/net/nf_conntrack``, where a firewall or NAT keeps
    it: 2000 lines at most), and the ephemeral port range.

    A sender that uses ``sendto`` on an unconnected socket (rsyslog, snmptrapd's clients,
    ntpd) leaves no peer in ``ss``: only conntrack shows its flow (on the client or on the
    server), for 30 s to 3 min after the last datagram.

    Sample output::

        #fmt ss
        State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
        UNCONN 0      0            0.0.0.0:514        0.0.0.0:*    users:(("rsyslogd",pid=812,fd=3))
        ESTAB  0      0        10.3.1.21:45639    10.3.1.9:123  users:(("chronyd",pid=640,fd=5))
        #range 32768 60999
        #conntrack
        ipv4 2 udp 17 28 src=10.3.1.21 dst=10.3.1.30 sport=40001 dport=514 [UNREPLIED] …
          … src=10.3.1.30 dst=10.3.1.21 sport=514 dport=40001 mark=0 use=2  (one line)

    Result: one dict per socket like :class:`TcpConnections`' (``state`` ``listen`` for a
    bound unconnected socket — with ``ephemeral`` true when its port is in the ephemeral
    range: a client's ``sendto`` socket, not a service — or ``established`` for a connected
    one), then one per conntrack flow: ``state`` ``flow``, ``src``, ``sport``, ``dst``,
    ``dport`` (as sent) and ``reply_src``, ``reply_sport`` (who answers: the real server
    behind a DNAT'd address).
    """

    name = "udp"

    @classmethod
    def command(cls) -> str:
        return ("if o=$(ss -unap 2>/dev/null) && [ -n \"$o\" ]; then echo '#fmt ss'; "
                "echo \"$o\"; elif o=$(netstat -unap 2>/dev/null) && [ -n \"$o\" ]; then "
                "echo '#fmt netstat'; echo \"$o\"; else echo '#fmt proc'; "
                "cat /proc/net/udp /proc/net/udp6; fi; _lo=; _hi=; "
                "read -r _lo _hi < /proc/sys/net/ipv4/ip_local_port_range; "
                "echo \"#range $_lo $_hi\"; [ -r /proc/net/nf_conntrack ] && "
                f"{{ echo '#conntrack'; grep -m {MAX_UDP} ' udp ' /proc/net/nf_conntrack; }}")

    @classmethod
    def process(cls, lines: list[str]) -> list[dict[str, Any]]:
        fmt, rest = split_format(lines, "proc")
        parser = {"ss": _udp_from_ss, "netstat": _udp_from_netstat}.get(fmt, _udp_from_proc)
        low, high = 32768, 60999
        out: list[dict[str, Any]] = []
        flows: list[dict[str, Any]] = []
        part = "sockets"
        connected = 0
        for line in rest:
            if line.startswith("#range "):
                words = line.split()
                if len(words) == 3 and words[1].isdigit() and words[2].isdigit():
                    low, high = int(words[1]), int(words[2])
                continue
            if line == "#conntrack":
                part = "conntrack"
                continue
            if part == "conntrack":
                flow = _conntrack(line)
                if flow is not None and len(flows) < MAX_UDP:
                    flows.append(flow)
                continue
            sock = parser(line)
            if sock is None:
                continue
            if sock["state"] == "established":
                connected += 1
                if connected > MAX_UDP:
                    continue
            out.append(sock)
        for sock in out:
            if sock["state"] == "listen":
                sock["ephemeral"] = low <= sock["local_port"] <= high
        return out + flows


def _udp_socket(state: str, local: str, peer: str, process: str, pid: int) -> dict[str, Any]:
    sock = _conn(state, local, peer, process, pid)
    if state == "listen" and sock["peer_port"]:
        sock["state"] = "established"  # netstat lists a connected socket without a state
    return sock


def _udp_from_ss(line: str) -> dict[str, Any] | None:
    parts = line.split()
    if len(parts) < 5 or parts[0] not in ("UNCONN", "ESTAB"):
        return None
    m = _SS_USER.search(line)
    return _udp_socket("listen" if parts[0] == "UNCONN" else "established", parts[3],
                       parts[4], m.group("proc") if m else "", int(m.group("pid")) if m else 0)


def _udp_from_netstat(line: str) -> dict[str, Any] | None:
    parts = line.split()
    if len(parts) < 5 or not parts[0].startswith("udp"):
        return None
    rest = parts[5:]
    if rest and rest[0] == "ESTABLISHED":
        rest = rest[1:]
    pid, process = 0, ""
    if rest and "/" in rest[0]:
        p, _, process = rest[0].partition("/")
        pid = to_int(p, 0) or 0
        process = " ".join([process, *rest[1:]]).strip()
    return _udp_socket("listen", parts[3], parts[4], process, pid)


def _udp_from_proc(line: str) -> dict[str, Any] | None:
    parts = line.split()
    if len(parts) < 4 or not parts[0].rstrip(":").isdigit():
        return None
    state = {"07": "listen", "01": "established"}.get(parts[3].upper())
    if state is None:
        return None
    (lh, lp), (ph, pp) = parts[1].split(":"), parts[2].split(":")
    return {"state": state, "local_ip": _hex_ip(lh), "local_port": int(lp, 16),
            "peer_ip": _hex_ip(ph), "peer_port": int(pp, 16), "process": "", "pid": 0}


def _conntrack(line: str) -> dict[str, Any] | None:
    """One UDP flow of ``/proc/net/nf_conntrack`` (the first tuple as sent, the second
    the reply's), or ``None``."""
    parts = line.split()
    if len(parts) < 4 or parts[2] != "udp":
        return None
    first: dict[str, str] = {}
    reply: dict[str, str] = {}
    for p in parts:
        key, eq, value = p.partition("=")
        if not eq or key not in ("src", "dst", "sport", "dport"):
            continue
        (reply if key in first else first)[key] = value
    if len(first) < 4:
        return None
    return {"state": "flow", "src": normalise_ip(first["src"]),
            "sport": to_int(first["sport"], 0) or 0, "dst": normalise_ip(first["dst"]),
            "dport": to_int(first["dport"], 0) or 0,
            "reply_src": normalise_ip(reply.get("src", first["dst"])),
            "reply_sport": to_int(reply.get("sport", first["dport"]), 0) or 0}
