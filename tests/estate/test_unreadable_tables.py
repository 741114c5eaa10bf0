"""An import never rewrites a table it could not read; loading never writes.

Real files and the real CLI (CliRunner): a stray quote in ``disks.csv`` or a
``dependencies.csv`` re-saved as UTF-16 make the import refuse naming the file, and the
estate's bytes are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from tests.estate.test_one_writer import ledger


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under ``root``: bytes, inode, mtime (ns)."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    root = tmp_path / "estate"
    r = CliRunner().invoke(main, ["inventory", "sample", "--out", str(root), "--bureaus", "2",
                                  "--systems", "10", "--seed", "3"])
    assert r.exit_code == 0, r.output
    for f in ("disks.csv", "dependencies.csv"):
        assert len((root / f).read_text(encoding="utf-8-sig").splitlines()) > 5
    return root


def _spoil_disks(root: Path) -> str:
    lines = (root / "disks.csv").read_text(encoding="utf-8-sig").splitlines()
    lines[1] = lines[1].replace(",", ',"', 1)  # one stray quote
    (root / "disks.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return "disks.csv"


def _utf16_dependencies(root: Path) -> str:
    f = root / "dependencies.csv"
    f.write_text(f.read_text(encoding="utf-8-sig"), encoding="utf-16")
    return "dependencies.csv"


@pytest.mark.parametrize("spoil", [_spoil_disks, _utf16_dependencies])
def test_import_refuses_an_estate_table_it_cannot_read(estate: Path, tmp_path: Path,
                                                       spoil: Callable[[Path], str]) -> None:
    name = spoil(estate)
    before = snapshot(estate)
    r = CliRunner().invoke(main, ["inventory", "import", str(ledger(tmp_path, 3)),
                                  "--estate", str(estate), "--no-progress"])
    assert r.exit_code != 0
    assert name in r.output and "cannot be read" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    after = snapshot(estate)
    assert {k: v[0] for k, v in after.items() if k != ".estate.lock"} == \
        {k: v[0] for k, v in before.items() if k != ".estate.lock"}, "nothing rewritten"
    for cmd in (["inventory", "validate"], ["inventory", "show"]):
        r = CliRunner().invoke(main, [*cmd, "--estate", str(estate)])
        assert r.exit_code != 0 and name in r.output, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
