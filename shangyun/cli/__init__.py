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


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shangyun")
def main() -> None:
    """shangyun (上云): move a government's legacy systems onto its e-government cloud.

    The pipeline: inventory (ledgers, discovery) → assess → plan (move groups, waves) →
    wave run (convert, replicate, cut over, verify, finalize; rollback on failure) →
    runbooks and reports.
    """


__all__ = ["main"]
