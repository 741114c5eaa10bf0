"""The files the documents say a command writes are written, with the columns and fields
they name — run on the shipped sample (``inventories/sample``), as a newcomer following
docs/sample.md and docs/planning.md would.

Each expectation cites the document that states it; change both together."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import click.testing
import openpyxl
import pytest
import yaml
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.wave.estimate import DISK_MBPS, FIXED_SECONDS, GLOBAL_SLOTS

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "inventories" / "sample"


def _run(*args: str) -> click.testing.Result:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f))


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped sample (its estate, not its ledgers), assessed and planned."""
    estate = tmp_path_factory.mktemp("docs-files") / "sample"
    shutil.copytree(SAMPLE, estate, ignore=shutil.ignore_patterns("ledgers"))
    _run("assess", "--estate", str(estate))
    _run("plan", "--estate", str(estate))
    return estate


def test_the_sample_has_the_counts_docs_sample_md_gives() -> None:
    """docs/sample.md's table: the default column is what `inventory show` counts."""
    table = {}
    for line in (ROOT / "docs" / "sample.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| (bureaus|systems|hosts|disks|databases|dependencies) \|.*\| (\d+) \|$",
                     line)
        if m:
            table[m.group(1)] = int(m.group(2))
    assert len(table) == 6, table
    shown = json.loads(_run("inventory", "show", "--estate", str(SAMPLE), "--json").output)
    assert {k: shown["counts"][k] for k in table} == table


def test_assess_writes_what_docs_planning_md_names(planned: Path) -> None:
    """docs/planning.md, Assessment: assessment.yaml (schema_version, the estate
    fingerprint, options, totals with hosts_without_system), hosts.csv, systems.csv."""
    folder = planned / "assessment"
    assert sorted(p.name for p in folder.iterdir()) == [
        "assessment.yaml", "hosts.csv", "systems.csv"]
    meta = yaml.safe_load((folder / "assessment.yaml").read_text(encoding="utf-8"))
    assert meta["schema_version"] == 1 and meta["estate_fingerprint"]
    assert {"target_utilisation", "headroom", "data"} <= set(meta["options"])
    assert "hosts_without_system" in meta["summary"]
    assert {"host_id", "hostname", "readiness", "reasons", "flavour"} <= set(
        _header(folder / "hosts.csv"))
    assert {"system_id", "name", "readiness", "reasons", "excluded", "placement"} <= set(
        _header(folder / "systems.csv"))


def test_plan_writes_what_docs_planning_md_names(planned: Path) -> None:
    """docs/planning.md, Files: plan.yaml and the five CSVs with the columns it names."""
    folder = planned / "plan"
    assert sorted(p.name for p in folder.iterdir()) == [
        "excluded.csv", "move_groups.csv", "plan.yaml", "systems.csv", "waves.csv",
        "windows.csv"]
    meta = yaml.safe_load((folder / "plan.yaml").read_text(encoding="utf-8"))
    assert {"schema_version", "created", "estate_fingerprint", "options", "metrics", "waves",
            "ran_waves", "notes", "data"} <= set(meta), sorted(meta)
    assert "ran" in _header(folder / "waves.csv")
    assert {"date", "start", "hours", "capacity_gb", "data_gb", "estimated_hours",
            "fits"} <= set(_header(folder / "windows.csv"))
    assert {"systems", "wave", "split_from", "cut"} <= set(_header(folder / "move_groups.csv"))
    assert {"wave", "start", "move_group", "zones", "placement", "reasons"} <= set(
        _header(folder / "systems.csv"))
    with (folder / "windows.csv").open(encoding="utf-8-sig", newline="") as f:
        assert {row["fits"] for row in csv.DictReader(f)} <= {"yes", "no", "unknown"}


def test_runbook_and_report_land_where_docs_runbooks_md_says(planned: Path) -> None:
    """docs/runbooks.md: <estate>/runbooks/wave-N.<lang>.<fmt> and report.<lang>.<fmt>;
    Markdown gets its charts as PNG files beside it (wave-N.zh.gantt.png …)."""
    _run("runbook", "1", "--estate", str(planned), "--format", "md", "--lang", "zh")
    _run("runbook", "1", "--estate", str(planned))
    _run("report", "--estate", str(planned), "--lang", "en")
    out = planned / "runbooks"
    names = {p.name for p in out.iterdir()}
    assert {"wave-1.zh.md", "wave-1.zh.gantt.png", "wave-1.zh.html", "report.en.html"} <= names


def test_export_writes_names_with_the_ids_at_the_end(planned: Path, tmp_path: Path) -> None:
    """docs/ledgers.md, round trip: reference columns hold names, the ids in …编号 / … id
    columns at the end of each sheet; one sheet per table."""
    for lang, ref, ref_id in (("zh", "所属系统", "所属系统编号"), ("en", "system", "system id")):
        book = tmp_path / f"estate.{lang}.xlsx"
        _run("inventory", "export", "--estate", str(planned), "--xlsx", str(book), "--lang", lang)
        wb = openpyxl.load_workbook(book, read_only=True)
        assert len(wb.worksheets) == 7  # six tables and the conflicts
        hosts = wb.worksheets[2]
        header = [c.value for c in next(hosts.iter_rows(max_row=1))]
        assert ref in header and header.index(ref_id) > len(header) - 3, header


def test_the_estimate_allowances_are_those_docs_runbooks_md_gives() -> None:
    """docs/runbooks.md, Estimates: the fixed allowance of each step kind, in seconds."""
    text = " ".join((ROOT / "docs" / "runbooks.md").read_text(encoding="utf-8").split())
    words = {"precheck": "pre-check", "adapt": "guest adaptation", "launch": "test launch",
             "copy": "initial copy", "delta": "final delta", "freeze": "freeze",
             "verify": "verify", "start": "start", "dns": "DNS", "health": "health",
             "cutover": "mark"}
    assert set(words) == set(FIXED_SECONDS)
    for kind, word in words.items():
        assert f"{word} {FIXED_SECONDS[kind]:.0f} s" in text, (kind, FIXED_SECONDS[kind])
    assert f"at most {GLOBAL_SLOTS} move groups at once" in text
    assert f"({DISK_MBPS:.0f} MB/s;" in text
