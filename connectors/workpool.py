"""Prefect work pools, queues, limits, deployments and flow runs for distributed waves.

The distributed engine is Prefect itself: a server (on PostgreSQL), one ``process`` work
pool (``shangyun``), one work queue per bureau (``bureau-<id>``) polled by that bureau's
worker, and the deployments of ``prefect.yaml``. This connector is the only place that
talks to the Prefect API about them::

    ensure_pool(["b01", "b02"])                   # pool + one queue per bureau
    ensure_limits({"shangyun-wave-global": 4})    # created, then read back (strict)
    deploy(project_dir)                           # prefect --no-prompt deploy --all
    fid = submit("run_wave/wave-run", {...}, queue="bureau-b01", name="wave-1 · b01")
    states([fid])                                 # {fid: FlowRunState(...)}

Every call needs ``PREFECT_API_URL`` to point at a real server (``shangyun server start``);
without it Prefect would start a throw-away server in this process that no worker sees, so
that is refused with a clear error.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.flows import load_flow_from_entrypoint
from prefect.settings import PREFECT_API_URL
from prefect.states import Cancelled, Crashed

from connectors.journal.store import display
from connectors.locks import check_redis, redis_url
from shangyun.errors import ConnectorError
from shangyun.wave.partition import POOL, queue_name

WAVE_DEPLOYMENT = "run_wave/wave-run"
ROLLBACK_DEPLOYMENT = "rollback_wave/wave-rollback"
DEPLOY_TIMEOUT = 300.0


class WorkPoolError(ConnectorError):
    """The Prefect server, a work pool, queue, limit or deployment is missing or refused."""


def api_url() -> str:
    """The Prefect API every worker shares; a clear error when none is configured."""
    url = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if not url:
        raise WorkPoolError(
            "distributed mode needs a shared Prefect server: start one with 'shangyun server "
            "start --database-url postgresql+asyncpg://…' and export PREFECT_API_URL")
    return str(url)


def _client() -> Any:
    api_url()
    return get_client(sync_client=True)


def _missing(exc: BaseException) -> bool:
    return isinstance(exc, ObjectNotFound)


def check_distributed(journal: bool = True) -> None:
    """Distributed mode needs a journal every worker shares (PostgreSQL; not for a dry run,
    which journals nothing) and Redis for the system locks; a clear error otherwise, before
    anything is touched."""
    url = os.environ.get("SHANGYUN_JOURNAL", "")
    if journal and not url.startswith(("postgresql", "postgres")):
        shown = "unset, i.e. SQLite in the estate"
        if url:
            try:
                shown = display(url) if "://" in url else url
            except Exception:  # not a URL at all: say so without echoing it
                shown = "not a database URL"
        raise WorkPoolError("distributed mode needs the journal on PostgreSQL: set "
                            "SHANGYUN_JOURNAL=postgresql://… on the submitter and every "
                            f"worker (it is {shown})")
    check_redis(redis_url())


# -- pool and queues ---------------------------------------------------------------------
def ensure_pool(bureaus: Iterable[str], pool: str = POOL,
                queue_limit: int | None = None) -> list[str]:
    """Create the ``process`` work pool and one queue per bureau when missing; return the
    queue names. An existing pool of another type is an error (workers could not run it)."""
    names = [queue_name(b) for b in sorted(set(bureaus))]
    with _client() as client:
        try:
            wp = client.read_work_pool(pool)
        except Exception as exc:
            if not _missing(exc):
                raise WorkPoolError(f"cannot read work pool {pool!r} at {api_url()}: "
                                    f"{exc}") from None
            wp = client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        if wp.type != "process":
            raise WorkPoolError(f"work pool {pool!r} is of type {wp.type!r}; shangyun "
                                "workers need a 'process' pool")
        for name in names:
            try:
                client.read_work_queue_by_name(name, work_pool_name=pool)
            except Exception as exc:
                if not _missing(exc):
                    raise
                client.create_work_queue(name=name, work_pool_name=pool,
                                         concurrency_limit=queue_limit,
                                         description=f"shangyun: bureau {name[7:]}'s worker")
    return names


@dataclass(frozen=True)
class QueueStatus:
    """One bureau queue: when a worker last polled it, and its workers' heartbeats."""

    name: str
    last_polled: str | None
    ready: bool
    late_runs: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {"name": self.name, "last_polled": self.last_polled, "ready": self.ready,
                "late_runs": self.late_runs}


