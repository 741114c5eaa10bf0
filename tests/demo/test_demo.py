"""The demo end to end: the quick lab pipeline through every stage that has landed (run twice:
the second run must work too), and the lab-free sample path."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import demo
from shangyun.estate import Estate

pytestmark = pytest.mark.timeout(600)


def _journal(estate: Path) -> list:
    from connectors.journal.wave import open_journal

    with open_journal(estate) as j:
        return j.records(1)


def test_quick_lab_demo_goes_through_every_stage_twice(demo_dirs: tuple[Path, Path]) -> None:
    out, lab_dir = demo_dirs
    st = demo.run_lab(out, bureaus=2, lab_dir=lab_dir, quick=True)
    assert not st.failed, st.notes
    names = [n for n, _ in demo.LAB_STAGES]
    skipped = [n.split(":")[0] for n in st.notes if "skipped" in n]
    assert set(st.results["seconds"]) | set(skipped) == set(names)
    # landed in this build: nothing may be skipped
    assert skipped == [], st.notes

    # 1. lab
    assert st.results["lab"]["up"] == st.results["lab"]["total"] == 7
    # 2. import: the lab's 3 systems + one VM system per bureau, 7 sshd hosts + 2 VMs each
    assert st.results["import"]["systems"] == 5
    assert st.results["import"]["hosts"] == 7 + 2 * demo.QUICK_VMS
    # 3. discovery: every SSH host ok, every hypervisor domain in the estate
    disc = st.results["discover"]
    assert disc["counts"] == {"ok": 7} and disc["total"] == 7
    est = Estate.load(out / "estate", check=True)
    vms = [h for h in est.rows("hosts") if h.get("hypervisor")]
    assert len(vms) == sum(len(hv.domains) for hv in st.lab.hypervisors) == 12
    assert disc["applied"]["conflicts"] > 0  # the VM ledger's sizes differ from libvirt's
    # 4./5. assessment and a plan with the VM systems as wave 1
    assert (out / "estate" / "assessment").is_dir()
    assert st.results["plan"]["waves"] == [1, 2]
    # 6. dashboard answers
    with urllib.request.urlopen(st.results["dashboard"] + "/api/health", timeout=5) as r:
        assert r.status == 200
    # 7. wave 1 done; its journal shows every step done, images checked end to end
    assert st.results["wave"]["state"] == "done"
    assert st.results["s3"]["endpoint"] == st.lab.s3_endpoint != ""  # the lab's object store
    recs = _journal(out / "estate")
    kinds = {r.kind for r in recs}
    assert {"precheck", "convert", "upload", "import", "launch"} <= kinds
    assert all(r.status == "done" for r in recs), [(r.key, r.status) for r in recs]
    digests = {i.path: i.sha256 for i in st.lab.images}
    disk_paths = {d["id"]: d["path"] for d in est.rows("disks")}
    converts = [r for r in recs if r.kind == "convert"]
    assert len(converts) == 2 * demo.QUICK_VMS
    for r in converts:  # the copy's content digest is the lab image's known digest
        path = disk_paths[r.key.split("/convert/", 1)[1]]
        assert r.payload["content_digest"] == f"sha256:{digests[path]}"
    # 7b. cutover, where the wave run carries it out: each bureau's lab database copied to
    # this machine's server, verified (1000 rows), DNS switched, health checked
    if st.results.get("dns_before"):
        verified = [r.payload["verified"] for r in recs if r.kind == "verify"]
        assert len(verified) == 2
        assert sorted(next(iter(v["appdb"].values()))["rows"] for v in verified) == [1000, 1000]
        assert {r.kind for r in recs} >= {"copy", "delta", "freeze", "start", "dns", "health",
                                           "cutover"}
    # 8. runbooks zh/en html/md and the report
    docs = [Path(p) for p in st.results["documents"]]
    names_written = {p.name for p in docs}
    assert {"wave-1.zh.html", "wave-1.en.html", "wave-1.zh.md", "wave-1.en.md",
            "report.zh.html", "report.en.html"} <= names_written
    assert all(p.stat().st_size > 1000 for p in docs)
    en = (out / "estate" / "runbooks" / "wave-1.en.md").read_text(encoding="utf-8")
    for system in st.results["vm_systems"]:
        assert system in en

    # the cutover file the demo writes when the wave runs cutover steps is valid
    from shangyun.cli import main
    from shangyun.wave.cutover import load_cutover

    dry = CliRunner().invoke(main, ["wave", "run", "1", "--estate", str(out / "estate"),
                                    "--dry-run", "--json"])
    systems = json.loads(dry.output)["systems"]
    assert systems == demo.wave_dry_run(out / "estate")["systems"]  # the demo's library call
    victim_id = systems[0]["id"]
    spec = demo.cutover_spec(st, systems, st.lab.s3_endpoint, victim_id)
    (out / "estate" / "plan" / "cutover.yaml").write_text(
        yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    plan = load_cutover(out / "estate")
    assert plan is not None and set(plan.systems) == {s["id"] for s in systems}
    assert [h["url"].rsplit(":", 1)[1] for h in plan.systems[victim_id].health] == ["1/health"]
    assert all(c.dns_records and c.health for c in plan.systems.values())

    # a second run works too (the lab and the dashboard are reused, the estate is fresh)
    again = demo.run_lab(out, bureaus=2, lab_dir=lab_dir, quick=True)
    assert not again.failed, again.notes
    assert again.results["wave"]["state"] == "done"
    assert again.results["dashboard"] == st.results["dashboard"]

    # the CLI's default --fail-health auto: with cutover in the wave run, wave 1's last
    # system fails its health check and rolls back cleanly, the others are cut over
    res = CliRunner().invoke(demo.cli, ["--out", str(out), "--lab-dir", str(lab_dir),
                                        "--quick", "--no-guest"])
    assert res.exit_code == 0, res.output
    assert "demo finished" in res.output
    recs = _journal(out / "estate")
    by_system: dict[str, set[str]] = {}
    for r in recs:
        by_system.setdefault(r.system_id, set()).add(r.status)
    if (out / "estate" / "plan" / "cutover.yaml").exists():
        assert sorted(map(sorted, by_system.values())) == [["done"], ["undone"]], by_system
        text = " ".join(res.output.split())  # as read: rich wraps long lines at any space
        assert "rolled back cleanly" in text, text
        # the wave state's words and counts (not "2 system(s) done" for systems cut over)
        assert "1 system cut over — awaiting finalize" in text, text
        assert "system(s)" not in text, text
        from connectors.database import mariadb, postgres
        from connectors.database.common import DbEndpoint

        rolled = next(sid for sid, v in by_system.items() if v == {"undone"})
        copy = next(r for r in recs if r.system_id == rolled and r.kind == "copy")
        tgt = copy.payload["item"]["target"]
        mod = postgres if copy.payload["item"]["engine"] == "postgresql" else mariadb
        assert not mod.database_exists(DbEndpoint(**tgt))  # the undo dropped the copy
        assert {r.kind for r in recs} >= {"freeze", "start", "dns", "health", "cutover"}
    else:
        assert set().union(*by_system.values()) == {"done"}
        assert "part 1 only" in res.output
    # an explicit --fail-health naming no system of wave 1 is one clear error; --lab-down
    # then drops the demo's database copies and takes the lab down
    from connectors.database import postgres
    from connectors.database.common import DbEndpoint

    lab_state = st.lab
    pg_host = next(h for h in lab_state.hosts if h.database and
                   h.database.engine == "postgresql")
    pg_copy = DbEndpoint(host="127.0.0.1", port=5432, user="postgres",
                         dbname=demo.target_dbname(lab_state, pg_host.bureau, "appdb"))
    cut_over = (out / "estate" / "plan" / "cutover.yaml").exists()
    assert postgres.database_exists(pg_copy) == cut_over  # B01 was cut over, its copy stays
    res = CliRunner().invoke(demo.cli, ["--out", str(out), "--lab-dir", str(lab_dir),
                                        "--quick", "--no-guest", "--fail-health",
                                        "no-such-system", "--lab-down"])
    assert res.exit_code == 1
    assert "no-such-system" in res.output and "not a system of wave 1" in res.output
    assert "lab down" in res.output and not (lab_dir / "lab.json").exists()
    assert not postgres.database_exists(pg_copy)


def test_sample_path_cli(tmp_path: Path) -> None:
    res = CliRunner().invoke(demo.cli, ["--sample", "--out", str(tmp_path), "--bureaus", "2",
                                        "--systems", "10"])
    assert res.exit_code == 0, res.output
    assert "demo finished" in res.output
    est = Estate.load(tmp_path / "imported", check=True)
    assert len(est.tables["systems"]) == 10


def test_vm_ledger_names_each_bureau_system(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from lab.state import LabDomain, LabHypervisor

    lab = SimpleNamespace(  # the three LabState fields write_vm_ledger reads
        bureaus=[{"id": "B01", "name": "福州局"}, {"id": "B02", "name": "厦门局"}], guests=[],
        hypervisors=[
            LabHypervisor(bureau=b, name=b, uri=f"test:///{b}", node_xml="",
                          domains=[LabDomain(name=f"{b.lower()}-vm-{k}", uuid="", state="",
                                             vcpus=1, memory_mib=512, firmware="bios",
                                             macs=[], network="", disks=[])
                                   for k in "abc"])
            for b in ("B01", "B02")])
    path = tmp_path / "vm.csv"
    systems = demo.write_vm_ledger(lab, path, per_bureau=2)
    assert systems == ["福州局虚拟化业务系统", "厦门局虚拟化业务系统"]
    rows = path.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("单位,系统名称,主机名")
    assert len(rows) == 1 + 4
    assert json.dumps(rows, ensure_ascii=False).count("b02-vm-") == 2
