"""A wrong ``--estate`` or an estate without a plan gets the one error that helps: a folder
that is no estate says so (it was told "no plan yet; run shangyun plan", a command that
fails there too), and ``wave finalize`` of an unplanned estate says to plan first (it
suggested a dry run, which needs a plan)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, " ".join(res.output.split())


@pytest.mark.parametrize("command", [["wave", "run", "1", "--dry-run"],
                                     ["wave", "run", "1", "--target-uri", "test:///default"],
                                     ["runbook", "1"], ["plan", "explain", "x"]])
def test_a_folder_that_is_no_estate_says_so(tmp_path: Path, command: list[str]) -> None:
    code, out = _run(*command, "--estate", str(tmp_path))
    assert code != 0, out
    assert f"{tmp_path}: not an estate (no estate.yaml)" in out, out
    assert "no plan yet" not in out and "shangyun plan" not in out, out
    assert not any(tmp_path.iterdir()), "nothing may be written into the wrong folder"


def test_an_estate_without_a_plan_is_told_to_plan_first(tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    code, out = _run("inventory", "sample", "--out", str(estate), "--bureaus", "2",
                     "--systems", "10")
    assert code == 0, out
    code, out = _run("wave", "run", "1", "--dry-run", "--estate", str(estate))
    assert code != 0 and "no plan yet" in out, out
    assert f"'shangyun plan --estate {estate}'" in out, out
    code, out = _run("wave", "finalize", "1", "--estate", str(estate))
    assert code != 0 and "nothing to finalize" in out, out
    assert f"there is no plan yet: run 'shangyun plan --estate {estate}' first" in out, out
    assert "--dry-run" not in out, out
    # once planned, the same refusal says how to start the wave instead
    code, out = _run("plan", "--estate", str(estate))
    assert code == 0, out
    code, out = _run("wave", "finalize", "1", "--estate", str(estate))
    assert code != 0 and f"'shangyun wave run 1 --estate {estate} --dry-run'" in out, out
