"""``shangyun discover``: agentless discovery of the estate's hosts over SSH (and
hypervisors over libvirt), merged into the estate."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from shangyun.cli.output import (
    Table,
    console,
    err_console,
    escape,
    estate_option,
    fail,
    handle_errors,
    json_option,
    print_json,
    styled,
)
from shangyun.errors import ShangyunError


@click.command("discover")
@estate_option
@click.option("--user", default="root", show_default=True,
              help="Login user where the bureau (bureaus.ssh_user) does not set one.")
@click.option("--key", "key_file", envvar="SHANGYUN_SSH_KEY", show_envvar=True,
              type=click.Path(dir_okay=False), help="The private key to log in with "
              "(required; the only one used: no agent, no ~/.ssh keys).")
@click.option("--known-hosts", "known_hosts", envvar="SHANGYUN_KNOWN_HOSTS", show_envvar=True,
              default=lambda: os.path.expanduser("~/.ssh/known_hosts"),
              type=click.Path(dir_okay=False), show_default="~/.ssh/known_hosts",
              help="known_hosts file; hosts whose key is not there (or differs) are refused.")
@click.option("--jump", default="", help="Jump host [user@]host[:port] where the bureau "
              "(bureaus.ssh_jump) does not set one.")
@click.option("--hypervisor", "hypervisors", multiple=True, metavar="[BUREAU=]URI",
              help="libvirt URI to inventory too (qemu+ssh://, esx://, xen+ssh://, "
              "test://), optionally prefixed with its bureau (name or id: 北京局=qemu+ssh://…; "
              "an unknown one is refused before anything runs); repeatable. A local "
              "hypervisor's image files are read (for disk sizes) only under the bureau's "
              "datastore_roots in estate.yaml; a disk path outside them is refused.")
@click.option("--target", "targets", multiple=True, metavar="HOST[:PORT]",
              help="Extra host to discover besides the estate's; repeatable.")
@click.option("--concurrency", default=50, show_default=True, type=click.IntRange(1, 512),
              help="Hosts discovered at once (and SSH connections open at most); each "
                   "holds its connection about a second (the utilisation sample), so this "
                   "sets the hosts per second.")
@click.option("--per-bureau", type=click.IntRange(1, 512), default=None,
              help="At most this many hosts of one bureau at once (default: no extra limit).")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 600),
              help="Connect/banner/auth timeout in seconds.")
@click.option("--command-timeout", default=120.0, show_default=True,
              type=click.FloatRange(1, 3600),
              help="Seconds the gather script may run on one host; a host past it ends "
                   "'timeout', keeping the facts of the sections it finished (the reason "
                   "names the section that was still running).")
@click.option("--retries", default=2, show_default=True, type=click.IntRange(0, 10),
              help="Retries of transient failures (timeouts, refused); never auth/host key.")
@click.option("--sample-seconds", default=1.0, show_default=True,
              type=click.FloatRange(0, 60), help="Utilisation sampling interval.")
@click.option("--flow", "use_flow", is_flag=True,
              help="Run as the Prefect flow (task per host, summary artifact).")
@json_option
@handle_errors
def discover(estate_dir: str, user: str, key_file: str | None, known_hosts: str, jump: str,
             hypervisors: tuple[str, ...], targets: tuple[str, ...], concurrency: int,
             per_bureau: int | None, timeout: float, command_timeout: float, retries: int,
             sample_seconds: float, use_flow: bool, as_json: bool) -> None:
    """Discover every host of the estate over SSH and merge what was found.

    Hosts are reached at their estate IP (port 22 unless hosts.ssh_port or
    bureaus.ssh_port says otherwise) with the bureau's ssh_user/ssh_jump when set. One bad
    host never stops the run: each ends with its status (ok, unknown-host-key,
    changed-host-key, auth-failed, unreachable, timeout, error) and reason. Differences
    with the ledger are listed as conflicts (`shangyun inventory conflicts`); raw facts go
    to the estate's facts/ folder.
    """
    if not key_file:
        raise ShangyunError("--key FILE is required: the private key to log in with "
                            "(the SSH agent and ~/.ssh keys are never used)")
    from shangyun.estate.lock import estate_lock

    # one writer of the estate (discovery merges into it and writes facts/), held until
    # the command ends
    click.get_current_context().with_resource(estate_lock(estate_dir, "discover"))
    if use_flow:
        _run_flow(estate_dir, user, key_file, known_hosts, jump, hypervisors, targets,
                  concurrency, per_bureau, timeout, command_timeout, retries, sample_seconds,
                  as_json)
        return
    from connectors.ssh import discovery_pool
    from shangyun.discovery.engine import run_discovery
    from shangyun.discovery.model import Defaults, SSHOptions

    hv_rows = _hypervisor_rows(estate_dir, hypervisors)
    options = SSHOptions(key_file, known_hosts, Defaults(user=user, jump=jump),
                         concurrency=concurrency, per_bureau=per_bureau,
                         connect_timeout=timeout, command_timeout=command_timeout,
                         retries=retries, sample_seconds=sample_seconds)
    with _Bar(enabled=not as_json) as bar:
        run = run_discovery(estate_dir, options, discovery_pool, extra_targets=targets,
                            hypervisor_rows=hv_rows, on_start=bar.start,
                            on_result=bar.advance)
    data = run.to_dict()
    nobody = nobody_reached(data)
    if as_json:
        print_json({**data, "ok": False, "error": nobody} if nobody else data)
    else:
        _print_report(data)
    if nobody:
        if not as_json:
            fail(nobody)
        sys.exit(1)


def nobody_reached(data: dict[str, Any]) -> str | None:
    """The error when hosts were tried and none answered (nothing useful happened), else None."""
    total = int(data.get("total") or 0)
    if total and not data.get("counts", {}).get("ok"):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(data.get("counts", {}).items()))
        return (f"none of the {total} host(s) could be discovered ({counts}); check the "
                f"addresses, --key, --known-hosts and --jump")
    return None


def _hypervisor_rows(estate_dir: str,
                     uris: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    if not uris:
        return {}
    from connectors.hypervisor import list_domains
    from shangyun.discovery.hypervisors import inventory_rows
    from shangyun.estate import Estate
    from shangyun.estate.names import names_of

    estate = Estate.load(estate_dir, check=False)
    return inventory_rows(list(uris), list_domains, estate.datastore_roots(estate_dir),
                          names_of(estate, "bureau"))


def _run_flow(estate_dir: str, user: str, key_file: str, known_hosts: str, jump: str,
              hypervisors: tuple[str, ...], targets: tuple[str, ...], concurrency: int,
              per_bureau: int | None, timeout: float, command_timeout: float, retries: int,
              sample_seconds: float, as_json: bool) -> None:
    from flows.discovery import run_flow

    out = run_flow(concurrency=concurrency, estate_dir=estate_dir, key_file=key_file,
                   known_hosts=known_hosts, user=user, jump=jump, targets=list(targets),
                   hypervisors=list(hypervisors), per_bureau=per_bureau,
                   connect_timeout=timeout, command_timeout=command_timeout, retries=retries,
                   sample_seconds=sample_seconds)
    nobody = nobody_reached(out)
    if as_json:
        print_json({**out, "ok": False, "error": nobody} if nobody else out)
    else:
        console.print(f"discovered {out['total']} host(s): "
                      + ", ".join(f"{k} {v}" for k, v in sorted(out["counts"].items())))
        if nobody:
            fail(nobody)
    if nobody:
        sys.exit(1)


def _print_report(data: dict[str, Any]) -> None:
    t = Table("host", "id", "address", "status", "seconds", "reason")
    for h in data["hosts"]:
        style = "green" if h["status"] == "ok" else "red"
        t.add_row(h.get("hostname") or h["host_id"], h["host_id"], h["address"],
                  styled(h["status"], style),
                  f"{h['seconds']:.1f}", h["reason"] or "")
    if data["hosts"]:
        console.print(t)
    a = data["applied"]
    console.print(
        (f"{data['total']} host(s) in {data['seconds']:.1f} s: "
         + ", ".join(f"{k} {v}" for k, v in sorted(data["counts"].items()))
         if data["hosts"] else  # hypervisors only: no host was logged in to
         f"0 hosts over SSH in {data['seconds']:.1f} s")
        + f". Hosts updated {a['hosts_updated']}, added {a['hosts_added']}"
        + (f", {a['hosts_not_reached']} not reached (status recorded)"
           if a.get("hosts_not_reached") else "") + "; disks "
        f"{a['disks']}; databases {a['databases']}; observed dependencies "
        f"{a['observed_dependencies']}; new conflicts {a['conflicts']}"
        + (" (see 'shangyun inventory conflicts')" if a["conflicts"] else "") + ".")
    for note in a.get("notes") or []:
        console.print(escape(note))
    console.print(f"facts: {escape(data['facts_dir'])}")


class _Bar:
    """A rich progress bar on stderr whose total is set when the targets are known."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(),
                                      console=err_console)
            self._progress.start()
            self._task = self._progress.add_task("discovering", total=None)
        return self

    def start(self, total: int) -> None:
        """Set the number of hosts."""
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def advance(self, result: Any) -> None:
        """One host done."""
        if self._progress is not None:
            self._progress.advance(self._task)
            if not result.ok:
                from shangyun.discovery.engine import who
                from shangyun.discovery.model import host_port

                t = result.target
                self._progress.console.print(
                    f"[red]{escape(who(t) or host_port(t.address, t.port))}[/]: {result.status}")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
