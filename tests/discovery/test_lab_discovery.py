"""End to end against the lab: what discovery finds is what the lab set up (OS looks, services,
databases, long-lived connections → dependencies, system roll-up, hypervisor domains)."""

from __future__ import annotations

import json
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from connectors.hypervisor import list_domains
from connectors.ssh import discovery_pool
from lab.oses import OSES
from shangyun.discovery.engine import run_discovery
from shangyun.discovery.hypervisors import inventory_rows
from shangyun.discovery.model import Defaults, SSHOptions
from shangyun.estate import Estate

pytestmark = pytest.mark.lab
Discovered = tuple[Any, Path, Any, set[tuple[str, str, int]]]


def lab_estate(state: Any, path: Path, *, with_ips: bool = True) -> None:
    """An estate made from the lab's own description (bureaus, systems, hosts by IP)."""
    Estate.from_records({"name": "lab"}, {
        "bureaus": [{"kind": "bureau", **b} for b in state.bureaus],
        "systems": [dict(s) for s in state.systems],
        "hosts": [{"id": h.id, "hostname": h.hostname, "ip": h.ip if with_ips else "",
                   "bureau_id": h.bureau, "system_id": h.system, "ssh_port": h.port}
                  for h in state.hosts],
    }).save(path)


def established_lab_connections(lab: Any, timeout: float = 20.0) -> set[tuple[str, str, int]]:
    """The lab's declared long-lived connections that are really up, as ``ss`` inside each
    source host's namespace shows them (independent of discovery). Waits (bounded) for all
    of them; any still missing are reported as a warning (a lab defect, not discovery's)."""
    deadline = time.monotonic() + timeout
    want = {(h.id, dep.target_host, dep.port): (h, dep) for h in lab.hosts
            for dep in h.dependencies}
    up: set[tuple[str, str, int]] = set()
    while True:
        up = set()
        for key, (h, dep) in want.items():
            out = subprocess.run(["ip", "netns", "exec", h.netns, "ss", "-tnH", "state",
                                  "established"], capture_output=True, text=True).stdout
            if f"{dep.target_ip}:{dep.port}" in set(out.split()):
                up.add(key)
        if up == set(want) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if up != set(want):
        warnings.warn(f"lab connections never established: {sorted(set(want) - up)}",
                      stacklevel=2)
    return up


@pytest.fixture(scope="module")
def discovered(lab: Any, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Any, Path, Any, set[tuple[str, str, int]]]:
    estate_dir = tmp_path_factory.mktemp("lab-discovery") / "estate"
    lab_estate(lab, estate_dir)
    truth = established_lab_connections(lab)
    assert len(truth) >= 3, "the lab set up almost none of its connections"
    roots = {b: tuple(folders) for b, folders in lab.datastore_roots().items()}
    hv = inventory_rows([f"{hv.bureau}={hv.uri}" for hv in lab.hypervisors], list_domains,
                        roots)
    options = SSHOptions(lab.client_key, lab.known_hosts, Defaults(user=lab.user),
                         concurrency=8, connect_timeout=5.0, retries=1, sample_seconds=0.2)
    run = run_discovery(str(estate_dir), options, discovery_pool, hypervisor_rows=hv)
    return lab, estate_dir, run, truth


def test_every_lab_host_is_discovered(discovered: Discovered) -> None:
    lab, _, run, _ = discovered
    assert {r.target.host_id: r.status for r in run.results} == \
        {h.id: "ok" for h in lab.hosts}


def test_os_services_and_databases_match_the_lab(discovered: Discovered) -> None:
    lab, estate_dir, _, _ = discovered
    for h in lab.hosts:
        doc = json.loads((estate_dir / "facts" / f"{h.id}.json").read_text())
        facts = doc["facts"]
        look = OSES[h.os]
        assert facts["os"]["id"] == look.os_id, h.id
        assert facts["os"]["version"] == look.version, h.id
        assert facts["hostname"] == h.hostname
        assert h.ip in {a for i in facts["interfaces"] for a in i["addresses"]}
        listening = {(c["local_port"], c["process"]) for c in facts["tcp"]
                     if c["state"] == "listen"}
        for svc in h.services:
            assert (svc.port, svc.process) in listening, (h.id, svc)
        if h.database is not None:
            engines = {e["engine"]: e for e in facts["databases"]}
            assert engines[h.database.engine]["running"], h.id
            assert h.database.port in engines[h.database.engine]["ports"]


