"""Dependency mapping (pure): edges, both-ends de-duplication, externals, roll-up, unused
ports, and replacing observed rows while keeping declared ones."""

from __future__ import annotations

from typing import Any

import pytest

from shangyun.discovery.dependencies import map_dependencies, merge_observed, rollup, type_of
from shangyun.discovery.jump import parse_jump
from shangyun.errors import ShangyunError


def conn(state: str, lip: str, lport: int, pip: str = "0.0.0.0", pport: int = 0,
         proc: str = "") -> dict[str, Any]:
    return {"state": state, "local_ip": lip, "local_port": lport, "peer_ip": pip,
            "peer_port": pport, "process": proc, "pid": 1}


def host(ip: str, *conns: dict[str, Any], session: dict[str, Any] | None = None
         ) -> dict[str, Any]:
    return {"interfaces": [{"name": "eth0", "mac": "", "addresses": [ip]},
                           {"name": "lo", "mac": "", "addresses": ["127.0.0.1"]}],
            "tcp": list(conns), "session": session or {}}


ESTATE = [
    {"id": "app", "ip": "10.0.0.1", "system_id": "web"},
    {"id": "db", "ip": "10.0.0.2", "system_id": "core"},
    {"id": "auth", "ip": "10.0.0.3", "system_id": "idp"},
    {"id": "app2", "ip": "10.0.0.4", "system_id": "web"},
]

OBSERVED = {
    "app": host("10.0.0.1",
                conn("listen", "0.0.0.0", 8080, proc="java"),
                conn("listen", "0.0.0.0", 22, proc="sshd"),
                conn("established", "10.0.0.1", 40001, "10.0.0.2", 5432, "java"),
                conn("established", "10.0.0.1", 40002, "10.0.0.2", 5432, "java"),
                conn("established", "10.0.0.1", 40003, "10.0.0.3", 8443, "java"),
                conn("established", "10.0.0.1", 40004, "203.0.113.9", 443, "java"),
                conn("established", "10.0.0.1", 8080, "10.0.0.4", 51000, "java"),
                conn("established", "10.0.0.1", 8080, "198.51.100.7", 52000, "java"),
                conn("established", "127.0.0.1", 40005, "127.0.0.1", 6379, "java"),
                conn("established", "10.0.0.1", 22, "10.9.9.9", 60000, "sshd"),
                session={"client_ip": "10.9.9.9", "client_port": 60000,
                         "server_ip": "10.0.0.1", "server_port": 22}),
    "db": host("10.0.0.2",
               conn("listen", "0.0.0.0", 5432, proc="postgres"),
               conn("listen", "0.0.0.0", 9187, proc="exporter"),
               conn("listen", "127.0.0.1", 25, proc="master"),
               conn("established", "10.0.0.2", 5432, "10.0.0.1", 40001, "postgres"),
               conn("established", "10.0.0.2", 5432, "10.0.0.1", 40002, "postgres")),
}


def test_edges_hosts_and_externals() -> None:
    dm = map_dependencies(OBSERVED, ESTATE)
    rows = {(r["source_host"], r["target_host"] or r["external"], r["port"]): r
            for r in dm.host_rows()}
    assert set(rows) == {("app", "db", 5432), ("app", "auth", 8443),
                         ("app", "203.0.113.9:443", 443), ("app2", "app", 8080)}
    pg = rows[("app", "db", 5432)]
    # two connections, each seen from both ends: counted once each
    assert pg["seen_count"] == 2
    assert (pg["service"], pg["process"], pg["type"]) == ("postgresql", "postgres", "database")
    assert (pg["source_system"], pg["target_system"], pg["origin"]) == ("web", "core",
                                                                        "observed")
    ext = rows[("app", "203.0.113.9:443", 443)]
    assert ext["target_host"] == "" and ext["external"] == "203.0.113.9:443"
    # app2 was not discovered, but app saw it connect in: an edge app2 → app
    assert rows[("app2", "app", 8080)]["process"] == "java"


