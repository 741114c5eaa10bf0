"""The import's rows bar counts what the summary counts, and ends full (an RVTools export's
vDisk and vNetwork rows were counted by the summary but not by the bar: 3040/? beside
'3298 rows' for the sample programme)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.grid import read_grids
from shangyun.cli import main
from shangyun.ledgers.read import read_ledger
from tests.ledgers.test_rvtools import rvtools


@pytest.mark.parametrize("unit", ["MB", "MiB"])
def test_rvtools_reports_every_sheet_it_counts(xlsx: Callable[..., Path], unit: str) -> None:
    seen: list[int] = []
    read = read_ledger(rvtools(xlsx, unit), bureau="武汉局", reader=read_grids,
                       advance=seen.append)
    assert {s.kind for s in read.sheets} >= {"disks", "network"}
    assert sum(seen) == read.data_rows


def test_rows_bar_ends_full_at_the_summary_count(tmp_path: Path, xlsx: Callable[..., Path],
                                                 bureau_ledger: Path) -> None:
    rv = rvtools(xlsx, "MiB")
    res = CliRunner().invoke(main, ["inventory", "import", str(bureau_ledger), str(rv),
                                    "--bureau", "武汉局", "--estate", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    per_file = [int(n) for n in re.findall(r": (\d+) rows \(", res.stdout)]
    assert len(per_file) == 2
    bar = re.search(r"^rows\b.*?(\d+)/(\S+)", res.stderr, re.M)
    assert bar is not None, res.stderr
    assert bar.group(1) == bar.group(2) == str(sum(per_file))
