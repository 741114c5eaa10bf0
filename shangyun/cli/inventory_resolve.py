"""``shangyun inventory resolve``: settle conflicts by keeping one side."""

from __future__ import annotations

from pathlib import Path

import click

from shangyun.cli.output import (
    Table,
    console,
    escape,
    estate_option,
    handle_errors,
    json_option,
    print_json,
)


@click.command("resolve")
@click.argument("row", required=False, metavar="[ROW]")
@estate_option
@click.option("--keep", type=click.Choice(["current", "incoming"]), required=True,
              help="current: the estate's value stays; incoming: the other source's value "
                   "replaces it.")
@click.option("--column", help="Only conflicts on this column (os, cpu_cores, …; a host's os "
                                "and os_version are settled together).")
@click.option("--source", help="Only conflicts whose incoming value came from this file "
                                "(its name or path as `inventory conflicts` shows).")
@click.option("--table", "table", help="Only conflicts of this table (hosts, systems, …).")
@click.option("--all", "all_", is_flag=True, help="Every conflict (with no ROW, --column, "
                                                  "--source or --table).")
@click.option("--apply", "apply", is_flag=True,
              help="Write the decision (without it, the settlement is shown and nothing is "
                   "written).")
@json_option
@handle_errors
def resolve_cmd(row: str | None, estate_dir: str, keep: str, column: str | None,
                source: str | None, table: str | None, all_: bool, apply: bool,
                as_json: bool) -> None:
    """Settle conflicts: keep the estate's value (current) or take the incoming one.

    ROW is a system, host or bureau (name or id) or the id of any row; --column, --source
    and --table narrow the choice. The chosen conflicts are shown with what happens to
    each cell; --apply writes it: the conflicts go, the incoming values (with --keep
    incoming) replace the estate's (the cell's other conflicts go too: their values are
    rejected), and the decision is recorded in estate.yaml so a later import bringing a
    rejected value to the cell raises no conflict again.

    Examples: `inventory resolve web01 --column os --keep incoming --apply`;
    `inventory resolve --source discovery --keep current --apply`."""
    from shangyun.cli.inventory_io import _conflict_cells, _held_edit_warnings
    from shangyun.estate import Estate
    from shangyun.estate.decisions import key_labels, resolve_conflicts, settled_row_label

    if not (row or column or source or table or all_):
        raise click.UsageError("say which conflicts to settle: a ROW, --column, --source, "
                           "--table, or --all for every conflict")
    if all_ and (row or column or source or table):
        raise click.UsageError("--all settles every conflict: give it alone, or choose with "
                           "ROW/--column/--source/--table instead")
    # the rows are named as the estate knew them before settling (a settled hostname
    # reads ``old → new``)
    labels = key_labels(Estate.load(estate_dir, check=False))
    settled = resolve_conflicts(estate_dir, keep, row=row, column=column,  # type: ignore[arg-type]
                                source=source, table=table, dry_run=not apply)
    moved = _held_edit_warnings(_conflict_cells(settled.conflicts), estate_dir,
                                "resolving the conflict")
    has_plan = (Path(estate_dir) / "plan").is_dir()
    if as_json:
        print_json({"ok": True, "applied": apply, "keep": keep,
                    "conflicts": [{**c, "key_label": settled_row_label(c, labels, keep)}
                                  for c in settled.conflicts],
                    "changes": settled.changes, "decisions": settled.decisions,
                    "moved": moved})
        return
    t = Table("table", "row", "column", "estate's value", "incoming", "incoming source",
              "after", title="conflicts to settle")
    for c in settled.conflicts:
        after = (f"{c.get('incoming') or ''}" if keep == "incoming"
                 else f"{c.get('current') or ''} (kept)")
        t.add_row(str(c.get("table") or ""), settled_row_label(c, labels, keep),
                  str(c.get("column") or ""),
                  str(c.get("current") or ""), str(c.get("incoming") or ""),
                  str(c.get("incoming_source") or ""), after)
    console.print(t)
    n = len(settled.conflicts)
    cells = len(settled.decisions)
    for line in moved:
        console.print(f"[yellow]- {escape(line)}[/]")
    if not apply:
        console.print(f"nothing written: add --apply to settle {n} conflict(s) on "
                      f"{cells} cell(s)")
        return
    side = ("kept the estate's value" if keep == "current"
            else f"took the incoming value ({len(settled.changes)} cell(s) changed)")
    console.print(f"[green]settled[/] {n} conflict(s) on {cells} cell(s): {side}; the "
                  "decision is recorded in estate.yaml (a re-import bringing the same "
                  "value raises no conflict)")
    if settled.changes and has_plan:
        console.print("[yellow]the estate's values changed: plan again (`shangyun plan`) "
                      "before the next wave[/]")


__all__ = ["resolve_cmd"]
