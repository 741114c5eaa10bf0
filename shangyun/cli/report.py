"""``shangyun report``: progress by bureau and wave, moved / pending / excluded, and the
assessment's before/after (utilisation, servers, cost)."""

from __future__ import annotations

import click

from shangyun.cli.output import console, err_console, print_json
from shangyun.cli.runbook import document_options


@click.command("report")
@document_options("<estate>/runbooks/report.<lang>.<format>")
def report(estate_dir: str, fmt: str, lang: str, out: str | None, publish: bool,
           as_json: bool) -> None:
    """Write the estate report (--json: print its data instead of writing a file)."""
    from connectors.journal.history import open_reader
    from shangyun.estate.lock import estate_lock
    from shangyun.report import programme_status, write_report

    if not as_json:  # it writes <estate>/runbooks/ (--json only prints)
        click.get_current_context().with_resource(estate_lock(estate_dir, "report"))
    with open_reader(estate_dir) as journal:
        if publish:
            from connectors.dashboard import publish_report

            url = publish_report(estate_dir, lang, journal=journal)
            (err_console if as_json else console).print(f"published to the dashboard: {url}")

        if as_json:
            print_json(programme_status(estate_dir, journal=journal))
            return
        path = write_report(estate_dir, fmt, lang, out, journal=journal)
    console.print(f"report written: {path}")
