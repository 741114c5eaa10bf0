"""Cutover and rollback of one system through the real journal, against real parts: the
local PostgreSQL and MariaDB, rsync over a real sshd, Route53 on moto, a real web server,
and a libvirt test:// hypervisor holding the source VM."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actions.context import RunContext
from actions.registry import actions_for
from actions.rollback import run_system_steps
from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from connectors.dns import DnsRecord, Route53Dns
from connectors.journal.wave import open_journal
from shangyun.errors import InProductionError
from shangyun.journal.status import UNDO_FAILED, UNDONE
from shangyun.wave.cutover import cutover_steps, parse_cutover
from shangyun.wave.journal_port import WaveJournal
from shangyun.wave.model import HostWork, SystemWork, WaveWork
from shangyun.wave.steps import RunOptions
from tests.data.conftest import my_exec, pg_exec
from tests.discovery.sshd import SshdFarm

SOURCE_VM = "test"  # the running domain of libvirt's built-in test:///default


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[WaveJournal]:
    """A wave journal in a temp estate folder."""
    (tmp_path / "estate").mkdir()
    with open_journal(tmp_path / "estate") as j:
        yield j


@pytest.fixture
def files_source(tmp_path: Path) -> Path:
    """The source host's file share."""
    src = tmp_path / "share"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "公文.txt").write_text("正文\n")
    (src / "upload.bin").write_bytes(os.urandom(50_000))
    return src


def _setup(tmp_path: Path, dns: Route53Dns, farm: SshdFarm, web: str,
           pg_pair: tuple[DbEndpoint, DbEndpoint], my_pair: tuple[DbEndpoint, DbEndpoint],
           files_source: Path, health_path: str = "/ok") -> tuple[Any, str, str]:
    zone = f"b{secrets.token_hex(3)}.gov.cn"
    zid = dns.zone_id(zone, create=True)
    dns.switch(zid, DnsRecord.make(f"app.{zone}", "A", ["127.0.0.10"], 300))
    (ps, pt), (ms, mt) = pg_pair, my_pair
    srv = farm.servers[0]
    spec = {"schema_version": 1, "systems": {"sys-1": {
        "freeze_databases": True,
        "databases": [
            {"id": "pg", "engine": "postgresql",
             "source": {"host": ps.host, "port": ps.port, "user": ps.user, "dbname": ps.dbname},
             "target": {"host": pt.host, "port": pt.port, "user": pt.user, "dbname": pt.dbname}},
            {"id": "my", "engine": "mariadb",
             "source": {"host": ms.host, "port": ms.port, "user": ms.user, "dbname": ms.dbname},
             "target": {"host": mt.host, "port": mt.port, "user": mt.user,
                        "dbname": mt.dbname}}],
        "files": [{"id": "share", "target": str(tmp_path / "landing" / "share"),
                   "source": {"host": "127.0.0.1", "port": srv.port, "user": "root",
                              "key_file": str(farm.client_key),
                              "known_hosts": str(farm.root / "known_hosts"),
                              "path": str(files_source)}}],
        "dns": {"endpoint": dns.endpoint, "zone": zone,
                "records": [{"name": f"app.{zone}", "type": "A", "values": ["127.0.0.20"]}]},
        "health": [{"kind": "http", "url": f"{web}{health_path}", "expect_body": "UP",
                    "attempts": 2, "backoff": 0.05, "timeout": 2}],
    }}}
    plan = parse_cutover(spec)
    host = HostWork("h1", SOURCE_VM, "test:///default", 1, 1, ())
    system = SystemWork("sys-1", "审批系统", "b-01", "一局", "mg-1", 100, (host,))
    wave = WaveWork(1, str(tmp_path), "pf", "ef", (system,))
    return cutover_steps(wave, system, plan.systems["sys-1"]), zid, f"app.{zone}"


def _ctx(journal: WaveJournal) -> tuple[RunContext, str]:
    # the wave's membership, as a real run records it at its start (no plan here)
    run_id = journal.begin_run(1, {"options": {}, "planned": ["sys-1"]})
    run = RunContext(RunOptions()).bind(journal, run_id, 1)
    return run, run_id


def _vm_running(ctx: RunContext) -> bool:
    return ctx.hypervisor("test:///default").is_active(SOURCE_VM)


