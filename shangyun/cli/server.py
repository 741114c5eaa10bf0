"""``shangyun server start|stop|status``: the persistent Prefect server behind the dashboard."""

from __future__ import annotations

from pathlib import Path

import click

from connectors.prefect_server import default_state_dir, start, status, stop
from shangyun.cli.output import console, estate_words, handle_errors, json_option, print_json

ESTATE = click.option("--estate", "estate_dir", type=click.Path(file_okay=False),
                      envvar="SHANGYUN_ESTATE", show_envvar=True, default=None,
                      help="Keep the server's state under <estate>/.shangyun/server "
                      "(default: ~/.shangyun/server).")


def _dir(estate_dir: str | None) -> Path:
    return default_state_dir(estate_dir)


@click.group("server")
def server() -> None:
    """Run the persistent Prefect server (the dashboard) that wave flows report to."""


@server.command("start")
@ESTATE
@click.option("--port", type=click.IntRange(1, 65535), default=4200, show_default=True,
              help="TCP port the server listens on (the dashboard's and the API's).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: reachable by workers on other machines; "
                   "then PREFECT_SERVER_API_AUTH_STRING=user:password must be set, and "
                   "workers set PREFECT_API_AUTH_STRING).")
@click.option("--advertise", default=None,
              help="Host name in the URLs printed and given to the dashboard [default: "
                   "--host, or this machine's name with 0.0.0.0].")
@click.option("--database-url", default=None, envvar="SHANGYUN_PREFECT_DATABASE_URL",
              show_envvar=True, help="PostgreSQL URL for the server's database (default: SQLite).")
@click.option("--timeout", type=click.FloatRange(1), default=120.0, show_default=True,
              help="Seconds to wait for the server to answer.")
@json_option
@handle_errors
def start_cmd(estate_dir: str | None, port: int, host: str, advertise: str | None,
              database_url: str | None, timeout: float, as_json: bool) -> None:
    """Start the server (or report the running one) and print the export line.

    A non-loopback --host is refused unless PREFECT_SERVER_API_AUTH_STRING is set
    (basic auth); the server gets a minimal environment, never the operator's credentials.
    """
    info = start(_dir(estate_dir), port=port, host=host, advertise=advertise,
                 database_url=database_url, timeout=timeout)
    if as_json:
        print_json(info.to_dict())
        return
    console.print(f"dashboard: {info.ui_url}  (pid {info.pid}, {info.database}, log {info.log})")
    console.print("point flows at it with:")
    console.print(info.export_line)


@server.command("stop")
@ESTATE
@json_option
@handle_errors
def stop_cmd(estate_dir: str | None, as_json: bool) -> None:
    """Stop the server and every process it started."""
    was = stop(_dir(estate_dir))
    if as_json:
        print_json({"stopped": was})
    else:
        console.print("server stopped" if was else "no server was running")


@server.command("status")
@ESTATE
@json_option
@handle_errors
def status_cmd(estate_dir: str | None, as_json: bool) -> None:
    """Whether the server runs, where, and the export line (exit 1 when it does not)."""
    info = status(_dir(estate_dir))
    if as_json:
        print_json(info.to_dict() if info else {"running": False})
    elif info is None:
        where = estate_words(estate_dir) if estate_dir else ""
        console.print(f"no server recorded in {_dir(estate_dir)}; start one with "
                      f"'shangyun server start{where}'", soft_wrap=True, markup=False)
    else:
        console.print(f"{'running' if info.running else 'not running'}: {info.ui_url} "
                      f"(pid {info.pid}, {info.database})")
        if info.running:
            console.print(info.export_line)
    if info is None or not info.running:
        raise SystemExit(1)
