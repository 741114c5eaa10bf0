"""The guards of distributed mode, each against the real servers: strict concurrency limits,
the Redis system lock (a held system is ``busy`` and left alone), the journal's bureau-run
guard, and the refusals of ``wave run --distributed`` / ``worker start`` when the shared
infrastructure is missing.

Flows run in subprocesses with the programme's environment; this test process only reads
the PostgreSQL journal and Redis directly.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.journal.wave import open_journal
from connectors.objectstore import ObjectStore
from tests.distributed.conftest import (
    ROOT,
    SHANGYUN,
    Programme,
    SharedCloud,
    kill_tree,
)
from tests.support import free_port, moto_server
from tests.wave.conftest import FORMATS, build_estate

pytestmark = pytest.mark.timeout(600)

B1, B2 = "bureau-01", "bureau-02"
LIMIT_B1, LIMIT_B2 = "shangyun-bureau-bureau-01", "shangyun-bureau-bureau-02"

# Runs in a subprocess: ``argv[1]`` is a JSON list of actions, each printed as one
# ``RESULT <json>`` line ({"error", "message"} when it raised).
SCRIPT = """
import json, sys
from connectors import workpool
from flows.wave import run_wave, system_slots, wave_limits
from shangyun.wave.plan import load_wave
from prefect.client.orchestration import get_client

def act(a):
    kind = a.pop("do")
    if kind == "ensure_limits":
        return workpool.ensure_limits(wave_limits(load_wave(a["estate"], 1)))
    if kind == "delete_limit":
        with get_client(sync_client=True) as c:
            c.delete_global_concurrency_limit_by_name(a["name"])
        return None
    if kind == "check_limits":
        return workpool.check_limits(a["names"])
    if kind == "slots":
        with system_slots(load_wave(a["estate"], 1).system(a["system"])):
            return "entered"
    if kind == "run_wave":  # the result even when the flow run ends Failed
        state = run_wave(**a, return_state=True)
        out = state.result(raise_on_failure=False)
        if isinstance(out, BaseException):
            raise out
        return {**out, "prefect_state": state.type.value}
    raise ValueError(kind)

for a in json.loads(sys.argv[1]):
    try:
        out = act(dict(a))
    except Exception as exc:
        out = {"error": type(exc).__name__, "message": str(exc)}
    print("RESULT " + json.dumps(out), flush=True)
"""


def flows(prog: Programme, actions: list[dict[str, Any]], timeout: float = 240,
          **env: str) -> list[Any]:
    """Run ``actions`` through :data:`SCRIPT` in a subprocess with the programme's
    environment (plus ``env``); their results, in order."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(actions)],
                          env={**prog.env, **env}, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    results = [json.loads(line[7:]) for line in done.stdout.splitlines()
               if line.startswith("RESULT ")]
    assert done.returncode == 0 and len(results) == len(actions), done.stdout + done.stderr
    return results


HOLD_LOCK = """
import sys, time
from connectors.locks import LeasedRedisLockManager, system_lock_key
m = LeasedRedisLockManager(connection_url=sys.argv[1], lease_seconds=3, wait_seconds=5)
m.acquire_lock(system_lock_key(sys.argv[2]), "test-holder")
print("held", flush=True)
time.sleep(120)
"""

BEGIN_RUN = """
import sys, time
from connectors.journal.wave import open_journal
with open_journal(sys.argv[1]) as j:
    print(j.begin_run(1, {"bureau": sys.argv[2]}), flush=True)
    time.sleep(120)
"""


