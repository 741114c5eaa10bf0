"""A persistent Prefect server (``prefect server start``) for the dashboard.

The ephemeral server Prefect starts by itself loses most task-run records at exit, so the
dashboard needs a server that outlives each flow. This connector starts one — Prefect's own
``prefect server start``, run by :mod:`connectors.prefect_dashboard` so its SQLite
transactions begin ``IMMEDIATE`` as the CLI's temporary server's do — as its own process
group, with ``PREFECT_HOME`` under ``state_dir`` (the estate's ``.shangyun/server`` or
``~/.shangyun/server``), SQLite by default or PostgreSQL by URL
(``PREFECT_API_DATABASE_CONNECTION_URL``), analytics off, logs to ``server.log``, and records
``server.json`` (pid, port, URLs, database kind — never the database URL, which may carry a
password). Flows report to it when ``PREFECT_API_URL`` is set to :attr:`ServerInfo.api_url`.

::

    info = start(state_dir, port=4200)          # waits (bounded) for /api/health
    info.ui_url, info.api_url, info.export_line
    status(state_dir)                            # ServerInfo (running or not) / None
    stop(state_dir)                              # SIGTERM the group, SIGKILL after a bound

Hardening (docs/safety.md): a server that listens on anything but a loopback address is
refused unless basic authentication is configured (Prefect's
``PREFECT_SERVER_API_AUTH_STRING=user:password``; clients then set
``PREFECT_API_AUTH_STRING``); the health probe stays open, everything else answers 401
without it. The server process gets a minimal environment (:func:`server_env`): the
operator's cloud, database and shangyun credentials (``AWS_*``, ``PG*``, ``SHANGYUN_*`` …)
never reach it.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shangyun.errors import ConnectorError

STATE_FILE = "server.json"
LOG_FILE = "server.log"
AUTH_ENV = "PREFECT_SERVER_API_AUTH_STRING"
"""Where the server's basic-auth ``user:password`` comes from (Prefect 3's own setting)."""
CLIENT_AUTH_ENV = "PREFECT_API_AUTH_STRING"
"""What clients (flows, workers, this module's API calls) send as basic auth."""
DASHBOARD_MODULE = "connectors.prefect_dashboard"
"""What the server process runs (``python -m``): Prefect's CLI, SQLite begun IMMEDIATE."""
_ENV_KEEP = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME",
                       "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR"})
_PREFECT_CLIENT_SECRETS = frozenset({"PREFECT_API_KEY", CLIENT_AUTH_ENV, "PREFECT_API_URL"})


class ServerError(ConnectorError):
    """The Prefect server cannot be started, reached or stopped (names the port and log)."""


class NotOnServer(ServerError):
    """The server answered 404: what was asked for (a flow run) is not on it — e.g. a
    flow run made on a command's temporary server, not on the estate's dashboard."""