def test_external_clients_session_and_loopback() -> None:
    dm = map_dependencies(OBSERVED, ESTATE)
    assert dm.external_clients == {"app": [{"client": "198.51.100.7", "port": 8080,
                                            "process": "java", "connections": 1}]}
    assert all(r["port"] not in (22, 6379) for r in dm.host_rows())


def test_unused_ports() -> None:
    dm = map_dependencies(OBSERVED, ESTATE)
    assert [u["port"] for u in dm.unused_ports["app"]] == [22]
    assert [u["port"] for u in dm.unused_ports["db"]] == [9187]  # 25 is loopback only


def test_rollup_skips_same_system_and_sums() -> None:
    dm = map_dependencies(OBSERVED, ESTATE)
    sys_rows = {(r["source_system"], r["target_system"], r["port"]): r["seen_count"]
                for r in dm.system_rows()}
    assert sys_rows == {("web", "core", 5432): 2, ("web", "idp", 8443): 1}
    assert all(not r["source_host"] and not r["target_host"] for r in dm.system_rows())
    assert rollup([{"source_system": "a", "target_system": "a", "source_host": "h",
                    "port": 1, "seen_count": 3}]) == []


def test_merge_observed_keeps_declared_and_others() -> None:
    dm = map_dependencies(OBSERVED, ESTATE)
    existing = [
        {"id": "d1", "source_system": "web", "target_system": "core", "origin": "declared",
         "port": 5432},
        {"id": "old1", "source_host": "app", "target_host": "db", "port": 1521,
         "origin": "observed", "source_system": "web", "target_system": "core",
         "seen_count": 9},
        {"id": "old2", "source_host": "x1", "target_host": "x2", "port": 80,
         "origin": "observed", "source_system": "s1", "target_system": "s2", "seen_count": 1},
        {"id": "oldsys", "source_system": "web", "target_system": "core", "port": 1521,
         "origin": "observed", "seen_count": 9},
    ]
    out = merge_observed(existing, dm.host_rows(), {"app", "db"})
    ids = {r["id"] for r in out}
    assert "d1" in ids and "old2" in ids           # declared and not-rediscovered kept
    assert "old1" not in ids and "oldsys" not in ids  # replaced by this run
    assert ("s1", "s2") in {(r["source_system"], r["target_system"]) for r in out
                            if not r.get("source_host")}


def test_type_of() -> None:
    assert [type_of(s) for s in ("mysql", "nfs", "kafka", "https", "java")] == \
        ["database", "file", "async", "sync", "other"]


def test_discovery_own_traffic_is_left_out() -> None:
    jump = host("10.0.0.3",
                conn("listen", "0.0.0.0", 22, proc="sshd"),
                # our session to the jump host, and a second one carrying the tunnel
                conn("established", "10.0.0.3", 22, "10.9.9.9", 60001, "sshd"),
                conn("established", "10.0.0.3", 22, "10.9.9.9", 60002, "sshd"),
                # the tunnel's forwarded connection to the target's sshd
                conn("established", "10.0.0.3", 41000, "10.0.0.2", 22, "sshd"),
                # a real dependency of the jump host
                conn("established", "10.0.0.3", 41001, "10.0.0.2", 5432, "app"),
                session={"client_ip": "10.9.9.9", "client_port": 60001,
                         "server_ip": "10.0.0.3", "server_port": 22})
    dm = map_dependencies({"auth": jump}, ESTATE, ignore={("auth", "10.0.0.2", 22)})
    assert [(r["target_host"], r["port"]) for r in dm.host_rows()] == [("db", 5432)]
    assert dm.external_clients == {}
    kept = map_dependencies({"auth": jump}, ESTATE)
    assert ("db", 22) in {(r["target_host"], r["port"]) for r in kept.host_rows()}


