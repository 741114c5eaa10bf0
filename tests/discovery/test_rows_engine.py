"""Facts → estate rows, and the engine with a runner that is a plain function (no
servers): statuses from errors, order kept, merge and conflicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from shangyun.discovery import gather_script, parse_output, split_sections
from shangyun.discovery.engine import (
    apply_results,
    discover_hosts,
    markdown_summary,
    parse_target,
    targets_from_estate,
)
from shangyun.discovery.hypervisors import split_spec
from shangyun.discovery.model import Defaults, Target
from shangyun.discovery.rows import disk_rows, host_row
from shangyun.errors import AuthError, HostKeyError, TransientError
from shangyun.estate import Estate
from shangyun.facts import FACTS_BY_NAME

DATA = Path(__file__).parent / "data"


def centos6_output() -> str:
    """A whole gather-script output assembled from the CentOS 6 data files."""
    parts = {"hostname": "hostname/plain", "os": "os/centos6", "kernel": "kernel/centos6",
             "cpu": "cpu/xeon_2_sockets_vm", "memory": "memory/centos6_no_memavailable",
             "firmware": "firmware/uefi", "virt": "virt/centos6_dmi_vmware",
             "block": "block/centos6_lsblk_pairs", "filesystems": "filesystems/centos6_df_T",
             "interfaces": "interfaces/centos6", "session": "session/ssh",
             "tcp": "tcp/centos6_netstat", "udp": "udp/centos6_netstat",
             "services": "services/centos6_sysv_chkconfig",
             "processes": "processes/centos6", "db_binaries": "db_binaries/debian",
             "cron": "cron/rhel_spool", "timers": "timers/rhel8_custom",
             "utilisation": "utilisation/centos6_no_memavailable"}
    out = []
    for name, path in parts.items():
        out.append(f"@@shangyun:{name}@@")
        out.append((DATA / f"{path}.txt").read_text().rstrip("\n"))
    out.append("@@shangyun:end@@")
    return "\n".join(out) + "\n"


def test_script_has_one_section_per_fact() -> None:
    script = gather_script(sample_seconds=0.5)
    assert "sleep 0.5" in script and "sleep 1" not in script
    sections = split_sections(centos6_output())
    assert "end" in sections and len(sections) == 20


def test_host_and_disk_rows_from_centos6() -> None:
    facts = parse_output(centos6_output())
    assert facts["_errors"] == {} and facts["_complete"]
    row = host_row(facts, host_id="h1", bureau_id="b1", ip="10.3.1.30", ssh_port=22)
    assert (row["os"], row["os_version"], row["kind"], row["firmware"]) == \
        ("CentOS", "6.10", "vm", "uefi")
    assert row["mac"] == "52:54:00:ab:cd:ef" and row["cpu_cores"] == 4
    assert row["memory_gb"] == round(3922944 / 2**20, 2)
    assert row["disk_gb"] == 120.0 and row["ssh_port"] is None
    assert (row["cpu_util_pct"], row["mem_util_pct"]) == (10.0, 50.0)
    disks = {d["name"]: d for d in disk_rows(facts, "h1")}
    # sda: / on LVM (9123420 KiB) + /boot on sda1 (39512 KiB); sdb: /data
    assert disks["sda"]["used_gb"] == round((9123420 + 39512) * 1024 / 2**30, 2)
    assert disks["sdb"]["used_gb"] == round(5242880 * 1024 / 2**30, 2)
    dbs = {e["engine"]: e for e in facts["databases"]}
    assert dbs["postgresql"]["running"] and dbs["postgresql"]["ports"] == [5432]


def _estate() -> Estate:
    return Estate.from_records({"name": "e"}, {
        "bureaus": [{"id": "b1", "name": "B1", "kind": "bureau", "ssh_user": "ops",
                     "ssh_jump": "jump.b1:2222", "ssh_port": 2200},
                    {"id": "b2", "name": "B2", "kind": "bureau"}],
        "systems": [{"id": "s1", "name": "S1", "bureau_id": "b1"}],
        "hosts": [{"id": "h1", "hostname": "app01", "ip": "10.3.1.30", "bureau_id": "b1",
                   "system_id": "s1", "os": "CentOS", "os_version": "6.5"},
                  {"id": "h2", "hostname": "db01", "ip": "10.3.2.1", "bureau_id": "b2",
                   "ssh_port": 2022},
                  {"id": "h3", "hostname": "noip", "bureau_id": "b2"}]})


def test_targets_use_bureau_and_host_settings() -> None:
    ts = targets_from_estate(_estate(), Defaults(user="root"), ["10.9.9.9:2022", "10.3.2.1:2022"])
    assert [(t.host_id, t.address, t.port, t.user, t.jump) for t in ts] == [
        ("h1", "10.3.1.30", 2200, "ops", "jump.b1:2222"),
        ("h2", "10.3.2.1", 2022, "root", ""),
        ("disc-10.9.9.9-2022", "10.9.9.9", 2022, "root", ""),
    ]
    assert parse_target("[fd00::5]:22", Defaults()).address == "fd00::5"
    assert split_spec("B01=test:///x.xml") == ("B01", "test:///x.xml")
    assert split_spec("esx://h/?no_verify=1") == ("", "esx://h/?no_verify=1")


def test_engine_statuses_order_and_merge() -> None:
    est = _estate()
    targets = targets_from_estate(est, Defaults())
    errors = {"h2": AuthError("db01: authentication refused")}

    def runner(t: Target) -> tuple[str, int]:
        if t.host_id in errors:
            raise errors[t.host_id]
        return centos6_output(), 1

    results = discover_hosts(targets, runner, concurrency=4)
    assert [(r.target.host_id, r.status) for r in results] == [("h1", "ok"),
                                                                ("h2", "auth-failed")]
    applied = apply_results(est, results)
    hosts = {h["id"]: h for h in est.rows("hosts")}
    assert hosts["h1"]["os_version"] == "6.5"          # ledger value kept …
    conflicts = {(c["key"], c["column"]): c for c in est.rows("conflicts")}
    assert conflicts[("h1", "os_version")]["incoming"] == "6.10"   # … and the conflict listed
    assert hosts["h1"]["discovery_status"] == "ok" and hosts["h1"]["cpu_cores"] == 4
    assert hosts["h2"]["discovery_status"] == "auth-failed"
    assert applied.hosts_added == 0 and applied.conflicts >= 1
    assert "| h2 | 10.3.2.1:2022 | auth-failed |" in markdown_summary(results, applied)
    est.check()


def test_an_extra_target_never_reached_does_not_join_the_estate() -> None:
    """A ``--target`` address that never answered is no host: it is not added under the
    ``unassigned`` bureau (it was, named by its address), and the run says so."""
    est = _estate()
    targets = targets_from_estate(est, Defaults(), ["10.9.9.9", "10.9.9.8"])

    def runner(t: Target) -> tuple[str, int]:
        if t.address.startswith("10.9.9."):
            raise TransientError(f"{t.address}: connection refused")
        return centos6_output(), 1

    results = discover_hosts(targets, runner, concurrency=2)
    applied = apply_results(est, results)
    assert sorted(h["id"] for h in est.rows("hosts")) == ["h1", "h2", "h3"]
    assert "unassigned" not in {b["id"] for b in est.rows("bureaus")}
    assert applied.hosts_added == 0 and applied.hosts_not_reached == 2
    said = [n for n in applied.notes if "not added to the estate" in n]
    assert said == ["2 extra targets (--target) not reached: not added to the estate "
                    "(10.9.9.8, 10.9.9.9)"], applied.notes
    est.check()


@pytest.mark.parametrize(("exc", "status"), [
    (HostKeyError("x"), "host-key"), (AuthError("x"), "auth-failed"),
    (TransientError("x"), "unreachable"), (ValueError("x"), "error")])
def test_status_of_generic_errors(exc: Exception, status: str) -> None:
    def runner(t: Target) -> tuple[str, int]:
        raise exc

    (res,) = discover_hosts([Target("h", "10.0.0.1")], runner)
    assert res.status == status and res.reason == "x"


def test_truncated_output_is_an_error() -> None:
    def runner(t: Target) -> tuple[str, int]:
        return centos6_output().replace("@@shangyun:end@@\n", ""), 1

    (res,) = discover_hosts([Target("h", "10.0.0.1")], runner)
    assert res.status == "error" and "end" in res.reason


def test_a_multipath_lun_and_a_bind_mount_are_counted_once() -> None:
    """Two SAN LUNs, each seen through two paths (sdb+sdc → mpatha, sdd+sde → mpathb),
    and a filesystem mounted twice (a bind mount; old df lists both): the host's disk
    total counts each LUN once, one disk row per LUN (named by its multipath device),
    used space counted once per filesystem; NFS is no disk of the host."""
    read = {n: FACTS_BY_NAME[n].process((DATA / f"{n}/{case}.txt").read_text().splitlines())
            for n, case in (("block", "multipath_lsblk_json"),
                            ("filesystems", "centos6_df_bind"))}
    row = host_row(read, host_id="h1", bureau_id="b1")
    assert row["disk_gb"] == 40 + 100 + 50
    disks = {d["name"]: d for d in disk_rows(read, "h1")}
    assert set(disks) == {"sda", "mpatha", "mpathb"}
    assert (disks["mpatha"]["size_gb"], disks["mpatha"]["path"]) == (100.0,
                                                                     "/dev/mapper/mpatha")
    assert disks["mpatha"]["used_gb"] == 50.0 and disks["mpathb"]["used_gb"] == 10.0
    assert disks["sda"]["used_gb"] == round((6291456 + 204800) * 1024 / 2**30, 2)


def test_a_lun_two_hosts_share_is_one_datastore_and_a_note() -> None:
    """Two cluster nodes (h1, h2) see the same SAN LUN (mpatha: the same WWID): each
    host's disk row says which LUN it is (datastore lun:<wwid>) and the run notes the
    LUN is shared, so it is counted once; h1's own disk is no datastore of that kind."""
    mp = (DATA / "block/multipath_lsblk_json.txt").read_text()
    df = (DATA / "filesystems/centos6_df_bind.txt").read_text()
    out = centos6_output()
    out = out.replace((DATA / "block/centos6_lsblk_pairs.txt").read_text().rstrip("\n"),
                      mp.rstrip("\n"))
    out = out.replace((DATA / "filesystems/centos6_df_T.txt").read_text().rstrip("\n"),
                      df.rstrip("\n"))
    est = _estate()
    own = {"h1": out, "h2": out.replace("naa.6000c29123", "naa.6000c29999")}  # own sda
    results = discover_hosts(targets_from_estate(est, Defaults())[:2],
                             lambda t: (own[t.host_id], 1), concurrency=2)
    applied = apply_results(est, results)
    disks = {(d["host_id"], d["name"]): d for d in est.rows("disks")}
    lun = "lun:3600508b4000156d700012000000b0000"
    assert disks[("h1", "mpatha")]["datastore"] == disks[("h2", "mpatha")]["datastore"] == lun
    assert not disks[("h1", "sda")].get("datastore")
    notes = [n for n in applied.notes if "3600508b4000156d700012000000b0000" in n]
    assert notes == ["LUN 3600508b4000156d700012000000b0000 (100.0 GB) is seen by 2 hosts "
                     "(app01: mpatha, db01: mpatha): one shared disk — count it once (its "
                     "disks rows: datastore lun:3600508b4000156d700012000000b0000)"], notes
    est.check()
