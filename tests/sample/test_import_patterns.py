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
    # the bureaus whose ledgers are CSV files are not in the pattern: the systems the
    # dependency workbooks name in them are placeholders, each named in a warning
    warnings = report["warnings"]
    assert isinstance(warnings, list) and warnings
    # (and the RVTools exports' own notes: some VMs are off, and the VMs' Annotations name
    # their systems (业务系统：…); that they name no system is not said: each RVTools
    # bureau's xlsx ledger, in the same import, gives every VM its system)
    rvtools = [w for w in warnings if w.startswith("RVTools_export_")]
    assert rvtools and all("powered off" in w or "by the labels of their Annotation" in w
                           for w in rvtools)
    warnings = [w for w in warnings if w not in rvtools]
    assert warnings and all("as a placeholder" in w and "sheet '依赖关系', row " in w
                            for w in warnings)
    counts = report["counts"]
    assert isinstance(counts, dict)
    for table, c in counts.items():  # the counts add up: every touched row once
        assert c["added"] + c["updated"] + c["unchanged"] <= report["totals"][table]  # type: ignore[index]
    assert counts["bureaus"]["added"] == report["totals"]["bureaus"]  # type: ignore[index]
    # the CSV ledgers imported after define them (in the placeholder's bureau, or in
    # another one: then it is merged there), and the estate is the one a single import of
    # the whole folder gives
    rest = sorted(glob.glob(str(LEDGERS / "*" / "*.csv")))
    later = _import(tmp_path, "xlsx", *rest)
    assert 0 < sum("the placeholder is merged into it" in w
                   for w in later["warnings"]) < len(warnings)  # type: ignore[union-attr]
    assert "placeholders" not in Estate.load(tmp_path / "xlsx").meta
    _import(tmp_path, "folder", str(LEDGERS))
    assert _counts(tmp_path / "xlsx") == _counts(tmp_path / "folder")


def test_folder_pattern_and_manifest_give_the_same_estate(tmp_path: Path) -> None:
    _import(tmp_path, "manifest", str(LEDGERS / "manifest.yaml"))
    _import(tmp_path, "folder", str(LEDGERS))
    files = sorted(glob.glob(str(LEDGERS / "*" / "*")), reverse=True)  # any order
    _import(tmp_path, "reversed", *files)
    manifest = _counts(tmp_path / "manifest")
    assert _counts(tmp_path / "folder") == manifest == _counts(tmp_path / "reversed")
    assert manifest["dependencies"] > 0 and manifest["conflicts"] == 0


def test_the_imported_sample_can_be_assessed_and_planned(tmp_path: Path) -> None:
    """The README programme on the sample: import the ledgers, assess, plan. The RVTools
    bureaus' VM disks hold what vInfo's In Use says, not their provisioned size (which
    made systems too big for their bureau's maintenance window: plan refused them)."""
    _import(tmp_path, "est", str(LEDGERS))
    est = str(tmp_path / "est")
    for args in (["assess", "--estate", est], ["plan", "--estate", est, "--json"]):
        run = CliRunner().invoke(main, args)
        assert run.exit_code == 0, run.output
    plan = json.loads(run.output)
    moved = sum(len(w["systems"]) for w in plan["waves"])
    assert moved + len(plan["excluded"]) == len(Estate.load(est).rows("systems"))
    used = [d.get("used_gb") for d in Estate.load(est).rows("disks")]
    assert all(u is not None and u == u for u in used)  # every disk's use is known
