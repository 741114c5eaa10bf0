"""Re-planning in the middle of a programme: the plan reads the journal.

The sequence a programme runs for months — plan → ``wave run 1`` → new ledgers bring new
systems → plan again → ``wave run 2`` — on the real CLI, the real wave flow (qemu-img,
moto's S3, the libvirt test driver as the target) and a real journal (the estate's SQLite
file, or PostgreSQL at 127.0.0.1:5432 through ``SHANGYUN_JOURNAL``). A wave that has run
keeps its systems and takes nothing new; everything else is planned after it, and the
plan says why. The edge cases (a system rolled back in a wave that ran, pins into a wave
that ran, waves that never ran below one that did) are recorded in the journal step by
step, as the runbook tests do.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from connectors.journal.history import open_reader
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.estate import Estate
from shangyun.estate.names import command_arg, shell_word
from shangyun.planner import PlanOptions, make_plan
from shangyun.planner.history import RanWave, RanWaves
from shangyun.runbook.api import render_runbook, runbook_context
from shangyun.wave.builder import wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions
from tests.planner.build import make_estate, system
from tests.support import pg_database
from tests.wave.conftest import (  # noqa: F401
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
    write_plan,
)

START = "2027-01-04"


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _plan(root: Path, *extra: str) -> dict:
    res = _cli("plan", "--estate", str(root), "--start", START, "--json", *extra)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _waves(plan: dict) -> dict[int, list[str]]:
    return {w["number"]: sorted(w["systems"]) for w in plan["waves"]}


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[str]:
    """The estate's SQLite journal, or a PostgreSQL journal of this test's own."""
    if request.param == "sqlite":
        monkeypatch.delenv("SHANGYUN_JOURNAL", raising=False)
        yield "sqlite"
        return
    with pg_database("shangyun_replan") as db:
        monkeypatch.setenv("SHANGYUN_JOURNAL", f"postgresql://postgres@127.0.0.1:5432/{db}")
        yield "postgresql"


def test_plan_run_import_replan_run(prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
                                    moto_endpoint: str, bucket: str,  # noqa: F811
                                    journal_kind: str) -> None:
    images = tmp_path / "images"
    root = tmp_path / "estate"
    build_estate(root, images, n_systems=2)
    run = ["--target", "libvirt", "--target-uri", cloud.uri, "--pool", cloud.pool,
           "--staging", str(tmp_path / "staging"), "--s3-endpoint", moto_endpoint,
           "--bucket", bucket, "--json"]
    first = _plan(root, "--pilot-systems", "1")
    assert sorted(len(s) for s in _waves(first).values()) == [1, 1], first
    assert first["ran_waves"] == [] and first["notes"] == [], first
    wave1 = _waves(first)[1]
    res = _cli("wave", "run", "1", "--estate", str(root), *run)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["state"] == "done", res.stdout

    # new ledgers: an export of a four-system estate (same images, same ids for the two
    # known systems) imported into this one adds sys-03 and sys-04 (rows an export adds
    # are a reviewed diff: written with --apply)
    bigger = build_estate(tmp_path / "bigger", images, n_systems=4)
    ledger = tmp_path / "ledger.xlsx"
    assert _cli("inventory", "export", "--estate", str(bigger.root), "--xlsx", str(ledger),
                "--lang", "en").exit_code == 0
    imp = _cli("inventory", "import", str(ledger), "--estate", str(root), "--json")
    assert imp.exit_code == 0, imp.output
    assert {a["id"] for a in json.loads(imp.stdout)["added"] if a["table"] == "systems"} \
        == {"sys-03", "sys-04"} and not json.loads(imp.stdout)["saved"]
    imp = _cli("inventory", "import", str(ledger), "--estate", str(root), "--json", "--apply")
    assert imp.exit_code == 0, imp.output
    assert {s["id"] for s in Estate.load(root).rows("systems")} == {
        "sys-01", "sys-02", "sys-03", "sys-04"}

    replan = _plan(root, "--pilot-systems", "1")
    waves = _waves(replan)
    assert waves[1] == wave1, waves  # wave 1 as it ran: nothing new, nothing gone
    later = sorted(s for n, ss in waves.items() if n >= 2 for s in ss)
    assert later == sorted({"sys-01", "sys-02", "sys-03", "sys-04"} - set(wave1)), waves
    assert sorted(waves) == list(range(1, len(waves) + 1)), waves  # contiguous
    assert replan["ran_waves"] == [1] and replan["waves"][0]["ran"] is True
    assert replan["notes"][0].startswith("wave 1 has run; new systems start at wave 2"), \
        replan["notes"]
    meta = yaml.safe_load((root / "plan" / "plan.yaml").read_text(encoding="utf-8"))
    assert meta["ran_waves"] == [1] and meta["waves"][0]["ran"] is True, meta
    # the person reading the plan is told why: the table, the notes, plan explain
    text = _cli("plan", "--estate", str(root), "--start", START, "--pilot-systems", "1",
                "--dry-run").output
    assert "wave 1 has run; new systems start at wave 2" in " ".join(text.split()), text
    assert "1 (pilot) (ran)" in text, text
    why = _cli("plan", "explain", "sys-03", "--estate", str(root), "--json")
    reasons = json.loads(why.stdout)["reasons"]
    assert any("wave 1 has run; new systems start at wave 2" in r for r in reasons), reasons
    held = json.loads(_cli("plan", "explain", wave1[0], "--estate", str(root),
                           "--json").stdout)
    assert held["wave"] == 1 and "ran in wave 1 (done" in held["reasons"][0], held

    # pinning a new system into the wave that ran: one clear error, nothing written
    before = (root / "plan" / "move_groups.csv").read_bytes()
    name = next(r["name"] for r in Estate.load(root).rows("systems") if r["id"] == "sys-04")
    bad = _cli("plan", "--estate", str(root), "--start", START, "--pin", f"{name}=1")
    assert bad.exit_code != 0, bad.output
    msg = " ".join(bad.output.split())
    assert f"--pin {name}=1" in msg and "wave 1 has run" in msg, msg
    assert f"{name} (sys-04)" in msg and "wave 2 or later" in msg, msg
    assert (root / "plan" / "move_groups.csv").read_bytes() == before

    # wave 2 runs: the re-plan's first new wave
    res = _cli("wave", "run", "2", "--estate", str(root), *run)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["state"] == "done", out
    assert sorted(s["id"] for s in out["systems"]) == waves[2], out
    st = json.loads(_cli("status", "--estate", str(root), "--json").stdout)
    by_wave = {w["wave"]: w for w in st["waves"]}
    assert by_wave[1]["state"] == "done" and by_wave[1]["moved"] == len(wave1), by_wave
    assert by_wave[2]["state"] == "done" and by_wave[2]["moved"] == len(waves[2]), by_wave

    # and the next re-plan keeps both waves that ran
    third = _plan(root, "--pilot-systems", "1")
    assert _waves(third)[1] == wave1 and _waves(third)[2] == waves[2], third
    assert third["ran_waves"] == [1, 2] and sorted(_waves(third)) == [1, 2], third
    assert third["notes"][0].startswith("waves 1–2 have run; new systems start at wave 3")


# --- the journal recorded step by step (no flow): rolled back, refused, pins, gaps -------

def _estate(tmp_path: Path) -> Path:
    """Four systems with real images (``sys-01`` … ``sys-04``); sys-01 is renamed
    ``电子 证照库`` (a space and CJK: quoted in commands)."""
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=4)
    path = root / "systems.csv"
    path.write_text(path.read_text(encoding="utf-8-sig").replace("审批系统", "电子 证照库"),
                    encoding="utf-8-sig")
    return root


def _record(root: Path, wave: int, outcome: dict[str, str]) -> None:
    """Wave ``wave`` of the plan in ``plan/`` recorded in the journal: each system of
    ``outcome`` done, rolled back (every step undone) or failed (its second step)."""
    opts = RunOptions(target="libvirt", target_options={"uri": "test:///default",
                                                        "pool": "p"},
                      staging_dir=str(root / "staging"), bucket="b")
    steps = wave_steps(load_wave(root, wave), opts)
    with open_journal(root) as j:
        run = j.begin_run(wave, {"options": opts.to_dict()})
        for sid, what in outcome.items():
            for k, st in enumerate(steps[sid]):
                j.record(run, wave, st, "started", {})
                if what == "failed" and k == 1:
                    j.record(run, wave, st, "failed", {}, error="boom")
                    break
                j.record(run, wave, st, "done", {"ok": True})
            if what == "rolled_back":
                for st in reversed(steps[sid]):
                    j.record(run, wave, st, "undoing", {})
                    j.record(run, wave, st, "undone", {})
        j.finish_run(run, "done" if set(outcome.values()) == {"done"} else "failed")


def test_a_rolled_back_system_is_planned_again_after_the_wave_that_ran(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHANGYUN_JOURNAL", raising=False)
    root = _estate(tmp_path)
    write_plan(root, {1: [["sys-01"], ["sys-02"], ["sys-03"]], 2: [["sys-04"]]})
    _record(root, 1, {"sys-01": "rolled_back", "sys-02": "done", "sys-03": "failed"})
    plan = _plan(root)
    waves = _waves(plan)
    # sys-02 (done) and sys-03 (failed: its steps are not undone) stay; sys-01 comes back
    assert waves[1] == ["sys-02", "sys-03"], waves
    assert sorted(s for n, ss in waves.items() if n >= 2 for s in ss) == [
        "sys-01", "sys-04"], waves
    assert any("电子 证照库 was rolled back in wave 1; planned again in wave" in n
               for n in plan["notes"]), plan["notes"]
    why = json.loads(_cli("plan", "explain", "sys-01", "--estate", str(root),
                          "--json").stdout)
    assert any(r.startswith("rolled back in wave 1, which has run: planned again in wave")
               for r in why["reasons"]), why
    failed = json.loads(_cli("plan", "explain", "sys-03", "--estate", str(root),
                             "--json").stdout)
    assert failed["wave"] == 1 and "ran in wave 1 (failed" in failed["reasons"][0], failed
    # the move groups of the wave that ran are kept, under ids the new ones never take
    groups = (root / "plan" / "move_groups.csv").read_text(encoding="utf-8-sig")
    assert "W1-mg-1-1,1,sys-02" in groups and "W1-mg-1-2,1,sys-03" in groups, groups
    # the runbook of wave 1 tells the team what to type: names, quoted for the shell, and
    # the CLI takes the command as printed
    with open_reader(root) as journal:
        ctx = runbook_context(root, 1, "en", journal=journal)
    decide = {d["id"]: d["action"] for d in ctx["outcome"]["decide"]}
    where = f" --estate {root.resolve()}"  # a document's commands name their estate
    assert f"(`shangyun wave rollback 1 --system 办公系统{where}`)" in decide["sys-03"], decide
    write_plan(root, {1: [["sys-01"], ["sys-02"], ["sys-03"]], 2: [["sys-04"]]})
    md, _ = render_runbook(root, 1, "md", "en", journal=None)
    assert f"`shangyun wave rollback 1 --system '电子 证照库'{where}`" in md
    assert "--system sys-0" not in md and "--only sys-0" not in md
    with open_reader(root) as journal:
        ctx = runbook_context(root, 1, "en", journal=journal)
    rerun = next(d["action"] for d in ctx["outcome"]["decide"] if d["id"] == "sys-01")
    command = rerun.split("`")[1]
    # the run's own target options come along (the journal's run recorded them)
    assert command == ("shangyun wave run 1 --only '电子 证照库' --target-uri test:///default "
                       f"--pool p --bucket b{where}"), rerun
    res = _cli(*shlex.split(command)[1:], "--dry-run", "--json")  # as printed: its estate
    assert res.exit_code == 0, res.output
    assert [s["id"] for s in json.loads(res.stdout)["systems"]] == ["sys-01"], res.stdout


def test_a_command_names_a_system_by_name_unless_the_name_is_shared() -> None:
    names = {"s-1": "电子 证照库", "s-2": "审批系统", "s-3": "门户", "s-4": "门户", "s-5": ""}
    assert command_arg("system", "s-1", names) == "'电子 证照库'"
    assert command_arg("system", "s-2", names, "=3") == "审批系统=3"
    assert command_arg("system", "s-3", names) == "s-3"  # two systems are named 门户
    assert command_arg("system", "s-5", names) == "s-5"
    assert shell_word("it's") == shlex.quote("it's") and shell_word("a;b") == "'a;b'"


def test_pins_against_a_wave_that_ran_are_clear_errors(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHANGYUN_JOURNAL", raising=False)
    root = _estate(tmp_path)
    write_plan(root, {1: [["sys-01"], ["sys-02"]], 2: [["sys-03"], ["sys-04"]]})
    _record(root, 1, {"sys-01": "done", "sys-02": "done"})
    _plan(root, "--pin", "档案系统=1")  # a held system pinned where it is: accepted
    cases = [
        (["--pin", "办公系统=1"], ["--pin 办公系统=1: 办公系统 (sys-03) cannot go into "
                               "wave 1",
                               "wave 1 has run", "pin it to wave 2 or later"]),
        (["--pin", "sys-01=2"], [f"--pin {shlex.quote('电子 证照库=2')}",
                                 "电子 证照库 (sys-01) ran in wave 1 (done)",
                                 f"wave rollback 1 --system {shlex.quote('电子 证照库')}"]),
        (["--exclude", "档案系统"], ["--exclude 档案系统", "ran in wave 1 (done)"]),
    ]
    for args, wanted in cases:
        res = _cli("plan", "--estate", str(root), "--start", START, *args, "--json")
        assert res.exit_code != 0, (args, res.output)
        err = " ".join(json.loads(res.stdout)["error"].split())
        for w in wanted:
            assert w in err, (args, w, err)


def test_a_wave_that_never_ran_below_one_that_did_stays_empty(tmp_path: Path) -> None:
    est = make_estate([system(f"s{i}", criticality="low") for i in range(1, 5)])
    ran = RanWaves({3: RanWave(3, {"s1": "done"}, first_run="2027-01-18")})
    plan = make_plan(est, PlanOptions(start=dt.date(2027, 2, 1)), history=ran)
    numbers = [w["number"] for w in plan.waves]
    assert numbers[0] == 3 and plan.waves[0]["systems"] == ["s1"], plan.waves
    assert all(n >= 4 for n in numbers[1:]) and numbers == sorted(numbers), numbers
    assert numbers[1:] == list(range(4, 4 + len(numbers) - 1)), numbers
    assert plan.waves[0]["start"] == "2027-01-18" and plan.waves[1]["start"] >= "2027-02-01"
    assert not plan.waves[1]["pilot"], plan.waves[1]
    warned = plan.warnings(dt.date(2027, 1, 1))
    assert any("waves 1, 2 never ran but wave 3 did: they stay empty" in w for w in warned), warned
    assert plan.metrics["waves_run"] == 1 and plan.metrics["lower_bound_waves"] >= 4
