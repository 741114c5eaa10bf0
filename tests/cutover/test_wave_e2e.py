"""End to end: ``run_wave`` moves a wave of three systems — VMs with vmdk (and vhd) disks,
a PostgreSQL-backed system, a MariaDB-backed system with files — onto the libvirt target
through S3 staging, then cuts each over (final delta, verify, production start, DNS switch
on moto's Route53, health checks); a failing health check rolls that system back; then
``rollback`` puts the bureau back as before."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions.rollback import rollback
from connectors.database import DbEndpoint
from connectors.database import mariadb as my
from connectors.database import postgres as pg
from connectors.dns import DnsRecord, Route53Dns
from connectors.journal.wave import open_journal
from flows.move import move_wave
from shangyun.errors import InProductionError
from shangyun.estate import Estate
from shangyun.estate.names import names_of
from shangyun.wave.steps import RunOptions
from tests.data.conftest import my_exec, pg_exec
from tests.discovery.sshd import SshdFarm
from tests.wave.conftest import Cloud, bucket, build_estate, cloud, moto_endpoint  # noqa: F401

MIB = 2**20


def _db(ep: DbEndpoint) -> dict[str, Any]:
    return {"host": ep.host, "port": ep.port, "user": ep.user, "dbname": ep.dbname}


@pytest.mark.parametrize("portal_health", [
    "/ok", pytest.param("/broken", marks=pytest.mark.slow)])  # health-failure rollback is
# also covered, faster, by tests/cutover/test_cutover_run.py
def test_wave_of_three_cut_over_then_rolled_back(
        portal_health: str, prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, farm: SshdFarm, web: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint], my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    root = tmp_path / "estate"
    est = build_estate(root, tmp_path / "images", n_systems=3)
    share = tmp_path / "share"
    (share / "sub").mkdir(parents=True)
    (share / "sub" / "档案.pdf").write_bytes(b"%PDF" + secrets.token_bytes(30_000))
    zone = f"w{secrets.token_hex(3)}.gov.cn"
    with Route53Dns(moto_endpoint) as dns:
        zid = dns.zone_id(zone, create=True)
        old = {n: DnsRecord.make(f"{n}.{zone}", "A", [f"127.0.1.{i}"], 300)
               for i, n in enumerate(["vm", "db", "portal"], 1)}
        for rec in old.values():
            dns.switch(zid, rec)

    def dns_of(name: str, ip: str) -> dict[str, Any]:
        return {"endpoint": moto_endpoint, "zone": zone,
                "records": [{"name": f"{name}.{zone}", "type": "A", "values": [ip]}]}

    srv = farm.servers[0]
    cutover = {"schema_version": 1, "soak_hours": 48, "systems": {
        "sys-01": {"dns": dns_of("vm", "127.0.2.1"),
                   "health": [{"kind": "tcp", "host": "127.0.0.1",
                               "port": int(web.rsplit(":", 1)[1])}]},
        "sys-02": {"databases": [{"id": "main", "engine": "postgresql",
                                  "source": _db(pg_pair[0]), "target": _db(pg_pair[1])}],
                   "dns": dns_of("db", "127.0.2.2"),
                   "health": [{"kind": "http", "url": f"{web}/ok", "expect_body": "UP"}]},
        "sys-03": {"databases": [{"id": "main", "engine": "mariadb",
                                  "source": _db(my_pair[0]), "target": _db(my_pair[1])}],
                   "files": [{"id": "share", "target": str(tmp_path / "landing" / "share"),
                              "source": {"host": "127.0.0.1", "port": srv.port,
                                         "user": "root", "key_file": str(farm.client_key),
                                         "known_hosts": str(farm.root / "known_hosts"),
                                         "path": str(share)}}],
                   "dns": dns_of("portal", "127.0.2.3"),
                   "health": [{"kind": "http", "url": f"{web}{portal_health}",
                               "expect_body": "UP", "attempts": 2, "backoff": 0.05}]},
    }}
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(cutover, allow_unicode=True),
                                               encoding="utf-8")
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket, part_size=5 * MIB)
    result = move_wave(str(root), 1, options=opts.to_dict())
    states = {s["id"]: s["state"] for s in result["systems"]}
    with Route53Dns(moto_endpoint) as dns, open_journal(root) as j:
        recs = {r.key: r for r in j.records(1)}
        assert recs["sys-02/verify"].payload["verified"]["main"]["public.people"]["rows"] == 500
        assert recs["sys-01/freeze"].payload["frozen"]["was_running"]
        if portal_health == "/ok":
            assert states == {"sys-01": "done", "sys-02": "done", "sys-03": "done"}, result
            for n, ip in [("vm", "127.0.2.1"), ("db", "127.0.2.2"), ("portal", "127.0.2.3")]:
                assert dns.get(zid, f"{n}.{zone}", "A").values == (ip,)
            assert recs["sys-03/verify"].payload["verified"]["share"] == {"files": 1}
            pg.verify(*pg_pair)
            my.verify(*my_pair)
            assert recs["sys-01/start"].payload["started"]["instances"][0]["test_mode"] is False
            assert all(recs[f"sys-0{i}/cutover"].status == "done" for i in (1, 2, 3))
        else:
            assert states == {"sys-01": "done", "sys-02": "done", "sys-03": "rolled_back"}
            assert "health check" in next(s["error"] for s in result["systems"]
                                          if s["id"] == "sys-03")
            assert dns.get(zid, f"portal.{zone}", "A") == old["portal"]
            assert dns.get(zid, f"db.{zone}", "A").values == ("127.0.2.2",)
            assert not my.database_exists(my_pair[1])
            assert not (tmp_path / "landing" / "share").exists()
    # cut-over systems are production: a plain rollback is refused, nothing undone
    with pytest.raises(InProductionError, match=r"cut over \(in production\).*--discard-prod"
                       ) as refused:
        rollback(str(root), 1)
    names = names_of(Estate.load(root), "system")
    # the refusal names the cut-over systems by name (a person reads it), not by id
    assert all(names[s] in str(refused.value) for s in ("sys-01", "sys-02")), refused.value
    assert "sys-01" not in str(refused.value)
    with open_journal(root) as j:
        assert j.last(1, "sys-02", "sys-02/cutover").status == "done"
    assert pg.database_exists(pg_pair[1])
    # the whole wave rolled back from the journal, on purpose: the bureau is as before
    reports = rollback(str(root), 1, discard_production_writes=True)
    assert all(r.ok for r in reports), [r.failed for r in reports]
    with Route53Dns(moto_endpoint) as dns:
        for n, rec in old.items():
            assert dns.get(zid, f"{n}.{zone}", "A") == rec
    assert not pg.database_exists(pg_pair[1]) and not my.database_exists(my_pair[1])
    assert pg_exec(pg_pair[0], "SELECT count(*) FROM people") == [(500,)]
    assert my_exec(my_pair[0], "SELECT COUNT(*) FROM people") == [(400,)]
    assert (share / "sub" / "档案.pdf").exists()
    assert list(cloud.pool_path.iterdir()) == []
    with open_journal(root) as j:
        discarded = [e for e in j.j.audit_entries()
                     if e.action == "wave.rollback.discard_production_writes"]
    assert {e.system for e in discarded} >= {"sys-01", "sys-02"}
    assert {d: p.exists() for d, p in est.images.items()} == {d: True for d in est.images}
