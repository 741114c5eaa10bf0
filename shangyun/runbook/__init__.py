"""Runbooks: the per-wave document a human follows and signs (before the wave) and the
record of what happened (after it). Pure: estate + plan + assessment + journal in, text out.

::

    ctx = runbook_context("inventories/x", 1, lang="en")
    text, charts = render_runbook("inventories/x", 1, fmt="html", lang="zh")
    path = write_runbook("inventories/x", 1, fmt="md", lang="zh")   # <estate>/runbooks/…
"""

from shangyun.runbook.api import (
    default_path,
    render_runbook,
    runbook_charts,
    runbook_context,
    write_document,
    write_runbook,
)

__all__ = ["default_path", "render_runbook", "runbook_charts", "runbook_context",
           "write_document", "write_runbook"]
