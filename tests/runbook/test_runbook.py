"""Runbooks rendered from a real run's journal: content, both languages, both formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.journal.history import open_reader
from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.report import programme_status, render_report
from shangyun.runbook import render_runbook, runbook_context, write_runbook
from tests.runbook.conftest import RanWave


def test_context_before_and_after(ran_wave: RanWave) -> None:
    with open_reader(ran_wave.root) as history:
        ctx = runbook_context(ran_wave.root, 1, "en", journal=history)
    assert ctx["ran"] and [r["id"] for r in ctx["runs"]] == [ran_wave.run_id]
    states = {s["id"]: s["state"] for s in ctx["systems"]}
    assert states == {"sys-01": "done", "sys-02": "rolled_back"}
    for s in ctx["systems"]:
        assert [st["key"] for st in s["steps"]] == ran_wave.steps[s["id"]]
        assert all(st["seconds"] > 0 for st in s["steps"])
    moved = next(s for s in ctx["systems"] if s["id"] == "sys-01")
    with open_journal(ran_wave.root) as j:
        recs = {r.key: r for r in j.records(1, "sys-01")}
    for st in moved["history"]["steps"]:
        if st["kind"] == "convert":
            assert st["verification"]["content_digest"] == recs[st["key"]].payload[
                "content_digest"]
    assert ctx["failures"] and ctx["failures"][0]["key"] == "sys-02/convert/disk-02-1"
    # rollbacks: one entry per system, not one line per step (#17)
    assert [r["system"] for r in ctx["rollbacks"]] == ["sys-02"]
    back = ctx["rollbacks"][0]
    assert back["state"] == "rolled_back" and back["steps"] >= 3 and back["undone"] >= 2
    assert back["undo_failed"] == []


def test_the_outcome_leads_and_names_what_needs_a_decision(ran_wave: RanWave) -> None:
    with open_reader(ran_wave.root) as history:
        ctx = runbook_context(ran_wave.root, 1, "en", journal=history)
        text, _ = render_runbook(ran_wave.root, 1, "md", "en", journal=history)
    out = ctx["outcome"]
    assert out["state"] == "failed" and not out["ok"]
    assert [s["id"] for s in out["moved"]] == ["sys-01"]
    assert [(s["id"], s["state"]) for s in out["rolled_back"]] == [("sys-02", "rolled_back")]
    why = out["rolled_back"][0]["why"]  # the step, without the system named already
    assert "`convert/disk-02-1`: " in why, why
    assert not why.split("`: ", 1)[1].startswith(("system sys-02", "sys-02")), why
    assert [d["id"] for d in out["decide"]] == ["sys-02"]
    # the command names the system as a person types it: by its name (档案系统), with the
    # options of the run that failed (a libvirt run without --target-uri is refused)
    assert "wave run 1 --only 档案系统 --target-uri test://" in out["decide"][0]["action"], (
        out["decide"])
    # the outcome comes before the plan, and the rollback is one line for the system
    assert text.index("## Outcome") < text.index("## Before the wave")
    head = text[:text.index("## Before the wave")]
    assert "failed: a system did not move" in head and "1 of 2 systems moved" in head
    assert "档案系统" in head and "审批系统" in head
    assert text.count("Rollbacks **") == 1
    assert "1 needing a decision" in head and "by the operator" not in head


def test_a_failures_rollback_reads_failed_on_every_surface(ran_wave: RanWave) -> None:
    """The failing run undid sys-02 itself (its undo marks name that run, not the
    operator's ``wave rollback``): ``wave status``, ``status``, the runbook and the report
    all say failed / rolled back with the cause, and that it needs a decision."""
    root = str(ran_wave.root)
    res = CliRunner().invoke(main, ["wave", "status", "1", "--estate", root, "--json"])
    wave = json.loads(res.stdout)
    assert wave["state"] == "failed" and wave["rolled_back_by"] is None
    assert {s["id"]: s["state"] for s in wave["systems"]} == {"sys-01": "done",
                                                              "sys-02": "rolled_back"}
    text = CliRunner().invoke(main, ["wave", "status", "1", "--estate", root]).output
    assert "wave 1: failed" in text and "by the operator" not in text, text
    res = CliRunner().invoke(main, ["status", "--estate", root, "--json"])
    status = json.loads(res.stdout)
    assert status["waves"][0]["state"] == "failed" and status["waves"][0]["failed"] == 1
    assert status["totals"]["rolled_back_by_operator"] == 0
    with open_reader(root) as history:
        ctx = runbook_context(root, 1, "zh", journal=history)
        data = programme_status(root, journal=history)
        report, _ = render_report(root, "md", "en", journal=history)
    back = next(s for s in ctx["systems"] if s["id"] == "sys-02")
    assert {st["undone_by"] for st in back["history"]["rolled_back"]} == {"run"}
    assert ctx["outcome"]["state"] == "failed" and ctx["outcome"]["label"].startswith("失败")
    assert [d["id"] for d in ctx["outcome"]["decide"]] == ["sys-02"]
    assert data["waves"][0]["state"] == "failed" and "| rolled back |" in report


def test_undone_steps_keep_their_own_duration(ran_wave: RanWave) -> None:
    """An undone step's duration is the step's (start to its end), not start to the undo;
    the undo's own time is recorded beside it (#17: 11 s per undone step against 0.1 s)."""
    with open_reader(ran_wave.root) as history:
        ctx = runbook_context(ran_wave.root, 1, "en", journal=history)
    failed = next(s for s in ctx["systems"] if s["id"] == "sys-02")
    undone = [st for st in failed["history"]["steps"] if st["status"] == "undone"]
    assert undone
    for st in undone:
        assert st["undo_started_ts"] is not None and st["undo_seconds"] is not None
        # the step ended before its undo began
        assert st["started_ts"] + st["seconds"] <= st["undo_started_ts"] + 1e-3, st
    precheck = next(st for st in undone if st["kind"] == "precheck")
    moved = next(s for s in ctx["systems"] if s["id"] == "sys-01")
    twin = next(st for st in moved["history"]["steps"] if st["kind"] == "precheck")
    assert precheck["seconds"] < max(5.0, 20 * twin["seconds"]), (precheck, twin)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_every_system_step_and_verification_present(ran_wave: RanWave, fmt: str,
                                                    lang: str) -> None:
    with open_reader(ran_wave.root) as history:
        text, pngs = render_runbook(ran_wave.root, 1, fmt, lang, journal=history)
    with open_journal(ran_wave.root) as j:
        records = j.records(1)
    for sid, keys in ran_wave.steps.items():
        assert sid in text
        for key in keys:
            assert key in text
    digests = [str(r.payload[k]) for r in records for k in ("content_digest", "file_digest")
               if r.payload.get(k)]
    assert len(digests) >= 4
    for d in digests:
        assert d in text
    assert "审批系统" in text and "档案系统" in text
    if lang == "zh":
        assert "第 1 批迁移操作手册" in text and "回退方案" in text and "签字确认" in text
        assert "已回退" in text and "完成" in text
    else:
        assert "Wave 1 runbook" in text and "Rollback procedure" in text and "Sign-off" in text
        assert "rolled back" in text
    assert all(p.startswith(b"\x89PNG") and len(p) > 5000 for p in pngs.values())
    if fmt == "html":
        assert text.count("data:image/png;base64,") == 3
        assert "@media print" in text and "page-break" in text
        assert not re.search(r"<img[^>]+src=\"(?!data:)", text)  # self-contained


def test_before_the_wave_runbook_without_journal(ran_wave: RanWave, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "estate"
    shutil.copytree(ran_wave.root, copy, ignore=shutil.ignore_patterns("journal.db*"))
    ctx = runbook_context(copy, 1, "zh")
    assert not ctx["ran"] and all(s["state"] == "pending" for s in ctx["systems"])
    text, _ = render_runbook(copy, 1, "md", "zh")
    assert "本批次尚未执行" in text and "Go/No-Go" in text
    # the bureaus have a link but no window: the window check is unknown, never OK (#17)
    window = [c for c in ctx["checks"] if c["auto"] and "窗口" in c["text"]]
    assert len(window) == 1 and window[0]["ok"] is False
    assert "未知 — 请填写" in window[0]["result"] and "bureaus.window_hours" in window[0]["result"]
    assert all(c["ok"] for c in ctx["checks"] if c["auto"] and c not in window)
    assert ctx["verdict"]["go"] is False and "NO-GO" in text.split("##")[0]
    assert "None" not in text
    # a disk without a path, and so a changed estate: both become no-go items and warnings
    from shangyun.estate import Estate

    est = Estate.load(copy, check=False)
    disks = est.rows("disks")
    for d in disks:
        if d["id"] == "disk-02-1":
            d["path"] = ""
    est.set_rows("disks", disks)
    est.save(copy)
    ctx = runbook_context(copy, 1, "en")
    checks = {c["text"]: c["ok"] for c in ctx["checks"]}
    assert checks["Every host's disks are known, each with an image path"] is False
    assert checks["The plan matches the estate (fingerprint)"] is False
    text = " ".join(w["text"] for w in ctx["warnings"])
    # the disk and its host by name, as the team reads them (ids before: disk-02-1, h-…)
    assert "Disk disk1 (host vm02) has no image path" in text and "estate changed" in text
    # the first screen's NO-GO reason says what changed and what to do, not a bare
    # "The plan matches the estate (fingerprint): Attention"
    result = next(c["result"] for c in ctx["checks"]
                  if c["text"] == "The plan matches the estate (fingerprint)")
    assert "estate changed since the plan was made" in result, result
    assert f"shangyun plan --estate {copy}" in result, result
    assert any(result in r for r in ctx["verdict"]["reasons"]), ctx["verdict"]
    zh = runbook_context(copy, 1, "zh")
    zh_result = next(c["result"] for c in zh["checks"]
                     if c["text"].startswith("计划与资产清单一致"))
    assert "重新制定计划" in zh_result and "shangyun plan" in zh_result, zh_result


def test_cli_writes_default_paths_and_pngs(ran_wave: RanWave) -> None:
    runner = CliRunner()
    for fmt in ("md", "html"):
        for lang in ("zh", "en"):
            r = runner.invoke(main, ["runbook", "1", "--estate", str(ran_wave.root),
                                     "--format", fmt, "--lang", lang])
            assert r.exit_code == 0, r.output
            path = ran_wave.root / "runbooks" / f"wave-1.{lang}.{fmt}"
            assert path.is_file() and "sys-01" in path.read_text(encoding="utf-8")
    for chart in ("gantt", "graph", "progress"):
        assert (ran_wave.root / "runbooks" / f"wave-1.zh.{chart}.png").stat().st_size > 5000
    r = runner.invoke(main, ["runbook", "1", "--estate", str(ran_wave.root), "--json"])
    assert r.exit_code == 0
    assert '"rolled_back"' in r.output


def test_unknown_wave_is_one_clear_error(ran_wave: RanWave, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["runbook", "7", "--estate", str(ran_wave.root),
                                  "--out", str(tmp_path / "x.html")])
    assert r.exit_code == 1 and "no wave 7" in r.output
    assert not (tmp_path / "x.html").exists()
    with open_reader(ran_wave.root) as history:
        assert write_runbook(ran_wave.root, 1, "md", "en", tmp_path / "o.md",
                             journal=history).is_file()