def test_cutover_then_health_failure_rolls_back_in_reverse(
        tmp_path: Path, journal: WaveJournal, dns: Route53Dns, farm: SshdFarm, web: str,
        pg_pair: tuple[DbEndpoint, DbEndpoint], my_pair: tuple[DbEndpoint, DbEndpoint],
        files_source: Path) -> None:
    steps, zid, name = _setup(tmp_path, dns, farm, web, pg_pair, my_pair, files_source,
                              health_path="/broken")
    ctx, run_id = _ctx(journal)
    actions = actions_for(ctx)
    # the initial copies run while the source is live; then a row and a file arrive late
    copies = [s for s in steps if s.kind == "copy"]
    assert run_system_steps(journal, run_id, 1, copies, actions)["state"] == "done"
    pg_exec(pg_pair[0], "INSERT INTO people (name) VALUES ('late row')")
    my_exec(my_pair[0], "INSERT INTO people (name) VALUES ('late row')")
    (files_source / "late.txt").write_text("late\n")
    rest = [s for s in steps if s.kind != "copy"]
    done: dict[str, dict[str, Any]] = {}
    out = run_system_steps(journal, run_id, 1, rest, actions, done)
    try:
        assert out["state"] == "rolled_back", out
        assert "health check http GET" in out["error"]
        # the late row and file were found and synced before the switch (delta + verify done)
        assert "public.people" in done["sys-1/delta/pg"]["result"]["recopied"]
        assert "people" in done["sys-1/delta/my"]["result"]["recopied"]
        assert "late.txt" in done["sys-1/delta/share"]["result"]["changed"]
        assert done["sys-1/verify"]["verified"]["pg"]["public.people"]["rows"] == 501
        # rolled back newest first: DNS, source restarted, then the copies dropped
        assert out["undone"][:3] == ["sys-1/health", "sys-1/dns", "sys-1/verify"]
        assert out["undone"].index("sys-1/freeze") < out["undone"].index("sys-1/copy/pg")
        assert dns.get(zid, name, "A") == DnsRecord.make(name, "A", ["127.0.0.10"], 300)
        assert _vm_running(ctx)
        assert not pg.database_exists(pg_pair[1]) and pg.database_exists(pg_pair[0])
        assert not (tmp_path / "landing" / "share").exists()
        assert (files_source / "late.txt").exists()
        assert pg_exec(pg_pair[0], "SELECT count(*) FROM people") == [(501,)]
        pg_exec(pg_pair[0], "INSERT INTO log VALUES (now(), 'writable again')")  # unfrozen
        statuses = {r.key: r.status for r in journal.records(1, "sys-1")}
        assert statuses["sys-1/dns"] == UNDONE and statuses["sys-1/copy/share"] == UNDONE
        # a second rollback finds nothing left to undo
        from shangyun.wave.engine import undo_system

        again = undo_system(journal, run_id, 1, "sys-1", actions)
        assert again.undone == [] and again.ok
    finally:
        ctx.close()


def test_cutover_succeeds_and_verification_gap_refuses(
        tmp_path: Path, journal: WaveJournal, dns: Route53Dns, farm: SshdFarm, web: str,
        pg_pair: tuple[DbEndpoint, DbEndpoint], my_pair: tuple[DbEndpoint, DbEndpoint],
        files_source: Path) -> None:
    steps, zid, name = _setup(tmp_path, dns, farm, web, pg_pair, my_pair, files_source)
    ctx, run_id = _ctx(journal)
    actions = actions_for(ctx)
    try:
        # a target that drifts from the source before the switch is caught: verify refuses
        upto = [s for s in steps if s.kind in ("copy", "freeze", "delta")]
        assert run_system_steps(journal, run_id, 1, upto, actions)["state"] == "done"
        pg_exec(pg_pair[1], "DELETE FROM log WHERE line = 'line 9'")
        verify = next(s for s in steps if s.kind == "verify")
        refused = run_system_steps(journal, run_id, 1, [verify], actions)
        assert refused["state"] == "rolled_back"
        assert "cutover refused" in refused["error"] and "public.log" in refused["error"]
        assert "299 on the target" in refused["error"]
        assert dns.get(zid, name, "A") == DnsRecord.make(name, "A", ["127.0.0.10"], 300)
        assert _vm_running(ctx) and not pg.database_exists(pg_pair[1])
        pg_exec(pg_pair[0], "INSERT INTO log VALUES (now(), 'writable again')")
        # run again from the start: cut over
        out = run_system_steps(journal, run_id, 1, steps, actions)
        assert out["state"] == "done", out
        assert dns.get(zid, name, "A") == DnsRecord.make(name, "A", ["127.0.0.20"], 60)
        assert not _vm_running(ctx)
        with pytest.raises(Exception, match="read-only"):  # the source database is frozen
            pg_exec(pg_pair[0], "INSERT INTO log VALUES (now(), 'after cutover')")
        cut = journal.last(1, "sys-1", "sys-1/cutover")
        assert cut is not None and cut.status == "done" and "cut_over_at" in cut.payload
        dns_rec = journal.last(1, "sys-1", "sys-1/dns")
        assert dns_rec is not None
        assert dns_rec.payload["previous"]["records"][0]["previous"]["values"] == ["127.0.0.10"]
        # once cut over, the target is production: verify, delta and copy refuse to run
        # against it, and the failure undoes nothing
        pg_exec(pg_pair[1], "INSERT INTO log VALUES (now(), 'production write')")
        for kind in ("verify", "delta"):
            st = next(s for s in steps if s.kind == kind)
            again = run_system_steps(journal, run_id, 1, [st], actions)
            assert again["state"] == "cut_over" and again["undone"] == [], again
            assert "is cut over (its target is in production)" in again["error"]
        # a copy journaled done is reused (nothing run); one that must run again refuses
        copy = next(s for s in steps if s.kind == "copy")
        with pytest.raises(InProductionError, match="copy sys-1/copy/pg refused"):
            actions["copy"].do(copy, {})
        assert pg_exec(pg_pair[1], "SELECT count(*) FROM log WHERE line = 'production write'"
                       ) == [(1,)]
        assert dns.get(zid, name, "A") == DnsRecord.make(name, "A", ["127.0.0.20"], 60)
        assert not _vm_running(ctx)
    finally:
        ctx.close()


