"""The pure side of a wave: reading the plan, the step list, the dry run and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.errors import EstateError, PlanError
from shangyun.wave.builder import wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.precheck import Observations, precheck_problems
from shangyun.wave.stepargs import (
    AdaptArgs,
    AdaptPlanned,
    ConvertArgs,
    ConvertPlanned,
    UploadArgs,
)
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import WaveEstate, write_plan


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def test_load_wave_reads_hosts_disks_and_groups(wave_estate: WaveEstate) -> None:
    wave = load_wave(wave_estate.root, 1)
    assert [s.id for s in wave.systems] == ["sys-01", "sys-02", "sys-03"]
    assert wave.plan_fingerprint == wave.estate_fingerprint
    s1 = wave.system("sys-01")
    assert s1.bureau_id == "bureau-01" and s1.name == "审批系统"
    assert [d.format for d in s1.disks] == ["vmdk", "vhd"]
    assert s1.hosts[0].hypervisor.startswith("test://")
    assert wave.move_groups == {"mg-1-0": ["sys-01"], "mg-1-1": ["sys-02"],
                                "mg-1-2": ["sys-03"]}
    assert [s.id for s in load_wave(wave_estate.root, 1, only="档案系统").systems] == ["sys-02"]


def test_unknown_wave_and_system_are_named(wave_estate: WaveEstate) -> None:
    with pytest.raises(PlanError, match="no wave 7"):
        load_wave(wave_estate.root, 7)
    with pytest.raises(PlanError, match="'nope' is not in wave 1"):
        load_wave(wave_estate.root, 1, only="nope")
    (wave_estate.root / "plan" / "plan.yaml").unlink()
    with pytest.raises(EstateError, match=r"plan\.yaml: no plan"):
        load_wave(wave_estate.root, 1)


def test_steps_are_ordered_and_keys_unique(wave_estate: WaveEstate) -> None:
    wave = load_wave(wave_estate.root, 1)
    steps = wave_steps(wave, RunOptions(staging_dir="/stage"))
    kinds = [s.kind for s in steps["sys-01"]]
    assert kinds == ["precheck", "convert", "convert", "adapt", "upload", "upload", "import",
                     "import", "launch"]
    adapt = steps["sys-01"][3]
    assert adapt.key == "sys-01/adapt/host-01"
    aa = adapt.args_as(AdaptArgs)
    assert aa.mode == "auto" and [d.adapted for d in aa.disks] == [
        "/stage/wave-1/sys-01/disk-01-0.adapted.qcow2",
        "/stage/wave-1/sys-01/disk-01-1.adapted.qcow2"]
    assert adapt.planned_as(AdaptPlanned).paths == [d.adapted for d in aa.disks]
    up = steps["sys-01"][4].args_as(UploadArgs)
    assert (up.adapt_key, up.disk_id) == (adapt.key, "disk-01-0")
    keys = [s.key for ss in steps.values() for s in ss]
    assert len(keys) == len(set(keys))
    conv = steps["sys-01"][1]
    assert conv.planned_as(ConvertPlanned).path == "/stage/wave-1/sys-01/disk-01-0.qcow2"
    ec2 = wave_steps(wave, RunOptions(target="ec2", staging_dir="/s"))["sys-01"][1]
    args = ec2.args_as(ConvertArgs)
    assert args.target_format == "vmdk" and args.subformat == "streamOptimized"


def test_precheck_logic_names_every_problem() -> None:
    ok = Observations("sys-01", "abc", "abc", tools={"qemu-img": "/usr/bin/qemu-img"},
                      staging_free=10, staging_needed=5)
    assert precheck_problems(ok) == []
    bad = Observations("sys-01", "abc", "abd", tools={"qemu-img": None},
                       unreadable_disks={"/x.vmdk": "missing"},
                       unreachable_hypervisors={"test:///n.xml": "no such file"},
                       staging_free=1, staging_needed=2 * 2**30,
                       target_free={"vcpus": 1}, target_needed={"vcpus": 4})
    text = "\n".join(precheck_problems(bad))
    for needle in ("estate changed", "qemu-img", "/x.vmdk", "test:///n.xml",
                   "staging needs 2.00 GiB", "4 needed"):
        assert needle in text


def test_precheck_refuses_a_host_no_disk_row_lists() -> None:
    """A ledger-only estate (host sizes, no disk rows): the wave had a pre-check step only
    for such a system and would have recorded it moved with nothing copied."""
    obs = Observations("sys-01", "abc", "abc", tools={"qemu-img": "/usr/bin/qemu-img"},
                       who="档案管理系统", diskless_hosts=["hb-da01"])
    (problem,) = precheck_problems(obs)
    assert "档案管理系统" in problem and "host hb-da01 has no disks" in problem
    assert "shangyun discover" in problem


def test_dry_run_cli_prints_every_step_and_touches_nothing(wave_estate: WaveEstate) -> None:
    before = _snapshot(wave_estate.root)
    images_before = {p: p.stat().st_mtime_ns for p in wave_estate.images.values()}
    r = CliRunner().invoke(main, ["wave", "run", "1", "--estate", str(wave_estate.root),
                                  "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["dry_run"] and data["step_count"] == 3 * 9
    # the bureau by its name (#17); its id only in the small print and the JSON
    assert data["systems"][0]["run_name"] == "wave-1 · 一局 · 审批系统"
    assert data["systems"][0]["bureau"] == "bureau-01"
    assert data["systems"][0]["bureau_name"] == "一局"
    assert _snapshot(wave_estate.root) == before
    assert {p: p.stat().st_mtime_ns for p in wave_estate.images.values()} == images_before
    text = CliRunner().invoke(main, ["wave", "run", "1", "--estate", str(wave_estate.root),
                                     "--dry-run", "--only", "sys-02"])
    assert text.exit_code == 0
    assert "[convert]" in text.output and "sys-01" not in text.output
    head = next(line for line in text.output.splitlines() if line.startswith("wave-1 · "))
    assert head.startswith("wave-1 · 二局 · 档案系统  [system sys-02, bureau bureau-02, "
                           "move group "), head
    assert "1 system, 9 steps" in text.output


def test_dry_run_warns_when_estate_changed(wave_estate: WaveEstate) -> None:
    write_plan(wave_estate.root, {1: [["sys-01"]]})
    plan = wave_estate.root / "plan" / "plan.yaml"
    plan.write_text(plan.read_text().replace("estate_fingerprint: ", "estate_fingerprint: 0"))
    r = CliRunner().invoke(main, ["wave", "run", "1", "--estate", str(wave_estate.root),
                                  "--dry-run"])
    assert r.exit_code == 0 and "estate changed" in r.output


def test_dry_run_does_not_import_prefect(wave_estate: WaveEstate) -> None:
    code = ("import sys; from shangyun.cli import main\n"
            "try:\n main(['wave','run','1','--estate',sys.argv[1],'--dry-run','--json'])\n"
            "except SystemExit: pass\n"
            "assert 'prefect' not in sys.modules and 'boto3' not in sys.modules, 'imported'\n")
    r = subprocess.run([sys.executable, "-c", code, str(wave_estate.root)],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert r.returncode == 0, r.stderr
    assert '"dry_run": true' in r.stdout


def test_status_of_a_wave_never_run_writes_nothing(wave_estate: WaveEstate) -> None:
    before = _snapshot(wave_estate.root)
    r = CliRunner().invoke(main, ["wave", "status", "1", "--estate", str(wave_estate.root),
                                  "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["state"] == "never run"
    assert _snapshot(wave_estate.root) == before


CUTOVER_YAML = """schema_version: 1
systems:
  sys-01:
    databases:
      - id: main
        engine: postgresql
        source: {host: 127.0.0.1, port: 5432, user: postgres, dbname: app}
        target: {host: 127.0.0.1, port: 5432, user: postgres, dbname: app_new}
    dns:
      endpoint: http://127.0.0.1:9
      zone: b.gov.cn
      records: [{name: app.b.gov.cn, type: A, values: [10.9.0.5]}]
    health: [{kind: tcp, host: 127.0.0.1, port: 9}]
