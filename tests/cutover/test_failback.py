"""Fail-back (issue #13 item 2): ``wave rollback 1 --system sys-01 --fail-back`` carries
the writes made on a cut-over system's target — rows in PostgreSQL and MariaDB, a new
table, new, changed and deleted files — back to its source, verified, then switches DNS
back and makes the source writable; a plain rollback keeps refusing and names
``--fail-back``; a sabotaged verify refuses the fail-back and the target stays live; after
``wave finalize`` it is refused. Real PostgreSQL, MariaDB, sshd + rsync, moto, libvirt."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from connectors.database import DbEndpoint
from connectors.database import mariadb as my
from connectors.database import postgres as pg
from connectors.files import SshSource, verify
from connectors.journal.wave import open_journal
from shangyun.cli import main
from tests.cutover.failback_support import (
    NEW_IP,
    OLD_IP,
    cut_over,
    make_estate,
    pg_writable,
    pg_write,
)
from tests.data.conftest import my_exec, pg_exec
from tests.discovery.sshd import SshdFarm
from tests.wave.conftest import Cloud, bucket, cloud, moto_endpoint  # noqa: F401


def _cli(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_failback_carries_production_writes_home_verified(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, farm: SshdFarm, web: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint], my_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    c = make_estate(tmp_path, cloud, moto_endpoint, bucket, web, farm, pg_pair, my_pair)
    cut_over(c)
    (ps, pt), (ms, mt) = pg_pair, my_pair
    assert not pg_writable(ps)  # frozen by the cutover
    # production writes on the target: rows added, changed, deleted; a new table; files
    pg_write(pt, "INSERT INTO people (name) VALUES ('production write')")
    pg_write(pt, "UPDATE orders SET amount = amount + 1 WHERE id <= 10")
    pg_write(pt, "DELETE FROM log WHERE line LIKE 'line 1%'")
    pg_write(pt, "CREATE TABLE public.made_in_production (x int); "
                 "INSERT INTO public.made_in_production VALUES (42)")
    my_exec(mt, "INSERT INTO people (name) VALUES ('production write')")
    my_exec(mt, "DELETE FROM blobs LIMIT 3")
    (c.landing / "new-in-production.txt").write_text("written on the target\n")
    (c.landing / "docs" / "公文.txt").write_text("改过的正文\n", encoding="utf-8")
    (c.landing / "old.txt").unlink()

    # a plain rollback is refused and names the way home
    res = _cli("wave", "rollback", "1", "--estate", str(c.root), "--system", "sys-01")
    assert res.exit_code == 1 and "--fail-back" in res.output, res.output
    assert c.step_status("cutover") == "done"

    res = _cli("wave", "rollback", "1", "--estate", str(c.root), "--system", "sys-01",
               "--fail-back", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["ok"] and out["systems"][0]["state"] == "failed_back", out
    assert "public.people" in out["systems"][0]["verified"]["pg"]

    # every production write is on the source, and verified equal to the target
    pg.verify(pt, ps)
    my.verify(mt, ms)
    assert pg_exec(ps, "SELECT count(*) FROM people WHERE name = 'production write'") == [(1,)]
    assert pg_exec(ps, "SELECT count(*) FROM log WHERE line LIKE 'line 1%'") == [(0,)]
    assert pg_exec(ps, "SELECT x FROM public.made_in_production") == [(42,)]
    assert my_exec(ms, "SELECT COUNT(*) FROM people") == [(401,)]
    assert my_exec(ms, "SELECT COUNT(*) FROM blobs") == [(17,)]
    assert (c.share / "new-in-production.txt").read_text() == "written on the target\n"
    assert (c.share / "docs" / "公文.txt").read_text(encoding="utf-8") == "改过的正文\n"
    assert not (c.share / "old.txt").exists()
    assert not (c.share / ".shangyun-sync").exists()  # our marker never lands there
    with open_journal(c.root) as j:
        item = j.last(1, "sys-01", "sys-01/copy/share").payload["item"]["source"]
    verify(SshSource(item["host"], item["port"], item["user"], item["key_file"],
                     item["known_hosts"], item["path"]), c.landing)
    # the source is production again; the target is frozen; DNS is the bureau's record
    assert pg_writable(ps) and not pg_writable(pt)
    assert c.dns_values() == (OLD_IP,)
    assert c.state() == "failed_back"
    assert c.step_status("cutover") == "undone" and c.step_status("dns") == "undone"
    assert c.step_status("copy/pg") == "done"  # the target keeps its copy
    with open_journal(c.root) as j:
        audit = [e.result for e in j.j.audit_entries(system="sys-01")
                 if e.action == "wave.failback"]
        kinds = [r["kind"] for r in j.runs(1)]
    assert audit == ["ok"] and kinds[-1] == "failback"
    st = json.loads(_cli("wave", "status", "1", "--estate", str(c.root), "--json").output)
    assert st["systems"][0]["state"] == "failed_back"

    # nothing left to fail back; a plain rollback now removes the target's copies only
    again = _cli("wave", "rollback", "1", "--estate", str(c.root), "--fail-back")
    assert again.exit_code == 1 and "nothing to fail back" in again.output, again.output
    rb = _cli("wave", "rollback", "1", "--estate", str(c.root), "--json")
    assert rb.exit_code == 0 and json.loads(rb.output)["ok"], rb.output
    assert not pg.database_exists(pt) and not my.database_exists(mt)
    assert pg_exec(ps, "SELECT count(*) FROM people WHERE name = 'production write'") == [(1,)]
    assert pg_writable(ps) and c.dns_values() == (OLD_IP,)
    assert c.state() == "rolled_back_by_operator"  # his fail-back, then his rollback


def test_sabotaged_verify_refuses_the_failback_and_the_target_stays_live(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, farm: SshdFarm, web: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    c = make_estate(tmp_path, cloud, moto_endpoint, bucket, web, farm, pg_pair, None)
    cut_over(c)
    ps, pt = pg_pair
    pg_write(pt, "INSERT INTO people (name) VALUES ('production write')")
    # sabotage: the source alters every row written into it (a trigger that fires even
    # for the reverse delta's replica-mode COPY), so it can never equal the target
    pg_write(ps, "CREATE FUNCTION sabotage() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                 "NEW.name := NEW.name || ' (altered)'; RETURN NEW; END $$; "
                 "CREATE TRIGGER sabotage BEFORE INSERT ON people FOR EACH ROW "
                 "EXECUTE FUNCTION sabotage(); "
                 "ALTER TABLE people ENABLE ALWAYS TRIGGER sabotage", through_freeze=True)
    res = _cli("wave", "rollback", "1", "--estate", str(c.root), "--system", "sys-01",
               "--fail-back")
    assert res.exit_code == 1, res.output
    assert "fail-back refused" in res.output and "public.people" in res.output, res.output
    # the target stays live: writable, DNS on it, the system cut over; the source frozen
    assert pg_writable(pt) and not pg_writable(ps)
    assert c.dns_values() == (NEW_IP,)
    assert c.step_status("cutover") == "done" and c.state() == "cut_over"
    assert c.step_status("failback/freeze") == "undone"
    assert c.step_status("failback") is None
    pg_write(pt, "INSERT INTO people (name) VALUES ('written after the refusal')")
    with open_journal(c.root) as j:
        audit = [e.result for e in j.j.audit_entries(system="sys-01")
                 if e.action == "wave.failback"]
    assert audit == ["refused"]

    # finalized: the source is no longer the fallback, a fail-back is refused
    fin = _cli("wave", "finalize", "1", "--estate", str(c.root), "--soak-hours", "0")
    assert fin.exit_code == 0, fin.output
    res = _cli("wave", "rollback", "1", "--estate", str(c.root), "--fail-back")
    assert res.exit_code == 1 and "finalized" in res.output, res.output
    assert pg_writable(pt) and c.dns_values() == (NEW_IP,)
