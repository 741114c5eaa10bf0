"""``wave run`` after ``wave rollback --fail-back`` (the sequence run → fail-back → run):
the system is cut over again with its target databases *writable* — the fail-back's
freeze of the target is lifted by the forward run (journaled), not left behind for an
application's first write to hit — and a second fail-back carries the writes made after
the second cutover home. A ``wave run`` in the middle of an unfinished fail-back is
refused, naming the system and the command that finishes it. Real PostgreSQL, sshd +
rsync, moto, libvirt test driver, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.journal.status import DONE
from shangyun.wave.steps import Step
from tests.cutover.failback_support import (
    NEW_IP,
    OLD_IP,
    CutOver,
    cut_over,
    make_estate,
    pg_writable,
    pg_write,
)
from tests.data.conftest import pg_exec
from tests.discovery.sshd import SshdFarm
from tests.wave.conftest import Cloud, bucket, cloud, moto_endpoint  # noqa: F401


def _cli(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def _run_args(c: CutOver) -> list[str]:
    o = c.opts
    return ["--estate", str(c.root), "--target", "libvirt",
            "--target-uri", o.target_options["uri"], "--pool", o.target_options["pool"],
            "--staging", o.staging_dir, "--s3-endpoint", o.s3_endpoint,
            "--bucket", o.bucket]


def _people(ep: DbEndpoint, name: str) -> int:
    return pg_exec(ep, f"SELECT count(*) FROM people WHERE name = '{name}'")[0][0]


def test_run_after_failback_cuts_over_with_a_writable_target(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, farm: SshdFarm, web: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    c = make_estate(tmp_path, cloud, moto_endpoint, bucket, web, farm, pg_pair, None)
    ps, pt = pg_pair
    cut_over(c)
    pg_write(pt, "INSERT INTO people (name) VALUES ('first production write')")
    fb = _cli("wave", "rollback", "1", "--estate", str(c.root), "--fail-back", "--json")
    assert fb.exit_code == 0, fb.output
    assert c.state() == "failed_back" and not pg_writable(pt) and pg_writable(ps)
    # the source is production again and takes writes
    pg_write(ps, "INSERT INTO people (name) VALUES ('written after the fail-back')")

    res = _cli("wave", "run", "1", *_run_args(c), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["state"] == "done"
    assert c.state() == "cut_over" and c.step_status("cutover") == "done"
    assert c.dns_values() == (NEW_IP,)
    pg.verify(ps, pt)
    assert _people(pt, "written after the fail-back") == 1
    assert _people(pt, "first production write") == 1
    # production again: an application's ordinary write is accepted by the target
    assert pg_writable(pt), "the target database is still frozen by the fail-back"
    assert not pg_writable(ps)  # the source frozen by the second cutover
    with open_journal(c.root) as j:
        closed = j.last(1, "sys-01", "sys-01/failback/freeze")
    assert closed is not None and closed.status == "undone"  # lifted, journaled
    st = json.loads(_cli("wave", "status", "1", "--estate", str(c.root), "--json").output)
    assert st["systems"][0]["state"] == "cut_over"  # not finalized: source kept

    # a second fail-back carries what production wrote since the second cutover
    pg_write(pt, "INSERT INTO people (name) VALUES ('second production write')")
    fb2 = _cli("wave", "rollback", "1", "--estate", str(c.root), "--fail-back", "--json")
    assert fb2.exit_code == 0, fb2.output
    assert _people(ps, "second production write") == 1
    assert _people(ps, "written after the fail-back") == 1
    assert c.state() == "failed_back" and pg_writable(ps) and c.dns_values() == (OLD_IP,)


def test_run_in_the_middle_of_a_failback_is_refused_naming_the_command(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, farm: SshdFarm, web: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    c = make_estate(tmp_path, cloud, moto_endpoint, bucket, web, farm, pg_pair, None)
    ps, pt = pg_pair
    cut_over(c)
    fb = _cli("wave", "rollback", "1", "--estate", str(c.root), "--fail-back", "--json")
    assert fb.exit_code == 0, fb.output
    # as a fail-back killed past its point of no return leaves it: the mark not done yet
    with open_journal(c.root) as j:
        run_id = j.begin_run(1, {"options": {}}, kind="failback")
        rec = j.last(1, "sys-01", "sys-01/failback")
        assert rec is not None and rec.status == DONE
        j.record(run_id, 1, Step("failback", "sys-01", "sys-01/failback", "mark"),
                 "started", rec.payload)
        j.finish_run(run_id, "failed")
    res = _cli("wave", "run", "1", *_run_args(c), "--json")
    assert res.exit_code == 1, res.output
    err = json.loads(res.stdout)
    assert not err["ok"], err
    assert "sys-01" in err["error"] and "--fail-back" in err["error"], err
    assert "wave rollback 1 --system 审批系统 --fail-back" in err["error"], err
    # nothing was run: no new run, the system as the fail-back left it
    assert c.dns_values() == (OLD_IP,) and pg_writable(ps) and not pg_writable(pt)
    with open_journal(c.root) as j:
        assert [r["kind"] for r in j.runs(1)][-1] == "failback"
