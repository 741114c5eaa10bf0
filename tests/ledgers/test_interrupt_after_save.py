"""A Ctrl-C after the import's atomic save (while the summary and warnings print) says the
import was saved and exits 130, instead of click's "Aborted!" (exit 1) for an import that
was applied; before the save (nothing written) it stays click's interrupt."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.cli.inventory_io import saved_on_interrupt
from shangyun.estate import Estate

from .conftest import write_csv


def _sigint_inside(estate: str, saved: bool) -> None:
    with saved_on_interrupt(estate, saved):
        os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT: Python raises KeyboardInterrupt
        time.sleep(5)  # (delivered before this ends)
        pytest.fail("the SIGINT was not delivered")


@pytest.mark.parametrize("bureau", ["吉林局", "海南局"])
def test_sigint_after_the_save_says_saved_and_exits_130(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bureau: str) -> None:
    ledger = write_csv(tmp_path / f"{bureau}.csv", [
        ["单位", "系统名称", "主机名", "IP地址"], [bureau, "OA", "oa01", "10.7.1.1"]], "gbk")
    est = str(tmp_path / "est")
    res = CliRunner().invoke(main, ["inventory", "import", str(ledger), "--estate", est,
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    with pytest.raises(SystemExit) as exc:
        _sigint_inside(est, saved=True)
    assert exc.value.code == 130
    err = " ".join(capsys.readouterr().err.split())
    assert f"interrupted: the import was saved in {est}" in err and "Aborted" not in err
    assert [h["hostname"] for h in Estate.load(est).rows("hosts")] == ["oa01"]


def test_sigint_when_nothing_was_saved_stays_an_interrupt(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        _sigint_inside(str(tmp_path / "est"), saved=False)


def test_the_help_says_what_ctrl_c_does() -> None:
    res = CliRunner().invoke(main, ["inventory", "import", "--help"])
    text = " ".join(res.output.split())
    assert "exits 130" in text and "the import was saved" in text
