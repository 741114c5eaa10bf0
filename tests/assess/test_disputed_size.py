"""Right-sizing a host whose size the ledger and discovery dispute.

Discovery measures utilisation on the machine it logged into (``/proc/stat`` over the CPUs
it counted). While the ledger's CPU count or memory stays in the estate (the conflict not
settled), applying that percentage to the ledger's figure sizes a machine nobody measured:
a host the ledger says has 16 cores, found with 2 busy ones, was sized at 25 vCPU (a 32-vCPU
flavour) where 2 used cores need about 3. The assessment sizes on what was measured and
says so, naming the host and the command that settles the conflict."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.assess import assess
from shangyun.cli import main
from shangyun.estate import Estate


def _estate(ledger_cores: int, found_cores: int, ledger_mem: float, found_mem: float,
            cpu_pct: float, mem_pct: float) -> Estate:
    est = Estate.from_records({"name": "disputed"}, {
        "bureaus": [{"id": "b1", "name": "三局", "kind": "bureau"}],
        "systems": [{"id": "s-b72fd317e7", "name": "运维工具", "bureau_id": "b1"}],
        "hosts": [{"id": "h-e4b24ac6b0", "hostname": "busy01", "system_id": "s-b72fd317e7",
                   "bureau_id": "b1", "kind": "vm", "os": "CentOS Linux", "os_version": "7.9",
                   "arch": "x86_64", "firmware": "bios", "cpu_cores": ledger_cores,
                   "memory_gb": ledger_mem, "cpu_util_pct": cpu_pct, "mem_util_pct": mem_pct,
                   "discovery_status": "ok"}],
    })
    conflicts = [{"id": f"c{i}", "table": "hosts", "key": "h-e4b24ac6b0", "column": col,
                  "current": str(cur), "incoming": str(inc), "current_source": "台账.csv",
                  "incoming_source": "discovery"}
                 for i, (col, cur, inc) in enumerate((("cpu_cores", ledger_cores, found_cores),
                                                      ("memory_gb", ledger_mem, found_mem)))
                 if cur != inc]
    assert not est.set_rows("conflicts", conflicts)
    return est


def test_the_host_is_sized_on_the_cores_discovery_measured() -> None:
    a = assess(_estate(16, 2, 64.0, 23.54, 100.0, 8.8))
    (h,) = a.hosts.to_dict("records")
    assert h["vcpu_need"] == round(2 * 1.0 / 0.7 * 1.1, 2)          # 3.14, not 25.14
    assert h["memory_gb_need"] == max(1.0, round(23.54 * 0.088 / 0.7 * 1.1, 2))
    assert h["vcpu_before"] == 16                                   # the estate's, as is
    said = h["reasons"]
    assert "sized on what discovery measured: 2 CPUs (the ledger says 16)" in said, said
    assert "23.54 GB memory (the ledger says 64" in said, said
    assert "inventory resolve busy01 --column cpu_cores" in said, said
    assert a.summary["sized_on_discovery"] == ["busy01"]


def test_the_cli_warns_naming_the_hosts(tmp_path: Path) -> None:
    _estate(16, 2, 64.0, 64.0, 90.0, 10.0).save(tmp_path / "est")
    res = CliRunner().invoke(main, ["assess", "--estate", str(tmp_path / "est")])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert "1 host is sized on what discovery measured" in said and "busy01" in said, said


@settings(max_examples=10, deadline=None)
@given(ledger=st.integers(1, 256), found=st.integers(1, 256),
       pct=st.floats(1, 100, allow_nan=False))
def test_used_cores_are_the_measured_ones(ledger: int, found: int, pct: float) -> None:
    a = assess(_estate(ledger, found, 8.0, 8.0, round(pct, 1), 50.0))
    (h,) = a.hosts.to_dict("records")
    assert h["vcpu_need"] == round(max(1.0, found * round(pct, 1) / 100 / 0.7 * 1.1), 2)
    assert ("sized on what discovery measured" in h["reasons"]) == (ledger != found)