def queue_status(queues: Sequence[str], pool: str = POOL) -> list[QueueStatus]:
    """The status of each named queue (a missing queue is an error naming it)."""
    out = []
    with _client() as client:
        for name in queues:
            try:
                q = client.read_work_queue_by_name(name, work_pool_name=pool)
            except Exception as exc:
                if _missing(exc):
                    raise WorkPoolError(f"work pool {pool!r} has no queue {name!r}; run "
                                        "'shangyun worker deploy'") from None
                raise
            st = client.read_work_queue_status(q.id)
            out.append(QueueStatus(name, q.last_polled.isoformat() if q.last_polled else None,
                                   str(getattr(q, "status", "")).upper().endswith("READY"),
                                   int(st.late_runs_count or 0)))
    return out


def workers(pool: str = POOL) -> list[dict[str, Any]]:
    """The workers that have polled ``pool``: name, status and last heartbeat."""
    with _client() as client:
        rows = client.read_workers_for_work_pool(pool)
    return [{"name": w.name, "status": str(getattr(w.status, "value", w.status)),
             "last_heartbeat": w.last_heartbeat_time.isoformat()
             if w.last_heartbeat_time else None} for w in rows]


# -- concurrency limits ------------------------------------------------------------------
def ensure_limits(limits: Mapping[str, int]) -> dict[str, int]:
    """Create or update each global concurrency limit, then read every one back: a limit
    that is missing, inactive or of another size afterwards is an error (strict)."""
    with _client() as client:
        for name, slots in limits.items():
            client.upsert_global_concurrency_limit_by_name(name, int(slots))
    check_limits(limits)
    return dict(limits)


def check_limits(limits: Mapping[str, int] | Iterable[str]) -> None:
    """Raise :class:`WorkPoolError` naming every limit that does not exist or is inactive
    (and, given sizes, every limit of another size)."""
    want = dict(limits) if isinstance(limits, Mapping) else dict.fromkeys(limits)
    problems = []
    with _client() as client:
        for name, slots in want.items():
            try:
                lim = client.read_global_concurrency_limit_by_name(name)
            except Exception as exc:
                if not _missing(exc):
                    raise
                problems.append(f"{name} does not exist")
                continue
            if not lim.active:
                problems.append(f"{name} is inactive")
            elif slots is not None and lim.limit != slots:
                problems.append(f"{name} has {lim.limit} slot(s), not {slots}")
    if problems:
        raise WorkPoolError("concurrency limits: " + "; ".join(problems))


# -- deployments -------------------------------------------------------------------------
def project_dir() -> Path:
    """The folder holding ``prefect.yaml`` (the shangyun source tree)."""
    return Path(__file__).resolve().parent.parent


