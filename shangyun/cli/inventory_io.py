"""``shangyun inventory import | export | conflicts``: ledgers in, workbooks out, conflicts."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.text import Text

from shangyun.cli.output import (
    Table,
    console,
    err_console,
    escape,
    estate_option,
    handle_errors,
    json_option,
    print_json,
    progress_bars,
    styled,
)
from shangyun.words import counted


@contextmanager
def _bars(files: int, enabled: bool) -> Iterator[tuple[Any, Any]]:
    """Two progress bars on stderr: files, and rows read. Yields (on_file, advance, done):
    ``done(rows)`` ends the rows bar full at the import's own count of rows (the number
    the summary prints), so the bar and the summary never disagree."""
    if not enabled:
        yield (lambda name: None), (lambda n=1: None), (lambda rows: None)
        return
    with progress_bars() as bar:
        ftask = bar.add_task("files", total=files)
        rtask = bar.add_task("rows", total=None)
        started = [0]

        def on_file(name: str) -> None:
            if started[0]:
                bar.advance(ftask, 1)
            started[0] += 1
            bar.update(ftask, description=f"files ({escape(name)})")

        def advance(n: int = 1) -> None:
            bar.advance(rtask, n)

        def done(rows: int) -> None:
            bar.update(rtask, total=rows, completed=rows)

        yield on_file, advance, done
        bar.update(ftask, completed=files, description="files")


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=str, metavar="DIR_OR_GLOB_OR_FILE...")
@estate_option
@click.option("--mapping", "mapping_file", type=click.Path(exists=True, dir_okay=False),
              help="YAML file: ledger header -> estate column (table.column or ignore).")
@click.option("--bureau", help="Bureau (单位) of rows whose ledger has no 单位 column.")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Read, merge and validate; show per file and sheet which column became "
                   "which field, what was ignored, the counts and warnings; write nothing.")
@click.option("--apply", "apply", is_flag=True,
              help="Write the edits and added rows of an edited `inventory export` workbook "
                   "(without it they are shown as a diff and nothing is written).")
@click.option("--progress/--no-progress", "show_progress", default=True, show_default=True,
              help="Show progress bars on stderr.")
@json_option
@handle_errors
def import_cmd(files: tuple[str, ...], estate_dir: str, mapping_file: str | None,
               bureau: str | None, dry_run: bool, apply: bool, show_progress: bool,
               as_json: bool) -> None:
    """Import ledgers (.xlsx/.csv, RVTools exports) into the estate, merging by host.

    Each argument is a file, a folder (every ledger under it, or its manifest.yaml) or a
    glob pattern ('ledgers/*/*.xlsx'); a whole programme's ledgers in one command, in any
    order: dependencies naming systems of other files are resolved once every file is
    read. A ledger manifest (.yaml with 'order: [{folder, bureau, files}]', as
    `inventory sample` writes ledgers/manifest.yaml) gives each file its bureau.

    A new estate folder is created when ESTATE does not exist. Values that differ from the
    estate's are not overwritten but listed as conflicts (see `inventory conflicts`). A
    file that cannot be understood is rejected naming its sheet, row and column, and
    nothing is written. Doubtful values that were read anyway are listed as warnings.

    The round trip: `inventory export --xlsx F`, edit F in Excel (corrections, owners,
    windows …, new rows), `inventory import F` shows the edits and the added rows as a
    diff and writes nothing; `inventory import F --apply` writes them.

    Ctrl-C: before the estate is saved nothing is written (exit 1, "Aborted!"); once it is
    saved (while the summary and warnings print) the import stands, and the command says
    "interrupted: the import was saved in ESTATE" and exits 130.
    """
    from connectors.grid import read_grids
    from shangyun.ledgers.importer import (
        MANIFEST_SUFFIXES,
        expand_inputs,
        expand_manifest,
        import_ledgers,
        text_files_left_out,
    )

    paths = expand_inputs(files)
    count = sum(len(expand_manifest(f)) if f.suffix.lower() in MANIFEST_SUFFIXES else 1
                for f, _b in paths)
    with _bars(count, show_progress and not as_json) as (on_file, advance, done):
        report = import_ledgers([(f, b or bureau) for f, b in paths], estate_dir, reader=read_grids,
                                mapping_file=mapping_file, bureau=bureau, on_file=on_file,
                                advance=advance, dry_run=dry_run, apply=apply)
        done(sum(f["rows"] for f in report.files))
    report.warnings[:0] = text_files_left_out(files)
    with saved_on_interrupt(estate_dir, report.saved):
        _print_import(report, estate_dir, dry_run=dry_run, as_json=as_json)


@contextmanager
def saved_on_interrupt(estate_dir: str, saved: bool) -> Iterator[None]:
    """After the import's atomic save, a Ctrl-C (while the summary or the warnings print)
    does not claim the import failed (click's ``Aborted!``, exit 1): it says the import
    was saved and exits 130 (interrupted). Before the save, or when nothing was saved, the
    interrupt is click's as always: nothing was written."""
    try:
        yield
    except KeyboardInterrupt:
        if not saved:
            raise
        err_console.print(Text.assemble(
            styled("interrupted:", "yellow"), " the import was saved in ", estate_dir,
            " (only the rest of this summary was not printed: `shangyun inventory show "
            "--estate ", estate_dir, "` and `shangyun inventory conflicts --estate ",
            estate_dir, "` show it)"), soft_wrap=True)
        sys.exit(130)


def _print_import(report: Any, estate_dir: str, *, dry_run: bool, as_json: bool) -> None:
    """The import's summary: edits, counts, files, conflicts and warnings (``--json``: the
    report as JSON)."""
    if report.edits:
        report.warnings.extend(_held_edit_warnings(report.edits, estate_dir))
    if report.conflicts and not dry_run:
        report.warnings.extend(_held_edit_warnings(
            _conflict_cells(report.conflicts), estate_dir,
            "a conflict on a moved system: resolving it"))
    if as_json:
        print_json(report.to_dict())
        return
    if dry_run:
        _print_preview(report.files)
    if report.edits or report.added:
        _print_edits(report.edits, estate_dir, report.added)
    shown = ", ".join(([f"{len(report.edits)} edit(s)"] if report.edits else [])
                      + ([f"{len(report.added)} added row(s)"] if report.added else []))
    what = ("dry run: nothing written" if dry_run
            else f"{shown} shown, nothing written: run again with --apply"
            if (report.edits or report.added) and not report.applied
            else "created" if report.created else ("updated" if report.saved else "unchanged"))
    console.print(f"[bold]{escape(estate_dir)}[/]: {what}")
    if report.settled:
        console.print(f"{len(report.settled)} conflict(s) "
                      + ("settled by the edits (dropped from `inventory conflicts`)"
                         if report.applied else "the edits settle when applied"))
    pending = (report.edits or report.added) and not report.applied
    if dry_run or pending:  # the counts say what writing would do, not what was done
        title = ("rows this import would touch (each once; dry run: nothing written)"
                 if dry_run else "rows this import would touch with --apply (each once; "
                 "nothing written)")
        total = "estate total if written" if dry_run else "estate total with --apply"
    else:
        title, total = "rows this import touched (each once)", "estate total"
    # an edit held for --apply is not merged: its row counts as updated, as it will be
    edited: dict[str, set[Any]] = {}
    for e in report.edits if not report.applied else []:
        edited.setdefault(e.get("table", ""), set()).add(e.get("id"))
    t = Table("table", "added", "updated", "unchanged", total, title=title)
    for name, c in report.counts.items():
        held = min(len(edited.get(name, ())), c.unchanged)
        t.add_row(name, str(c.added), str(c.updated + held), str(c.unchanged - held),
                  str(report.totals.get(name, 0)))
    console.print(t)
    if len(report.files) > 10:
        rows = counted(sum(f["rows"] for f in report.files), "row")
        console.print(f"{len(report.files)} files, {rows} (--json lists each file)")
    for f in report.files if len(report.files) <= 10 and not dry_run else []:
        unmapped = sorted({u for s in f["sheets"] for u in s.get("unmapped", [])})
        line = f"{escape(f['file'])}: {counted(f['rows'], 'row')} ({f['kind']})"
        if f.get("conflicts_sheet"):
            line += "; " + _conflicts_sheet(f["conflicts_sheet"])
        if unmapped:
            line += f"; ignored headers: {escape(', '.join(unmapped))}"
        console.print(line)
    if report.conflicts:
        _print_conflicts(report.conflicts, estate_dir)
        console.print(f"[yellow]{len(report.conflicts)} new conflict(s)[/]: the estate's "
                      "values are kept; list them with 'shangyun inventory conflicts'; "
                      "settle them with `inventory resolve ROW --keep current|incoming "
                      "--apply` (or type values in an exported workbook and import it with "
                      "--apply)")
    if report.warnings:
        console.print(f"[yellow bold]{len(report.warnings)} warning(s):[/]")
        for w in report.warnings[:200]:
            console.print(f"[yellow]- {escape(w)}[/]")
        if len(report.warnings) > 200:
            console.print(f"[yellow]… and {len(report.warnings) - 200} more (--json)[/]")


def _conflict_cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conflict rows as the cells they are about (table, id, column), as edits are."""
    return [{"table": c.get("table"), "id": c.get("key"), "column": c.get("column")}
            for c in rows]


def _held_edit_warnings(edits: list[dict[str, Any]], estate_dir: str,
                        what_changes: str = "the edit") -> list[str]:
    """Warnings for the edits (or conflicts) that touch a system a wave has already moved
    (the journal says which; an estate without a journal has none)."""
    from connectors.journal.history import open_reader
    from connectors.journal.wave import SqlWaveJournal
    from shangyun.estate import Estate
    from shangyun.ledgers.importer import held_edits
    from shangyun.wave.journal_port import holding_wave

    with open_reader(estate_dir) as journal:
        if journal is None:
            return []
        wj = SqlWaveJournal(journal)
        est = Estate.load(estate_dir, check=False)
        sids = {str(r["id"]) for r in est.rows("systems")}
        held: dict[str, str] = {}
        for sid in sorted(sids):
            at = holding_wave(wj, sid)
            if at is not None:
                state = "moved" if at[1] == "done" else at[1].replace("_", " ")
                held[sid] = f"{state} in wave {at[0]}"
        return held_edits(edits, est, held, what_changes)


def _print_edits(edits: list[dict[str, Any]], estate_dir: str,
                 added: list[dict[str, Any]] | None = None) -> None:
    """The cells an edited export changes: table, row (``name (id)``), column (the
    workbook's header the team edited: ``迁移窗口开始`` in a zh workbook), current → edited
    (a reference as ``name (id)``); then the rows typed into it as new, one ``added`` line
    each (``name (IP)``: the row has no id in the estate yet)."""
    from shangyun.estate import Estate, cell_text
    from shangyun.estate.names import label, names_of

    est = Estate.load(estate_dir, check=False)
    names = {t: names_of(est, k) for t, k in _TABLE_KIND.items()}
    by_kind = {k: names[t] for t, k in _TABLE_KIND.items()}

    def shown(column: str, value: Any) -> str:
        if value is None:
            return ""
        kind = _REF_KIND.get(column)
        return label(str(value), by_kind[kind]) if kind else cell_text(value)

    t = Table("table", "id", "column", "current", "edited", title="edits")
    for e in edits[:500]:
        row = label(str(e["id"]), names.get(str(e["table"]), {}))
        t.add_row(str(e["table"]), row, str(e.get("header") or e["column"]),
                  shown(e["column"], e["current"]),
                  shown(e["column"], e["edited"]))
    for a in (added or [])[:max(0, 500 - len(edits))]:
        t.add_row(str(a["table"]), str(a["name"]) + (f" ({a['ip']})" if a.get("ip") else ""),
                  "added", "", "(new row)")
    console.print(t)
    more = len(edits) + len(added or []) - 500
    if more > 0:
        console.print(f"… and {more} more (--json lists all)")


def _print_conflicts(rows: list[dict[str, Any]], estate_dir: str) -> None:
    """The values this import brought that differ from the estate's (a bureau's corrected,
    re-submitted ledger shows its corrections here): table, row (``name (id)``), column,
    the estate's value and source, the incoming value and source."""
    from pathlib import Path

    from shangyun.estate import Estate, cell_text
    from shangyun.estate.names import label, names_of

    names: dict[str, dict[str, str]] = {}
    if (Path(estate_dir) / "estate.yaml").is_file():
        est = Estate.load(estate_dir, check=False)
        names = {t: names_of(est, k) for t, k in _TABLE_KIND.items()}
    by_kind = {k: names.get(t, {}) for t, k in _TABLE_KIND.items()}

    def shown(column: str, value: Any) -> str:
        if value is None:
            return ""
        kind = _REF_KIND.get(column)
        return label(str(value), by_kind[kind]) if kind else cell_text(value)

    t = Table("table", "row", "column", "estate (kept)", "incoming", "estate's source",
              "incoming source", title="values that differ from the estate's")
    for c in rows[:50]:
        column = str(c.get("column") or "")
        t.add_row(str(c.get("table") or ""),
                  label(str(c.get("key") or ""), names.get(str(c.get("table")), {})), column,
                  shown(column, c.get("current")), shown(column, c.get("incoming")),
                  str(c.get("current_source") or ""), str(c.get("incoming_source") or ""))
    console.print(t)
    if len(rows) > 50:
        console.print(f"… and {len(rows) - 50} more (`inventory conflicts` lists all)")


def _conflicts_sheet(c: dict[str, int]) -> str:
    """What an export's conflicts sheet brought: ``its conflicts sheet: 2 rows, 2 already
    recorded`` (``…, 1 new``)."""
    parts = [f"{c['recorded']} already recorded" if c["recorded"] else "",
             f"{c['new']} new" if c["new"] else ""]
    return f"its conflicts sheet: {counted(c['rows'], 'row')}, " + ", ".join(p for p in parts if p)


def _print_preview(files: list[dict[str, Any]]) -> None:
    """Per file and sheet: which column became which field, what was ignored, the counts."""
    for f in files:
        console.print(f"[bold]{escape(f['file'])}[/] ({f['kind']}): {counted(f['rows'], 'row')} → "
                      + ", ".join(f"{t} {n}" for t, n in sorted(f["read"].items()))
                      + (f" ({_conflicts_sheet(f['conflicts_sheet'])})"
                         if f.get("conflicts_sheet") else ""))
        for s in f["sheets"]:
            name = s["sheet"] or "(csv)"
            console.print(f"  sheet {escape(str(name))}: {s['kind']}, header row "
                          f"{s['header_row']}, {counted(s['rows'], 'row')}, {s['skipped']} skipped")
            for header, target in s["columns"].items():
                console.print(f"    {escape(header)} → {target}")
            if s["unmapped"]:
                console.print(f"    ignored: {escape(', '.join(s['unmapped']))}")


@click.command("export")
@estate_option
@click.option("--xlsx", "xlsx", required=True, type=click.Path(dir_okay=False),
              help="The workbook to write (one sheet per table).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of sheet names and headers.")
@json_option
@handle_errors
def export_cmd(estate_dir: str, xlsx: str, lang: str, as_json: bool) -> None:
    """Export the estate to one Excel workbook, a sheet per table, headers in zh or en.

    References (所属系统, 所属单位, 源系统 …) are written as names, their ids in grey
    columns at the end (所属系统编号 …); edit the names and import the workbook back
    (`inventory import F`, then `--apply`)."""
    from shangyun.estate import Estate
    from shangyun.ledgers.export import export_xlsx

    estate = Estate.load(estate_dir, check=False)
    path = export_xlsx(estate, xlsx, lang)
    counts = {name: len(df) for name, df in estate.tables.items()}
    if as_json:
        print_json({"xlsx": str(path), "lang": lang, "counts": counts})
    else:
        console.print(f"wrote {escape(str(path))} ({sum(counts.values())} rows, "
                      f"{len(counts)} sheets, {lang})")


#: The name kind of each named table's rows, and of each reference column's values.
_TABLE_KIND = {"systems": "system", "hosts": "host", "bureaus": "bureau"}
_REF_KIND = {"system_id": "system", "bureau_id": "bureau", "host_id": "host",
             "source_system": "system", "target_system": "system", "source_host": "host",
             "target_host": "host"}


def _dependency_label(dep: dict[str, Any], names: dict[str, dict[str, str]]) -> str:
    """A dependency as a person reads it: ``应用 → 数据库 :5432 (dep-1)`` (hosts by name where
    the row names hosts, an outside address as it is)."""
    def end(side: str) -> str:
        host = str(dep.get(f"{side}_host") or "")
        system = str(dep.get(f"{side}_system") or "")
        if host:
            return names["host"].get(host) or host
        if system:
            return names["system"].get(system) or system
        return str(dep.get("external") or "?") if side == "target" else "?"
    port = f" :{dep['port']}" if dep.get("port") not in (None, "") else ""
    return f"{end('source')} → {end('target')}{port} ({dep['id']})"


@click.command("conflicts")
@estate_option
@json_option
@handle_errors
def conflicts_cmd(estate_dir: str, as_json: bool) -> None:
    """List values that two sources disagree on (current vs incoming, and their sources).

    A conflict on a system a wave has already moved (the journal says so), or on one of
    its hosts, disks or databases, is flagged below the table (in --json: moved):
    resolving it changes the estate, not the machine already on the cloud."""
    from shangyun.estate import Estate
    from shangyun.estate.merge import conflicts
    from shangyun.estate.names import label, names_of

    est = Estate.load(estate_dir, check=False)
    rows = conflicts(est)
    # People read names: the key of a host/system/bureau row and a value that is a
    # reference (system_id, bureau_id, host_id …) are shown as ``name (id)``.
    names = {kind: names_of(est, kind) for kind in ("system", "host", "bureau")}
    deps = {str(d["id"]): d for d in est.rows("dependencies")}
    for c in rows:
        key_kind = _TABLE_KIND.get(str(c.get("table") or ""))
        c["key_label"] = label(str(c.get("key") or ""), names[key_kind]) if key_kind else \
            str(c.get("key") or "")
        if c.get("table") == "dependencies" and str(c.get("key")) in deps:
            c["key_label"] = _dependency_label(deps[str(c["key"])], names)
        ref_kind = _REF_KIND.get(str(c.get("column") or ""))
        for side in ("current", "incoming"):
            v = str(c.get(side) or "")
            c[f"{side}_label"] = label(v, names[ref_kind]) if ref_kind and v else v
    moved = _held_edit_warnings(_conflict_cells(rows), estate_dir,
                                "resolving the conflict") if rows else []
    if as_json:
        print_json({"count": len(rows), "conflicts": rows, "moved": moved})
        return
    if not rows:
        console.print("no conflicts")
        return
    t = Table("table", "key", "column", "current", "incoming", "current source",
                  "incoming source")
    for c in rows:
        t.add_row(*(str(c.get(k) or "") for k in (
            "table", "key_label", "column", "current_label", "incoming_label",
            "current_source", "incoming_source")))
    console.print(t)
    console.print(f"{len(rows)} conflict(s)")
    for line in moved:  # a moved system's facts: the cloud copy is what runs now
        console.print(f"[yellow]- {escape(line)}[/]")


__all__ = ["conflicts_cmd", "export_cmd", "import_cmd"]