def test_dependencies_match_the_lab(discovered: Discovered) -> None:
    lab, estate_dir, _, truth = discovered
    est = Estate.load(estate_dir)
    deps = est.rows("dependencies")
    host_edges = {(d["source_host"], d["target_host"], d["port"]): d for d in deps
                  if d["source_host"]}
    expected = truth  # the lab's declared connections that are really up
    assert expected <= set(host_edges)
    for key in expected:
        edge = host_edges[key]
        assert edge["origin"] == "observed" and edge["seen_count"] >= 1
        src = lab.host(key[0])
        (dep,) = [d for d in src.dependencies if (d.target_host, d.port) == key[1:]]
        target = lab.host(dep.target_host)
        server_procs = {s.process for s in target.services if s.port == dep.port}
        assert edge["process"] in server_procs | {dep.process}
    extra = set(host_edges) - expected
    assert not extra, f"edges the lab did not set up: {extra}"
    systems = {(d["source_system"], d["target_system"], d["port"]) for d in deps
               if not d["source_host"]}
    want = {(lab.host(a).system, lab.host(b).system, p) for a, b, p in expected
            if lab.host(a).system != lab.host(b).system}
    assert systems == want


def test_unused_listening_ports_are_kept_as_facts(discovered: Discovered) -> None:
    lab, estate_dir, _, truth = discovered
    used = {(target, port) for _, target, port in truth}
    for h in lab.hosts:
        doc = json.loads((estate_dir / "facts" / f"{h.id}.json").read_text())
        unused = {u["port"] for u in doc["derived"]["unused_listening_ports"]}
        for svc in h.services:
            assert (svc.port in unused) == ((h.id, svc.port) not in used), (h.id, svc.port)


def test_hypervisor_domains_are_merged(discovered: Discovered) -> None:
    lab, estate_dir, _, _ = discovered
    est = Estate.load(estate_dir)
    hosts = {h["id"]: h for h in est.rows("hosts")}
    for hv in lab.hypervisors:
        for dom in hv.domains:
            assert dom.name in hosts and hosts[dom.name]["kind"] == "vm"
            assert hosts[dom.name]["bureau_id"] == hv.bureau
    est.check()


def test_bureau_jump_host(lab: Any, tmp_path: Path) -> None:
    """Bureau B02 is reached through B01's auth host (bureaus.ssh_jump): its hosts see the
    jump host as their SSH client, and that session is not mistaken for a dependency."""
    jump = lab.host("b01-auth01")
    estate_dir = tmp_path / "estate"
    lab_estate(lab, estate_dir)
    est = Estate.load(estate_dir)
    bureaus = est.rows("bureaus")
    for b in bureaus:
        if b["id"] == "B02":
            b["ssh_jump"] = f"{lab.user}@{jump.ip}:{jump.port}"
    est.set_rows("bureaus", bureaus)
    est.save(estate_dir)
    options = SSHOptions(lab.client_key, lab.known_hosts, Defaults(user=lab.user),
                         concurrency=8, connect_timeout=5.0, retries=1, sample_seconds=0.0)
    run = run_discovery(str(estate_dir), options, discovery_pool)
    b02 = [r for r in run.results if r.target.bureau == "B02"]
    assert b02 and all(r.ok for r in b02)
    for r in b02:
        assert r.target.jump.endswith(f"{jump.ip}:{jump.port}")
        assert r.facts["session"]["client_ip"] == jump.ip
    for r in run.results:
        if r.target.bureau == "B01":
            assert r.facts["session"]["client_ip"] != jump.ip
    deps = Estate.load(estate_dir).rows("dependencies")
    assert not [d for d in deps if d["port"] == 22]
