"""The dry run and the real run are the same list, by construction and in fact.

A wave with cutover (``plan/cutover.yaml`` lists one of its two systems) runs for real
through ``run_wave`` (qemu-img, moto's S3 and Route53, the libvirt test driver, the
journal); every step it executes — as the flow hands it to its task, and as the journal
recorded it — is compared with the dry run's list, the rehearsal's, the runbook's and the
progress bar's total. A second builder anywhere on the run's path makes this fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.dns import Route53Dns
from connectors.journal.wave import open_journal
from flows.move import move_wave
from shangyun.runbook.api import runbook_context
from shangyun.wave.builder import step_count, wave_steps
from shangyun.wave.cutover import write_cutover
from shangyun.wave.dryrun import dry_run
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions, Step
from tests.wave.conftest import Cloud, bucket, build_estate, cloud, moto_endpoint  # noqa: F401

MIB = 2**20


def test_the_run_executes_the_dry_run_list(
        prefect_harness: None, tmp_path: Path, cloud: Cloud,  # noqa: F811
        moto_endpoint: str, bucket: str) -> None:  # noqa: F811
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=2)
    zone = "one-list.gov.cn"
    with Route53Dns(moto_endpoint) as dns:
        dns.zone_id(zone, create=True)
    port = int(moto_endpoint.rsplit(":", 1)[1])
    write_cutover(root, {"soak_hours": 1, "systems": {"sys-01": {
        "dns": {"endpoint": moto_endpoint, "zone": zone,
                "records": [{"name": f"app.{zone}", "type": "A", "values": ["127.0.3.1"]}]},
        "health": [{"kind": "tcp", "host": "127.0.0.1", "port": port}]}}})
    opts = RunOptions(target="libvirt", target_options={"uri": cloud.uri, "pool": cloud.pool},
                      staging_dir=str(tmp_path / "staging"), s3_endpoint=moto_endpoint,
                      bucket=bucket, part_size=5 * MIB)

    plan = dry_run(load_wave(root, 1), opts)
    dry = {s["id"]: s["steps"] for s in plan["systems"]}
    assert [st["kind"] for st in dry["sys-01"]][-5:] == ["freeze", "start", "dns", "health",
                                                         "cutover"]
    assert all(st["kind"] not in ("dns", "cutover") for st in dry["sys-02"])

    ran: dict[str, list[dict[str, Any]]] = {}

    def listener(step: Step, outcome: str) -> None:
        ran.setdefault(step.system_id, []).append(step.to_dict())

    result = move_wave(str(root), 1, options=opts.to_dict(), on_step=listener)
    assert result["state"] == "done", result
    # every step the flow ran, with its args and planned outputs, is the dry run's
    assert ran == dry
    assert {s["id"]: s["of"] for s in result["systems"]} == {k: len(v) for k, v in dry.items()}
    with open_journal(root) as j:
        for sid, steps in dry.items():
            recs = j.records(1, sid)
            assert [(r.key, r.kind, r.status) for r in recs] == \
                [(st["key"], st["kind"], "done") for st in steps]
            for r, st in zip(recs, steps, strict=True):
                assert r.payload.items() >= st["planned"].items(), r.key

    # the rehearsal, the runbook and the progress bar's total take the same list
    rehearsed = move_wave(str(root), 1, options=opts.to_dict(), dry_run=True)
    assert {s["id"]: s["steps"] for s in rehearsed["systems"]} == \
        {k: len(v) for k, v in dry.items()}
    book = runbook_context(root, 1, "en")  # its own options: the keys do not depend on them
    assert {s["id"]: [st["key"] for st in s["steps"]] for s in book["systems"]} == \
        {k: [st["key"] for st in v] for k, v in dry.items()}
    assert step_count(wave_steps(load_wave(root, 1), opts)) == plan["step_count"]