@dataclass(frozen=True)
class ServerInfo:
    """A recorded server: its process, address and database kind; ``running`` when its
    process is alive and ``/api/health`` answers."""

    pid: int
    host: str
    port: int
    database: str
    home: str
    log: str
    started: float
    running: bool = False

    @property
    def ui_url(self) -> str:
        """The dashboard in a browser."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``PREFECT_API_URL`` must be for flows to report here."""
        return f"http://{self.host}:{self.port}/api"

    @property
    def export_line(self) -> str:
        """The shell line that points flows at this server."""
        return f"export PREFECT_API_URL={self.api_url}"

    def flow_run_url(self, flow_run_id: str) -> str:
        """The dashboard page of one flow run."""
        return f"{self.ui_url}/runs/flow-run/{flow_run_id}"

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able data (with the URLs)."""
        return {**asdict(self), "ui_url": self.ui_url, "api_url": self.api_url,
                "export": self.export_line}


def default_state_dir(estate_dir: str | Path | None = None) -> Path:
    """``<estate>/.shangyun/server`` for an estate, else ``~/.shangyun/server``."""
    base = Path(estate_dir) if estate_dir else Path.home()
    return base / ".shangyun" / "server"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_env(base: Mapping[str, str]) -> dict[str, str]:
    """The minimal environment of the server process: locale, paths, time zone and the
    ``PREFECT_*`` server settings — never the operator's credentials (``AWS_*``, ``PG*``,
    ``SHANGYUN_*``, ``MYSQL_*``, ``REDIS_*`` …) nor Prefect client secrets."""
    return {k: v for k, v in base.items()
            if k in _ENV_KEEP or k.startswith("LC_")
            or (k.startswith("PREFECT_") and k not in _PREFECT_CLIENT_SECRETS)}


def _check_auth(auth: str | None, host: str) -> None:
    if auth is not None and (":" not in auth or not auth.split(":", 1)[0]):
        raise ServerError(f"{AUTH_ENV} must be 'user:password'")
    if not is_loopback(host) and not auth:
        raise ServerError(f"refusing to start the Prefect server on {host}: it would answer "
                          "anyone on the network with no authentication. Set "
                          f"{AUTH_ENV}=user:password (workers and flows then set "
                          f"{CLIENT_AUTH_ENV} to the same), or listen on 127.0.0.1")


def _auth_header() -> dict[str, str]:
    """Basic auth for this process's calls to the API, when ``PREFECT_API_AUTH_STRING``."""
    auth = os.environ.get(CLIENT_AUTH_ENV)
    if not auth:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def healthy(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether ``/api/health`` answers 200."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/api/health",
                                    timeout=timeout) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def _alive(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return b"prefect" in cmd and stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _read(state_dir: Path) -> ServerInfo | None:
    path = state_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("running", None)
        return ServerInfo(**data)
    except (ValueError, TypeError) as exc:
        raise ServerError(f"{path}: not a server record: {exc}") from exc


def status(state_dir: str | Path) -> ServerInfo | None:
    """The recorded server with ``running`` set, or None when none was started."""
    info = _read(Path(state_dir))
    if info is None:
        return None
    running = _alive(info.pid) and healthy(info.host, info.port)
    return ServerInfo(**{**asdict(info), "running": running})


def find_server(estate_dir: str | Path | None = None) -> ServerInfo | None:
    """The running server of the estate, else the user's (``~/.shangyun/server``), else the
    one ``$PREFECT_API_URL`` names (if it answers), or None."""
    dirs = [default_state_dir(estate_dir)] if estate_dir else []
    for d in [*dirs, default_state_dir(None)]:
        info = status(d)
        if info is not None and info.running:
            return info
    return _from_env()


def _from_env() -> ServerInfo | None:
    """A server named by ``$PREFECT_API_URL`` (started elsewhere) if it answers."""
    url = os.environ.get("PREFECT_API_URL", "")
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        return None
    if not healthy(parts.hostname, parts.port):
        return None
    return ServerInfo(pid=0, host=parts.hostname, port=parts.port, database="unknown",
                      home="", log="", started=0.0, running=True)


def configure_env(estate_dir: str | Path | None = None) -> str | None:
    """Point this process's flows at the running dashboard: set ``PREFECT_API_URL`` from
    the estate's (or the user's) server unless it is already set; returns the URL in use."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    info = find_server(estate_dir)
    if info is None:
        return None
    os.environ["PREFECT_API_URL"] = info.api_url
    return info.api_url


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start(state_dir: str | Path, *, port: int = 4200, host: str = "127.0.0.1",
          database_url: str | None = None, timeout: float = 120.0,
          advertise: str | None = None, auth_string: str | None = None,
          environ: Mapping[str, str] | None = None) -> ServerInfo:
    """Start the server (or return the running one) and wait until it is healthy.

    ``host`` is the address it listens on (``0.0.0.0`` for workers on other machines);
    ``advertise`` the name its URLs carry (default: ``host``, or this machine's name when
    listening on every address). ``auth_string`` (``user:password``; default
    ``$PREFECT_SERVER_API_AUTH_STRING``) turns on basic auth and is required for a
    non-loopback ``host``. The server's environment is :func:`server_env` of ``environ``
    (default: this process's), never recorded in ``server.json``.

    Raises :class:`ServerError` when a non-loopback ``host`` has no auth (nothing is
    started), the port is taken by something else, the process exits, or health does not
    answer within ``timeout`` seconds (the process is then stopped again; the log's tail
    is in the message).
    """
    base = dict(os.environ if environ is None else environ)
    auth = auth_string or base.get(AUTH_ENV) or None
    _check_auth(auth, host)
    root = Path(state_dir)
    current = status(root)
    if current is not None and current.running:
        return current
    everywhere = host in ("0.0.0.0", "::")
    public = advertise or (socket.getfqdn() if everywhere else host)
    probe = "127.0.0.1" if everywhere else host
    if healthy(probe, port, timeout=1.0):
        raise ServerError(f"port {host}:{port} already answers as a Prefect API that this "
                          "estate did not start; choose another --port")
    home, log = root / "home", root / LOG_FILE
    home.mkdir(parents=True, exist_ok=True)
    env = {**server_env(base), "PREFECT_HOME": str(home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_API_URL": f"http://{public}:{port}/api"}
    if auth:
        env[AUTH_ENV] = auth
    if database_url:
        url = database_url
        if url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = url
    # Prefect's own `prefect server start`, its SQLite transactions begun IMMEDIATE as the
    # CLI's temporary server's are (connectors/prefect_app.py): no 503 and 2 s retry on
    # concurrent writes
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # a checkout, not installed
    cmd = [sys.executable, "-m", DASHBOARD_MODULE, "server", "start",
           "--host", host, "--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    info = ServerInfo(pid=proc.pid, host=public, port=port,
                      database="postgresql" if database_url else "sqlite", home=str(home),
                      log=str(log), started=time.time())
    tmp = root / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(info), indent=2), encoding="utf-8")
    os.replace(tmp, root / STATE_FILE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            (root / STATE_FILE).unlink(missing_ok=True)
            raise ServerError(f"the Prefect server on {host}:{port} exited with "
                              f"{proc.returncode}; log {log}:\n{_log_tail(log)}")
        if healthy(probe, port, timeout=1.0):
            return ServerInfo(**{**asdict(info), "running": True})
        time.sleep(0.5)
    stop(root)
    raise ServerError(f"the Prefect server on {host}:{port} was not healthy after "
                      f"{timeout:.0f} s; log {log}:\n{_log_tail(log)}")


def stop(state_dir: str | Path, timeout: float = 20.0) -> bool:
    """Stop the recorded server (its whole process group); True if one was running."""
    root = Path(state_dir)
    info = _read(root)
    if info is None:
        return False
    was = _alive(info.pid)
    if was:
        try:
            os.killpg(info.pid, signal.SIGTERM)
        except ProcessLookupError:
            was = False
        deadline = time.monotonic() + timeout
        while was and _alive(info.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(info.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(info.pid, signal.SIGKILL)
    for _ in range(50):  # reap our own child if we started it in this process
        try:
            if os.waitpid(info.pid, os.WNOHANG)[0] != 0:
                break
        except ChildProcessError:
            break
        time.sleep(0.1)
    (root / STATE_FILE).unlink(missing_ok=True)
    return was


def _api(info: ServerInfo, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(f"{info.api_url}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **_auth_header()}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        kind = NotOnServer if exc.code == 404 else ServerError
        raise kind(f"Prefect API {info.api_url}{path}: {exc}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServerError(f"Prefect API {info.api_url}{path}: {exc}") from exc


def publish_artifact(info: ServerInfo, key: str, data: str | list[dict[str, Any]],
                     description: str = "", flow_run_id: str | None = None) -> str:
    """Publish a markdown page (``data`` text) or a table (list of rows) as an artifact
    (a new version under ``key``: lowercase letters, digits, dashes); returns its id."""
    kind = "markdown" if isinstance(data, str) else "table"
    body: dict[str, Any] = {"key": key, "type": kind, "description": description,
                            "data": data if kind == "markdown" else json.dumps(data)}
    if flow_run_id:
        body["flow_run_id"] = flow_run_id
    return str(_api(info, "/artifacts/", body)["id"])


def dashboard(estate_dir: str | Path | None = None) -> ServerInfo | None:
    """The server this process reports to: the one ``$PREFECT_API_URL`` names when it is
    set (if it answers), else :func:`find_server`'s; None when there is none."""
    if os.environ.get("PREFECT_API_URL"):
        return _from_env()
    return find_server(estate_dir)


def set_flow_run_state(info: ServerInfo, flow_run_id: str, kind: str, name: str,
                       message: str) -> None:
    """Give a flow run a new state (``kind``: ``COMPLETED``, ``FAILED`` …; ``name`` and
    ``message`` what the dashboard shows), forced over the one it ended in: a finished
    run's state, changed after the fact (``wave finalize``)."""
    out = _api(info, f"/flow_runs/{flow_run_id}/set_state",
               {"state": {"type": kind, "name": name, "message": message}, "force": True})
    if not isinstance(out, dict) or out.get("status") != "ACCEPT":
        raise ServerError(f"Prefect API {info.api_url}: flow run {flow_run_id} kept its "
                          f"state: {out}")


def latest_flow_run(info: ServerInfo, wave: int) -> dict[str, Any] | None:
    """The newest flow run of wave ``wave`` — named ``wave-N`` (the wave flow) or tagged
    ``wave-N`` — with its dashboard ``url``; None when there is none."""
    found: list[dict[str, Any]] = []
    for flt in ({"name": {"any_": [f"wave-{wave}"]}}, {"tags": {"all_": [f"wave-{wave}"]}}):
        found += _api(info, "/flow_runs/filter", {"flow_runs": flt, "limit": 1,
                                                  "sort": "EXPECTED_START_TIME_DESC"}) or []
    if not found:
        return None
    r = max(found, key=lambda x: str(x.get("expected_start_time") or ""))
    return {"id": r["id"], "name": r["name"], "state": r.get("state_type"),
            "url": info.flow_run_url(r["id"])}


__all__ = ["AUTH_ENV", "CLIENT_AUTH_ENV", "NotOnServer", "ServerError", "ServerInfo",
           "configure_env",
           "dashboard", "default_state_dir", "find_server", "free_port", "healthy",
           "is_loopback", "latest_flow_run", "publish_artifact", "server_env",
           "set_flow_run_state", "start", "status", "stop"]
