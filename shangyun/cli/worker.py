"""``shangyun worker deploy|start|status``: the Prefect work pool and the bureau workers.

Distributed mode (docs/distributed.md): one Prefect server on PostgreSQL, one ``process``
work pool (``shangyun``) with a queue per bureau, one worker per bureau next to its server
room. ``wave run N --distributed`` then sends each bureau's share to its queue.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from shangyun.cli.output import (
    Table,
    console,
    escape,
    estate_option,
    estate_words,
    handle_errors,
    json_option,
    print_json,
)
from shangyun.errors import ShangyunError


def _api(estate_dir: str | None) -> str:
    """The shared Prefect API: $PREFECT_API_URL, else the recorded running server."""
    from connectors.prefect_server import configure_env

    url = configure_env(estate_dir)
    if not url:
        raise ShangyunError("no Prefect server: start one with 'shangyun server start "
                            "--database-url postgresql+asyncpg://…' or export PREFECT_API_URL")
    return url


@click.group("worker")
def worker() -> None:
    """Set up the work pool and run bureau workers for distributed waves."""


@worker.command("deploy")
@estate_option
@click.option("--bureau", "bureaus", multiple=True, metavar="NAME|ID",
              help="Make queues for these bureaus only (name or id) [default: every bureau "
                   "of the estate].")
@click.option("--project", type=click.Path(file_okay=False, exists=True), default=None,
              help="The folder with prefect.yaml [default: the installed shangyun source].")
@json_option
@handle_errors
def deploy_cmd(estate_dir: str, bureaus: tuple[str, ...], project: str | None,
               as_json: bool) -> None:
    """Create the 'shangyun' process pool, one queue per bureau, the global concurrency
    limit, and register the deployments of prefect.yaml (discovery, planning, wave run,
    wave rollback). Safe to run again."""
    from connectors import workpool
    from flows.wave import GLOBAL_LIMIT, GLOBAL_SLOTS
    from shangyun.estate.model import Estate
    from shangyun.estate.names import names_of, readable, resolve_all

    names = names_of(Estate.load(Path(estate_dir), check=False), "bureau")
    ids = resolve_all("bureau", bureaus, names) if bureaus else sorted(names)
    url = _api(estate_dir)
    queues = workpool.ensure_pool(ids)
    limits = workpool.ensure_limits({GLOBAL_LIMIT: GLOBAL_SLOTS})
    deployments = workpool.deploy(project)
    workers = {b: f"shangyun worker start --bureau {b}" for b in ids}
    out = {"api_url": url, "pool": "shangyun", "queues": queues, "limits": limits,
           "deployments": deployments,
           "workers": [{"bureau": b, "name": names.get(b, ""), "command": c}
                       for b, c in workers.items()]}
    if as_json:
        print_json(out)
        return
    console.print(f"[bold]work pool[/] shangyun on {escape(url)}: {len(queues)} bureau "
                  f"queue(s)")
    console.print(f"deployments: {escape(', '.join(deployments))}")
    console.print("start one worker per bureau, on a machine next to its server room:")
    t = Table("bureau", "command")
    for b, cmd in workers.items():
        t.add_row(readable(b, names), cmd)
    console.print(t)


@worker.command("start")
@click.option("--bureau", "bureaus", multiple=True, required=True, metavar="ID|NAME",
              help="The bureau(s) whose queue this worker serves (repeat for several); a "
                   "name needs --estate.")
@click.option("--estate", "estate_dir", default=None, envvar="SHANGYUN_ESTATE",
              show_envvar=True, type=click.Path(file_okay=False, path_type=str),
              help="The estate folder, to take bureau names (a bureau's machine may have "
                   "none: then give ids).")
@click.option("--name", default=None, help="Worker name [default: shangyun-<bureaus>-<host>].")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="At most this many flow runs at once on this worker (default: no limit of its "
                   "own).")
@click.option("--dry-run", "show", is_flag=True,
              help="Print the 'prefect worker start' line instead of running it.")
@handle_errors
def start_cmd(bureaus: tuple[str, ...], estate_dir: str | None, name: str | None,
              limit: int | None, show: bool) -> None:
    """Run a Prefect process worker for BUREAU's queue (bureau-<id>) in the foreground.

    It needs PREFECT_API_URL (the shared server), SHANGYUN_JOURNAL (the PostgreSQL journal)
    and SHANGYUN_REDIS_URL (the system locks) in its environment; it checks them first.
    """
    from connectors.workpool import worker_command

    if estate_dir is not None:
        from shangyun.estate.model import Estate
        from shangyun.estate.names import names_of, resolve_all

        bureaus = tuple(resolve_all("bureau", bureaus, names_of(
            Estate.load(Path(estate_dir), check=False), "bureau")))
    cmd = worker_command(list(bureaus), name=name, limit=limit)
    if show:
        click.echo(" ".join(cmd))
        return
    from connectors.workpool import check_distributed

    _api(None)
    check_distributed()  # a worker that could not run a distributed wave does not start
    console.print(f"worker for {', '.join(bureaus)}: {' '.join(cmd)}", highlight=False)
    os.execv(cmd[0], cmd)


@worker.command("status")
@estate_option
@json_option
@handle_errors
def status_cmd(estate_dir: str, as_json: bool) -> None:
    """Show the pool's bureau queues (each with its bureau by name; last polled, late
    runs) and its workers."""
    from connectors import workpool
    from shangyun.estate.model import Estate
    from shangyun.estate.names import names_of, readable

    _api(estate_dir)
    names = names_of(Estate.load(Path(estate_dir), check=False), "bureau")
    ids = list(names)
    queues: list[workpool.QueueStatus | None] = []
    for b in ids:  # a bureau added since 'worker deploy' has no queue: its row says so
        try:
            queues.extend(workpool.queue_status([workpool.queue_name(b)]))
        except workpool.WorkPoolError:
            queues.append(None)
    workers = workpool.workers()
    deploy = f"shangyun worker deploy{estate_words(estate_dir)}"
    if as_json:
        print_json({"queues": [{"bureau": b, "bureau_name": names.get(b, ""),
                                "missing": q is None,
                                **(q.to_dict() if q else {"name": workpool.queue_name(b)})}
                               for b, q in zip(ids, queues, strict=True)],
                    "workers": workers})
        return
    t = Table("bureau", "queue", "last polled", "ready", "late runs")
    for b, q in zip(ids, queues, strict=True):
        if q is None:
            t.add_row(readable(b, names), f"no queue {workpool.queue_name(b)}", "-", "no",
                      "-")
            continue
        t.add_row(readable(b, names), q.name, q.last_polled or "never",
                  "yes" if q.ready else "no", str(q.late_runs))
    console.print(t)
    missing = [names.get(b) or b for b, q in zip(ids, queues, strict=True) if q is None]
    if missing:
        console.print(f"no queue for {', '.join(missing)} (added since the pool was made?): "
                      f"run '{deploy}'", highlight=False)
    w = Table("worker", "bureaus", "status", "last heartbeat")
    for row in workers:
        served = worker_bureaus(row["name"], ids)
        w.add_row(row["name"], ", ".join(names.get(b) or b for b in served) or "-",
                  row["status"], row["last_heartbeat"] or "")
    console.print(w)


def worker_bureaus(name: str, ids: list[str]) -> list[str]:
    """The bureaus (ids, of ``ids``) a worker serves, read from its default name
    (``shangyun-<id>[+<id>…]-<host>``, :func:`connectors.workpool.worker_name`), so
    ``worker status`` can name them; empty for a name given by hand."""
    if not name.startswith("shangyun-"):
        return []
    *first, last = name.removeprefix("shangyun-").split("+")
    tail = next((b for b in sorted(ids, key=len, reverse=True) if last.startswith(b + "-")),
                None)
    served = [*first, tail] if tail else []
    return served if served and all(b in ids for b in served) else []
