"""``kill -9`` of ``shangyun wave run`` after the DNS switch, before the health check
passed (the run is dead; DNS sends the users to the target), then the application writes
on the target. ``wave resume`` re-ran the final delta: the tables the target had changed
were reloaded from the frozen source and the writes were gone — and the run ended cut
over with everything verified. ``wave rollback`` dropped the target database with them.

Once DNS was switched the target may hold production writes: the resume goes on from the
health check (no delta, no verify again), and a rollback is refused while the target's
tables differ from what was verified, naming them (``--discard-production-writes`` drops
them on purpose). Real CLI processes, PostgreSQL, moto (S3, Route53), libvirt test driver."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from connectors.dns import DnsRecord, Route53Dns
from connectors.journal.wave import open_journal
from shangyun.journal.records import NoJournal
from tests.data.conftest import pg_exec
from tests.support import cli_process as _cli
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)

ROOT = Path(__file__).resolve().parents[2]


def _cutover(src: DbEndpoint, dst: DbEndpoint, moto: str, zone: str, health: str,
             attempts: int) -> dict[str, Any]:
    def side(ep: DbEndpoint) -> dict[str, Any]:
        return {"host": ep.host, "port": ep.port, "user": ep.user, "dbname": ep.dbname}

    return {"schema_version": 1, "systems": {"sys-01": {
        "databases": [{"id": "main", "engine": "postgresql", "source": side(src),
                       "target": side(dst)}],
        "dns": {"endpoint": moto, "zone": zone,
                "records": [{"name": f"app.{zone}", "type": "A", "values": ["127.0.2.1"]}]},
        "health": [{"kind": "http", "url": health, "expect_body": "UP", "attempts": attempts,
                    "backoff": 0.5, "timeout": 1}]}}}


def _done(p: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str, str]:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=30)
    return p.returncode, out, err


@pytest.mark.parametrize("after", ["resume", "rollback", "resume-unhealthy"])
def test_writes_on_the_target_after_the_dns_switch_survive_resume_and_rollback(
        after: str, tmp_path: Path, cloud: Cloud, moto_endpoint: str,  # noqa: F811
        bucket: str, web: str, pg_pair: tuple[DbEndpoint, DbEndpoint],  # noqa: F811
        used_prefect_home: Path) -> None:
    src, dst = pg_pair
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=1)
    zone = f"d{secrets.token_hex(3)}.gov.cn"
    with Route53Dns(moto_endpoint) as dns:
        zid = dns.zone_id(zone, create=True)
        dns.switch(zid, DnsRecord.make(f"app.{zone}", "A", ["127.0.1.1"], 300))
    cut = root / "plan" / "cutover.yaml"
    # the health check keeps failing (the app on the target is still starting) ...
    cut.write_text(yaml.safe_dump(_cutover(src, dst, moto_endpoint, zone, f"{web}/broken",
                                           attempts=200)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(used_prefect_home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "SHANGYUN_AUDIT_KEY": str(tmp_path / "audit.key")}
    common = ["--estate", str(root), "--json"]
    run = _cli(["wave", "run", "1", *common, "--target", "libvirt", "--target-uri", cloud.uri,
                "--pool", cloud.pool, "--staging", str(tmp_path / "staging"),
                "--s3-endpoint", moto_endpoint, "--bucket", bucket], env)
    try:
        deadline, switched = time.monotonic() + 180, False
        while not switched and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate(timeout=30)
            if (root / "journal.db").exists():
                # the run makes the file before its tables: not a journal yet
                with contextlib.suppress(NoJournal), open_journal(root, create=False) as j:
                    rec = j.last(1, "sys-01", "sys-01/dns")
                    switched = rec is not None and rec.status == "done"
            time.sleep(0.05)
        assert switched, "the run never switched DNS"
        os.killpg(run.pid, signal.SIGKILL)  # ... and the machine running the wave dies
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        run.communicate(timeout=30)
    # DNS sends the users to the target: they write there
    pg_exec(dst, "INSERT INTO people (name) VALUES ('written on the target')")
    pg_exec(dst, "UPDATE orders SET amount = 0 WHERE id = 7")
    on_target = pg_exec(dst, "SELECT count(*) FROM people")[0]

    if after == "resume":  # the app is up now: the resume finishes the cutover
        cut.write_text(yaml.safe_dump(_cutover(src, dst, moto_endpoint, zone, f"{web}/ok",
                                               attempts=3)))
        rc, out, err = _done(_cli(["wave", "resume", "1", *common], env))
        assert rc == 0, (out, err[-3000:])
        assert json.loads(out)["wave_state"] == "cut_over", out
        assert pg_exec(dst, "SELECT count(*) FROM people") == [on_target]
        assert pg_exec(dst, "SELECT count(*) FROM people WHERE name = "
                            "'written on the target'") == [(1,)]
        assert pg_exec(dst, "SELECT amount FROM orders WHERE id = 7") == [(0,)]
        with Route53Dns(moto_endpoint) as dns:
            assert dns.get(zid, f"app.{zone}", "A").values == ("127.0.2.1",)
        return

    if after == "resume-unhealthy":  # the app on the target still fails its check: the
        # resume's failure must not undo the system (seen: the target database dropped with
        # the users' writes, DNS back on the frozen source)
        cut.write_text(yaml.safe_dump(_cutover(src, dst, moto_endpoint, zone, f"{web}/broken",
                                               attempts=2)))
        rc, out, err = _done(_cli(["wave", "resume", "1", *common], env))
        assert rc == 1, (out, err[-3000:])
        system = json.loads(out)["systems"][0]
        assert system["state"] == "failed", system
        assert "public.people" in system["error"], system
        # each command it prints names the estate it was given (seen: none did, and a team
        # whose estate is not $SHANGYUN_ESTATE's copied a command that failed)
        printed = re.findall(r"'(shangyun [^']+)'", system["error"])
        assert f"shangyun wave resume 1 --estate {root}" in printed, system
        assert (f"shangyun wave rollback 1 --system 审批系统 --fail-back --estate {root}"
                in printed), system
        assert pg_exec(dst, "SELECT count(*) FROM people") == [on_target]
        with Route53Dns(moto_endpoint) as dns:
            assert dns.get(zid, f"app.{zone}", "A").values == ("127.0.2.1",)
        # the app is up now: the resume, run as printed with $SHANGYUN_ESTATE naming no
        # estate, finishes the cutover with the users' writes
        cut.write_text(yaml.safe_dump(_cutover(src, dst, moto_endpoint, zone, f"{web}/ok",
                                               attempts=3)))
        elsewhere = {**env, "SHANGYUN_ESTATE": str(tmp_path / "not-this-estate")}
        resume = shlex.split(f"shangyun wave resume 1 --estate {root}")[1:]
        rc, out, err = _done(_cli([*resume, "--json"], elsewhere))
        assert rc == 0, (out, err[-3000:])
        assert json.loads(out)["wave_state"] == "cut_over", out
        assert pg_exec(dst, "SELECT count(*) FROM people WHERE name = "
                            "'written on the target'") == [(1,)]
        return

    rc, out, err = _done(_cli(["wave", "rollback", "1", *common], env))
    assert rc == 1, (out, err[-3000:])
    error = json.loads(out)["error"]
    assert "审批系统" in error and "public.people" in error and "public.orders" in error, error
    assert "--discard-production-writes" in error and "wave resume" in error, error
    # the commands it suggests work as printed: whole, with the estate
    assert f"'shangyun wave resume 1 --estate {root}'" in error, error
    assert f"'shangyun wave rollback 1 --fail-back --estate {root}'" in error, error
    assert pg.database_exists(dst)  # nothing dropped, nothing undone
    assert pg_exec(dst, "SELECT count(*) FROM people") == [on_target]
    with Route53Dns(moto_endpoint) as dns:
        assert dns.get(zid, f"app.{zone}", "A").values == ("127.0.2.1",)
    with open_journal(root, create=False) as j:
        assert [r["kind"] for r in j.runs(1)] == ["run"]  # no rollback run journaled
    rc, out, err = _done(_cli(["wave", "rollback", "1", *common,
                               "--discard-production-writes"], env))
    assert rc == 0, (out, err[-3000:])
    assert not pg.database_exists(dst)
    with Route53Dns(moto_endpoint) as dns:
        assert dns.get(zid, f"app.{zone}", "A").values == ("127.0.1.1",)
