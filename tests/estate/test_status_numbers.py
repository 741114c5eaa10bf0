"""`status` prints the estate's disk total with the thousands separators the other tables
use (it printed '521406.0 GB'), and `inventory show` heads the bureau table's id column
as an id, beside the bureau's name (the column headed "bureau" held ids)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from tests.planner.build import bureau, make_estate, system


def _estate(tmp_path: Path, sizes: list[float]) -> Path:
    b = bureau("B1")
    b["name"] = "宁波直属局"
    est = make_estate([system("S1", hosts=len(sizes), data_gb=sum(sizes))], bureaus=[b])
    est.set_rows("disks", [{"id": f"d{i}", "host_id": f"S1-h{i}", "size_gb": s}
                           for i, s in enumerate(sizes)])
    return est.save(tmp_path / "estate")


@pytest.mark.parametrize(("sizes", "shown"), [
    ([521_000.0, 406.0], "521,406 GB"), ([1_200.0, 34.4], "1,234 GB"), ([12.0, 3.0], "15 GB"),
    ([900_000.0, 800_000.0, 250.0], "1,700,250 GB")])
def test_status_disk_total_has_separators(tmp_path: Path, sizes: list[float],
                                          shown: str) -> None:
    est = _estate(tmp_path, sizes)
    res = CliRunner().invoke(main, ["status", "--estate", str(est)])
    assert res.exit_code == 0, res.output
    assert f"disks ({shown})" in res.stdout, res.stdout


def test_inventory_show_heads_the_id_column_as_an_id(tmp_path: Path) -> None:
    est = _estate(tmp_path, [1_500.0])
    res = CliRunner().invoke(main, ["inventory", "show", "--estate", str(est)])
    assert res.exit_code == 0, res.output
    header = next(line for line in res.stdout.splitlines() if "systems" in line
                  and "disk GB" in line)
    cells = [c.strip() for c in header.strip("┃│ ").replace("┃", "│").split("│")]
    assert cells[:2] == ["bureau", "id"], header
    row = next(line for line in res.stdout.splitlines() if "宁波直属局" in line)
    cells = [c.strip() for c in row.strip("┃│ ").split("│")]
    assert cells[:2] == ["宁波直属局", "B1"] and "1,500" in cells, row


def test_disk_space_is_one_rule_for_bureaus_and_total(tmp_path: Path) -> None:
    """A ledger-only estate (host sizes, no disk rows) showed its bureaus' disk space in
    `inventory show` and '0 disks (0 GB)' in `status` and `report --json`: each host now
    counts its disk rows, else its own size, in the bureau lines and the total alike."""
    b = bureau("B1")
    b["name"] = "宁波直属局"
    est = make_estate([system("S1", hosts=3, data_gb=3_000.0)], bureaus=[b])
    hosts = est.rows("hosts")
    est.set_rows("disks", [{"id": "d0", "host_id": hosts[0]["id"], "size_gb": 250.0}])
    root = est.save(tmp_path / "estate")
    summary = est.summary()
    unlisted = sum(float(h["disk_gb"] or 0) for h in hosts[1:])
    assert summary["disk_gb"] == round(250.0 + unlisted, 1)
    assert summary["disk_gb_unlisted"] == round(unlisted, 1)
    assert summary["per_bureau"][b["id"]]["disk_gb"] == summary["disk_gb"]
    res = CliRunner().invoke(main, ["status", "--estate", str(root)])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.stdout.split())
    assert f"1 disk ({summary['disk_gb']:,.0f} GB, {unlisted:,.0f} GB of it the sizes of " \
           "hosts no disk row lists)" in flat, flat
