"""The step engine on the real journal (SQLite), real qemu-img and real images; no Prefect."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from actions.context import RunContext
from actions.images import ConvertAction, PrecheckAction
from actions.registry import actions_for
from connectors.journal.wave import open_journal
from shangyun.errors import StepError
from shangyun.wave.engine import execute, undo_system
from shangyun.wave.journal_port import wave_status
from shangyun.wave.plan import load_wave
from shangyun.wave.stepargs import PrecheckArgs
from shangyun.wave.steps import RunOptions, system_steps
from tests.wave.conftest import Cloud, WaveEstate


def _opts(staging: Path, cloud: Cloud | None = None) -> RunOptions:
    return RunOptions(target="libvirt", staging_dir=str(staging),
                      target_options={"uri": cloud.uri, "pool": cloud.pool} if cloud else {})


def test_convert_every_format_verified_idempotent_and_undone(
        wave_estate: WaveEstate, tmp_path: Path) -> None:
    wave = load_wave(wave_estate.root, 1)
    ctx = RunContext(_opts(tmp_path / "staging"))
    conv = ConvertAction(ctx)
    with open_journal(wave_estate.root) as j:
        run = j.begin_run(1, {"options": ctx.opts.to_dict()})
        staged = []
        for system in wave.systems:
            for step in [s for s in system_steps(wave, system, ctx.opts) if s.kind == "convert"]:
                out = execute(j, run, 1, step, conv, {})
                assert not out.skipped
                disk = step.key.rsplit("/", 1)[-1]
                assert out.payload["content_digest"] == "sha256:" + wave_estate.digests[disk]
                assert Path(out.payload["path"]).is_file()
                staged.append(Path(out.payload["path"]))
                again = execute(j, run, 1, step, conv, {})
                assert again.skipped and again.payload["path"] == out.payload["path"]
        assert len(staged) == 6
        # the sources were only read
        for img in wave_estate.images.values():
            assert img.exists()
        rep = undo_system(j, run, 1, "sys-01", actions_for(ctx))
        assert rep.ok and len(rep.undone) == 2
        assert not any(p.exists() for p in staged if "/sys-01/" in str(p))
        assert all(p.exists() for p in staged if "/sys-02/" in str(p))
        assert undo_system(j, run, 1, "sys-01", actions_for(ctx)).undone == []  # twice: safe
        st = wave_status(j, 1)
        states = {s["id"]: s["state"] for s in st["systems"]}
        assert states == {"sys-01": "rolled_back", "sys-02": "done", "sys-03": "done"}


def test_precheck_refuses_changed_estate_and_missing_disk(
        wave_estate: WaveEstate, tmp_path: Path, cloud: Cloud) -> None:
    wave = load_wave(wave_estate.root, 1)
    ctx = RunContext(_opts(tmp_path / "staging", cloud))
    system = wave.system("sys-02")
    pre = system_steps(wave, system, ctx.opts)[0]
    with open_journal(wave_estate.root) as j:
        run = j.begin_run(1, {})
        out = execute(j, run, 1, pre, PrecheckAction(ctx), {})
        assert out.payload["capacity"]["ok"] is True
        os.rename(wave_estate.images["disk-02-0"], str(wave_estate.images["disk-02-0"]) + ".x")
        bad = replace(pre, args=replace(pre.args_as(PrecheckArgs), plan_fingerprint="0" * 64),
                      planned=None)
        with pytest.raises(StepError) as err:
            execute(j, run, 1, bad, PrecheckAction(ctx), {})
        text = str(err.value)
        assert "estate changed" in text and str(wave_estate.images["disk-02-0"]) in text
        assert j.last(1, "sys-02", pre.key).status == "failed"
    ctx.close()


def test_staging_full_fails_cleanly_and_rerun_works(
        wave_estate: WaveEstate, small_tmpfs: Path) -> None:
    wave = load_wave(wave_estate.root, 1, only="sys-01")
    ctx = RunContext(_opts(small_tmpfs))
    system = wave.systems[0]
    converts = [s for s in system_steps(wave, system, ctx.opts) if s.kind == "convert"]
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\1" * (18 * 1024 * 1024))
    with open_journal(wave_estate.root) as j:
        run = j.begin_run(1, {})
        with pytest.raises(StepError, match="staging full"):
            execute(j, run, 1, converts[0], ConvertAction(ctx), {})
        assert j.last(1, "sys-01", converts[0].key).status == "failed"
        assert _files(small_tmpfs) == ["filler"]  # nothing half-written
        assert undo_system(j, run, 1, "sys-01", actions_for(ctx)).ok
        filler.unlink()  # space freed: the rerun works
        for step in converts:
            out = execute(j, run, 1, step, ConvertAction(ctx), {})
            assert not out.skipped and Path(out.payload["path"]).is_file()
        assert len(_files(small_tmpfs)) == 2


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_tampered_audit_record_of_a_wave_is_named(wave_estate: WaveEstate,
                                                  tmp_path: Path) -> None:
    import json
    import sqlite3

    from click.testing import CliRunner

    from shangyun.cli import main

    wave = load_wave(wave_estate.root, 1, only="sys-01")
    ctx = RunContext(_opts(tmp_path / "staging"))
    step = next(s for s in system_steps(wave, wave.systems[0], ctx.opts) if s.kind == "convert")
    with open_journal(wave_estate.root) as j:
        run = j.begin_run(1, {})
        execute(j, run, 1, step, ConvertAction(ctx), {})
        j.finish_run(run, "done")
    ok = CliRunner().invoke(main, ["audit", "verify", "--estate", str(wave_estate.root),
                                   "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["ok"] is True
    db = sqlite3.connect(wave_estate.root / "journal.db")
    try:
        seq, details = db.execute(
            "SELECT seq, details FROM audit_log WHERE system = 'sys-01' AND details LIKE "
            "'%content_digest%' ORDER BY seq LIMIT 1").fetchone()
        forged = details.replace("sha256:", "sha256:0", 1)  # an operator "fixes" a digest
        db.execute("UPDATE audit_log SET details = ? WHERE seq = ?", (forged, seq))
        db.commit()
    finally:
        db.close()
    bad = CliRunner().invoke(main, ["audit", "verify", "--estate", str(wave_estate.root),
                                    "--json"])
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["ok"] is False and report["first_problem"]["seq"] == seq


def test_rollback_refused_while_the_wave_is_running(wave_estate: WaveEstate) -> None:
    from actions.rollback import rollback

    with open_journal(wave_estate.root) as j:
        run = j.begin_run(1, {})  # this (live) process is running wave 1
        with pytest.raises(StepError, match="being run right now"):
            rollback(str(wave_estate.root), 1)
        j.finish_run(run, "done")
    assert rollback(str(wave_estate.root), 1) == []  # idle now: nothing to undo


@pytest.mark.parametrize("names,said", [
    ({"sys-1": "审批系统", "sys-2": "档案系统"}, "system 审批系统 is cut over"),
    ({"sys-1": "同名", "sys-2": "同名"}, "system 同名 (sys-1) is cut over"),
    ({}, "system sys-1 is cut over"),
])
def test_in_production_refusal_names_the_system(tmp_path: Path, names: dict[str, str],
                                                said: str) -> None:
    """The refusal a person reads in a run's output names the system by its name (``name
    (id)`` when two share it; the id when the caller has no names), for a step and for an
    undo alike."""
    from shangyun.errors import InProductionError
    from shangyun.wave.engine import refuse_in_production
    from shangyun.wave.steps import Step

    (tmp_path / "estate").mkdir()
    with open_journal(tmp_path / "estate") as j:
        run = j.begin_run(1, {"options": {}})
        step = Step("cutover", "sys-1", "sys-1/cutover", "mark")
        j.record(run, 1, step, "started", {})
        j.record(run, 1, step, "done", {"cut_over_at": "2020-01-01T00:00:00+00:00"})
        with pytest.raises(InProductionError) as exc:
            refuse_in_production(j, 1, "sys-1", "delta sys-1/delta/pg", names)
        assert str(exc.value).startswith(said), exc.value
        with pytest.raises(InProductionError) as exc:
            undo_system(j, run, 1, "sys-1", {}, names=names)
        assert str(exc.value).startswith(said), exc.value
        refuse_in_production(j, 1, "sys-2", "delta sys-2/delta/pg", names)  # not cut over
