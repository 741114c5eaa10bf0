"""``shangyun status``: one screen of where the programme stands."""

from __future__ import annotations

from typing import Any

import click

from shangyun.cli import output as out
from shangyun.words import counted


@click.command("status")
@out.estate_option
@out.json_option
@out.handle_errors
def status(estate_dir: str, as_json: bool) -> None:
    """Estate counts, assessment, plan waves, and each wave's runs from the journal.

    A wave cut over that 'wave finalize' would refuse (a classified system, a host its
    cutover never moved, a system moved disks-only) reads 'cut over — not ready to
    finalize', and a line under the table says why and what to do, as 'wave status' does
    (--json: the wave's finalize_refused)."""
    from connectors.dashboard import dashboard_status
    from connectors.journal.history import open_reader
    from shangyun.cli.wavestatus import finalize_refusal
    from shangyun.report import programme_status
    from shangyun.wave.state import CUT_OVER, state_words

    with open_reader(estate_dir) as journal:
        data: dict[str, Any] = programme_status(estate_dir, journal=journal)
    for w in data["waves"]:
        if w["state"] == CUT_OVER:  # judged as 'wave finalize' and 'wave status' judge
            w["finalize_refused"] = finalize_refusal(w["wave"], [], estate_dir)
    data["dashboard"] = dashboard_status(estate_dir, data["waves"])
    if as_json:
        data.pop("systems")
        out.print_json(data)
        return
    c = data["counts"]
    out.console.print(f"[bold]{out.escape(data['estate'])}[/] ({out.escape(data['path'])})")
    out.console.print(f"estate: {counted(c['bureaus'], 'bureau')}, "
                      f"{counted(c['systems'], 'system')}, "
                      f"{counted(c['hosts'], 'host')}, {counted(c['disks'], 'disk')} "
                      f"({out.gb(data['disk_gb'])} GB"
                      + (f", {out.gb(data['disk_gb_unlisted'])} GB of it the sizes of hosts "
                         "no disk row lists" if data.get("disk_gb_unlisted") else "") + "), "
                      f"{counted(c['databases'], 'database')}, "
                      f"{counted(c['dependencies'], 'dependency')}")
    a = data["assessment"]
    if a:
        s = a["systems"]
        out.console.print(f"assessment: {s['ready']} ready, {s['conditional']} conditional, "
                          f"{s['not ready']} not ready, {s['excluded']} excluded; servers "
                          f"{a['before']['physical_servers']} → {a['after']['physical_servers']}, "
                          f"cost {a['before']['monthly_cny']:,.0f} → "
                          f"{a['after']['monthly_cny']:,.0f} {a.get('currency', 'CNY')}/month")
    else:
        out.console.print("assessment: none (run shangyun assess)")
    t = data["totals"]
    home = [f"{t[k]} {what}" for k, what in (("failed_back", "failed back"),
                                               ("rolled_back_by_operator",
                                                "rolled back by the operator"))
            if t.get(k)]
    back = f" ({', '.join(home)})" if home else ""
    out.console.print(f"systems: {t['moved']} moved, {t['pending']} pending{back}, "
                      f"{t['failed']} failed or rolled back, {t['excluded']} excluded "
                      f"(of {t['systems']})")
    if data["waves"]:
        table = out.Table("wave", "start", "systems", "bureaus", "runs", "state", "moved",
                          "failed", "last run")
        for w in data["waves"]:
            table.add_row(str(w["wave"]), w["start"], str(w["systems"]),
                          str(len(w["bureaus"])), str(w["runs"]),
                          "cut over — not ready to finalize" if w.get("finalize_refused")
                          else state_words(w["state"]), str(w["moved"]), str(w["failed"]),
                          w["last_run"] or "-")
        out.console.print(table)
        for w in data["waves"]:
            if w.get("finalize_refused"):
                out.console.print(f"wave {w['wave']}: {out.escape(w['finalize_refused'])}")
    elif data.get("plan"):  # a plan with no wave: every system is excluded
        out.console.print("plan: no wave (every system is excluded)")
    else:
        out.console.print("plan: none (run shangyun plan)")
    if data["dashboard"]:
        out.console.print(f"dashboard: {data['dashboard']['url']}  ({data['dashboard']['export']})")
        for w in data["waves"]:
            if w.get("flow_run"):
                out.console.print(f"  wave {w['wave']}: {w['flow_run']['name']} "
                                  f"[{w['flow_run']['state']}] {w['flow_run']['url']}")