def test_failed_rollback_step_is_reported_failed(
        tmp_path: Path, journal: WaveJournal, dns: Route53Dns, farm: SshdFarm, web: str,
        pg_pair: tuple[DbEndpoint, DbEndpoint], my_pair: tuple[DbEndpoint, DbEndpoint],
        files_source: Path) -> None:
    steps, zid, name = _setup(tmp_path, dns, farm, web, pg_pair, my_pair, files_source,
                              health_path="/broken")
    ctx, run_id = _ctx(journal)
    actions = actions_for(ctx)
    copies = [s for s in steps if s.kind == "copy"]
    assert run_system_steps(journal, run_id, 1, copies, actions)["state"] == "done"
    # someone removes our marker from the copy: its undo must refuse, not "succeed"
    (tmp_path / "landing" / "share" / ".shangyun-sync").unlink()
    try:
        out = run_system_steps(journal, run_id, 1, [s for s in steps if s.kind != "copy"],
                               actions)
        assert out["state"] == "rollback_failed"
        assert list(out["undo_failed"]) == ["sys-1/copy/share"]
        assert "marker" in out["undo_failed"]["sys-1/copy/share"]
        statuses = {r.key: r.status for r in journal.records(1, "sys-1")}
        assert statuses["sys-1/copy/share"] == UNDO_FAILED
        # the delta refused to write into a folder that is not ours; the rest rolled back
        assert "not made by shangyun" in out["error"] and "sys-1/dns" not in statuses
        assert statuses["sys-1/copy/pg"] == UNDONE and statuses["sys-1/freeze"] == UNDONE
        assert _vm_running(ctx) and not pg.database_exists(pg_pair[1])
        assert dns.get(zid, name, "A") == DnsRecord.make(name, "A", ["127.0.0.10"], 300)
        assert (tmp_path / "landing" / "share").exists()  # not deleted
    finally:
        ctx.close()


def test_finalize_after_soak_never_touches_source(
        tmp_path: Path, journal: WaveJournal, dns: Route53Dns, farm: SshdFarm, web: str,
        pg_pair: tuple[DbEndpoint, DbEndpoint], my_pair: tuple[DbEndpoint, DbEndpoint],
        files_source: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from actions.finalize import finalize_wave
    from shangyun.errors import StepError

    steps, _, _ = _setup(tmp_path, dns, farm, web, pg_pair, my_pair, files_source)
    ctx, run_id = _ctx(journal)
    try:
        assert run_system_steps(journal, run_id, 1, steps, actions_for(ctx))["state"] == "done"
    finally:
        ctx.close()
    journal.finish_run(run_id, "done")
    estate = str(tmp_path / "estate")
    with pytest.raises(StepError, match=r"soak period of 72 h not over: 72\.0 h left"):
        finalize_wave(estate, 1)
    later = datetime.now(UTC) + timedelta(hours=73)
    out = finalize_wave(estate, 1, now=later)
    assert out["finalized"] and out["systems"] == ["sys-1"] and not out["source_deleted"]
    assert pg.database_exists(pg_pair[0]) and (files_source / "upload.bin").exists()
    assert my_exec(my_pair[0], "SELECT COUNT(*) FROM people") == [(400,)]
    # a system of the wave that never got cut over blocks finalize
    run2 = journal.begin_run(1, {"options": {}})
    journal.record(run2, 1, steps[0].__class__("copy", "sys-2", "sys-2/copy/x", "x"),
                   "started", {})
    journal.finish_run(run2, "failed")
    with pytest.raises(StepError, match="sys-2: not cut over"):
        finalize_wave(estate, 1, now=later)
