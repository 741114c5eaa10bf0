"""A ledger re-imported after the cutover gives the cut-over system a host its run never
moved (a forgotten VM of the application). The run leaves a cut-over system alone, so that
host never moves — and ``wave finalize`` closed the wave over it: 'finalized (1 system …)',
``wave status`` then 'done' (seen on the real CLI: vm09 added to 审批系统 after the cutover,
re-planned, finalized). A finalize cannot be taken back; it now refuses, naming the host
and the system, with the commands that move it whole. The journal is the real SQLite one
(records as the runbook tests write them); the CLI is the real one."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from connectors.journal.wave import open_journal
from shangyun.cli import main
from shangyun.estate import Estate
from shangyun.wave.builder import wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import build_estate, write_plan


def test_finalize_refuses_a_host_of_the_system_its_cutover_never_moved(
        tmp_path: Path) -> None:
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, mib=1)
    spec = {"schema_version": 1, "systems": {"sys-01": {
        "health": [{"kind": "http", "url": "http://127.0.0.1:9/ok"}]}}}
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    opts = RunOptions(target="libvirt", target_options={"uri": "test:///default", "pool": "p"},
                      staging_dir=str(root / "staging"), bucket="b")
    with open_journal(root) as j:  # 审批系统 (vm01) cut over long ago
        run = j.begin_run(1, {"options": opts.to_dict()})
        for st in wave_steps(load_wave(root, 1), opts)["sys-01"]:
            j.record(run, 1, st, "started", {})
            j.record(run, 1, st, "done", {"cut_over_at": "2020-01-01T00:00:00+00:00"}
                     if st.kind == "cutover" else {"ok": True})
        j.finish_run(run, "done")
    est = Estate.load(root)  # the re-imported ledger: 审批系统 also runs on vm09
    host = {**est.rows("hosts")[0], "id": "host-09", "hostname": "vm09"}
    disk = {**est.rows("disks")[0], "id": "disk-09-0", "host_id": "host-09"}
    assert not est.set_rows("hosts", [*est.rows("hosts"), host])
    assert not est.set_rows("disks", [*est.rows("disks"), disk])
    est.save(root)
    write_plan(root, {1: [["sys-01"]]})

    res = CliRunner().invoke(main, ["wave", "finalize", "1", "--estate", str(root),
                                    "--soak-hours", "0", "--json"])
    assert res.exit_code == 1, res.output
    err = " ".join(json.loads(res.stdout)["error"].split())
    assert "审批系统" in err and "vm09" in err and "vm01" not in err, err
    assert "shangyun wave rollback 1 --system 审批系统 --fail-back" in err, err
    assert "shangyun wave run 1 --only 审批系统" in err, err
    with open_journal(root, create=False) as j:
        assert [r["kind"] for r in j.runs(1)] == ["run"]  # nothing finalized

    # wave status and the runbook judge it as finalize does: no finalize suggested there
    # (they read 'next: shangyun wave finalize 1 … after the soak period' — the same path)
    text = " ".join(CliRunner().invoke(main, ["wave", "status", "1", "--estate",
                                              str(root)]).output.split())
    assert "finalize would refuse 审批系统: vm09 never moved" in text, text
    assert "shangyun wave rollback 1 --system 审批系统 --fail-back" in text, text
    assert "after the soak period" not in text, text
    for lang, words in (("en", "never move"), ("zh", "永远不会迁移")):
        book = CliRunner().invoke(main, ["runbook", "1", "--estate", str(root), "--lang", lang,
                                         "--format", "md"])
        assert book.exit_code == 0, book.output
        md = (root / "runbooks" / f"wave-1.{lang}.md").read_text(encoding="utf-8")
        head = md[:md.index("\n## ", md.index("\n## ") + 1)]  # the outcome section
        assert "审批系统 (vm09)" in head and words in head, head
        assert "shangyun wave rollback 1 --system 审批系统 --fail-back" in head, head
        assert "shangyun wave run 1 --only 审批系统" in head, head
        assert "after the soak period" not in head and "浸泡期结束后执行" not in head, head
    # and so does the one-screen 'shangyun status' (seen: 'cut over — awaiting finalize'
    # in its waves table, where 'wave finalize' then refused)
    screen = CliRunner().invoke(main, ["status", "--estate", str(root)])
    assert screen.exit_code == 0, screen.output
    flat = " ".join(screen.output.split())
    assert "awaiting finalize" not in flat, flat
    assert "wave 1: finalize would refuse 审批系统: vm09 never moved" in flat, flat
    data = json.loads(CliRunner().invoke(main, ["status", "--estate", str(root),
                                                "--json"]).stdout)
    (w,) = data["waves"]
    assert "vm09 never moved" in (w.get("finalize_refused") or ""), w
