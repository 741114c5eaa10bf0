"""The README's two commands and scripts/setup answer --help without setting anything up
(a user asking what a script does must not start an install), and refuse what they do not
know."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / args[0]), *args[1:]], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize(("script", "flag", "says"), [
    ("scripts/setup", "--help", "Usage: scripts/setup [--no-services]"),
    ("scripts/setup", "-h", "PostgreSQL, MariaDB and Redis"),
    ("scripts/demo", "--help", "--no-guest"),
    ("scripts/demo", "-h", "runs scripts/setup"),
    ("scripts/test", "--help", "Extra arguments go to pytest"),
])
def test_help_sets_nothing_up(script: str, flag: str, says: str) -> None:
    res = _run(script, flag)
    assert res.returncode == 0, res.stderr
    assert says in res.stdout
    assert "[setup]" not in res.stderr  # setup did not run


def test_setup_refuses_an_unknown_argument() -> None:
    res = _run("scripts/setup", "--no-servics")
    assert res.returncode == 2
    assert "unknown argument '--no-servics'" in res.stderr
