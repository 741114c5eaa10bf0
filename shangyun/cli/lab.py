"""``shangyun lab``: bring the local lab (a small real estate) up, inspect it, tear it down."""

from __future__ import annotations

import os
from pathlib import Path

import click

import lab as labmod
from shangyun.cli.output import (
    Table,
    console,
    err_console,
    handle_errors,
    json_option,
    print_json,
    styled,
)

dir_option = click.option(
    "--dir", "lab_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    envvar="SHANGYUN_LAB", show_envvar=True,
    help="The lab folder (default: .lab/ at the project root).")


@click.group()
def lab() -> None:
    """The lab: sshd hosts in network namespaces, databases, hypervisors, images, ledgers."""


@lab.command("up")
@dir_option
@click.option("--bureaus", type=click.IntRange(1, 35), default=2, show_default=True,
              help="Bureaus, each with an app server, a database host and a file server.")
@click.option("--hosts", type=click.IntRange(1, 5000), default=None,
              help="Total hosts; those beyond the bureaus' full roles are light web hosts "
                   "(default: the full roles only, 3 per bureau + 1).")
@click.option("--mode", type=click.Choice(["netns", "loopback"]), default=None,
              help="netns (needs root; the default as root) or loopback (no namespaces: "
                   "sshd on 127.x addresses, port 2222; the default without root).")
@click.option("--guests", type=click.IntRange(0, 1), default=None,
              help="Real legacy guests booted under QEMU (default: 1 in netns mode, 0 in "
                   "loopback). The first build takes ~5 min; it is cached in "
                   "/var/cache/shangyun/guests.")
@json_option
@handle_errors
def up_cmd(lab_dir: Path | None, bureaus: int, hosts: int | None, mode: str | None,
           guests: int | None, as_json: bool) -> None:
    """Bring the lab up (idempotent: a second run only repairs what died)."""
    if guests is None:
        netns = mode == "netns" or (mode is None and os.geteuid() == 0)
        guests = 1 if netns else 0
    if as_json:
        state = labmod.up(lab_dir, bureaus=bureaus, hosts=hosts, mode=mode, guests=guests)
    else:
        if guests:
            _guest_image_with_bar()
        with err_console.status("bringing the lab up (hosts, databases, images, ledgers"
                                + (", the legacy guest under QEMU" if guests else "")
                                + ")…"):
            state = labmod.up(lab_dir, bureaus=bureaus, hosts=hosts, mode=mode,
                              guests=guests)
    if as_json:
        print_json(state.to_dict())
        return
    where = f"bridge {state.bridge}" if state.bridge else "loopback, sshd port 2222"
    console.print(f"[green]lab up[/] ({state.mode}): {len(state.hosts)} hosts on {state.net} "
                  f"({where}), {len(state.hypervisors)} hypervisor(s), "
                  f"{len(state.images)} images, ledgers in {state.ledgers_dir}")
    for g in state.guests:
        console.print(f"guest {g.id}: {g.hostname} at {g.ip} ({g.nic}, e1000, SATA) on "
                      f"{g.hypervisor_uri}; app http://{g.ip}:{g.app_port}/")
    console.print(f"ssh: ssh -i {state.client_key} -o UserKnownHostsFile={state.known_hosts} "
                  f"-o StrictHostKeyChecking=yes {state.user}@<ip>")


def _guest_image_with_bar() -> None:
    """Build the legacy guest image (once; then cached) with a progress bar on stderr."""
    from lab.guests import cached_image, ensure_guest_image
    from shangyun.cli.bars import phase_bar

    if cached_image() is None:
        with phase_bar(err_console, "legacy guest image (first use, ~5 min)") as told:
            ensure_guest_image(progress=told)


@lab.command("status")
@dir_option
@json_option
@handle_errors
def status_cmd(lab_dir: Path | None, as_json: bool) -> None:
    """Show each lab host: running, sshd answering, role, OS look; exit 1 if any is down."""
    st = labmod.status(lab_dir)
    if as_json:
        print_json(st)
    else:
        t = Table("host", "ip", "bureau", "role", "os", "running", "ssh")
        for r in st["hosts"]:
            t.add_row(r["id"], r["ip"], r["bureau"], r["role"], r["os"],
                      "yes" if r["running"] else styled("no", "red"),
                      "yes" if r["ssh"] else styled("no", "red"))
        console.print(t)
        console.print(f"{st['up']}/{st['total']} hosts up; hypervisors: "
                      f"{', '.join(st['hypervisors'])}; cloud: {st['cloud_uri']}")
    if st["up"] != st["total"]:
        raise SystemExit(1)


@lab.command("down")
@dir_option
@json_option
@handle_errors
def down_cmd(lab_dir: Path | None, as_json: bool) -> None:
    """Stop every lab process and remove its namespaces, bridge and files."""
    if as_json:
        res = labmod.down(lab_dir)
    else:
        with err_console.status("tearing the lab down…"):
            res = labmod.down(lab_dir)
    if as_json:
        print_json(res)
    else:
        console.print(f"[green]lab down[/]: {res['lab_dir']} ({res['hosts_stopped']} hosts)")
