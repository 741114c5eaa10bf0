"""`inventory import` the way people type it, on the shipped sample's ledgers."""

from __future__ import annotations

import glob
import json
from pathlib import Path

from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate

LEDGERS = Path(__file__).parents[2] / "inventories" / "sample" / "ledgers"


def _import(tmp_path: Path, name: str, *args: str) -> dict[str, object]:
    run = CliRunner().invoke(main, ["inventory", "import", *args, "--estate",
                                    str(tmp_path / name), "--no-progress", "--json"])
    assert run.exit_code == 0, run.output
    return json.loads(run.output)


def _counts(path: Path) -> dict[str, int]:
    return {n: len(df) for n, df in Estate.load(path).tables.items()}


def test_readme_pattern_imports_the_shipped_sample(tmp_path: Path) -> None:
    """`inventory import inventories/sample/ledgers/*/*.xlsx` (the shell expands it)."""
    files = sorted(glob.glob(str(LEDGERS / "*" / "*.xlsx")))
    report = _import(tmp_path, "xlsx", *files)
    assert report["saved"] and report["warnings"] == []
    counts = report["counts"]
    assert isinstance(counts, dict)
    for table, c in counts.items():  # the counts add up: every touched row once
        assert c["added"] + c["updated"] + c["unchanged"] <= report["totals"][table]  # type: ignore[index]
    assert counts["bureaus"]["added"] == report["totals"]["bureaus"]  # type: ignore[index]


def test_folder_pattern_and_manifest_give_the_same_estate(tmp_path: Path) -> None:
    _import(tmp_path, "manifest", str(LEDGERS / "manifest.yaml"))
    _import(tmp_path, "folder", str(LEDGERS))
    files = sorted(glob.glob(str(LEDGERS / "*" / "*")), reverse=True)  # any order
    _import(tmp_path, "reversed", *files)
    manifest = _counts(tmp_path / "manifest")
    assert _counts(tmp_path / "folder") == manifest == _counts(tmp_path / "reversed")
    assert manifest["dependencies"] > 0 and manifest["conflicts"] == 0
