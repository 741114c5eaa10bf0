"""The demo: the main job, run by ``scripts/demo`` as ``python -m demo``.

The full pipeline on the lab (default), as named, timed stages printed with rich; every
stage calls the library functions the matching ``shangyun`` command calls:

1. ``lab up``    — bring the lab up (``lab.up``; a running lab is reused);
2. ``import``    — one import of every lab ledger plus the demo's VM ledger (which system
   owns which hypervisor VM) into a fresh ``<out>/estate``;
3. ``discover``  — over SSH (the lab's key + known_hosts) and every bureau hypervisor;
4. ``assess``; 5. ``plan`` (the VM systems pinned to the pilot wave 1);
6. ``dashboard`` — the persistent Prefect server (``shangyun server start``);
7. ``wave 1``    — wave 1 onto the lab's libvirt cloud through S3 staging (the lab's object
   store: moto's server on 127.0.0.1), then the cutover of ``plan/cutover.yaml`` (DNS switch,
   health checks); ``--fail-health`` makes one system's check fail to show its clean rollback;
8. ``runbooks``  — the wave-1 runbook (zh/en, html/md) and the estate report;
9. ``where to look``.

``--sample`` runs the earlier, lab-free path instead: generate the sample estate, import its
ledgers, validate, summarise, compare. See ``docs/demo.md``.

Modules: :mod:`demo.state` (what stages share), :mod:`demo.sample`, :mod:`demo.estate`
(stages 1–5), :mod:`demo.wave` and :mod:`demo.cutover` (6–7), :mod:`demo.documents` (8–9),
:mod:`demo.runner` (running and timing them), :mod:`demo.cli` (the command line).
"""

from __future__ import annotations

from demo.cli import cli, main
from demo.cutover import cutover_spec, drop_demo_databases, target_dbname, wave_dry_run
from demo.estate import QUICK_VMS, write_vm_ledger
from demo.runner import LAB_STAGES, run, run_lab, run_stages
from demo.sample import SAMPLE_STAGES, compare_counts, stage_import, stage_validate
from demo.state import DemoState, StageSkipped

__all__ = [
    "LAB_STAGES", "QUICK_VMS", "SAMPLE_STAGES", "DemoState", "StageSkipped", "cli",
    "compare_counts", "cutover_spec", "drop_demo_databases", "main", "run", "run_lab",
    "run_stages", "stage_import", "stage_validate", "target_dbname", "wave_dry_run",
    "write_vm_ledger",
]
