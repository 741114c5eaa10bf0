"""A cut-over system is never touched by a run again (issue #13, item 1).

A wave of one move group: ``sys-01`` (a VM, a PostgreSQL and a MariaDB database and a file
set over a real sshd) cuts over, ``sys-02`` fails its health check. Production writes made
on ``sys-01``'s target afterwards — a row in each target database, a new table, a new file
in the target folder — survive the move group's failure, ``wave resume``, ``--only`` and a
second ``wave run``; ``wave rollback`` of the cut-over system is refused unless its
production writes are discarded on purpose (audited)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from connectors.database import DbEndpoint
from connectors.database import mariadb as my
from connectors.database import postgres as pg
from connectors.journal.wave import open_journal
from flows.move import move_wave
from shangyun.cli import main
from shangyun.wave.steps import RunOptions
from tests.data.conftest import my_exec, pg_exec
from tests.discovery.sshd import SshdFarm
from tests.wave.conftest import Cloud, bucket, build_estate, cloud, moto_endpoint  # noqa: F401

MIB = 2**20


def _db(ep: DbEndpoint) -> dict[str, Any]:
    return {"host": ep.host, "port": ep.port, "user": ep.user, "dbname": ep.dbname}


def _cutover(root: Path, web: str, sys02_health: str, pg_pair: tuple[DbEndpoint, DbEndpoint],
             my_pair: tuple[DbEndpoint, DbEndpoint], farm: SshdFarm, share: Path,
             landing: Path) -> None:
    srv = farm.servers[0]
    spec = {"schema_version": 1, "systems": {
        "sys-01": {"databases": [
            {"id": "pg", "engine": "postgresql", "source": _db(pg_pair[0]),
             "target": _db(pg_pair[1])},
            {"id": "my", "engine": "mariadb", "source": _db(my_pair[0]),
             "target": _db(my_pair[1])}],
            "files": [{"id": "share", "target": str(landing),
                       "source": {"host": "127.0.0.1", "port": srv.port, "user": "root",
                                  "key_file": str(farm.client_key),
                                  "known_hosts": str(farm.root / "known_hosts"),
                                  "path": str(share)}}],
            "health": [{"kind": "http", "url": f"{web}/ok", "expect_body": "UP"}]},
        "sys-02": {"health": [{"kind": "http", "url": f"{web}{sys02_health}",
                               "expect_body": "UP", "attempts": 2, "backoff": 0.05}]},
    }}
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True),
                                               encoding="utf-8")


def test_production_writes_survive_resume_only_rerun_and_group_failure(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, farm: SshdFarm, web: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint], my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=2, groups=[["sys-01", "sys-02"]])
    share = tmp_path / "share"
    share.mkdir()
    (share / "公文.txt").write_text("正文\n", encoding="utf-8")
    (share / "upload.bin").write_bytes(secrets.token_bytes(20_000))
    landing = tmp_path / "landing" / "share"
    _cutover(root, web, "/broken", pg_pair, my_pair, farm, share, landing)
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket, part_size=5 * MIB)

    # 1. the move group fails on sys-02 after sys-01 cut over: sys-01 is left alone
    first = move_wave(str(root), 1, options=opts.to_dict())
    states = {s["id"]: s["state"] for s in first["systems"]}
    assert states == {"sys-01": "cut_over", "sys-02": "rolled_back"}, first
    assert first["state"] == "failed"
    assert "left alone" in next(s["note"] for s in first["systems"] if s["id"] == "sys-01")
    assert pg.database_exists(pg_pair[1]) and my.database_exists(my_pair[1])
    assert (landing / "upload.bin").exists()

    # production writes on sys-01's target
    pg_exec(pg_pair[1], "INSERT INTO people (name) VALUES ('production write')")
    pg_exec(pg_pair[1], "CREATE TABLE public.made_in_production (x int)")
    my_exec(my_pair[1], "INSERT INTO people (name) VALUES ('production write')")
    (landing / "new-in-production.txt").write_text("written on the target\n")

    def survived() -> None:
        assert pg_exec(pg_pair[1], "SELECT count(*) FROM people") == [(501,)]
        assert pg_exec(pg_pair[1], "SELECT count(*) FROM people WHERE name = "
                                   "'production write'") == [(1,)]
        assert pg_exec(pg_pair[1], "SELECT to_regclass('public.made_in_production') "
                                   "IS NOT NULL") == [(True,)]
        assert my_exec(my_pair[1], "SELECT COUNT(*) FROM people") == [(401,)]
        assert (landing / "new-in-production.txt").read_text() == "written on the target\n"
        with open_journal(root) as j:
            cut = j.last(1, "sys-01", "sys-01/cutover")
            assert cut is not None and cut.status == "done"
            delta = j.last(1, "sys-01", "sys-01/delta/pg")
            assert delta is not None and delta.status == "done"  # never run (or refused) again

    survived()

    # 2. wave resume (the CLI, as a user types it): sys-01 left alone, sys-02 fails again
    res = CliRunner().invoke(main, ["wave", "resume", "1", "--estate", str(root)])
    assert res.exit_code == 1, res.output
    shown = next(s.get("label") or s.get("name") or s["id"]
                 for s in first["systems"] if s["id"] == "sys-01")
    assert shown != "sys-01"  # a person reads the system's name, not its id
    assert f"{shown}: cut over (left alone)" in res.output, res.output
    survived()

    # 3. --only the cut-over system: nothing to do, the run is done
    only = move_wave(str(root), 1, only="sys-01", options=opts.to_dict())
    assert only["state"] == "done" and [s["state"] for s in only["systems"]] == ["cut_over"]
    survived()

    # 4. a rollback of the cut-over system is refused; nothing undone
    res = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate", str(root),
                                    "--system", "sys-01"])
    assert res.exit_code == 1 and "--discard-production-writes" in res.output, res.output
    # the fail-back it suggests is a whole command, as typed (it said 'wave rollback
    # --fail-back': no shangyun, no wave number, no --system, no --estate)
    flat = " ".join(res.output.split())
    assert "'shangyun wave rollback 1 --system " in flat, flat
    assert f" --fail-back --estate {root}'" in flat, flat
    survived()

    # 5. a second wave run, sys-02's health now good: sys-02 cuts over, sys-01 untouched
    _cutover(root, web, "/ok", pg_pair, my_pair, farm, share, landing)
    second = move_wave(str(root), 1, options=opts.to_dict())
    assert {s["id"]: s["state"] for s in second["systems"]} == {
        "sys-01": "cut_over", "sys-02": "done"}, second
    assert second["state"] == "done"
    survived()

    # 6. discarding production writes is possible, but only on purpose, and audited
    res = CliRunner().invoke(main, ["wave", "rollback", "1", "--estate", str(root),
                                    "--system", "sys-01", "--discard-production-writes",
                                    "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["ok"]
    assert not pg.database_exists(pg_pair[1]) and not my.database_exists(my_pair[1])
    assert pg_exec(pg_pair[0], "SELECT count(*) FROM people") == [(500,)]  # source as was
    with open_journal(root) as j:
        audited = [e for e in j.j.audit_entries(system="sys-01")
                   if e.action == "wave.rollback.discard_production_writes"]
    assert len(audited) == 1