def test_jump_specs() -> None:
    assert parse_jump("ops@[fd00::1]:2200", "root") == ("ops", "fd00::1", 2200)
    with pytest.raises(ShangyunError, match="jump host"):
        parse_jump("jump:notaport", "root")


def test_connections_seen_only_closing_still_map() -> None:
    """A client connecting briefly and often shows in TIME_WAIT (and the other closing
    states) between its connections: still a dependency, each socket counted once."""
    observed = {
        "app": host("10.0.0.1",
                    conn("time-wait", "10.0.0.1", 40100, "10.0.0.2", 5432),
                    conn("time-wait", "10.0.0.1", 40101, "10.0.0.2", 5432),
                    conn("fin-wait", "10.0.0.1", 40102, "10.0.0.3", 8443, "java")),
        "db": host("10.0.0.2", conn("listen", "0.0.0.0", 5432, proc="postgres"),
                   conn("close-wait", "10.0.0.2", 5432, "10.0.0.1", 40101, "postgres")),
    }
    rows = {(r["source_host"], r["target_host"], r["port"]): r
            for r in map_dependencies(observed, ESTATE).host_rows()}
    assert {k: r["seen_count"] for k, r in rows.items()} == {
        ("app", "db", 5432): 2, ("app", "auth", 8443): 1}
    assert rows[("app", "db", 5432)]["process"] == "postgres"


def job(host_: str, port: int, tool: str = "pg_dump", line: int = 3,
        file: str = "/etc/cron.d/backup") -> dict[str, Any]:
    return {"file": file, "line": line, "schedule": "0 2 * * *", "tool": tool,
            "host": host_, "port": port}


def test_cron_jobs_map_by_address_and_name() -> None:
    hosts = [{**h, "hostname": {"app": "app.b3.gov.cn", "db": "DB01", "auth": "auth.b3.gov.cn",
                                "app2": "auth.other.gov.cn"}[h["id"]]} for h in ESTATE]
    app = {**host("10.0.0.1"), "hostname": "app.b3.gov.cn", "cron": [
        job("db01", 5432), job("10.0.0.2", 5432, "psql", 4),       # same edge: one row
        job("10.0.0.4", 0, "sync.sh", 5),                          # estate IP, no port
        job("auth", 22, "rsync", 6),                               # short name of two: none
        job("AUTH.b3.gov.cn", 22, "scp", 12),                      # full name: that one
        job("backup.example.org", 873, "rsync", 7),                # outside: external
        job("10.9.9.9", 0, "sync.sh", 8),                          # outside, no port: none
        job("app", 5432, "pg_dump", 9), job("localhost", 6379, "redis-cli", 10),
        job("127.0.0.1", 3306, "mysqldump", 11)]}                  # itself: none
    rows = {(r["source_host"], r["target_host"] or r["external"], r["port"]): r
            for r in map_dependencies({"app": app}, hosts).host_rows()}
    assert set(rows) == {("app", "db", 5432), ("app", "app2", 0), ("app", "auth", 22),
                         ("app", "backup.example.org:873", 873)}
    pg = rows[("app", "db", 5432)]
    assert (pg["service"], pg["type"], pg["seen_count"], pg["process"]) == (
        "postgresql", "database", 0,
        "cron: pg_dump /etc/cron.d/backup:3; psql /etc/cron.d/backup:4")
    assert (rows[("app", "app2", 0)]["service"], rows[("app", "app2", 0)]["type"]) == (
        "sync.sh", "other")
    ext = rows[("app", "backup.example.org:873", 873)]
    assert (ext["service"], ext["type"], ext["target_system"]) == ("rsync", "file", "")


def test_cron_job_beside_a_connection_keeps_the_connection_s_figures() -> None:
    observed = {"app": {**OBSERVED["app"], "cron": [job("10.0.0.2", 5432)]},
                "db": OBSERVED["db"]}
    rows = {(r["source_host"], r["target_host"], r["port"]): r
            for r in map_dependencies(observed, ESTATE).host_rows()}
    assert (rows[("app", "db", 5432)]["seen_count"], rows[("app", "db", 5432)]["process"]
            ) == (2, "postgres")


