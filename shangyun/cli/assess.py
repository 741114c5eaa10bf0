"""``shangyun assess``: readiness, right-sizing, cost and constraints, written into the estate."""

from __future__ import annotations

from pathlib import Path

import click

from shangyun.cli import output as out
from shangyun.words import counted, verb


@click.command("assess")
@out.estate_option
@click.option("--target", "target", type=click.FloatRange(0.05, 1.0), default=0.70,
              show_default=True, help="Utilisation to size for (0.05–1).")
@click.option("--headroom", type=click.FloatRange(0, 5), default=0.10, show_default=True,
              help="Fraction added on top of the sized need.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="A folder with support_matrix.yaml, flavours.csv, prices.yaml, layout.yaml "
                   "(default: the ones shipped with shangyun).")
@out.json_option
@out.handle_errors
def assess(estate_dir: str, target: float, headroom: float, data_dir: str | None,
           as_json: bool) -> None:
    """Assess every host and system and write ESTATE/assessment/.

    Readiness (ready / conditional / not ready, with reasons) from the target's support
    matrix; right-size from p95 utilisation to the target utilisation, mapped to a flavour;
    vCPU, memory, physical servers and monthly cost before and after; classified systems
    excluded, MLPS level → allowed zones, DR tier → two-sites-three-centres placement.
    """
    from shangyun.assess import assess as run_assess
    from shangyun.assess import load_catalog, write_assessment
    from shangyun.estate import Estate
    from shangyun.estate.lock import estate_lock

    with estate_lock(estate_dir, "assess"):  # one writer of the estate
        estate = Estate.load(estate_dir, check=True)
        # recorded absolute: a plan made from another folder reads the same files
        catalog = load_catalog(str(Path(data_dir).resolve()) if data_dir else None)
        result = run_assess(estate, catalog, target=target, headroom=headroom)
        path = write_assessment(result, estate_dir)
    if as_json:
        out.print_json({"path": str(path), "summary": result.summary,
                        "systems": result.systems.to_dict(orient="records")})
        return
    s = result.summary
    out.console.print(f"[bold]assessment[/] written to {out.escape(path)}")
    t = out.Table("systems", "ready", "conditional", "not ready", "excluded", "moving")
    c = s["systems"]
    t.add_row(str(sum(c[k] for k in ("ready", "conditional", "not ready"))), str(c["ready"]),
              str(c["conditional"]), str(c["not ready"]), str(c["excluded"]), str(c["moving"]))
    out.console.print(t)
    m = out.Table("moving hosts", "vCPU", "memory GB", "servers", "CPU util", "monthly")
    for label in ("before", "after"):
        x = s[label]
        util = "-" if x["cpu_utilisation"] is None else f"{100 * x['cpu_utilisation']:.0f} %"
        m.add_row(label, str(x["vcpu"]), f"{x['memory_gb']:,.0f}", str(x["physical_servers"]),
                  util, f"{x['monthly_cny']:,.0f} {s['currency']}")
    out.console.print(m)
    if s["saving_pct"] is not None:
        out.console.print(f"monthly cost change: [bold]{-s['saving_pct']:+.1f} %[/]")
    disputed = s.get("sized_on_discovery") or []
    if disputed:
        shown = ", ".join(disputed[:10]) + (f" … and {len(disputed) - 10} more"
                                            if len(disputed) > 10 else "")
        out.err_console.print(
            f"[yellow]warning:[/] {counted(len(disputed), 'host')} "
            f"{verb(len(disputed), 'is', 'are')} sized on what discovery measured, not on "
            "the ledger's CPU count or memory (the utilisation is a share of the machine's "
            f"own; the conflict is open): {out.escape(shown)} — settle it with `shangyun "
            "inventory resolve HOST --column cpu_cores|memory_gb --keep incoming|current "
            "--apply` (each host's reasons in assessment/hosts.csv give the figures)")
    alone = result.hosts[result.hosts["system_id"] == ""]
    if len(alone):
        names = [str(n or i) for n, i in zip(alone["hostname"], alone["host_id"], strict=True)]
        shown = ", ".join(names[:10]) + (f" … and {len(names) - 10} more"
                                         if len(names) > 10 else "")
        out.err_console.print(
            f"[yellow]warning:[/] {counted(len(names), 'host')} "
            f"{verb(len(names), 'belongs', 'belong')} to no system and "
            f"{verb(len(names), 'is', 'are')} not assessed for a move (assess and plan "
            f"work on systems): {out.escape(shown)} — give each its 所属系统 (a bureau "
            "ledger listing it, or `inventory export --xlsx F`, type it, `inventory import F "
            "--apply`)")
