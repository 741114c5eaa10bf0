"""The estate report and ``shangyun status`` from a real run's journal and a real
assessment and plan (the sample generator's estate)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.journal.history import open_reader
from shangyun.cli import main
from shangyun.report import programme_status, render_report
from tests.runbook.conftest import RanWave


def test_report_progress_from_the_journal(ran_wave: RanWave) -> None:
    with open_reader(ran_wave.root) as history:
        data = programme_status(ran_wave.root, journal=history)
    states = {s["id"]: s["state"] for s in data["systems"]}
    assert states == {"sys-01": "done", "sys-02": "rolled_back"}
    assert data["totals"] == {"systems": 2, "moved": 1, "pending": 0, "failed": 1,
                              "excluded": 0, "failed_back": 0, "rolled_back_by_operator": 0}
    [wave] = data["waves"]
    assert (wave["wave"], wave["runs"], wave["state"]) == (1, 1, "failed")
    assert (wave["moved"], wave["failed"], wave["systems"]) == (1, 1, 2)
    per = {b["id"]: b for b in data["bureaus"]}
    assert per["bureau-01"]["moved"] == 1 and per["bureau-02"]["failed"] == 1


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_report_renders_every_system(ran_wave: RanWave, fmt: str, lang: str) -> None:
    with open_reader(ran_wave.root) as history:
        text, pngs = render_report(ran_wave.root, fmt, lang, journal=history)
    for sid, name in (("sys-01", "审批系统"), ("sys-02", "档案系统")):
        assert sid in text and name in text
    assert ("迁移进展报告" if lang == "zh" else "Migration progress report") in text
    assert ("已回退" if lang == "zh" else "rolled back") in text
    assert pngs["progress"].startswith(b"\x89PNG")
    if fmt == "html":
        assert "data:image/png;base64," in text


@pytest.fixture(scope="module")
def assessed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated estate, assessed and planned through the CLI."""
    from shangyun.sample.generator import generate_estate

    root = tmp_path_factory.mktemp("report-estate") / "estate"
    generate_estate(bureaus=4, systems=12, seed=1).save(root)
    runner = CliRunner()
    for cmd in (["assess"], ["plan"]):
        r = runner.invoke(main, [*cmd, "--estate", str(root)])
        assert r.exit_code == 0, r.output
    return root


def test_report_before_after_and_excluded(assessed: Path) -> None:
    data = programme_status(assessed)
    a = data["assessment"]
    assert a["before"]["physical_servers"] > a["after"]["physical_servers"]
    text, _ = render_report(assessed, "md", "en")
    assert f"{100 * a['before']['cpu_utilisation']:.0f} %" in text
    assert f"{100 * a['after']['cpu_utilisation']:.0f} %" in text
    assert f"{a['saving_pct']} %" in text
    assert data["excluded"] and all(s["id"] in text for s in data["excluded"])
    assert data["totals"]["pending"] == data["totals"]["systems"] - data["totals"]["excluded"]
    assert len(data["waves"]) >= 2 and all(w["state"] == "never run" for w in data["waves"])


def test_runbook_of_an_unrun_generated_wave(assessed: Path) -> None:
    r = CliRunner().invoke(main, ["runbook", "1", "--estate", str(assessed), "--lang", "en",
                                  "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["ran"] is False and out["systems"]
    assert all(s["estimate_seconds"] > 0 for s in out["systems"])
    assert Path(out["path"]).read_text(encoding="utf-8").count("□") > 4


def test_status_and_report_cli(ran_wave: RanWave, assessed: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["status", "--estate", str(assessed), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["counts"]["systems"] == 12 and data["assessment"] is not None
    assert data["dashboard"] is None
    r = runner.invoke(main, ["status", "--estate", str(ran_wave.root)])
    assert r.exit_code == 0 and "1 moved" in r.output and "1 failed" in r.output
    r = runner.invoke(main, ["report", "--estate", str(assessed), "--format", "md"])
    assert r.exit_code == 0
    assert (assessed / "runbooks" / "report.zh.md").is_file()
    assert (assessed / "runbooks" / "report.zh.progress.png").stat().st_size > 5000
    broken = tmp_path / "broken"
    shutil.copytree(assessed, broken)
    (broken / "assessment" / "assessment.yaml").write_text("a: [", encoding="utf-8")
    r = runner.invoke(main, ["report", "--estate", str(broken)])
    assert r.exit_code == 1 and "assessment.yaml" in r.output and "not valid YAML" in r.output
