"""Importing the written ledgers (through ``shangyun inventory import``) gives back the
estate: the same counts, and the same values where ledgers carry them. Also the demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo import compare_counts, run
from shangyun.estate import Estate


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo run (6 bureaus + hq, 30 systems): generate, import, validate, compare."""
    out = tmp_path_factory.mktemp("sy-demo")
    st = run(out, bureaus=6, systems=30, seed=5)
    assert not st.failed, st.notes
    assert not any("skipped" in n for n in st.notes), st.notes
    return out


def test_import_reproduces_every_count(demo_run: Path) -> None:
    generated = Estate.load(demo_run / "sample")
    imported = Estate.load(demo_run / "imported")
    for name, gen, imp in compare_counts(generated, imported):
        assert gen == imp, (name, gen, imp)
    assert imported.tables["conflicts"].empty


def test_import_reproduces_values(demo_run: Path) -> None:
    g = Estate.load(demo_run / "sample").tables
    i = Estate.load(demo_run / "imported").tables
    cols = ["kind", "mlps_level", "classified", "network_zone", "dr_tier", "criticality",
            "owner", "phone"]
    gs, is_ = g["systems"].set_index("name")[cols], i["systems"].set_index("name")[cols]
    assert gs.sort_index().astype(str).equals(is_.sort_index().astype(str))
    cols = ["ip", "kind", "cpu_cores", "memory_gb", "power_state", "cpu_util_pct"]
    gh, ih = g["hosts"].set_index("hostname")[cols], i["hosts"].set_index("hostname")[cols]
    assert gh.sort_index().astype(str).equals(ih.sort_index().astype(str))
    cols = ["link_mbps", "window_day", "window_start", "window_hours", "blackout_dates"]
    gb, ib = g["bureaus"].set_index("name")[cols], i["bureaus"].set_index("name")[cols]
    assert gb.sort_index().astype(str).equals(ib.sort_index().astype(str))
    assert sorted(g["databases"]["engine"]) == sorted(i["databases"]["engine"])
    assert sorted(g["dependencies"]["type"]) == sorted(i["dependencies"]["type"])
    assert g["disks"]["size_gb"].sum() == pytest.approx(i["disks"]["size_gb"].sum())


def test_demo_is_idempotent(demo_run: Path) -> None:
    before = Estate.load(demo_run / "imported").fingerprint()
    st = run(demo_run, bureaus=6, systems=30, seed=5)
    assert not st.failed, st.notes
    assert Estate.load(demo_run / "imported").fingerprint() == before


def test_import_of_systems_without_hosts(tmp_path: Path) -> None:
    """Fewer hosts than systems: systems, databases and links without hosts import too."""
    from demo import DemoState, stage_import, stage_validate
    from shangyun.sample import write_sample

    st = DemoState(out=tmp_path, bureaus=3, systems=24, seed=9)
    st.generated = write_sample(st.sample_dir, bureaus=3, systems=24, hosts=12, seed=9).estate
    stage_import(st)
    stage_validate(st)
    assert st.imported is not None
    for name, gen, imp in compare_counts(st.generated, st.imported):
        assert gen == imp, (name, gen, imp)
