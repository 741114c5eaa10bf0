"""Every fact parser against files of real command output (``data/<fact>/<case>.txt``)
and the value expected from it (``<case>.json``), old formats included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shangyun.facts import ALL_FACTS, FACTS_BY_NAME

DATA = Path(__file__).parent / "data"
CASES = sorted(p for p in DATA.glob("*/*.txt") if p.parent.name in FACTS_BY_NAME)


@pytest.mark.parametrize("case", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_fact_parser(case: Path) -> None:
    fact = FACTS_BY_NAME[case.parent.name]
    expected = json.loads(case.with_suffix(".json").read_text())
    assert fact.process(case.read_text().splitlines()) == expected


def test_every_fact_has_data_files_and_a_docstring() -> None:
    with_data = {p.parent.name for p in CASES}
    for fact in ALL_FACTS:
        assert fact.name in with_data, f"no data file for fact {fact.name}"
        assert fact.__doc__ and "Sample output" in fact.__doc__
        assert fact.command().strip()


def test_legacy_formats_are_covered() -> None:
    names = {f"{p.parent.name}/{p.stem}" for p in CASES}
    for needed in ("tcp/centos6_netstat", "tcp/proc_net_tcp", "block/centos6_lsblk_pairs",
                   "block/proc_partitions", "services/centos6_sysv_chkconfig",
                   "os/centos6", "os/sles11", "os/kylin_v10", "os/uos20"):
        assert needed in names