@pytest.fixture
def helper(journal_env: Programme) -> Iterator[Any]:
    """Start a live helper process (``code`` with ``args``) that prints one line when ready;
    yields a starter returning (process, that line); every helper is killed afterwards."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(code: str, *args: str) -> tuple[subprocess.Popen[bytes], str]:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], env=journal_env.env,
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()  # bounded: the helper ends in 120 s
        assert line, proc.stderr.read().decode() if proc.stderr else "helper died"
        return proc, line

    yield start
    for p in procs:
        kill_tree(p)


def _estate(tmp_path: Path, n: int) -> Path:
    est = build_estate(tmp_path / "estate", tmp_path / "images", n_systems=n,
                       formats=FORMATS[3:5], mib=4)
    return est.root


# -- 1. strict limits --------------------------------------------------------------------
def test_a_missing_bureau_limit_is_named_and_nothing_runs(journal_env: Programme,
                                                          tmp_path: Path) -> None:
    prog = journal_env
    estate = str(_estate(tmp_path, 2))
    deploy = prog.run("worker", "deploy", "--estate", estate, "--json")
    assert deploy.returncode == 0, deploy.stderr
    assert "shangyun-wave-global" in json.loads(deploy.stdout)["limits"]
    ensured, _, checked, slots, run = flows(prog, [
        {"do": "ensure_limits", "estate": estate},
        {"do": "delete_limit", "name": LIMIT_B1},
        {"do": "check_limits", "names": ["shangyun-wave-global", LIMIT_B1, LIMIT_B2,
                                         "shangyun-bureau-nowhere"]},
        {"do": "slots", "estate": estate, "system": "sys-01"},
        {"do": "run_wave", "estate_dir": estate, "number": 1, "bureau": B1,
         "distributed": True},
    ])
    assert set(ensured) == {"shangyun-wave-global", LIMIT_B1, LIMIT_B2}
    # check_limits names every missing limit, and only those
    assert checked["error"] == "WorkPoolError", checked
    assert f"{LIMIT_B1} does not exist" in checked["message"]
    assert "shangyun-bureau-nowhere does not exist" in checked["message"]
    assert LIMIT_B2 not in checked["message"] and "global" not in checked["message"]
    # a system's slots are strict: the missing limit is an error naming it
    assert slots["error"] == "StepError", slots
    assert "sys-01" in slots["message"] and LIMIT_B1 in slots["message"]
    # the bureau's run fails before any system, naming the limit
    assert run["error"] == "WorkPoolError", run
    assert f"{LIMIT_B1} does not exist" in run["message"]
    with open_journal(estate) as j:
        runs = j.runs(1)
        assert j.records(1) == []  # nothing ran
    assert [(r["bureau"], r["status"]) for r in runs] == [(B1, "failed")]


# -- 2. the system lock -------------------------------------------------------------------
def test_a_system_locked_elsewhere_is_busy_and_left_alone(
        journal_env: Programme, shared_cloud: SharedCloud, helper: Any,
        tmp_path: Path) -> None:
    from connectors.locks import lock_holder, system_lock_key

    prog = journal_env
    estate = str(_estate(tmp_path, 4))  # bureau-01: sys-01, sys-03 (two move groups)
    holder, _ = helper(HOLD_LOCK, prog.redis_url, "sys-01")
    bucket = f"busy-{secrets.token_hex(4)}"  # moto keeps buckets for the whole process
    with moto_server() as s3:
        with ObjectStore(s3) as store:
            store.ensure_bucket(bucket)
        options = {"target": "libvirt", "staging_dir": str(tmp_path / "staging"),
                   "target_options": {"uri": shared_cloud.uri, "pool": shared_cloud.pool},
                   "s3_endpoint": s3, "bucket": bucket}
        _, result = flows(prog, [
            {"do": "ensure_limits", "estate": estate},
            {"do": "run_wave", "estate_dir": estate, "number": 1, "bureau": B1,
             "distributed": True, "options": options},
        ], SHANGYUN_LOCK_WAIT="2")
    assert "error" not in result, result
    by_id = {s["id"]: s for s in result["systems"]}
    assert set(by_id) == {"sys-01", "sys-03"}
    assert by_id["sys-01"]["state"] == "busy", by_id["sys-01"]
    err = by_id["sys-01"]["error"]
    assert "shangyun/system/sys-01" in err and f"pid {holder.pid}" in err
    assert "test-holder" in err
    assert by_id["sys-03"]["state"] == "done", by_id["sys-03"]
    assert result["state"] == "failed"
    with open_journal(estate) as j:
        assert j.records(1, "sys-01") == []  # no step of it was journaled
        done = j.records(1, "sys-03")
        entries = j.j.audit_entries()
    assert done and {r.status for r in done} == {"done"}
    sys1 = [(e.action, e.result) for e in entries if e.system == "sys-01"]
    assert sys1 == [("wave.system.busy", "skipped")], sys1  # nothing undone
    # the lock is still the helper's: the run neither stole nor freed it
    held = lock_holder(system_lock_key("sys-01"), prog.redis_url)
    assert held is not None and held.startswith("test-holder|")
    assert held.endswith(f"pid {holder.pid}")


# -- 3. the journal guard -----------------------------------------------------------------
def test_a_live_bureau_run_refuses_the_same_bureau_only(journal_env: Programme,
                                                        helper: Any, tmp_path: Path) -> None:
    prog = journal_env
    estate = str(_estate(tmp_path, 2))
    live, run_id = helper(BEGIN_RUN, estate, B1)
    same, other = flows(prog, [
        {"do": "ensure_limits", "estate": estate},
        {"do": "run_wave", "estate_dir": estate, "number": 1, "bureau": B1,
         "distributed": True},
        {"do": "run_wave", "estate_dir": estate, "number": 1, "bureau": B2,
         "distributed": True},
    ])[1:]
    assert same["error"] == "StepError", same
    assert f"run {run_id}" in same["message"] and f"pid {live.pid}" in same["message"]
    assert f"bureau {B1}" in same["message"]
    # bureau-02's run is not refused: it begins its own journal run and reports its systems
    assert "error" not in other, other
    assert other["bureau"] == B2 and other["run_id"] != run_id
    assert [s["id"] for s in other["systems"]] == ["sys-02"]
    with open_journal(estate) as j:
        runs = {r["id"]: r for r in j.runs(1)}
    assert runs[run_id]["status"] == "running" and runs[run_id]["bureau"] == B1
    assert runs[other["run_id"]]["bureau"] == B2
    assert len(runs) == 2  # the refused run never began


# -- 5. refusals without infrastructure ---------------------------------------------------
def _bare_env(**extra: str) -> dict[str, str]:
    """No journal URL, no Redis, and a Prefect API on a closed port (never contacted)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SHANGYUN_JOURNAL", "SHANGYUN_REDIS_URL", "PREFECT_API_URL")}
    env.update(PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api",
               PYTHONPATH=str(ROOT), **extra)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SHANGYUN, *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def _one_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single 'error:' message of a refused command (exit 1, no traceback)."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, done.stderr
    return " ".join(done.stderr.split())


