"""``kill -9`` of ``shangyun wave run`` (a real CLI process) between starting the target
and switching DNS (the DNS API hangs): ``wave status`` shows the run crashed, and ``wave
rollback`` — or ``wave resume`` — reconciles from the journal alone: one target instance,
one DNS change, the source (its PostgreSQL database frozen read-only) restored."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from click.testing import CliRunner

from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from connectors.dns import DnsRecord, Route53Dns
from connectors.journal.wave import open_journal
from shangyun.cli import main
from tests.cutover.test_crash import hanging_endpoint  # noqa: F401  (fixture)
from tests.data.conftest import pg_exec
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)

ROOT = Path(__file__).resolve().parents[2]


def _cutover(pg_src: DbEndpoint, pg_dst: DbEndpoint, dns_endpoint: str, zone: str,
             web: str) -> dict[str, Any]:
    db = {"id": "main", "engine": "postgresql",
          "source": {"host": pg_src.host, "port": pg_src.port, "user": pg_src.user,
                     "dbname": pg_src.dbname},
          "target": {"host": pg_dst.host, "port": pg_dst.port, "user": pg_dst.user,
                     "dbname": pg_dst.dbname}}
    return {"schema_version": 1, "systems": {"sys-01": {
        "freeze_databases": True, "databases": [db],
        "dns": {"endpoint": dns_endpoint, "zone": zone,
                "records": [{"name": f"app.{zone}", "type": "A", "values": ["127.0.2.1"]}]},
        "health": [{"kind": "tcp", "host": "127.0.0.1", "port": int(web.rsplit(":", 1)[1])}],
    }}}


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _writable(ep: DbEndpoint) -> bool:
    try:
        pg_exec(ep, "INSERT INTO log (line) VALUES ('after the crash')")
    except psycopg.errors.ReadOnlySqlTransaction:
        return False
    return True


@pytest.mark.parametrize("after", ["rollback", "resume"])
def test_cli_run_killed_before_dns_then_reconciled(
        after: str, request: pytest.FixtureRequest, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, web: str, hanging_endpoint: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint], used_prefect_home: Path) -> None:
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=4)
    zone = f"k{secrets.token_hex(3)}.gov.cn"
    old = DnsRecord.make(f"app.{zone}", "A", ["127.0.1.1"], 300)
    with Route53Dns(moto_endpoint) as dns:
        zid = dns.zone_id(zone, create=True)
        dns.switch(zid, old)
    cut = root / "plan" / "cutover.yaml"
    cut.write_text(yaml.safe_dump(_cutover(*pg_pair, hanging_endpoint, zone, web)))
    run_args = ["--estate", str(root), "--target", "libvirt", "--target-uri", cloud.uri,
                "--pool", cloud.pool, "--staging", str(tmp_path / "staging"),
                "--s3-endpoint", moto_endpoint, "--bucket", bucket]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(used_prefect_home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    child = subprocess.Popen(
        [sys.executable, "-c", "from shangyun.cli import main; main()", "wave", "run", "1",
         *run_args, "--json"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if (root / "journal.db").exists():
                with open_journal(root) as j:
                    if j.last(1, "sys-01", "sys-01/dns") is not None:
                        start = j.last(1, "sys-01", "sys-01/start")
                        break
            if child.poll() is not None:
                err = child.stderr.read().decode()[-3000:] if child.stderr else ""
                raise AssertionError(f"the run ended before the DNS switch: {err}")
            time.sleep(0.1)
        else:
            raise AssertionError("the run never reached the DNS switch")
        # kill -9 while the DNS API hangs: the orchestrator and everything it started (its
        # ephemeral Prefect server too), as when the machine running it dies
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert start is not None and start.status == "done"
    assert not _writable(pg_pair[0])  # frozen read-only by the dead run
    with Route53Dns(moto_endpoint) as dns:
        assert dns.get(zid, f"app.{zone}", "A") == old  # not switched

    st = _cli("wave", "status", "1", "--estate", str(root), "--json")
    assert st.exit_code == 0, st.output
    status = json.loads(st.output)
    assert status["state"] == "crashed" and status["runs"][-1]["status"] == "crashed"

    if after == "resume":
        request.getfixturevalue("prefect_harness")
        cut.write_text(yaml.safe_dump(_cutover(*pg_pair, moto_endpoint, zone, web)))
        res = _cli("wave", "resume", "1", "--estate", str(root), "--json")
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["state"] == "done"
        with open_journal(root) as j:
            instances = j.last(1, "sys-01", "sys-01/start").payload["started"]["instances"]
            dns_rec = j.last(1, "sys-01", "sys-01/dns")
        assert len(instances) == 1 and instances[0]["test_mode"] is False
        assert dns_rec.status == "done"
        prev = dns_rec.payload["previous"]["records"][0]["previous"]
        assert prev["values"] == ["127.0.1.1"]  # the record before the wave, not our own
        with Route53Dns(moto_endpoint) as dns:
            assert dns.get(zid, f"app.{zone}", "A").values == ("127.0.2.1",)
        pg.verify(*pg_pair)
        refused = _cli("wave", "rollback", "1", "--estate", str(root), "--json")
        assert refused.exit_code == 1 and "cut over (in production)" in refused.output
    # cut over after the resume: going back drops its production writes, on purpose only
    discard = ["--discard-production-writes"] if after == "resume" else []
    rb = _cli("wave", "rollback", "1", "--estate", str(root), "--json", *discard)
    assert rb.exit_code == 0, rb.output
    assert json.loads(rb.stdout)["ok"]
    with Route53Dns(moto_endpoint) as dns:
        assert dns.get(zid, f"app.{zone}", "A") == old
    assert _writable(pg_pair[0])  # the source is back as before
    assert not pg.database_exists(pg_pair[1]) and pg.database_exists(pg_pair[0])
    assert list(cloud.pool_path.iterdir()) == []
    again = _cli("wave", "rollback", "1", "--estate", str(root), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["ok"]
    st = json.loads(_cli("wave", "status", "1", "--estate", str(root), "--json").output)
    assert not [r for r in st["runs"] if r["status"] == "running"]