"""


def test_dry_run_and_runbook_list_the_cutover_steps(wave_estate: WaveEstate) -> None:
    from shangyun.runbook.api import runbook_context

    (wave_estate.root / "plan" / "cutover.yaml").write_text(CUTOVER_YAML, encoding="utf-8")
    code = ("import sys; from shangyun.cli import main\n"
            "try:\n main(['wave','run','1','--estate',sys.argv[1],'--dry-run','--json'])\n"
            "except SystemExit: pass\n"
            "assert 'prefect' not in sys.modules and 'boto3' not in sys.modules, 'imported'\n")
    r = subprocess.run([sys.executable, "-c", code, str(wave_estate.root)],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    kinds = [st["kind"] for st in data["systems"][0]["steps"]]
    cut = ["copy", "freeze", "delta", "verify", "start", "dns", "health", "cutover"]
    assert kinds[9:] == cut  # part 1's nine, then the cutover's, in order
    assert [len(s["steps"]) for s in data["systems"]] == [17, 9, 9]
    assert data["step_count"] == 35
    text = CliRunner().invoke(main, ["wave", "run", "1", "--estate", str(wave_estate.root),
                                     "--dry-run", "--only", "sys-01"])
    assert "[dns] switch DNS in b.gov.cn" in text.output
    assert "1 system, 17 steps" in text.output
    for lang, label, undo in (("zh", "切换 DNS", "恢复日志中记录的原 DNS 记录（b.gov.cn）"),
                              ("en", "switch DNS", "put the journaled previous DNS records "
                                                   "back (b.gov.cn)")):
        ctx = runbook_context(wave_estate.root, 1, lang)
        steps = ctx["systems"][0]["steps"]
        assert [s["kind"] for s in steps][9:] == cut
        dns = next(s for s in steps if s["kind"] == "dns")
        assert dns["kind_label"] == label and dns["undo"] == undo
        assert all(s["seconds"] > 0 for s in steps[8:])



def test_a_physical_servers_raw_disks_are_named_with_their_host(tmp_path: Path) -> None:
    """The sample's wave 1 converts several servers' ``/dev/sda``: each convert step of the
    dry run (and the runbook) says whose disk it is; a VM's datastore path, which names its
    VM, stays as it is."""
    import shutil

    root = tmp_path / "estate"
    shutil.copytree(Path(__file__).resolve().parents[2] / "inventories" / "sample", root,
                    ignore=shutil.ignore_patterns("ledgers"))
    runner = CliRunner()
    assert runner.invoke(main, ["plan", "--estate", str(root)]).exit_code == 0
    r = runner.invoke(main, ["wave", "run", "1", "--dry-run", "--json", "--estate", str(root)])
    assert r.exit_code == 0, r.output
    converts = [st for s in json.loads(r.output)["systems"] for st in s["steps"]
                if st["kind"] == "convert"]
    raw = [st for st in converts if st["args"]["source"].startswith("/dev/")]
    assert len(raw) >= 2 and len({st["title"] for st in raw}) == len(raw), raw[:3]
    assert all(f":{st['args']['source']} (raw)" in st["title"] for st in raw), raw[:3]
    vmdk = [st for st in converts if st["args"]["source"].endswith(".vmdk")]
    assert vmdk and all(f"convert {st['args']['source']} (vmdk)" in st["title"] for st in vmdk)
    r = runner.invoke(main, ["runbook", "1", "--estate", str(root), "--format", "md",
                             "--out", str(tmp_path / "rb.md")])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "rb.md").read_text()
    assert all(st["title"].split(" ", 1)[1].split(" (")[0] in text for st in raw)
