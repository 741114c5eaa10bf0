"""``shangyun runbook N``: the wave's runbook (before: plan, checklist, rollback, sign-off;
after: what ran, verification, failures), Markdown or self-contained HTML, zh or en."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from shangyun.cli.output import (
    console,
    err_console,
    estate_option,
    handle_errors,
    json_option,
    print_json,
)

FORMAT = click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="html",
                      show_default=True, help="Markdown (charts as PNGs beside it) or HTML "
                      "(self-contained, prints well).")
LANG = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
                    help="Language of the document.")

PUBLISH = click.option("--publish", is_flag=True, help="Also publish it (Markdown) as an "
                       "artifact on the running dashboard ('shangyun server start').")


def document_options(default_out: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options of a written document (runbook, report): --estate, --format, --lang, --out
    (``default_out`` names the default file in its help), --publish, --json; errors handled."""
    out_option = click.option("--out", type=click.Path(dir_okay=False), default=None,
                              help=f"Output file (default: {default_out}).")

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for option in (handle_errors, json_option, PUBLISH, out_option, LANG, FORMAT,
                       estate_option):
            command = option(command)
        return command

    return decorate


@click.command("runbook")
@click.argument("number", type=int)
@document_options("<estate>/runbooks/wave-N.<lang>.<format>")
def runbook(number: int, estate_dir: str, fmt: str, lang: str, out: str | None,
            publish: bool, as_json: bool) -> None:
    """Write the runbook of wave NUMBER (before the wave, and what happened once it ran)."""
    from connectors.journal.history import open_reader
    from shangyun.estate.lock import estate_lock
    from shangyun.runbook import runbook_context, write_runbook
    from shangyun.runbook.sources import refuse_unplanned

    refuse_unplanned(Path(estate_dir), number)  # a wave the plan does not have: its waves
    if number < 1:
        raise click.BadParameter(f"{number}: waves are numbered from 1", param_hint="NUMBER")
    click.get_current_context().with_resource(estate_lock(estate_dir, "runbook"))
    with open_reader(estate_dir) as journal:
        path = write_runbook(estate_dir, number, fmt, lang, out, journal=journal)
        if publish:
            from connectors.dashboard import publish_runbook

            url = publish_runbook(estate_dir, number, lang, journal=journal)
            (err_console if as_json else console).print(f"published to the dashboard: {url}")
        ctx = runbook_context(estate_dir, number, lang, journal=journal) if as_json else None
    if ctx is not None:
        print_json({"path": str(path), "wave": number, "ran": ctx["ran"],
                    "systems": [{"id": s["id"], "state": s["state"], "steps": len(s["steps"]),
                                 "estimate_seconds": round(s["seconds"])}
                                for s in ctx["systems"]],
                    "warnings": ctx["warnings"]})
        return
    console.print(f"runbook of wave {number} written: {path}")
