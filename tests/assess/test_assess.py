"""Readiness, right-sizing, cost and placement on hand-made hosts and systems."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.assess import (
    CONDITIONAL,
    NOT_READY,
    READY,
    Catalog,
    CatalogError,
    assess,
    host_readiness,
    load_catalog,
    placement,
    read_assessment,
    right_size,
    write_assessment,
)
from shangyun.cli import main
from shangyun.errors import SchemaVersionError
from shangyun.estate import Estate

BASE = {"os": "CentOS Linux", "os_version": "7.9", "arch": "x86_64", "firmware": "bios",
        "kind": "vm", "cpu_cores": 8, "memory_gb": 32.0}


@pytest.mark.parametrize(("host", "disks", "status", "words"), [
    ({}, [], READY, "supported"),
    ({"os": "AIX", "os_version": "7.2", "arch": "ppc64"}, [], NOT_READY, "cannot run"),
    ({"arch": "sparc"}, [], NOT_READY, "sparc"),
    ({"os_version": "6.2"}, [], CONDITIONAL, "older than the supported 6.5"),
    ({"os": "Windows Server", "os_version": "2012 R2", "firmware": "uefi"}, [], CONDITIONAL,
     "UEFI"),
    ({"os": "银河麒麟 Kylin", "os_version": "V10 SP2"}, [], READY, "supported"),
    # NeoKylin (中标麒麟) is its own family, built on CentOS/RHEL: 7.0 is no Kylin "older than 10"
    ({"os": "中标麒麟", "os_version": "7.0"}, [], READY, "supported"),
    ({"os": "中标麒麟 7.0", "os_version": ""}, [], READY, "supported"),
    ({"os": "NeoKylin Linux Advanced Server", "os_version": "7.0"}, [], READY, "supported"),
    ({"os": "NeoKylin", "os_version": "6.0"}, [], CONDITIONAL,
     "neokylin 6.0 is older than the supported 6.5"),
    ({"os": ""}, [], CONDITIONAL, "OS unknown"),
    ({"os": "Plan9"}, [], CONDITIONAL, "not in the support matrix"),
    ({"kind": "physical"}, [], CONDITIONAL, "P2V"),
    ({"kind": "container"}, [], CONDITIONAL, "container"),
    ({}, [{"size_gb": 2048}], CONDITIONAL, "system disk 2048 GB"),
    ({}, [{"size_gb": 100}, {"size_gb": 40000}], CONDITIONAL, "split the volume"),
])
def test_readiness(catalog: Catalog, host: dict[str, object], disks: list[dict[str, object]],
                   status: str, words: str) -> None:
    got, reasons = host_readiness({**BASE, **host}, disks, catalog)
    assert got == status
    assert any(words in r for r in reasons), reasons


def test_right_size_from_p95_to_target(catalog: Catalog) -> None:
    # 8 cores at p95 14 % → 1.12 used → /0.7 → 1.6 → +10 % → 1.76 vCPU; 32 GB at 20 % → 10.06 GB
    s = right_size({**BASE, "cpu_p95_pct": 14, "mem_p95_pct": 20}, catalog)
    assert s.basis == "p95"
    assert s.vcpu_need == pytest.approx(1.76) and s.memory_need_gb == pytest.approx(10.06)
    assert s.flavour is not None and s.flavour.name == "s.xlarge.4"
    assert s.flavour.vcpu >= 1.76 and s.flavour.memory_gb >= 10.06
    cheaper = [f for f in catalog.flavours if f.vcpu >= 1.76 and f.memory_gb >= 10.06
               and f.monthly_cny < s.flavour.monthly_cny]
    assert cheaper == []
    ledger = right_size(BASE, catalog)
    assert ledger.basis == "ledger" and ledger.vcpu_need == 8 and ledger.memory_need_gb == 32
    huge = right_size({**BASE, "cpu_cores": 256, "memory_gb": 4096}, catalog)
    assert huge.flavour is None and "dedicated host" in huge.note


def test_placement_mlps_and_dr(catalog: Catalog) -> None:
    p = placement({"mlps_level": 3, "network_zone": "internet", "dr_tier": 2}, catalog)
    assert p.zones == ("internet-l3",) and p.sites == ("primary", "same_city_backup")
    assert p.excluded == ""
    p4 = placement({"mlps_level": 4, "network_zone": "intranet", "dr_tier": 3}, catalog)
    assert p4.zones == ("intranet-l4",) and len(p4.sites) == 3
    assert "classified" in placement({"classified": True}, catalog).excluded
    assert "MLPS level 5" in placement({"mlps_level": 5}, catalog).excluded


def _estate() -> Estate:
    est = Estate.new("assess")
    est.set_rows("bureaus", [{"id": "B1", "name": "b", "kind": "bureau"}])
    est.set_rows("systems", [
        {"id": "S1", "name": "web", "bureau_id": "B1", "mlps_level": 2, "dr_tier": 1},
        {"id": "S2", "name": "legacy", "bureau_id": "B1"},
        {"id": "S3", "name": "secret", "bureau_id": "B1", "classified": "是"},
    ])
    est.set_rows("hosts", [
        {**BASE, "id": f"H{i}", "hostname": f"h{i}", "system_id": "S1", "bureau_id": "B1",
         "hypervisor": "esx1", "cpu_p95_pct": 15, "mem_p95_pct": 20, "disk_gb": 100}
        for i in range(4)] + [
        {**BASE, "id": "H9", "hostname": "h9", "system_id": "S2", "bureau_id": "B1",
         "kind": "physical", "os": "AIX", "arch": "ppc64", "disk_gb": 300},
        {**BASE, "id": "HX", "hostname": "hx", "system_id": "S3", "bureau_id": "B1",
         "disk_gb": 50}])
    est.check()
    return est


def test_assess_estate_consolidates_and_costs(tmp_path: Path) -> None:
    est = _estate()
    result = assess(est)
    systems = result.systems.set_index("system_id")
    assert systems.loc["S1", "readiness"] == READY and bool(systems.loc["S1", "moves"])
    assert systems.loc["S2", "readiness"] == NOT_READY and not systems.loc["S2", "moves"]
    assert systems.loc["S3", "excluded"].startswith("classified")
    s = result.summary
    assert s["systems"] == {"ready": 2, "conditional": 0, "not ready": 1, "excluded": 1,
                            "moving": 1}
    # 4 VMs × 8 vCPU / 32 GB on one hypervisor; need 1.89 vCPU and 10.06 GB each, so the
    # cheapest flavour is 4 vCPU / 16 GB
    assert s["before"]["vcpu"] == 32 and s["before"]["physical_servers"] == 1
    assert s["after"]["vcpu"] == 16 and s["after"]["memory_gb"] == 64
    assert s["after"]["physical_servers"] == 1
    assert set(result.hosts.loc[result.hosts["system_id"] == "S1", "flavour"]) == {"s.xlarge.4"}
    assert s["before"]["cpu_utilisation"] == pytest.approx(0.15)
    assert s["after"]["cpu_utilisation"] == pytest.approx(0.3)
    assert s["after"]["monthly_cny"] < s["before"]["monthly_cny"]
    # write / read back, with a schema version
    root = tmp_path / "estate"
    est.save(root)
    write_assessment(result, root)
    back = read_assessment(root)
    assert back.summary == s and back.fingerprint == est.fingerprint()
    assert list(back.systems["system_id"]) == ["S1", "S2", "S3"]
    meta = root / "assessment" / "assessment.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("schema_version: 1",
                                                              "schema_version: 99"))
    with pytest.raises(SchemaVersionError, match="schema_version is 99"):
        read_assessment(root)


def test_assess_cli_json_and_text(tmp_path: Path) -> None:
    root = _estate().save(tmp_path / "estate")
    res = CliRunner().invoke(main, ["assess", "--estate", str(root), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["summary"]["systems"]["moving"] == 1
    assert {r["system_id"]: r["readiness"] for r in data["systems"]}["S2"] == NOT_READY
    res = CliRunner().invoke(main, ["assess", "--estate", str(root), "--target", "0.5"])
    assert res.exit_code == 0 and "assessment" in res.output
    assert read_assessment(root).options["target_utilisation"] == 0.5


def test_custom_data_folder_and_bad_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(Path(__file__).parents[2] / "shangyun" / "data", data)
    (data / "flavours.csv").write_text("name,family,vcpu,memory_gb,monthly_cny\n"
                                       "only,general,64,512,100\n", encoding="utf-8")
    cat = load_catalog(data)
    assert [f.name for f in cat.flavours] == ["only"]
    (data / "flavours.csv").write_text("name,family,vcpu,memory_gb,monthly_cny\n"
                                       "bad,general,many,512,100\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"flavours.csv, row 2"):
        load_catalog(data)
    (data / "layout.yaml").unlink()
    with pytest.raises(CatalogError, match=r"layout\.yaml: data file is missing"):
        load_catalog(data)
    root = _estate().save(tmp_path / "estate")
    res = CliRunner().invoke(main, ["assess", "--estate", str(root), "--data", str(data)])
    assert res.exit_code == 1 and "layout.yaml" in res.output
    assert not (root / "assessment").exists()


@pytest.mark.parametrize("alone", [1, 12])
def test_hosts_no_system_claims_are_named(tmp_path: Path, alone: int) -> None:
    """Hosts without a system (an RVTools export no ledger completes) move nowhere: assess
    says so, naming them (the first ten), instead of leaving them out in silence."""
    ledger = tmp_path / "ledger.csv"
    # the hosts without a system above the one with: a blank 系统名称 below a filled one
    # reads "same as above" (tests/ledgers: same-as-above)
    rows = ["单位,系统名称,主机名,IP地址"]
    rows += [f"湖北局,,hb-vm{i:02d},10.7.1.{i + 1}" for i in range(alone)]
    rows += ["湖北局,门户,hb-mh01,10.7.0.1"]
    ledger.write_text("\n".join(rows) + "\n", encoding="utf-8")
    est = str(tmp_path / "est")
    res = CliRunner().invoke(main, ["inventory", "import", str(ledger), "--estate", est])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["assess", "--estate", est])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    noun = "1 host belongs" if alone == 1 else f"{alone} hosts belong"
    assert f"{noun} to no system" in text
    assert "hb-vm00" in text and "hb-mh01" not in text.split("belong")[-1]
    assert ("… and 2 more" in text) == (alone == 12)
    assert read_assessment(est).summary["hosts_without_system"] == alone
