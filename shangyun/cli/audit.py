"""``shangyun audit``: check and read the tamper-evident audit log of a journal."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from connectors.journal import open_journal
from shangyun.cli.output import (
    Table,
    console,
    err_console,
    escape,
    handle_errors,
    json_option,
    print_json,
)
from shangyun.estate.model import META_FILE
from shangyun.estate.names import resolve_in
from shangyun.journal.audit import parse_anchor

estate_opt = click.option(
    "--estate", "estate_dir", type=click.Path(file_okay=False, path_type=str),
    envvar="SHANGYUN_ESTATE", show_envvar=True,
    help="The estate folder; its journal is <estate>/journal.db.")
journal_opt = click.option(
    "--journal", "journal_url", envvar="SHANGYUN_JOURNAL", show_envvar=True,
    help="A journal database URL (e.g. postgresql://user@host/db) instead of the estate's.")


def _target(estate_dir: str | None, journal_url: str | None) -> str:
    if journal_url:
        return journal_url
    if estate_dir:
        return estate_dir
    raise click.UsageError("give --estate DIR or --journal URL")


@click.group("audit")
def audit() -> None:
    """Check and read the audit log (hash-chained with SHA-256 or SM3)."""


@audit.command("verify")
@estate_opt
@journal_opt
@click.option("--anchor", default=None, metavar="SEQ:HASH",
              help="A head printed by an earlier verify (kept e.g. in the signed runbook): "
                   "record SEQ must still have HASH.")
@json_option
@handle_errors
def verify_cmd(estate_dir: str | None, journal_url: str | None, anchor: str | None,
               as_json: bool) -> None:
    """Recompute the audit chain; name the first altered, deleted or reordered record.

    Also checks the head's HMAC under the audit key ($SHANGYUN_AUDIT_KEY) and compares
    the journal with the heads published to this host's append-only head log: records
    cut from the tail (named), rewritten records and forged heads are caught. Exits 1
    when anything does not hold. The printed head (SEQ:HASH) can also be kept (e.g. in
    the signed runbook) and passed back as --anchor.
    """
    try:
        pinned = parse_anchor(anchor) if anchor else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--anchor") from None
    with open_journal(_target(estate_dir, journal_url), create=False) as j:
        report = j.verify_audit(pinned)
        where = j.url
    if as_json:
        print_json({"journal": where, **report.to_dict()})
    elif report.ok:
        keyed = "keyed head" if report.keyed else "head not keyed"
        console.print(f"[green]ok[/]: {report.records} audit record(s) in {escape(where)}, "
                      f"chain {report.algorithm}, head {report.head_seq}:{report.head_hash} "
                      f"({keyed}, {report.published} published head(s) checked)",
                      soft_wrap=True)
        for note in report.notes:
            console.print(f"  note: {escape(note)}", soft_wrap=True)
    else:
        first = report.first
        assert first is not None
        err_console.print(f"[bold red]audit log tampered[/] ({escape(where)}, chain "
                          f"{report.algorithm}): {escape(first.message)}", soft_wrap=True)
        for extra in report.problems[1:]:
            err_console.print(f"  also: {escape(extra.message)}", soft_wrap=True)
    if not report.ok:
        sys.exit(1)


@audit.command("show")
@estate_opt
@journal_opt
@click.option("--system", default=None,
              help="Only records about this system (id, or name with --estate).")
@click.option("--run", "run_id", default=None, help="Only records of this run.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show the last N records.")
@json_option
@handle_errors
def show_cmd(estate_dir: str | None, journal_url: str | None, system: str | None,
             run_id: str | None, limit: int, as_json: bool) -> None:
    """Show the last audit records: time (UTC), operator, system, action, result."""
    if system is not None and estate_dir and (Path(estate_dir) / META_FILE).is_file():
        # a name needs the estate; a folder that holds only a journal takes the id as given
        system = resolve_in(estate_dir, "system", system)
    with open_journal(_target(estate_dir, journal_url), create=False) as j:
        entries = j.audit_entries(system=system, run=run_id, limit=limit)
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    table = Table("#", "time (UTC)", "operator", "system", "action", "result", "details")
    for e in entries:
        details = ", ".join(f"{k}={v}" for k, v in e.details.items() if v not in (None, {}))
        table.add_row(str(e.seq), e.ts[:19].replace("T", " "), e.operator,
                      e.system or "", e.action, e.result, details[:120])
    console.print(table)
