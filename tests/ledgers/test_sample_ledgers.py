"""Importing the sample generator's ledgers (every bureau style) gives back its estate."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from connectors.grid import read_grids
from shangyun.estate import Estate
from shangyun.ledgers.importer import import_ledgers
from shangyun.sample import write_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ledgers-sample") / "sample"
    write_sample(out, bureaus=8, systems=24, seed=7)
    return out


def import_sample(sample: Path, est_dir: Path) -> None:
    manifest = yaml.safe_load((sample / "ledgers" / "manifest.yaml").read_text("utf-8"))
    for entry in manifest["order"]:
        files = [sample / "ledgers" / entry["folder"] / f for f in entry["files"]]
        import_ledgers(files, est_dir, bureau=entry.get("bureau"), reader=read_grids)


def test_sample_ledgers_give_back_the_sample_estate(sample: Path, tmp_path: Path) -> None:
    est_dir = tmp_path / "imported"
    import_sample(sample, est_dir)
    truth, got = Estate.load(sample), Estate.load(est_dir)
    for table in ("bureaus", "systems", "hosts", "disks", "databases", "dependencies"):
        assert len(got.tables[table]) == len(truth.tables[table]), table
    assert got.rows("conflicts") == []
    want = {h["hostname"]: h for h in truth.rows("hosts")}
    have = {h["hostname"]: h for h in got.rows("hosts")}
    assert set(have) == set(want)
    from_rvtools = {h["hostname"] for h in got.rows("hosts") if "RVTools" in str(h["source"])}
    for name, h in want.items():
        for col in ("ip", "mac", "kind", "power_state", "cpu_cores", "memory_gb", "disk_gb",
                    "cluster", "hypervisor"):
            a, b = h[col], have[name][col]
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-6), (name, col, a, b)
            else:
                assert (a or None) == (b or None), (name, col, a, b)
        if name not in from_rvtools:  # VMware names guest OSes its own way
            for col in ("os", "os_version", "arch", "role", "cpu_util_pct"):
                assert (h[col] or None) == (have[name][col] or None), (name, col)
    names_truth = {s["id"]: s["name"] for s in truth.rows("systems")}
    names_got = {s["id"]: s["name"] for s in got.rows("systems")}
    for name, h in want.items():
        assert names_truth.get(h["system_id"]) == names_got.get(have[name]["system_id"]), name
    sys_truth = {s["name"]: s for s in truth.rows("systems")}
    for s in got.rows("systems"):
        t = sys_truth[s["name"]]
        for col in ("mlps_level", "classified", "network_zone", "criticality", "owner",
                    "description"):
            assert (s[col] if s[col] != "" else None) == (t[col] if t[col] != "" else None), (
                s["name"], col)


def test_sample_reimport_is_idempotent(sample: Path, tmp_path: Path) -> None:
    est_dir = tmp_path / "imported"
    import_sample(sample, est_dir)
    fp = Estate.load(est_dir).fingerprint()
    import_sample(sample, est_dir)
    assert Estate.load(est_dir).fingerprint() == fp
