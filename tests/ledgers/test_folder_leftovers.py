"""A bureau's folder as it arrives: beside the ledgers, the files office programs and
operating systems leave — Excel's owner file ``~$台账.xlsx`` (the ledger was open when the
folder was copied), macOS's ``._台账.xlsx`` (copied on a Mac to a USB disk), a zip's
``__MACOSX`` folder, LibreOffice's ``.~lock.台账.xlsx#``, hidden folders. They are no
ledgers: a folder, a pattern or a shell's ``*.xlsx`` imports the ledgers and skips them (one
``._`` file refused the whole import before). Real files, the real CLI."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate

from .conftest import write_csv

JUNK = {"~$台账.xlsx": 165, "._台账.xlsx": 4096, "._主机.csv": 4096,
        "__MACOSX/._台账.xlsx": 4096, ".~lock.台账.xlsx#": 80, ".hidden/旧台账.csv": 30}


@pytest.fixture
def folder(tmp_path: Path, xlsx: Callable[..., Path]) -> Path:
    top = tmp_path / "湖北局"
    top.mkdir()
    xlsx("湖北局/台账.xlsx", {"主机": [["单位", "系统名称", "主机名", "IP地址"],
                                      ["湖北局", "门户", "hb-mh01", "10.7.0.1"]]})
    write_csv(top / "主机.csv", [["单位", "系统名称", "主机名", "IP地址"],
                                 ["湖北局", "OA", "hb-oa01", "10.7.0.2"]], encoding="gbk")
    for name, size in JUNK.items():
        f = top / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(os.urandom(size))
    return top


@pytest.mark.parametrize("how", ["folder", "pattern", "shell"])
def test_leftover_files_beside_ledgers_are_skipped(folder: Path, tmp_path: Path,
                                                   how: str) -> None:
    if how == "folder":
        args = [str(folder)]
    elif how == "pattern":
        args = [str(folder / "**" / "*.*")]
    else:  # what bash passes for 湖北局/*.xlsx 湖北局/*.csv (no dot files: bash skips them)
        args = sorted(str(f) for f in folder.iterdir() if f.is_file()
                      and f.suffix in (".xlsx", ".csv") and not f.name.startswith("."))
        assert any("~$" in a for a in args)
    est = tmp_path / "est"
    res = CliRunner().invoke(main, ["inventory", "import", *args, "--estate", str(est),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    hosts = sorted(h["hostname"] for h in Estate.load(est).rows("hosts"))
    assert hosts == ["hb-mh01", "hb-oa01"]
    assert "~$" not in res.output and "._" not in res.output


def test_a_leftover_alone_is_still_named(folder: Path, tmp_path: Path) -> None:
    """A folder holding nothing but leftovers (or nothing) is one error naming it: it created
    an empty estate and said so as a success before."""
    for f in ("台账.xlsx", "主机.csv"):
        (folder / f).unlink()
    res = CliRunner().invoke(main, ["inventory", "import", str(folder), "--estate",
                                    str(tmp_path / "est"), "--no-progress"])
    assert res.exit_code != 0
    assert f"{folder}: the folder holds no ledger file (.xlsx, .xlsm" in \
        " ".join(res.output.split())
    assert not (tmp_path / "est").exists()


@pytest.mark.parametrize("name", ["湖北局台账.zip", "ledgers.rar", "l.7z", "l.tar.gz"])
def test_an_archive_says_to_unpack_it(tmp_path: Path, name: str) -> None:
    archive = tmp_path / name
    archive.write_bytes(os.urandom(64))
    res = CliRunner().invoke(main, ["inventory", "import", str(archive), "--estate",
                                    str(tmp_path / "est"), "--no-progress"])
    assert res.exit_code != 0
    assert f"{name}: is an archive, not a ledger: unpack it and import the folder" in \
        " ".join(res.output.split())