def udp(state: str, lip: str, lport: int, pip: str = "0.0.0.0", pport: int = 0,
        proc: str = "", ephemeral: bool = False) -> dict[str, Any]:
    sock = conn(state, lip, lport, pip, pport, proc)
    return {**sock, "ephemeral": ephemeral} if state == "listen" else sock


def flow(src: str, sport: int, dst: str, dport: int, reply_src: str = "",
         reply_sport: int = 0) -> dict[str, Any]:
    return {"state": "flow", "src": src, "sport": sport, "dst": dst, "dport": dport,
            "reply_src": reply_src or dst, "reply_sport": reply_sport or dport}


def test_udp_flows_are_dependencies_and_udp_listeners_are_facts() -> None:
    """A connected UDP socket (chronyd to NTP), a flow conntrack saw on the client
    (rsyslog's sendto to the log server; DNS to a DNAT'd address: the real server
    answered) or on the server (an SNMP poller's queries): host → host rows marked UDP,
    apart from a TCP row on the same port; an outside server is external; multicast,
    broadcast, loopback and the host itself are none. Listening UDP services are facts."""
    app = {**host("10.0.0.1",
                  conn("established", "10.0.0.1", 40001, "10.0.0.2", 53, "java")),
           "udp": [udp("listen", "0.0.0.0", 49951, proc="rsyslogd", ephemeral=True),
                   udp("established", "10.0.0.1", 45639, "10.0.0.3", 123, "chronyd"),
                   udp("established", "10.0.0.1", 45640, "203.0.113.5", 123, "chronyd"),
                   udp("established", "127.0.0.1", 45641, "127.0.0.53", 53, "java"),
                   udp("established", "10.0.0.1", 45642, "224.0.0.251", 5353, "avahi"),
                   flow("10.0.0.1", 41000, "10.0.0.2", 514),
                   flow("10.0.0.1", 41001, "10.0.0.2", 514),
                   flow("10.0.0.1", 41002, "10.0.0.200", 53, "10.0.0.2", 53),
                   flow("10.0.0.1", 41003, "255.255.255.255", 67),
                   flow("10.0.0.1", 41004, "10.0.0.1", 161)]}
    db = {**host("10.0.0.2", conn("listen", "0.0.0.0", 53, proc="named")),
          "udp": [udp("listen", "0.0.0.0", 514, proc="rsyslogd"),
                  udp("listen", "0.0.0.0", 53, proc="named"),
                  udp("listen", "127.0.0.1", 953, proc="named"),
                  udp("listen", "0.0.0.0", 161, proc="snmpd"),
                  # the same rsyslog flow seen at the server: counted once
                  flow("10.0.0.1", 41000, "10.0.0.2", 514),
                  # an SNMP poller in the estate (not discovered) and one outside it
                  flow("10.0.0.4", 50000, "10.0.0.2", 161),
                  flow("198.51.100.7", 50001, "10.0.0.2", 161)]}
    dm = map_dependencies({"app": app, "db": db}, ESTATE)
    rows = {(r["source_host"], r["target_host"] or r["external"], r["port"], r["id"][-4:]): r
            for r in dm.host_rows()}
    got = {k[:3]: (r["service"], r["type"], r["seen_count"], r["process"])
           for k, r in rows.items() if k[3] == "-udp"}
    assert got == {
        ("app", "auth", 123): ("ntp/udp", "sync", 1, "chronyd"),
        ("app", "203.0.113.5:123", 123): ("ntp/udp", "sync", 1, "chronyd"),
        ("app", "db", 514): ("syslog/udp", "async", 2, "rsyslogd"),
        ("app", "db", 53): ("dns/udp", "sync", 1, "named"),
        ("app2", "db", 161): ("snmp/udp", "sync", 1, "snmpd"),
    }, got
    # the TCP connection on 53 stays its own row; ids differ
    tcp53 = [r for r in dm.host_rows() if r["port"] == 53 and not r["id"].endswith("-udp")]
    assert [(r["source_host"], r["target_host"], r["service"]) for r in tcp53] == [
        ("app", "db", "dns")]
    # the roll-up keeps UDP apart too
    sys_rows = {r["id"] for r in dm.system_rows()}
    assert {"obs-sys-web-core-53", "obs-sys-web-core-53-udp", "obs-sys-web-core-514-udp",
            "obs-sys-web-idp-123-udp"} <= sys_rows, sys_rows
    # the outside SNMP poller is an external client, marked UDP
    assert {"client": "198.51.100.7", "port": 161, "process": "snmpd", "connections": 1,
            "protocol": "udp"} in dm.external_clients["db"]
    # listening UDP services (not loopback-only, not a client's ephemeral socket) are facts
    assert dm.udp_services["db"] == [
        {"port": 53, "ip": "0.0.0.0", "process": "named", "service": "dns/udp", "flows": 1},
        {"port": 161, "ip": "0.0.0.0", "process": "snmpd", "service": "snmp/udp",
         "flows": 2},
        {"port": 514, "ip": "0.0.0.0", "process": "rsyslogd", "service": "syslog/udp",
         "flows": 2}]
    assert "app" not in dm.udp_services


