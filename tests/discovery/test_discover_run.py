"""A whole discovery against real sshd: every failure kind in one run, none stopping the
others; the estate and facts/ written; the CLI and the Prefect flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.ssh import discovery_pool
from shangyun.cli import main
from shangyun.discovery.engine import run_discovery
from shangyun.discovery.model import Defaults, SSHOptions
from shangyun.errors import ShangyunError
from shangyun.estate import Estate
from tests.discovery.conftest import Hosts


def _estate(path: Path, h: Hosts, silent: int, dead: int) -> dict[str, int]:
    ports = {"app1": h.good[0].port, "app2": h.good[1].port, "newkey": h.unknown.port,
             "changed": h.changed.port, "wrongkey": h.wrong_key.port, "hung": silent,
             "gone": dead}
    est = Estate.from_records({"name": "disc-test"}, {
        "bureaus": [{"id": "b1", "name": "一局", "kind": "bureau"}],
        "systems": [{"id": "s1", "name": "办公", "bureau_id": "b1"}],
        "hosts": [{"id": hid, "hostname": hid, "ip": "127.0.0.1", "ssh_port": port,
                   "bureau_id": "b1", "system_id": "s1", "os": "CentOS", "cpu_cores": 64}
                  for hid, port in ports.items()],
    })
    est.save(path)
    return ports


def _options(h: Hosts, **kw: object) -> SSHOptions:
    return SSHOptions(str(h.key), str(h.known_hosts), Defaults(), concurrency=8,
                      connect_timeout=1.0, retries=1, sample_seconds=0.1, **kw)  # type: ignore[arg-type]


EXPECTED = {"app1": "ok", "app2": "ok", "newkey": "unknown-host-key",
            "changed": "changed-host-key", "wrongkey": "auth-failed", "hung": "timeout",
            "gone": "unreachable"}


def test_every_host_ends_in_its_own_status(tmp_path: Path, sshd_hosts: Hosts,
                                           silent_port: int, dead_port: int) -> None:
    estate_dir = tmp_path / "estate"
    _estate(estate_dir, sshd_hosts, silent_port, dead_port)
    seen: list[str] = []
    run = run_discovery(str(estate_dir), _options(sshd_hosts), discovery_pool,
                        on_result=lambda r: seen.append(r.target.host_id))
    statuses = {r.target.host_id: r.status for r in run.results}
    assert statuses == EXPECTED
    assert sorted(seen) == sorted(EXPECTED)
    attempts = {r.target.host_id: r.attempts for r in run.results}
    assert attempts["gone"] == 2 and attempts["hung"] == 2      # transient: retried once
    assert attempts["wrongkey"] == 1 and attempts["newkey"] == 1  # never retried
    for r in run.results:
        if not r.ok:
            assert r.target.host_id in r.reason

    est = Estate.load(estate_dir)
    hosts = {h["id"]: h for h in est.rows("hosts")}
    assert {k: hosts[k]["discovery_status"] for k in EXPECTED} == EXPECTED
    assert hosts["app1"]["memory_gb"] and hosts["app1"]["disk_gb"]
    # these sshd run in this machine's container: discovery says so in hosts.kind
    if facts_virt_kind(estate_dir, "app1") == "container":
        assert hosts["app1"]["kind"] == "container"
    assert hosts["app1"]["cpu_util_pct"] is not None
    # the ledger said CentOS / 64 cores: kept, and listed as conflicts
    assert hosts["app1"]["os"] == "CentOS" and hosts["app1"]["cpu_cores"] == 64
    conflicts = {(c["key"], c["column"]) for c in est.rows("conflicts")}
    assert ("app1", "cpu_cores") in conflicts and ("app1", "os") in conflicts
    assert any(d["host_id"] == "app1" for d in est.rows("disks"))

    facts = json.loads((estate_dir / "facts" / "app1.json").read_text())
    assert facts["status"] == "ok" and facts["facts"]["kernel"]["release"]
    gone = json.loads((estate_dir / "facts" / "gone.json").read_text())
    assert gone["status"] == "unreachable" and "refused" in gone["reason"]
    summary = json.loads((estate_dir / "facts" / "discovery.json").read_text())
    assert summary["counts"]["ok"] == 2 and summary["total"] == 7

    # a second run adds no new conflicts and keeps one row per host
    again = run_discovery(str(estate_dir), _options(sshd_hosts), discovery_pool)
    assert again.applied.conflicts == 0
    assert len(Estate.load(estate_dir).rows("hosts")) == 7


def test_extra_target_and_bad_target(tmp_path: Path, sshd_hosts: Hosts, dead_port: int) -> None:
    estate_dir = tmp_path / "estate"
    Estate.from_records({"name": "x"}, {"bureaus": [{"id": "b1", "name": "B",
                                                     "kind": "bureau"}]}).save(estate_dir)
    s = sshd_hosts.good[2]
    run = run_discovery(str(estate_dir), _options(sshd_hosts), discovery_pool,
                        extra_targets=[f"127.0.0.1:{s.port}"])
    assert [r.status for r in run.results] == ["ok"]
    est = Estate.load(estate_dir)
    (host,) = est.rows("hosts")
    assert host["bureau_id"] == "unassigned" and host["discovery_status"] == "ok"
    assert {b["id"] for b in est.rows("bureaus")} == {"b1", "unassigned"}
    # a target never reached is no host: the estate keeps the one it had
    run = run_discovery(str(estate_dir), _options(sshd_hosts), discovery_pool,
                        extra_targets=[f"127.0.0.1:{dead_port}"])
    assert [r.status for r in run.results] != ["ok"]
    assert [h["id"] for h in Estate.load(estate_dir).rows("hosts")] == [host["id"]]
    assert "not added to the estate (127.0.0.1)" in run.applied.notes[-1]

    with pytest.raises(ShangyunError, match="not a port"):
        run_discovery(str(estate_dir), _options(sshd_hosts), discovery_pool,
                      extra_targets=["h:abc"])


def test_cli_json(tmp_path: Path, sshd_hosts: Hosts, silent_port: int,
                  dead_port: int) -> None:
    estate_dir = tmp_path / "estate"
    _estate(estate_dir, sshd_hosts, silent_port, dead_port)
    res = CliRunner().invoke(main, [
        "discover", "--estate", str(estate_dir), "--key", str(sshd_hosts.key),
        "--known-hosts", str(sshd_hosts.known_hosts), "--timeout", "1", "--retries", "0",
        "--sample-seconds", "0", "--concurrency", "4", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {h["host_id"]: h["status"] for h in data["hosts"]} == EXPECTED, data["hosts"]
    # updated = the hosts whose facts were merged (app1, app2); the five others were not
    # reached (their status is recorded, nothing else): "Hosts updated 7" beside "ok 2"
    # told an operator every host had been refreshed
    assert data["applied"]["hosts_updated"] == 2, data["applied"]
    res = CliRunner().invoke(main, [
        "discover", "--estate", str(estate_dir), "--key", str(sshd_hosts.key),
        "--known-hosts", str(sshd_hosts.known_hosts), "--timeout", "1", "--retries", "0",
        "--sample-seconds", "0", "--concurrency", "4"])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert "Hosts updated 2, added 0" in said and "5 not reached" in said, said


def test_cli_needs_a_key(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["discover", "--estate", str(tmp_path)], env={
        "SHANGYUN_SSH_KEY": ""})
    assert res.exit_code == 1 and "--key FILE is required" in res.output


def test_cli_bad_estate_is_one_clear_error(tmp_path: Path, sshd_hosts: Hosts) -> None:
    res = CliRunner().invoke(main, ["discover", "--estate", str(tmp_path / "none"),
                                    "--key", str(sshd_hosts.key)])
    assert res.exit_code == 1 and "no such estate folder" in res.output
    assert not (tmp_path / "none").exists()  # nothing created
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["discover", "--estate", str(tmp_path / "empty"),
                                    "--key", str(sshd_hosts.key)])
    assert res.exit_code == 1 and "not an estate" in res.output
    assert list((tmp_path / "empty").iterdir()) == []


def test_flow(tmp_path: Path, sshd_hosts: Hosts, prefect_harness: None, dead_port: int) -> None:
    from prefect.client.orchestration import get_client

    from flows.discovery import run_flow

    estate_dir = tmp_path / "estate"
    Estate.from_records({"name": "f"}, {
        "bureaus": [{"id": "b1", "name": "B", "kind": "bureau"}],
        "hosts": [{"id": "a", "hostname": "a", "ip": "127.0.0.1", "bureau_id": "b1",
                   "ssh_port": sshd_hosts.good[0].port},
                  {"id": "z", "hostname": "z", "ip": "127.0.0.1", "bureau_id": "b1",
                   "ssh_port": dead_port}]}).save(estate_dir)
    out = run_flow(concurrency=4, estate_dir=str(estate_dir), key_file=str(sshd_hosts.key),
                   known_hosts=str(sshd_hosts.known_hosts), retries=0, connect_timeout=1.0,
                   sample_seconds=0.0)
    assert out["counts"] == {"ok": 1, "unreachable": 1}
    hosts = {h["id"]: h for h in Estate.load(estate_dir).rows("hosts")}
    assert hosts["a"]["discovery_status"] == "ok"
    assert hosts["z"]["discovery_status"] == "unreachable"
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts()
    md = [a for a in arts if a.key == "discovery-summary"]
    assert md and "unreachable" in str(md[0].data)


def test_cli_flow_json(tmp_path: Path, sshd_hosts: Hosts, prefect_harness: None) -> None:
    estate_dir = tmp_path / "estate"
    Estate.from_records({"name": "f"}, {
        "bureaus": [{"id": "b1", "name": "B", "kind": "bureau"}],
        "hosts": [{"id": "a", "hostname": "a", "ip": "127.0.0.1", "bureau_id": "b1",
                   "ssh_port": sshd_hosts.good[1].port},
                  {"id": "n", "hostname": "n", "ip": "127.0.0.1", "bureau_id": "b1",
                   "ssh_port": sshd_hosts.unknown.port}]}).save(estate_dir)
    res = CliRunner().invoke(main, [
        "discover", "--estate", str(estate_dir), "--key", str(sshd_hosts.key),
        "--known-hosts", str(sshd_hosts.known_hosts), "--sample-seconds", "0", "--flow",
        "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output[res.output.index("{"):])
    assert data["counts"] == {"ok": 1, "unknown-host-key": 1}


def facts_virt_kind(estate_dir: Path, host_id: str) -> str:
    """What the ``virt`` fact of ``host_id`` said its kind is (vm, container, physical)."""
    doc = json.loads((estate_dir / "facts" / f"{host_id}.json").read_text())
    return str(doc["facts"]["virt"]["kind"])
