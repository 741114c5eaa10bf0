"""The demo moves the real guest by default when this machine can run it; when it cannot,
it says why and runs without it, and an explicit ``--guest`` is a usage error naming the
reason (fast: no lab)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from demo.cli import cli, with_guest
from lab.guests import why_no_guest


def test_no_guest_is_never_asked_about_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert with_guest(False) is False


def test_a_machine_without_qemu_runs_without_the_guest_and_says_why(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no qemu, no libguestfs, no virsh
    reason = why_no_guest()
    assert reason is not None
    assert "qemu-system-x86_64" in reason or "root" in reason
    assert with_guest(None) is False
    said = capsys.readouterr().out
    assert "without the real legacy guest" in said and reason.split()[0] in said
    with pytest.raises(click.UsageError, match="cannot run the real legacy guest"):
        with_guest(True)


def test_the_option_says_what_the_default_is() -> None:
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    assert "--guest / --no-guest" in res.output and "Default: on when" in res.output
