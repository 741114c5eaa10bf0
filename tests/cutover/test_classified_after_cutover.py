"""A system a re-imported ledger newly marks classified (涉密) after its wave cut it over.

A classified system never moves to the cloud (``shangyun.assess.constraints``). Seen on
the real CLI: plan → ``wave run 1`` (审批系统 cut over) → the ledger marks 审批系统 涉密 →
``plan`` kept it in wave 1 without a word ("0 systems excluded"), ``wave finalize 1``
closed the wave over it (after which no fail-back is possible: its production stays on the
cloud for good), and after a fail-back ``wave run 1`` cut it over again. Now the re-plan
says so in its notes and in ``plan explain``, ``wave finalize`` refuses it, ``wave run``
refuses it before anything runs — each naming the system and the command that brings it
home — and the fail-back and rollback that do are allowed. Real PostgreSQL, sshd + rsync,
moto (S3, Route53), libvirt test driver, the real CLI."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from click.testing import CliRunner, Result

from connectors.database import DbEndpoint
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.estate import Estate
from tests.cutover.failback_support import NEW_IP, OLD_IP, cut_over, make_estate, pg_writable
from tests.cutover.test_failback_rerun import _run_args
from tests.discovery.sshd import SshdFarm
from tests.wave.conftest import Cloud, bucket, cloud, moto_endpoint  # noqa: F401


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"SHANGYUN_ESTATE": None})


def _error(res: Result) -> str:
    assert res.exit_code == 1, res.output
    return " ".join(json.loads(res.stdout)["error"].split())


def _mark_classified(root: Path, sid: str) -> None:
    est = Estate.load(root)
    rows = est.rows("systems")
    for r in rows:
        if r["id"] == sid:
            r["classified"] = True
    assert not est.set_rows("systems", rows)
    est.save(root)


def test_a_system_marked_classified_after_its_cutover_is_never_finalized_nor_moved_again(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str, farm: SshdFarm, web: str,  # noqa: F811
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    c = make_estate(tmp_path, cloud, moto_endpoint, bucket, web, farm, pg_pair, None)
    ps, pt = pg_pair
    root = str(c.root)
    cut_over(c)
    _mark_classified(c.root, "sys-01")  # the re-imported ledger: 是否涉密 = 是

    res = _cli("plan", "--estate", root, "--start", "2027-01-04", "--json")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.stdout)
    notes = " ".join(plan["notes"])
    assert "审批系统 is classified (涉密)" in notes and "cut over in wave 1" in notes, notes
    assert "shangyun wave rollback 1 --system 审批系统 --fail-back" in notes, notes
    why = json.loads(_cli("plan", "explain", "审批系统", "--estate", root, "--json").stdout)
    assert any("classified (涉密)" in r for r in why["reasons"]), why

    # finalize would make the cloud its home for good: refused, by name, with the way home
    err = _error(_cli("wave", "finalize", "1", "--estate", root, "--soak-hours", "0", "--json"))
    assert "审批系统 is classified (涉密)" in err, err
    assert "shangyun wave rollback 1 --system 审批系统 --fail-back" in err, err
    # every command carries the --estate it was given (seen: none did)
    assert f"--fail-back --estate {root})" in err and f"shangyun plan --estate {root})" in err, err
    with open_journal(c.root, create=False) as j:
        assert [r["kind"] for r in j.runs(1)] == ["run"]  # no finalize journaled
    status = json.loads(_cli("wave", "status", "1", "--estate", root, "--json").stdout)
    assert status["state"] == "cut_over" and not status["finalized"], status
    # wave status does not suggest the finalize that would refuse: it says why, by name
    text = " ".join(_cli("wave", "status", "1", "--estate", root).output.split())
    assert "finalize would refuse 审批系统: classified (涉密)" in text, text
    assert "--system 审批系统 --fail-back" in text, text
    assert f"--fail-back --estate {root})" in text, text
    assert "next: shangyun wave finalize" not in text and "after the soak period" not in text, text
    # ... nor does the runbook's outcome (en and zh), whose commands name the estate
    printed = []
    for lang, words in (("en", "classified (涉密)"), ("zh", "涉密")):
        book = _cli("runbook", "1", "--estate", root, "--lang", lang, "--format", "md")
        assert book.exit_code == 0, book.output
        md = (c.root / "runbooks" / f"wave-1.{lang}.md").read_text(encoding="utf-8")
        head = md[:md.index("\n## ", md.index("\n## ") + 1)]  # the outcome section
        assert "审批系统" in head and words in head, head
        printed = re.findall(r"`(shangyun wave rollback 1 --system 审批系统 --fail-back[^`]*)`",
                             head)
        assert printed == [f"shangyun wave rollback 1 --system 审批系统 --fail-back "
                           f"--estate {c.root.resolve()}"], head
        assert "after the soak period" not in head and "浸泡期结束后执行" not in head, head

    # the operator brings it home: the fail-back is allowed, run as the runbook prints it
    # (no $SHANGYUN_ESTATE: a team whose estate is not the default copies it)
    fb = _cli(*shlex.split(printed[0])[1:], "--json")
    assert fb.exit_code == 0, fb.output
    assert c.state() == "failed_back" and pg_writable(ps) and c.dns_values() == (OLD_IP,)

    # ... and a run of the wave does not cut it over again
    err = _error(_cli("wave", "run", "1", *_run_args(c), "--json"))
    assert "审批系统 is classified (涉密)" in err and "nothing was run" in err, err
    # its commands name the estate the run was given (seen: they did not)
    assert f"shangyun wave rollback 1 --system 审批系统 --estate {root})" in err, err
    assert f"shangyun plan --estate {root})" in err, err
    assert c.state() == "failed_back" and pg_writable(ps) and c.dns_values() == (OLD_IP,)
    assert not pg_writable(pt)  # the fail-back's freeze of the target, not lifted
    with open_journal(c.root, create=False) as j:
        assert [r["kind"] for r in j.runs(1)] == ["run", "failback"]  # no run journaled
    dry = _cli("wave", "run", "1", "--estate", root, "--dry-run")
    assert "classified (涉密)" in " ".join(dry.output.split()), dry.output

    # rolled back there, the re-plan excludes it as any classified system
    rb = _cli(*shlex.split(f"shangyun wave rollback 1 --system 审批系统 --estate {root}")[1:],
              "--json")  # as the run's refusal printed it
    assert rb.exit_code == 0, rb.output
    res = _cli("plan", "--estate", root, "--start", "2027-01-04", "--json")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.stdout)
    assert all("sys-01" not in w["systems"] for w in plan["waves"]), plan
    assert c.dns_values() == (OLD_IP,) and NEW_IP not in c.dns_values()
