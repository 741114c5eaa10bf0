"""What the fail-back tests share: an estate whose one system (``sys-01``: a VM, a
PostgreSQL and a MariaDB database, a file set over a real sshd, a DNS record on moto)
is cut over by a real wave run, and helpers that read both sides."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from connectors.database import DbEndpoint
from connectors.dns import DnsRecord, Route53Dns
from connectors.journal.wave import open_journal
from shangyun.wave.steps import RunOptions
from tests.discovery.sshd import SshdFarm
from tests.wave.conftest import FORMATS, Cloud, build_estate

MIB = 2**20
OLD_IP, NEW_IP = "127.0.1.1", "127.0.2.1"


@dataclass
class CutOver:
    """A one-system estate ready to cut over (or cut over), and where its data lives."""

    root: Path
    share: Path
    landing: Path
    pg: tuple[DbEndpoint, DbEndpoint]
    my: tuple[DbEndpoint, DbEndpoint] | None
    zone_id: str
    name: str
    dns_endpoint: str
    opts: RunOptions

    def dns_values(self) -> tuple[str, ...]:
        """What the system's A record holds now."""
        with Route53Dns(self.dns_endpoint) as dns:
            rec = dns.get(self.zone_id, self.name, "A")
        assert rec is not None
        return rec.values

    def state(self) -> str:
        """``sys-01``'s state as ``wave status`` computes it."""
        from shangyun.wave.journal_port import wave_status

        with open_journal(self.root) as j:
            status = wave_status(j, 1)
        return next(s["state"] for s in status["systems"] if s["id"] == "sys-01")

    def step_status(self, key: str) -> str | None:
        """The latest journal status of ``sys-01``'s step ``key`` (``sys-01/`` added)."""
        with open_journal(self.root) as j:
            rec = j.last(1, "sys-01", f"sys-01/{key}")
        return rec.status if rec else None


def _db(ep: DbEndpoint) -> dict[str, Any]:
    return {"host": ep.host, "port": ep.port, "user": ep.user, "dbname": ep.dbname}


def make_estate(tmp_path: Path, cloud: Cloud, moto_endpoint: str, bucket: str, web: str,
                farm: SshdFarm, pg_pair: tuple[DbEndpoint, DbEndpoint],
                my_pair: tuple[DbEndpoint, DbEndpoint] | None,
                dns_endpoint: str | None = None) -> CutOver:
    """The estate, its cutover file, the source share and the bureau's DNS record (on
    ``dns_endpoint``, else on ``moto_endpoint``)."""
    dns_at = dns_endpoint or moto_endpoint
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=4)
    share = tmp_path / "share"
    (share / "docs").mkdir(parents=True)
    (share / "docs" / "公文.txt").write_text("正文\n", encoding="utf-8")
    (share / "upload.bin").write_bytes(secrets.token_bytes(20_000))
    (share / "old.txt").write_text("deleted on the target later\n")
    landing = tmp_path / "landing" / "share"
    zone = f"f{secrets.token_hex(3)}.gov.cn"
    name = f"app.{zone}"
    with Route53Dns(dns_at) as dns:
        zid = dns.zone_id(zone, create=True)
        dns.switch(zid, DnsRecord.make(name, "A", [OLD_IP], 300))
    srv = farm.servers[0]
    dbs = [{"id": "pg", "engine": "postgresql", "source": _db(pg_pair[0]),
            "target": _db(pg_pair[1])}]
    if my_pair is not None:
        dbs.append({"id": "my", "engine": "mariadb", "source": _db(my_pair[0]),
                    "target": _db(my_pair[1])})
    spec = {"schema_version": 1, "systems": {"sys-01": {
        "databases": dbs,
        "files": [{"id": "share", "target": str(landing),
                   "source": {"host": "127.0.0.1", "port": srv.port, "user": "root",
                              "key_file": str(farm.client_key),
                              "known_hosts": str(farm.root / "known_hosts"),
                              "path": str(share)}}],
        "dns": {"endpoint": dns_at, "zone": zone,
                "records": [{"name": name, "type": "A", "values": [NEW_IP]}]},
        "health": [{"kind": "http", "url": f"{web}/ok", "expect_body": "UP"}]}}}
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True),
                                               encoding="utf-8")
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket, part_size=5 * MIB)
    return CutOver(root, share, landing, pg_pair, my_pair, zid, name, dns_at, opts)


def cut_over(c: CutOver) -> None:
    """Run wave 1 (Prefect, the real flow): ``sys-01`` cuts over."""
    from flows.wave import run_wave

    out = run_wave(str(c.root), 1, options=c.opts.to_dict())
    assert out["state"] == "done", out
    assert c.step_status("cutover") == "done"
    assert c.dns_values() == (NEW_IP,)


def pg_write(ep: DbEndpoint, statement: str, *, through_freeze: bool = False) -> None:
    """One statement on ``ep`` (``through_freeze``: as shangyun's own writes do)."""
    opts = {"options": "-c default_transaction_read_only=off"} if through_freeze else {}
    with psycopg.connect(host=ep.host, port=ep.port, user=ep.user, dbname=ep.dbname,
                         autocommit=True, **opts) as conn:
        conn.execute(statement)


def pg_writable(ep: DbEndpoint) -> bool:
    """Whether an ordinary write (an application's) is accepted by ``ep``."""
    try:
        pg_write(ep, "INSERT INTO log (line) VALUES ('probe')")
    except psycopg.errors.ReadOnlySqlTransaction:
        return False
    pg_write(ep, "DELETE FROM log WHERE line = 'probe'")
    return True
