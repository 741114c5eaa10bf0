"""The target database server of a database move refusing connections: the copy stops
before anything is made there, naming the system, the database and the server; the rollback
undoes the images the run made and has nothing to drop (rolled back, not rollback failed);
with the server reachable, ``wave resume`` moves the system. Real PostgreSQL, moto, the
libvirt test driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from connectors.journal.wave import open_journal
from flows.move import move_wave
from shangyun.wave.steps import RunOptions
from tests.support import free_port
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)


def _cutover(root: Path, src: DbEndpoint, dst: DbEndpoint, port: int) -> None:
    db: dict[str, Any] = {
        "id": "main", "engine": "postgresql",
        "source": {"host": src.host, "port": src.port, "user": src.user, "dbname": src.dbname},
        "target": {"host": dst.host, "port": port, "user": dst.user, "dbname": dst.dbname}}
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(
        {"schema_version": 1, "systems": {"sys-01": {"databases": [db]}}}))


def test_target_database_refusing_connections_then_resume(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,  # noqa: F811
        bucket: str, pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:  # noqa: F811
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[3:4], mib=4)
    src, dst = pg_pair
    port = free_port()
    _cutover(root, src, dst, port)
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket)
    result = move_wave(str(root), 1, options=opts.to_dict())
    s = result["systems"][0]
    assert s["state"] == "rolled_back" and not s["undo_failed"], s
    for part in ("system 审批系统", "postgresql main", f"127.0.0.1:{port}",
                 "nothing was created there"):
        assert part in s["error"], (part, s["error"])
    with open_journal(root) as j:
        recs = {r.key: r for r in j.records(1)}
    assert {r.status for r in recs.values()} == {"undone"}, recs
    assert recs["sys-01/copy/main"].payload["target"] == {"touched": False}
    assert list(cloud.pool_path.iterdir()) == []  # the imported disks undone
    assert not pg.database_exists(dst)
    # the server reachable (the cutover file corrected): the resume moves the system
    _cutover(root, src, dst, dst.port)
    again = move_wave(str(root), 1, resume=True)
    assert again["state"] == "done", again
    assert pg.database_exists(dst)
