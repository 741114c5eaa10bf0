"""``python -m demo`` (run by ``scripts/demo``): the command line of the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import lab
from demo.cutover import AUTO, check_local_databases, drop_demo_databases
from demo.runner import run, run_lab
from demo.state import DEFAULT_OUT, console
from lab.guests import why_no_guest
from shangyun.errors import ShangyunError


@click.command()
@click.option("--out", default=str(DEFAULT_OUT), show_default=True,
              type=click.Path(file_okay=False), help="Work folder of the demo.")
@click.option("--bureaus", default=None, type=click.IntRange(1, 254),
              help="Bureaus of the lab (default 2) or, with --sample, of the sample (35).")
@click.option("--lab-dir", default=None, type=click.Path(file_okay=False),
              envvar="SHANGYUN_LAB", show_envvar=True, help="The lab's folder (default: .lab/).")
@click.option("--quick", is_flag=True,
              help="The shortened form for CI: fewest hosts and VMs, still every stage.")
@click.option("--keep-lab/--lab-down", default=True, show_default=True,
              help="Leave the lab up afterwards so people can look ('shangyun lab down').")
@click.option("--fail-health", default=AUTO, show_default=True, metavar="SYSTEM|auto|none",
              help="Make this wave-1 system's health check fail after cutover, to show a clean "
              "rollback ('auto': the last system of wave 1; 'none': every check passes).")
@click.option("--guest/--no-guest", default=None,
              help="Move the lab's real legacy guest (Debian 12, booted under QEMU) in wave 1 "
              "too: converted, adapted, test-launched with a boot proof, started at its old "
              "address, health-checked (a few minutes more; its image is built on first "
              "use, ~6 min, then cached). Default: on when this machine can run it (root, "
              "QEMU, libguestfs, libvirtd), else off with the reason said.")
@click.option("--sample", is_flag=True,
              help="Run the lab-free path: generate the sample, import, validate, compare.")
@click.option("--systems", default=120, show_default=True, type=click.IntRange(10),
              help="Systems of the sample (--sample).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0),
              help="Seed of the sample (--sample).")
def cli(out: str, bureaus: int | None, lab_dir: str | None, quick: bool, keep_lab: bool,
        fail_health: str | None, guest: bool | None, sample: bool, systems: int,
        seed: int) -> None:
    """Run the main job: the full pipeline on the lab (or, with --sample, the sample path)."""
    if not sample:
        guest = with_guest(guest)
        try:
            check_local_databases()
        except ShangyunError as exc:
            raise click.ClickException(str(exc)) from exc
    if sample:
        st = run(Path(out), bureaus=bureaus or 35, systems=systems, seed=seed)
    else:
        st = run_lab(Path(out), bureaus=bureaus or 2, lab_dir=Path(lab_dir) if lab_dir else None,
                     quick=quick, fail_health=fail_health, guest=bool(guest))
        if not keep_lab and st.interrupted is None:
            if st.lab is not None:
                dropped = drop_demo_databases(st.lab)
                console.print(f"dropped the demo's database copies: {', '.join(dropped) or '-'}")
            lab.down(st.lab_dir)
            console.print("lab down")
    console.rule("[bold]result")
    for name, seconds in (st.results.get("seconds") or {}).items():
        console.print(f"  {name:<14} {seconds:>6.1f} s")
    for note in st.notes:
        console.print(f"• {note}")
    if st.interrupted is not None:
        console.print(f"[bold yellow]demo interrupted[/] in stage {st.interrupted}: run the "
                      "demo again to start over")
        raise SystemExit(130)
    console.print("[bold red]demo failed[/]" if st.failed else "[bold green]demo finished[/]")
    raise SystemExit(1 if st.failed else 0)


def with_guest(asked: bool | None) -> bool:
    """Whether wave 1 moves the real guest: as ``--guest/--no-guest`` say, else when this
    machine can run it (the reason it cannot is printed). ``--guest`` on a machine that
    cannot is a usage error naming the reason."""
    if asked is False:
        return False
    reason = why_no_guest()
    if reason is None:
        return True
    if asked:
        raise click.UsageError(f"--guest: this machine cannot run the real legacy guest: "
                               f"{reason}")
    console.print(f"[bold yellow]NOTE[/]: wave 1 runs without the real legacy guest: {reason}."
                  " Only the bureau VMs' disk images move (--no-guest silences this).")
    return False


def main(argv: list[str] | None = None) -> Any:
    """Entry point of ``python -m demo``."""
    return cli.main(args=argv, prog_name="demo")
