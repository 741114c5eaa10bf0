"""``shangyun inventory``: the estate as reviewable files (import, validate, show, export)."""

from __future__ import annotations

import click

from shangyun.cli import output as out
from shangyun.cli.lazy import LazyGroup
from shangyun.estate import Estate

SUBCOMMANDS: dict[str, str] = {"sample": "shangyun.cli.inventory_sample:sample",
                               "import": "shangyun.cli.inventory_io:import_cmd",
                               "export": "shangyun.cli.inventory_io:export_cmd",
                               "conflicts": "shangyun.cli.inventory_io:conflicts_cmd",
                               "resolve": "shangyun.cli.inventory_resolve:resolve_cmd"}

SUMMARIES = {  # each lazy subcommand's first help sentence, for --help without importing it
    "conflicts": "List values that two sources disagree on (current vs incoming, and their "
                 "sources).",
    "export": "Export the estate to one Excel workbook, a sheet per table, headers in zh or "
              "en.",
    "import": "Import ledgers (.xlsx/.csv, RVTools exports) into the estate, merging by host.",
    "resolve": "Settle conflicts: keep the estate's value (current) or take the incoming one.",
    "sample": "Generate a realistic sample estate (hq + bureaus) and its per-bureau ledgers.",
}


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS, summaries=SUMMARIES)
def inventory() -> None:
    """Build and review the estate: import ledgers, validate, show, export, settle conflicts,
    generate samples."""


@inventory.command("validate")
@out.estate_option
@out.json_option
@out.handle_errors
def validate_cmd(estate_dir: str, as_json: bool) -> None:
    """Check the estate and list every problem (file, row, column); exit 1 if any.

    Warnings (doubtful, not wrong: a powered-off host sharing an IP in its bureau, an IP
    two bureaus share in one network zone) are listed too and do not fail the check."""
    warnings = Estate.load(estate_dir, check=True).warnings()
    if as_json:
        out.print_json({"ok": True, "problems": [],
                        "warnings": [w.to_dict() for w in warnings]})
        return
    for w in warnings:
        out.console.print(f"[yellow]warning[/]: {out.escape(str(w))}")
    out.console.print(f"[green]ok[/]: {out.escape(estate_dir)} is a valid estate"
                      + (f" ({len(warnings)} warning(s))" if warnings else ""))


@inventory.command("show")
@out.estate_option
@out.json_option
@out.handle_errors
def show_cmd(estate_dir: str, as_json: bool) -> None:
    """Show counts per table and per bureau (with the oldest and newest go-live date of
    the bureau's hosts, 上线时间)."""
    summary = Estate.load(estate_dir, check=False).summary()
    if as_json:
        out.print_json(summary)
        return
    out.console.print(f"[bold]{out.escape(summary['name'])}[/]  "
                      f"(schema {summary['schema_version']})")
    t = out.Table("table", "rows")
    for name, n in summary["counts"].items():
        t.add_row(name, str(n))
    out.console.print(t)
    b = out.Table("bureau", "id", "systems", "hosts", "vms", "physical", "databases", "disk GB",
                  "hosts live since")
    for bid, e in summary["per_bureau"].items():
        live = e.get("go_live")
        b.add_row(e["name"], bid, str(e["systems"]), str(e["hosts"]), str(e["vms"]),
                  str(e["physical"]), str(e["databases"]), out.gb(e["disk_gb"]),
                  f"{live[0]} … {live[1]}" if live and live[0] != live[1] else
                  (live[0] if live else ""))
    out.console.print(b)
