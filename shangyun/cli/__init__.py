"""The ``shangyun`` command line: one group per stage, each loaded only when used."""

from __future__ import annotations

import os

import click

from shangyun import __version__
from shangyun.cli.lazy import LazyGroup

# A run without a dashboard starts Prefect's temporary server; on a loaded machine it can
# take longer than Prefect's 20 s default to answer, and the run then died before its first
# step ("Timed out while attempting to connect to ephemeral Prefect API server"). Set before
# any command module imports Prefect (its settings are read once): wait up to 2 min unless
# the environment says otherwise.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

COMMANDS = {
    "lab": "shangyun.cli.lab:lab",
    "assess": "shangyun.cli.assess:assess",
    "audit": "shangyun.cli.audit:audit",
    "discover": "shangyun.cli.discover:discover",
    "plan": "shangyun.cli.plan:plan",
    "inventory": "shangyun.cli.inventory:inventory",
    "wave": "shangyun.cli.wave:wave",
    "runbook": "shangyun.cli.runbook:runbook",
    "report": "shangyun.cli.report:report",
    "server": "shangyun.cli.server:server",
    "status": "shangyun.cli.status:status",
    "worker": "shangyun.cli.worker:worker",
}

SUMMARIES = {  # each command's first help sentence, for --help without importing it
    "assess": "Assess every host and system and write ESTATE/assessment/.",
    "audit": "Check and read the audit log (hash-chained with SHA-256 or SM3).",
    "discover": "Discover every host of the estate over SSH and merge what was found.",
    "inventory": "Build and review the estate: import ledgers, validate, show, export, "
                 "settle conflicts, generate samples.",
    "lab": "The lab: sshd hosts in network namespaces, databases, hypervisors, images, "
           "ledgers.",
    "plan": "Plan move groups and waves for the estate and write ESTATE/plan/.",
    "report": "Write the estate report (--json: print its data instead of writing a file).",
    "runbook": "Write the runbook of wave NUMBER (before the wave, and what happened once "
               "it ran).",
    "server": "Run the persistent Prefect server (the dashboard) that wave flows report to.",
    "status": "Estate counts, assessment, plan waves, and each wave's runs from the journal.",
    "wave": "Run, watch, resume, roll back and finalize a wave of the plan.",
    "worker": "Set up the work pool and run bureau workers for distributed waves.",
}


@click.group(cls=LazyGroup, lazy=COMMANDS, summaries=SUMMARIES,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shangyun")
def main() -> None:
    """shangyun (上云): move a government's legacy systems onto its e-government cloud.

    The pipeline: inventory (ledgers, discovery) → assess → plan (move groups, waves) →
    wave run (convert, replicate, cut over, verify, finalize; rollback on failure) →
    runbooks and reports.
    """


__all__ = ["main"]