def test_distributed_run_refuses_a_sqlite_journal_and_a_dead_redis(tmp_path: Path) -> None:
    estate = str(_estate(tmp_path, 2))
    msg = _one_error(_cli(_bare_env(SHANGYUN_REDIS_URL="redis://127.0.0.1:6379/9"),
                          "wave", "run", "1", "--estate", estate, "--distributed",
                          "--target-uri", "test:///default"))
    assert "journal on PostgreSQL" in msg and "SHANGYUN_JOURNAL" in msg
    assert "SQLite" in msg
    port = free_port()
    msg = _one_error(_cli(_bare_env(SHANGYUN_JOURNAL="postgresql://postgres@127.0.0.1/x",
                                    SHANGYUN_REDIS_URL=f"redis://127.0.0.1:{port}/0"),
                          "wave", "run", "1", "--estate", estate, "--distributed",
                          "--target-uri", "test:///default"))
    assert f"127.0.0.1:{port}" in msg and "not reachable" in msg
    assert not (Path(estate) / "journal.db").exists()  # nothing was written


def test_worker_start_refuses_without_a_journal_url_and_shows_its_command() -> None:
    env = _bare_env(SHANGYUN_REDIS_URL="redis://127.0.0.1:6379/9")
    done = _cli(env, "worker", "start", "--bureau", "X")
    msg = _one_error(done)
    assert "SHANGYUN_JOURNAL=postgresql://" in msg
    assert "worker for" not in done.stdout  # refused before the worker was started
    shown = _cli(env, "worker", "start", "--bureau", "X", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    line = shown.stdout.strip()
    assert len(line.splitlines()) == 1
    assert line.split()[0].endswith("prefect")
    assert ("worker start --pool shangyun --type process --work-queue bureau-X "
            "--name shangyun-X-") in line


def test_worker_start_takes_a_bureau_by_name_with_the_estate(tmp_path: Path) -> None:
    """``--bureau 北京直属局 --estate DIR`` serves the bureau's queue (by id, as the pool
    names it); a typo is one error with a "did you mean"; a missing estate folder is one
    error."""
    estate = tmp_path / "estate"
    shutil.copytree(ROOT / "inventories" / "sample", estate,
                    ignore=shutil.ignore_patterns("ledgers"))
    env = _bare_env()
    shown = _cli(env, "worker", "start", "--bureau", "北京直属局", "--bureau", "hq",
                 "--estate", str(estate), "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "--work-queue bureau-b01 --work-queue bureau-hq" in shown.stdout, shown.stdout
    typo = _cli(env, "worker", "start", "--bureau", "北京直辖局", "--estate", str(estate),
                "--dry-run")
    msg = _one_error(typo)
    assert "unknown bureau '北京直辖局'" in msg and "北京直属局 (b01)" in msg
    missing = _cli(env, "worker", "start", "--bureau", "b01", "--estate",
                   str(tmp_path / "nowhere"), "--dry-run")
    assert "no such estate folder" in _one_error(missing)