def deploy(project: str | Path | None = None, prefect_file: str = "prefect.yaml",
           timeout: float = DEPLOY_TIMEOUT) -> list[str]:
    """Register every deployment of ``prefect.yaml`` (``prefect --no-prompt deploy --all``)
    and return their names; Prefect's own output is in the error when it fails."""
    root = Path(project) if project else project_dir()
    file = root / prefect_file
    if not file.is_file():
        raise WorkPoolError(f"{file} does not exist")
    prefect = shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"
    env = {**os.environ, "PREFECT_API_URL": api_url(), "PREFECT_CLI_PROMPT": "false"}
    try:
        done = subprocess.run([prefect, "--no-prompt", "deploy", "--all",
                               "--prefect-file", str(file)], cwd=root, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise WorkPoolError(f"prefect deploy of {file} took more than {timeout:g} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise WorkPoolError(f"prefect deploy of {file} failed:\n{tail}")
    return deployments(_names_in(file))


def _names_in(file: Path) -> list[str]:
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    out = []
    for d in data.get("deployments") or []:
        flow_name = _flow_name(str(d["entrypoint"]))
        out.append(f"{flow_name}/{d['name']}")
    return out


def _flow_name(entrypoint: str) -> str:
    return str(load_flow_from_entrypoint(entrypoint).name)


def deployments(names: Iterable[str]) -> list[str]:
    """Check each ``flow/deployment`` exists on the server; an error names the missing."""
    missing, out = [], []
    with _client() as client:
        for name in names:
            try:
                client.read_deployment_by_name(name)
                out.append(name)
            except Exception as exc:
                if not _missing(exc):
                    raise
                missing.append(name)
    if missing:
        raise WorkPoolError(f"deployment(s) {', '.join(missing)} are not on {api_url()}; "
                            "run 'shangyun worker deploy'")
    return out


# -- flow runs ---------------------------------------------------------------------------
def submit(deployment: str, parameters: Mapping[str, Any], *, queue: str, name: str,
           tags: Sequence[str] = (), idempotency_key: str | None = None) -> str:
    """Create a flow run of ``deployment`` on work queue ``queue``; return its id at once
    (the bureau's worker picks it up)."""
    api_url()
    try:
        fr = run_deployment(deployment, parameters=dict(parameters), timeout=0,
                            work_queue_name=queue, flow_run_name=name, tags=list(tags),
                            idempotency_key=idempotency_key, as_subflow=False)
    except Exception as exc:
        if _missing(exc):
            raise WorkPoolError(f"deployment {deployment!r} is not on {api_url()}; run "
                                "'shangyun worker deploy'") from None
        raise
    return str(fr.id)


@dataclass(frozen=True)
class FlowRunState:
    """Where one flow run is: Prefect's state type (SCHEDULED, PENDING, RUNNING,
    COMPLETED, FAILED, CRASHED, CANCELLED…), name, message and the worker's host."""

    id: str
    type: str
    name: str
    message: str
    started: str | None

    @property
    def final(self) -> bool:
        """The run is over (whatever the outcome)."""
        return self.type in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")

    @property
    def waiting(self) -> bool:
        """No worker has started it yet."""
        return self.type in ("SCHEDULED", "PENDING")


def states(flow_run_ids: Iterable[str]) -> dict[str, FlowRunState]:
    """The current state of each flow run."""
    out = {}
    with _client() as client:
        for fid in flow_run_ids:
            fr = client.read_flow_run(UUID(fid))
            st = fr.state
            out[fid] = FlowRunState(
                fid, str(st.type.value) if st else "UNKNOWN", st.name if st else "",
                (st.message or "") if st else "",
                fr.start_time.isoformat() if fr.start_time else None)
    return out


def mark_crashed(flow_run_id: str, message: str) -> None:
    """Force a flow run whose process is gone into Crashed (the dashboard tells the truth)."""
    with _client() as client:
        client.set_flow_run_state(UUID(flow_run_id), Crashed(message=message), force=True)


def cancel(flow_run_id: str, message: str) -> None:
    """Cancel a flow run no worker has started (e.g. the submitter gave up on it)."""
    with _client() as client:
        client.set_flow_run_state(UUID(flow_run_id), Cancelled(message=message), force=True)


# -- workers -----------------------------------------------------------------------------
def worker_command(bureaus: Sequence[str], *, pool: str = POOL, name: str | None = None,
                   limit: int | None = None) -> list[str]:
    """The ``prefect worker start`` command line of a worker serving ``bureaus``' queues."""
    if not bureaus:
        raise WorkPoolError("a worker needs at least one bureau (--bureau)")
    prefect = shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"
    cmd = [prefect, "worker", "start", "--pool", pool, "--type", "process"]
    for b in bureaus:
        cmd += ["--work-queue", queue_name(b)]
    cmd += ["--name", name or worker_name(bureaus)]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    return cmd


def worker_name(bureaus: Sequence[str]) -> str:
    """A worker's default name: its bureaus and host (``shangyun-b01-host``)."""
    return f"shangyun-{'+'.join(sorted(bureaus))}-{socket.gethostname()}"
