"""The generator: deterministic, valid, realistic, and fast at national scale."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.estate import Estate
from shangyun.sample import SampleParameterError, generate_estate


def test_same_seed_same_estate(estate: Estate) -> None:
    again = generate_estate()
    assert again.fingerprint() == estate.fingerprint()
    for name in estate.tables:
        pd.testing.assert_frame_equal(again.tables[name], estate.tables[name])


def test_other_seed_other_estate(estate: Estate) -> None:
    other = generate_estate(seed=1)
    assert other.fingerprint() != estate.fingerprint()
    assert other.tables["systems"]["name"].tolist() != estate.tables["systems"]["name"].tolist()


def test_valid_and_survives_save_and_load(estate: Estate, tmp_path: Path) -> None:
    assert estate.validate() == []
    estate.save(tmp_path / "est")
    loaded = Estate.load(tmp_path / "est", check=True)
    assert loaded.fingerprint() == estate.fingerprint()


def test_counts_like_the_reference_case(estate: Estate) -> None:
    t = estate.tables
    assert len(t["bureaus"]) == 36
    assert (t["bureaus"]["kind"] == "hq").sum() == 1
    assert len(t["systems"]) == 120
    assert 600 <= len(t["hosts"]) <= 800
    assert len(t["disks"]) >= len(t["hosts"])
    assert 60 <= len(t["databases"]) <= 200
    assert 300 <= len(t["dependencies"]) <= 1200
    kinds = t["hosts"]["kind"].value_counts()
    assert kinds["vm"] > kinds["physical"] > 50
    # every bureau has at least one system; every system at least one host
    assert set(t["systems"]["bureau_id"]) == set(t["bureaus"]["id"])
    assert set(t["hosts"]["system_id"]) == set(t["systems"]["id"])


def test_names_and_addresses_are_unique_and_realistic(estate: Estate) -> None:
    s, h, b = (estate.tables[n] for n in ("systems", "hosts", "bureaus"))
    assert s["name"].is_unique and h["hostname"].is_unique and h["ip"].is_unique
    assert h["mac"].is_unique
    assert all(re.search(r"[\u4e00-\u9fff]", n) for n in s["name"])
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", o) for o in s["owner"])
    assert all(re.fullmatch(r"1[3-9]\d{9}|0\d{2,3}-\d{7,8}", p) for p in s["phone"])
    net = dict(zip(b["id"], range(len(b)), strict=True))
    for bid, ip in zip(h["bureau_id"], h["ip"], strict=True):
        assert ip.startswith(f"10.{net[bid]}."), (bid, ip)
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(f"10.{net[bid]}.0.0/16")


def test_shared_services_have_many_dependents(estate: Estate) -> None:
    s, dep = estate.tables["systems"], estate.tables["dependencies"]
    shared = s[s["kind"] == "shared-service"]
    assert {"统一身份认证平台", "API网关", "消息总线"} <= set(shared["name"])
    assert set(shared["bureau_id"]) == {"hq"}
    business = (s["kind"] == "business").sum()
    dependents = dep.groupby("target_system")["source_system"].nunique()
    auth = shared.loc[shared["name"] == "统一身份认证平台", "id"].item()
    assert dependents[auth] >= 0.7 * business
    assert (dependents[shared["id"]] >= 10).all()


def test_shared_databases(estate: Estate) -> None:
    db, dep = estate.tables["databases"], estate.tables["dependencies"]
    shared = db[db["shared"].astype(bool)]
    assert len(shared) >= 2
    for host in shared["host_id"]:
        users = dep[(dep["target_host"] == host) & (dep["type"] == "database")]
        assert users["source_system"].nunique() >= 10
    engines = set(db["engine"])
    assert {"oracle", "dm", "kingbase", "postgresql"} <= engines
    assert engines & {"mysql", "mariadb"}


def test_classification_mlps_zones_tiers(estate: Estate) -> None:
    s = estate.tables["systems"]
    classified = s[s["classified"].astype(bool)]
    assert 1 <= len(classified) <= 10
    assert set(classified["network_zone"]) == {"intranet"}
    assert set(s["mlps_level"]) == {2, 3}
    assert len(set(s["network_zone"])) >= 4
    assert set(s["dr_tier"]) == {0, 1, 2, 3}
    assert set(s["criticality"]) == {"low", "medium", "high", "critical"}


def test_utilisation_mostly_15_to_20_percent(estate: Estate) -> None:
    h = estate.tables["hosts"]
    on = h[h["power_state"] == "on"]
    for col, p95 in (("cpu_util_pct", "cpu_p95_pct"), ("mem_util_pct", "mem_p95_pct")):
        share = on[col].between(15, 20).mean()
        assert 0.7 <= share <= 0.9, (col, share)
        assert (on[p95] >= on[col]).all()
        assert on[p95].mean() > on[col].mean() * 1.15


def test_bureaus_windows_links_blackouts(estate: Estate) -> None:
    b = estate.tables["bureaus"]
    regional = b[b["kind"] == "bureau"]
    assert regional["window_day"].isin(["sat", "sun"]).mean() >= 0.75
    assert regional["link_mbps"].between(50, 1000).all()
    for dates in b["blackout_dates"]:
        days = dates.split(";")
        assert len(days) >= 2
        assert all(dt.date.fromisoformat(d).year == 2027 for d in days)


def test_each_system_data_fits_its_bureau_window(estate: Estate) -> None:
    t = estate.tables
    used = t["disks"].merge(t["hosts"][["id", "system_id", "bureau_id"]],
                            left_on="host_id", right_on="id")
    per = used.groupby(["bureau_id", "system_id"])["used_gb"].sum().reset_index()
    b = t["bureaus"].set_index("id")
    window = b["link_mbps"] * 0.8 * b["window_hours"] * 3600 / 8 / 1000
    assert (per["used_gb"] <= 0.7 * per["bureau_id"].map(window) + 0.1).all()


def test_dependency_types_and_host_level_database_links(estate: Estate) -> None:
    dep = estate.tables["dependencies"]
    assert {"database", "sync", "async", "file"} <= set(dep["type"])
    host_level = dep[dep["source_host"] != ""]
    assert len(host_level) > 20
    assert set(host_level["type"]) == {"database"}
    assert (host_level["target_host"] != "").all()
    assert (dep["source_system"] != dep["target_system"]).all()
    assert not dep.duplicated(["source_system", "target_system", "source_host",
                               "target_host", "port"]).any()
    assert set(dep["origin"]) == {"declared"}


def test_exact_hosts_and_dependencies() -> None:
    e = generate_estate(bureaus=5, systems=30, hosts=90, dependencies=200, seed=3)
    assert (len(e.tables["hosts"]), len(e.tables["dependencies"])) == (90, 200)
    assert len(e.tables["bureaus"]) == 6
    assert e.validate() == []
    few = generate_estate(bureaus=5, systems=30, dependencies=10, seed=3)
    assert len(few.tables["dependencies"]) == 10


@pytest.mark.parametrize("kwargs, word", [
    ({"bureaus": 0}, "bureaus=0"),
    ({"bureaus": 300}, "bureaus=300"),
    ({"systems": 5}, "systems=5"),
    ({"systems": 20, "hosts": 0}, "hosts=0"),
    ({"systems": 20, "dependencies": 1000}, "dependencies=1000"),
    ({"seed": -1}, "seed=-1"),
])
def test_bad_parameters_are_named(kwargs: dict[str, int], word: str) -> None:
    with pytest.raises(SampleParameterError, match=re.escape(word)):
        generate_estate(**kwargs)


def test_national_scale_is_fast() -> None:
    started = time.process_time()  # CPU time: other work on the machine does not count
    e = generate_estate(systems=3000, hosts=10_000, dependencies=100_000, seed=11)
    took = time.process_time() - started
    t = e.tables
    assert (len(t["systems"]), len(t["hosts"]), len(t["dependencies"])) == (3000, 10_000,
                                                                            100_000)
    assert took < 5.0, f"generating 10k hosts took {took:.1f} s"
    assert e.validate() == []
    pairs = t["dependencies"][["source_system", "target_system"]].to_numpy()
    assert len(np.unique(pairs.astype(str), axis=0)) > 95_000


def test_fewer_hosts_than_systems() -> None:
    """The planner benchmark's 1k hosts with 3k systems: the rest have no inventoried host."""
    e = generate_estate(systems=3000, hosts=1000, dependencies=100_000, seed=2)
    t = e.tables
    assert (len(t["systems"]), len(t["hosts"]), len(t["dependencies"])) == (3000, 1000,
                                                                            100_000)
    assert t["hosts"]["system_id"].is_unique
    assert e.validate() == []


@settings(max_examples=25, deadline=None)
@given(bureaus=st.integers(1, 40), systems=st.integers(10, 200),
       hosts_per=st.floats(0.3, 8.0), deps=st.integers(0, 400) | st.none(),
       seed=st.integers(0, 2**32))
def test_any_parameters_give_a_valid_exact_estate(bureaus: int, systems: int,
                                                  hosts_per: float, deps: int | None,
                                                  seed: int) -> None:
    hosts = max(1, round(systems * hosts_per))
    deps = None if deps is None else min(deps, systems * (systems - 1) // 2)
    e = generate_estate(bureaus=bureaus, systems=systems, hosts=hosts, dependencies=deps,
                        seed=seed)
    t = e.tables
    assert e.validate() == []
    assert (len(t["bureaus"]), len(t["systems"]), len(t["hosts"])) == (bureaus + 1, systems,
                                                                         hosts)
    if deps is not None:
        assert len(t["dependencies"]) == deps
    assert t["hosts"]["hostname"].is_unique and t["hosts"]["ip"].is_unique
    assert t["systems"]["name"].is_unique
