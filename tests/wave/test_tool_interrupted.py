"""Ctrl-C reaches the terminal's whole process group: a ``qemu-img`` the pre-check is
running dies of the SIGINT, maybe before the command itself hears it. The system's reason
read "pre-check refused: … disk … is not readable: qemu-img info failed: (no message)" —
a healthy disk called unreadable, and the system called refused. A tool killed by a stop
signal is said as interrupted, everywhere a step runs one; the system is rolled back as
interrupted, not refused."""

from __future__ import annotations

import os
import shutil
import signal
import stat
from pathlib import Path

import pytest

from connectors import qemu
from connectors.database.common import run_checked, run_pipe
from flows.move import move_wave
from shangyun.errors import Interrupted, interruption
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import (  # noqa: F401  (fixtures)
    FORMATS,
    Cloud,
    bucket,
    build_estate,
    cloud,
    moto_endpoint,
)

REAL_QEMU_IMG = shutil.which("qemu-img")


def _dying_qemu_img(folder: Path, sig: int = signal.SIGINT) -> None:
    """A ``qemu-img`` first on PATH: ``info`` dies of ``sig`` (as Ctrl-C kills it), every
    other subcommand is the real one."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "qemu-img"
    tool.write_text(f'#!/bin/sh\nif [ "$1" = info ]; then kill -{int(sig)} $$; sleep 5; '
                    f'exit 9; fi\nexec {REAL_QEMU_IMG} "$@"\n')
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def dying_qemu_img(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    _dying_qemu_img(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_a_stop_signal_is_an_interruption_and_nothing_else_is() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        err = interruption(-sig, "qemu-img info /d.vmdk")
        assert isinstance(err, Interrupted) and "/d.vmdk" in str(err), sig
        assert signal.Signals(sig).name in str(err) and "interrupted" in str(err)
    for code in (0, 1, 2, 255, -signal.SIGKILL, -signal.SIGSEGV, None):
        assert interruption(code, "x") is None, code


def test_qemu_img_killed_by_ctrl_c_is_interrupted_not_unreadable(
        tmp_path: Path, dying_qemu_img: Path) -> None:
    image = tmp_path / "disk.qcow2"
    assert REAL_QEMU_IMG
    os.spawnv(os.P_WAIT, REAL_QEMU_IMG, ["qemu-img", "create", "-q", "-f", "qcow2",
                                         str(image), "1M"])
    with pytest.raises(Interrupted) as got:
        qemu.info(image, "qcow2")
    assert "SIGINT" in str(got.value) and str(image) in str(got.value), got.value
    assert "not readable" not in str(got.value)


def test_database_tools_killed_by_a_stop_signal_are_interrupted() -> None:
    with pytest.raises(Interrupted, match=r"copy db1: sh: interrupted \(SIGTERM"):
        run_checked(["sh", "-c", "kill -TERM $$; sleep 5"], "copy db1")
    with pytest.raises(Interrupted, match=r"dump db1: sh: interrupted \(SIGINT"):
        run_pipe(["sh", "-c", "echo rows; kill -INT $$; sleep 5"], ["cat"], "dump db1")
    with pytest.raises(Exception, match="exited 3") as failed:  # a failure stays a failure
        run_checked(["sh", "-c", "exit 3"], "copy db1")
    assert not isinstance(failed.value, Interrupted)


def test_a_pre_check_whose_qemu_img_was_interrupted_is_rolled_back_as_interrupted(
        prefect_harness: None, tmp_path: Path, cloud: Cloud, moto_endpoint: str,  # noqa: F811
        bucket: str, dying_qemu_img: Path) -> None:  # noqa: F811
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, formats=FORMATS[:1], mib=1)
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket).to_dict()
    result = move_wave(str(root), 1, options=opts)
    sys01 = result["systems"][0]
    assert result["state"] == "failed" and sys01["state"] == "rolled_back", sys01.get("error")
    assert "interrupted (SIGINT" in sys01["error"], sys01
    assert "not readable" not in sys01["error"] and "refused" not in sys01["error"], sys01
    assert list(cloud.pool_path.iterdir()) == []
