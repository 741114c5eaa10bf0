"""The dashboard seen from the estate: its address and each wave's newest flow run there
(``shangyun status``), and documents published on it as artifacts — a runbook or the estate
report in Markdown, plus a table (``runbook --publish``, ``report --publish``, the demo).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.prefect_server import ServerError, find_server, latest_flow_run, publish_artifact
from shangyun.errors import ShangyunError
from shangyun.journal.ports import JournalReader
from shangyun.report import programme_status, render_report
from shangyun.runbook import render_runbook

#: The bureau columns of the report's table artifact.
REPORT_COLUMNS = ("id", "name", "systems", "moved", "pending", "failed", "excluded",
                  "failed_back", "rolled_back_by_operator")


def publish_markdown(estate_dir: str | Path, key: str, text: str, description: str,
                     table: list[dict[str, object]] | None = None) -> str:
    """Publish ``text`` (and an optional table under ``<key>-table``) to the running server;
    returns the dashboard's artifacts page. :class:`ShangyunError` when none runs."""
    info = find_server(estate_dir)
    if info is None:
        raise ShangyunError("--publish: no dashboard server is running for this estate; "
                            "start one with 'shangyun server start'")
    publish_artifact(info, key, text, description)
    if table is not None:
        publish_artifact(info, f"{key}-table", table, description)
    return f"{info.ui_url}/artifacts"


def publish_runbook(estate_dir: str | Path, number: int, lang: str, *,
                    journal: JournalReader | None = None) -> str:
    """Publish the runbook of wave ``number`` (Markdown, in ``lang``; what happened from
    ``journal``); returns the page."""
    text, _ = render_runbook(estate_dir, number, "md", lang, journal=journal)
    return publish_markdown(estate_dir, f"runbook-wave-{number}-{lang}", text,
                            f"wave {number} runbook ({lang})")


def publish_report(estate_dir: str | Path, lang: str, *,
                   journal: JournalReader | None = None) -> str:
    """Publish the estate report (Markdown, in ``lang``; progress from ``journal``) and its
    table of bureaus."""
    text, _ = render_report(estate_dir, "md", lang, journal=journal)
    rows: list[dict[str, object]] = [
        {k: b[k] for k in REPORT_COLUMNS}
        for b in programme_status(estate_dir, journal=journal)["bureaus"]]
    return publish_markdown(estate_dir, f"estate-report-{lang}", text,
                            "progress by bureau and wave", table=rows)


def dashboard_status(estate_dir: str | Path, waves: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The estate's running dashboard (``None`` if none runs) and, in each of ``waves``
    (``programme_status``'s), a link to its newest flow run there (``flow_run``)."""
    info = find_server(estate_dir)
    if info is None:
        return None
    for w in waves:
        try:
            w["flow_run"] = latest_flow_run(info, int(w["wave"]))
        except ServerError:
            w["flow_run"] = None
    return {"url": info.ui_url, "api_url": info.api_url, "export": info.export_line}