def test_enabled_timers_map_like_cron_jobs() -> None:
    """A systemd timer's service naming a host is a scheduled dependency like a cron
    job (evidence ``timer: <tool> <unit> (<file>:<line>)``); a disabled timer is none."""
    def timer(unit: str, enabled: bool, *hosts: tuple[str, str, int, int]) -> dict[str, Any]:
        return {"unit": unit, "file": f"/etc/systemd/system/{unit}", "enabled": enabled,
                "schedule": "OnCalendar=daily", "service": "x.service",
                "service_file": "/etc/systemd/system/x.service",
                "hosts": [{"tool": t, "host": h, "port": p, "line": n} for t, h, p, n in hosts]}
    app = {**host("10.0.0.1"), "cron": [job("10.0.0.2", 5432)],
           "timers": [timer("pg.timer", True, ("pg_dump", "10.0.0.2", 5432, 8),
                            ("rsync", "10.0.0.3", 22, 9)),
                      timer("off.timer", False, ("curl", "10.0.0.4", 443, 3))]}
    rows = {(r["source_host"], r["target_host"], r["port"]): r
            for r in map_dependencies({"app": app}, ESTATE).host_rows()}
    assert set(rows) == {("app", "db", 5432), ("app", "auth", 22)}
    assert rows[("app", "db", 5432)]["process"] == (
        "cron: pg_dump /etc/cron.d/backup:3; timer: pg_dump pg.timer "
        "(/etc/systemd/system/x.service:8)")
    assert (rows[("app", "auth", 22)]["service"], rows[("app", "auth", 22)]["type"]) == (
        "rsync", "file")


def test_udp_fact_is_bounded_and_keeps_listeners() -> None:
    """A DNS server's thousands of connected UDP sockets: 2000 kept, every listener kept."""
    from shangyun.facts.network import MAX_UDP, UdpSockets

    lines = ["#fmt ss", "State Recv-Q Send-Q Local Address:Port Peer Address:Port Process"]
    lines += [f"ESTAB 0 0 10.0.0.2:53 10.1.{i // 250}.{i % 250}:{40000 + i}"
              for i in range(2500)]
    lines += ["UNCONN 0 0 0.0.0.0:53 0.0.0.0:*", "#range 32768 60999"]
    socks = UdpSockets.process(lines)
    assert sum(s["state"] == "established" for s in socks) == MAX_UDP == 2000
    assert [s["local_port"] for s in socks if s["state"] == "listen"] == [53]
