"""``shangyun plan``: move groups and waves under every constraint; ``plan explain``: why."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from shangyun.cli.output import (
    Table,
    console,
    escape,
    handle_errors,
    json_option,
    print_json,
    warn,
)
from shangyun.estate.schema import DEPENDENCY_TYPES
from shangyun.words import counted, verb


def _strong_types(ctx: click.Context, param: click.Parameter,
                  values: tuple[str, ...]) -> tuple[str, ...]:
    """``--strong``: each value one type or several separated by commas; each a known
    dependency type (an unknown one bound nothing, silently)."""
    types: list[str] = []
    for value in values:
        for word in (w.strip() for w in value.split(",")):
            if word not in DEPENDENCY_TYPES:
                raise click.BadParameter(
                    f"{word!r} is not a dependency type (one of {', '.join(DEPENDENCY_TYPES)})",
                    ctx=ctx, param=param)
            if word not in types:
                types.append(word)
    return tuple(types)


def _pin(values: tuple[str, ...]) -> dict[str, int]:
    pins: dict[str, int] = {}
    for v in values:
        sid, sep, wave = v.rpartition("=")
        if not sep or not sid or not wave.strip().isdigit():
            raise click.BadParameter(f"{v!r} is not SYSTEM=WAVE", param_hint="--pin")
        if sid in pins and pins[sid] != int(wave):
            raise click.BadParameter(f"{sid} pinned twice ({pins[sid]} and {wave})",
                                     param_hint="--pin")
        pins[sid] = int(wave)
    return pins


def _dr_pair(values: tuple[str, ...]) -> list[tuple[str, str]]:
    """``STANDBY=PRIMARY`` pairs as given (names or ids, resolved by the caller)."""
    out: list[tuple[str, str]] = []
    for v in values:
        standby, sep, primary = v.partition("=")
        if not sep or not standby.strip() or not primary.strip():
            raise click.BadParameter(f"{v!r} is not STANDBY=PRIMARY", param_hint="--dr-pair")
        out.append((standby.strip(), primary.strip()))
    return out


def _limit(v: float | None) -> float | None:
    return None if v is None or v == 0 else v


@click.group("plan", invoke_without_command=True)
@click.option("--estate", "estate_dir", type=click.Path(file_okay=False), envvar="SHANGYUN_ESTATE",
              show_envvar=True, help="The estate folder (an inventory).")
@click.option("--max-hosts", type=click.IntRange(0), default=200, show_default=True,
              help="Hosts per wave (0 = no limit).")
@click.option("--max-systems", type=click.IntRange(0), default=40, show_default=True,
              help="Systems per wave (0 = no limit).")
@click.option("--max-tb", type=click.FloatRange(0), default=50.0, show_default=True,
              help="TB of data per wave (0 = no limit).")
@click.option("--max-bureaus", type=click.IntRange(0), default=0, show_default=True,
              help="Bureaus per wave (field teams; 0 = no hard limit, fewer still preferred).")
@click.option("--link-efficiency", type=click.FloatRange(0.01, 1.0), default=0.8,
              show_default=True, help="Share of a bureau's link a copy gets in its window "
              "(the window's capacity and the upload's estimated time).")
@click.option("--disk-mbps", type=click.FloatRange(1.0), default=150.0, show_default=True,
              help="MB/s a local convert or import sustains (the estimated time the waves "
                   "are packed by: each bureau's window holds it; the runbook uses the same).")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="First wave's week (YYYY-MM-DD; default: next Monday); after waves have "
                   "run, the week of the first new wave.")
@click.option("--cadence-days", type=click.IntRange(1, 365), default=7, show_default=True,
              help="Length of each wave's slot in days: wave N takes slot N, and each "
                   "bureau moves on its window day within it (so two waves' first days can "
                   "be fewer days apart).")
@click.option("--blackout", multiple=True, type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="A date no wave may use, for every bureau (repeatable).")
@click.option("--pilot-systems", type=click.IntRange(0), default=3, show_default=True,
              help="Systems in the low-risk pilot wave 1 (0 = no pilot).")
@click.option("--pilot-hosts", type=click.IntRange(1), default=10, show_default=True,
              help="Hosts in the pilot wave at most.")
@click.option("--pilot-tb", type=click.FloatRange(0), default=2.0, show_default=True,
              help="TB of data in the pilot wave at most (0 = no limit).")
@click.option("--order", type=click.Choice(["before-or-with", "before", "off"]),
              default="before-or-with", show_default=True,
              help="Shared services move before or with their consumers, strictly before, or "
                   "in any order.")
@click.option("--cycles", type=click.Choice(["relax", "error"]), default="relax",
              show_default=True, help="Shared services using each other in a cycle too large "
              "for one wave: relax the lightest order edges (named in the plan) or fail.")
@click.option("--strong", multiple=True, default=("database", "sync"), show_default=True,
              callback=_strong_types, metavar="TYPE[,TYPE…]",
              help="Dependency types that bind systems into one move group: "
                   f"{', '.join(DEPENDENCY_TYPES)} (repeatable, or comma-separated).")
@click.option("--no-split", is_flag=True, help="Fail instead of splitting a move group that "
              "does not fit one wave.")
@click.option("--pin", "pins", multiple=True, metavar="SYSTEM=WAVE",
              help="Put SYSTEM (id or name; and its move group) in WAVE (repeatable); not "
                   "a wave that has run.")
@click.option("--exclude", multiple=True, metavar="SYSTEM",
              help="Leave SYSTEM (id or name) out (repeatable).")
@click.option("--dr-pair", "dr_pairs", multiple=True, metavar="STANDBY=PRIMARY",
              help="STANDBY (id or name) is the disaster-recovery standby of PRIMARY: the two "
                   "never share a wave (repeatable; beside the pairs the ledgers give, "
                   "对应主系统/灾备系统).")
@click.option("--include-not-ready", is_flag=True,
              help="Plan systems whose OS or architecture the target cannot run, too.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="A folder with the target's data files (layout.yaml: security zones; "
                   "support_matrix.yaml: readiness) (default: the folder the assessment was "
                   "made with, 'assess --data', else the ones shipped with shangyun).")
@click.option("--dry-run", is_flag=True, help="Print the plan without writing ESTATE/plan/.")
@json_option
@click.pass_context
@handle_errors
def plan(ctx: click.Context, estate_dir: str | None, max_hosts: int, max_systems: int,
         max_tb: float, max_bureaus: int, link_efficiency: float, disk_mbps: float,
         start: dt.datetime | None,
         cadence_days: int, blackout: tuple[dt.datetime, ...], pilot_systems: int,
         pilot_hosts: int, pilot_tb: float, order: str, cycles: str, strong: tuple[str, ...],
         no_split: bool,
         pins: tuple[str, ...], exclude: tuple[str, ...], dr_pairs: tuple[str, ...],
         include_not_ready: bool, data_dir: str | None, dry_run: bool, as_json: bool) -> None:
    """Plan move groups and waves for the estate and write ESTATE/plan/.

    Systems bound by strong dependencies move together (move groups); waves respect the
    capacity per wave, each bureau's link × maintenance window, the calendar and blackout
    dates, a small pilot first, criticality (critical later), shared services before or
    with their consumers, few bureaus per wave, and --pin/--exclude. A DR standby and its
    primary (the ledgers' 对应主系统, or --dr-pair) never share a wave: the standby moves
    first. Classified systems are excluded with the reason. Impossible constraints stop
    with an error naming them.
    `shangyun plan explain SYSTEM` tells why a system is in its wave. Each wave's time per
    bureau is estimated as the runbook estimates it (--disk-mbps, --link-efficiency; a
    system's hosts and disks move one after another) and the waves are packed so that every
    window holds it: windows.csv gives estimated_hours and fits; a system too long for its
    window even alone has the window to itself and is named (the runbook's NO-GO).

    A re-plan reads the journal: every wave that has run keeps the systems it ran (done,
    cut over, failed …) and takes nothing new; new systems, systems not run yet and those
    rolled back or refused where they ran go into waves after the last wave that ran
    (--start is then that wave's week, there is no pilot, and --pin into a wave that ran
    is an error).
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"estate_dir": estate_dir}
        return
    if not estate_dir:
        raise click.UsageError("Missing option '--estate' (or SHANGYUN_ESTATE).")
    from connectors.journal.history import open_reader
    from shangyun.assess import assessment_data_dir, load_catalog
    from shangyun.errors import EstateError
    from shangyun.estate import Estate
    from shangyun.estate.names import label as name_label
    from shangyun.estate.names import names_of, resolve, resolve_all
    from shangyun.planner import PlanOptions, make_plan, next_monday, write_plan
    from shangyun.planner.history import ran_waves
    from shangyun.runbook.sources import plan_files

    if not dry_run:  # one writer of the estate, held until the command ends
        from shangyun.estate.lock import estate_lock

        ctx.with_resource(estate_lock(estate_dir, "plan"))
    first = start.date() if start else next_monday()
    estate = Estate.load(estate_dir, check=True)
    names = names_of(estate, "system")
    pinned = {resolve("system", s, names): w for s, w in _pin(pins).items()}
    excluded = tuple(resolve_all("system", exclude, names))
    declared = tuple((resolve("system", a, names), resolve("system", b, names))
                     for a, b in _dr_pair(dr_pairs))
    try:
        opts = PlanOptions(
            max_hosts=int(_limit(max_hosts) or 0) or None,
            max_systems=int(_limit(max_systems) or 0) or None, max_tb=_limit(max_tb),
            max_bureaus=int(_limit(max_bureaus) or 0) or None, link_efficiency=link_efficiency,
            disk_mbps=disk_mbps, start=first, cadence_days=cadence_days,
            blackout=tuple(b.date() for b in blackout),
            pilot_systems=pilot_systems, pilot_hosts=pilot_hosts,
            pilot_tb=_limit(pilot_tb), order=order, cycles=cycles,
            strong_types=tuple(strong), allow_split=not no_split, pins=pinned,
            exclude=excluded, dr_pairs=declared, include_not_ready=include_not_ready)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    try:  # the plan the waves that ran ran under: their dates, pilot mark, move groups
        previous = plan_files(Path(estate_dir))
    except EstateError:
        previous = None
    # what ran: kept as it ran (no journal yet, or a database no wave wrote to: nothing)
    with open_reader(estate_dir) as journal:
        history = ran_waves(journal, previous)
    # the zones and support matrix the assessment read (assess --data), unless --data
    catalog = load_catalog(str(Path(data_dir).resolve()) if data_dir
                           else assessment_data_dir(estate_dir))
    result = make_plan(estate, opts, catalog=catalog, history=history,
                       estate_dir=estate_dir)
    path = None if dry_run else write_plan(result, estate_dir)
    warnings = result.warnings(dt.date.today())
    if as_json:
        print_json({**result.to_json(), "warnings": warnings})
        return
    for note in result.notes:
        console.print(escape(note))
    t = Table("wave", "start", "systems", "hosts", "data GB", "bureaus", title="waves")
    for w in result.waves:
        label = f"{w['number']}" + (" (pilot)" if w["pilot"] else "") + \
            (" (ran)" if w.get("ran") else "")
        t.add_row(label, w["start"], str(len(w["systems"])), str(w["hosts"]),
                  f"{w['data_gb']:,.1f}",
                  ", ".join(result.names["bureau"].get(b) or b for b in w["bureaus"][:6])
                  + (" …" if len(w["bureaus"]) > 6 else ""))
    if result.waves:
        console.print(t)
    m = result.metrics
    cut = m["cut_dependencies"]
    console.print(f"{counted(m['waves'], 'wave')} (lower bound {m['lower_bound_waves']}), "
                  f"{counted(m['move_groups'], 'move group')}, {cut} of "
                  f"{counted(m['dependencies'], 'dependency')} "
                  f"{verb(cut, 'crosses', 'cross')} waves, "
                  f"{counted(m['systems_excluded'], 'system')} excluded")
    for e in result.excluded[:20]:
        who = name_label(str(e["system"]), result.names.get("system", {}))
        console.print(f"  excluded {escape(who)}: {escape(e['reason'])}")
    if path:
        console.print(f"plan written to {escape(path)}")
    for w in warnings:
        warn(w)


@plan.command("explain")
@click.argument("system")
@click.option("--estate", "estate_dir", type=click.Path(file_okay=False), envvar="SHANGYUN_ESTATE",
              show_envvar=True, help="The estate folder (an inventory).")
@json_option
@click.pass_context
@handle_errors
def explain_cmd(ctx: click.Context, system: str, estate_dir: str | None, as_json: bool) -> None:
    """Say why SYSTEM (its id or its name) is in its wave: which constraint bound, which
    dependencies pulled it."""
    from shangyun.estate.model import Estate
    from shangyun.estate.names import names_of, resolve
    from shangyun.planner import explain, read_plan_meta

    folder = estate_dir or (ctx.obj or {}).get("estate_dir")
    if not folder:
        raise click.UsageError("Missing option '--estate' (or SHANGYUN_ESTATE).")
    estate = Estate.load(folder, check=False)  # a folder that is no estate says so first
    read_plan_meta(folder)  # "no plan yet" comes before an unknown name
    names = names_of(estate, "system")
    info = explain(folder, resolve("system", system, names))
    # the system found, by its name (SYSTEM may be an id or a part of the name)
    info["name"] = names.get(info["system"]) or info["system"]
    if as_json:
        print_json(info)
        return
    name = escape(info["name"])
    if info["excluded"]:
        console.print(f"[bold]{name}[/] is not in any wave: {escape(info['reasons'][0])}")
    else:
        w = info.get("window")
        own = ""
        if w:  # the system's own day: its bureau's window, not the wave's first day
            own = (f"; moves {w['date']}" + (f" {w['start']}" if w["start"] else "")
                   + f" in {escape(w['bureau'])}'s window"
                   + (f" ({w['hours']:g} h)" if w["hours"] else ""))
        console.print(f"[bold]{name}[/]: wave {info['wave']} (starts {info['start']}{own}), "
                      f"move group {info['move_group']}")
        for r in info["reasons"]:
            console.print(f"  - {escape(r)}")
    if info["stale"]:
        console.print("[yellow]warning:[/] the estate changed since this plan was made; "
                      "run 'shangyun plan' again")
