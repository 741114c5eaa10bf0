"""A plan that puts a system cut over in wave 1 into wave 2 (hand-made, or made before the
planner read the journal: ``tests/planner/test_replan.py``). ``wave run 2``
must not move it again — its copy step would drop and re-create the production target
database from the frozen source, losing every write made since the cutover — so the run is
refused before anything runs, naming the system, the wave that holds it and the command
that frees it; its production target, DNS and journal stay as they were. Real
PostgreSQL, sshd + rsync, moto, libvirt test driver, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from connectors.database import DbEndpoint
from shangyun.cli import main
from tests.cutover.failback_support import NEW_IP, cut_over, make_estate, pg_writable, pg_write
from tests.cutover.test_failback_rerun import _people, _run_args
from tests.discovery.sshd import SshdFarm
from tests.wave.conftest import Cloud, bucket, cloud, moto_endpoint, write_plan  # noqa: F401


def test_a_cut_over_system_replanned_into_another_wave_is_not_moved_again(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, farm: SshdFarm, web: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    c = make_estate(tmp_path, cloud, moto_endpoint, bucket, web, farm, pg_pair, None)
    ps, pt = pg_pair
    cut_over(c)
    pg_write(pt, "INSERT INTO people (name) VALUES ('production write')")
    write_plan(c.root, {2: [["sys-01"]]})  # the re-plan: sys-01 now in wave 2
    res = CliRunner().invoke(main, ["wave", "run", "2", *_run_args(c), "--json"])
    # the production write survives: the target was not copied over from the source
    assert _people(pt, "production write") == 1, res.output
    assert pg_writable(pt) and not pg_writable(ps)
    assert c.dns_values() == (NEW_IP,) and c.state() == "cut_over"  # not finalized: the source kept
    assert res.exit_code == 1, res.output
    err = json.loads(res.stdout)["error"]
    assert "审批系统 is cut over in wave 1" in err, err  # sys-01, by its name
    assert "--pin 审批系统=1" in err and "nothing was run" in err, err
    st = json.loads(CliRunner().invoke(
        main, ["wave", "status", "2", "--estate", str(c.root), "--json"]).stdout)
    assert st["runs"] == [] and st["systems"] == [], st
