"""A whole wave whose source will not stop (docs/safety.md Z1–Z3): the source VM ignores
its shutdown (the libvirt test driver restarts it on power-off) for the configured
``shutdown_seconds``. The ``freeze`` step fails naming it — the guest is not forced off,
since ``force_off`` was not asked — and the system is rolled back from the journal:
the target databases and instances are gone, the source databases keep their rows and
their read-only settings and grants as they were (journaled before the freeze), the source images
untouched. Real ``move_wave`` (the run_wave flow on Prefect), PostgreSQL, MariaDB,
qemu-img, libvirt test driver, moto S3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from connectors.database import DbEndpoint
from connectors.database import mariadb as my
from connectors.database import postgres as pg
from connectors.journal.wave import open_journal
from flows.move import move_wave
from shangyun.journal.status import UNDONE
from shangyun.wave.steps import RunOptions
from tests.data.conftest import my_exec, pg_exec
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)

MIB = 2**20


def _db(ep: DbEndpoint) -> dict[str, Any]:
    return {"host": ep.host, "port": ep.port, "user": ep.user, "dbname": ep.dbname}


def test_a_source_vm_that_ignores_shutdown_fails_the_freeze_and_the_system_rolls_back(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint], my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    root = tmp_path / "estate"
    est = build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=4)
    # the source VM restarts whenever it is powered off: it never stops by itself
    xml = est.node_xml.read_text(encoding="utf-8")
    stubborn = xml.replace("</os>", "</os><on_poweroff>restart</on_poweroff>")
    assert stubborn != xml
    est.node_xml.write_text(stubborn, encoding="utf-8")
    cutover = {"schema_version": 1, "systems": {"sys-01": {
        "shutdown_seconds": 1,  # force_off not asked
        "databases": [
            {"id": "pg", "engine": "postgresql", "source": _db(pg_pair[0]),
             "target": _db(pg_pair[1])},
            {"id": "my", "engine": "mariadb", "source": _db(my_pair[0]),
             "target": _db(my_pair[1])}]}}}
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(cutover), encoding="utf-8")
    pg_rows = pg_exec(pg_pair[0], "SELECT count(*) FROM people")
    my_rows = my_exec(my_pair[0], "SELECT COUNT(*) FROM people")
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket, part_size=5 * MIB)

    result = move_wave(str(root), 1, options=opts.to_dict())

    assert result["state"] == "failed"
    (system,) = result["systems"]
    assert system["state"] == "rolled_back", system
    assert "vm01 still runs" in system["error"] and "not forced off" in system["error"]
    with open_journal(root) as j:
        recs = {r.key: r for r in j.records(1)}
        freeze = recs["sys-01/freeze"]
        assert freeze.payload["force_off"] is False and freeze.payload["shutdown_seconds"] == 1
        assert [d["name"] for d in freeze.payload["frozen"]["was_running"]] == ["vm01"]
        assert freeze.payload["before"]["pg"] == {}  # read before anything changed
        # per database (the grants it revokes), never the server's read_only switch
        assert freeze.payload["before"]["my"]["database"] == my_pair[0].dbname
        assert "read_only" not in freeze.payload["before"]["my"]
        # every step that left something behind was undone, the freeze included
        assert {k: r.status for k, r in recs.items() if k != "sys-01/precheck"} == \
            {k: UNDONE for k in recs if k != "sys-01/precheck"}
        assert "sys-01/delta/pg" not in recs and "sys-01/cutover" not in recs
    # nothing lost, nothing left: sources as before and writable, targets gone
    assert pg_exec(pg_pair[0], "SELECT count(*) FROM people") == pg_rows
    assert my_exec(my_pair[0], "SELECT COUNT(*) FROM people") == my_rows
    assert pg.frozen_state(pg_pair[0]) == {}  # writable: no read-only setting left
    pg_exec(pg_pair[0], "INSERT INTO people (name) VALUES ('after the rollback')")
    my_exec(my_pair[0], "INSERT INTO people (name) VALUES ('after the rollback')")
    assert not pg.database_exists(pg_pair[1]) and not my.database_exists(my_pair[1])
    assert list(cloud.pool_path.iterdir()) == []
    assert {d: p.exists() for d, p in est.images.items()} == {d: True for d in est.images}
