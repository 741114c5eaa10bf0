"""``move_wave``: what the CLI, the demo and tests call to run a wave in this process —
the run's refusals first, then this process's temporary Prefect server (when no
``PREFECT_API_URL`` names one), then the ``run_wave`` flow, its result whether the run
ended Completed or Failed.

Kept apart from :mod:`flows.wave` because the temporary server (:mod:`flows.tempserver`)
imports Prefect's server application (FastAPI, its models and database layer: ~1.3 s):
a process that only needs the flow (a worker, a deployment's run) does not pay it."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

from prefect.settings import PREFECT_API_URL, PREFECT_HOME

from flows.tempserver import TemporaryServer
from flows.wave import preflight, run_wave, wave_result


def start_temporary_server() -> None:
    """Start this process's temporary Prefect server (when no ``PREFECT_API_URL`` names
    one) while holding a lock file in ``PREFECT_HOME``.

    Two commands started at once on one Prefect home (two operators' ``wave run 1``) would
    otherwise create its one SQLite database at the same moment; the loser's server died
    with a ``database is locked`` traceback on the terminal before its run was refused
    cleanly. The lock is held only while the server starts (its migrations)."""
    if PREFECT_API_URL.value():
        return
    home = Path(PREFECT_HOME.value())
    home.mkdir(parents=True, exist_ok=True)
    with (home / "shangyun-server-start.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or the process dies)
        TemporaryServer().start()         # the instance get_client() uses in this process


def move_wave(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run the ``run_wave`` flow (same arguments) and return its result whether the run
    ends Completed or Failed (a wave with a system not done): what the CLI, the demo and
    tests call. The run's refusals (:func:`flows.wave.preflight`) come first, before
    Prefect starts: one clear error, no flow run failed with a traceback."""
    call = dict(zip(("estate_dir", "number", "only"), args, strict=False)) | kwargs
    if not call.get("dry_run") and not call.get("distributed") and "number" in call:
        preflight(str(call["estate_dir"]), int(call["number"]), only=call.get("only"),
                  resume=bool(call.get("resume")), bureau=call.get("bureau"),
                  where=str(call.get("where") or ""))
    start_temporary_server()
    return wave_result(run_wave(*args, **kwargs, return_state=True))


__all__ = ["move_wave", "start_temporary_server"]
