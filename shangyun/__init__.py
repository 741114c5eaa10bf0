"""shangyun (上云): move a government's scattered legacy systems onto its e-government cloud.

The pure core lives here (model, validation, facts parsing, assessment, planner, journal,
runbook rendering, the CLI). Everything that talks to the outside world is in ``connectors``;
Prefect flows are in ``flows``.
"""

__version__ = "0.1.0"
