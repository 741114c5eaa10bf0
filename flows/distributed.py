"""``wave run N --distributed``: one flow run per bureau on its worker, followed to the end.

::

    run_distributed(estate, N, options)
      check: journal on PostgreSQL, Redis answers, deployment registered
      split the wave by bureau (shangyun.wave.partition); refuse a bureau already running
      create the pool's queues and the concurrency limits (read back: strict)
      submit run_wave(bureau=B, distributed=True) to queue bureau-B, for every bureau
      follow until every flow run is over:
        a run no worker starts within start_timeout        → cancelled, named
        a run whose process died (journal: crashed)         → marked Crashed in Prefect,
                                                               resubmitted with resume=True
                                                               (at most max_resumes times)
      the outcome is read from the journal (the truth), per bureau and per system

Correctness rests on the journal and the system locks, not on this follower: if it dies,
the bureau flow runs go on; ``wave resume N --distributed`` takes over whatever is left.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors import workpool
from connectors.journal.wave import open_journal
from connectors.workpool import check_distributed
from flows.wave import wave_limits
from shangyun.errors import ShangyunError, StepError
from shangyun.estate import Estate
from shangyun.estate.names import Kind, names_of
from shangyun.wave.journal_port import WaveJournal, wave_status
from shangyun.wave.partition import partition, queue_name
from shangyun.wave.plan import load_wave
from shangyun.wave.state import (
    PENDING,
    ROLLED_BACK,
    ROLLED_BACK_BY_OPERATOR,
    counts_words,
    state_counts,
)

START_TIMEOUT = 600.0
FOLLOW_TIMEOUT = 48 * 3600.0
POLL_SECONDS = 1.0

Event = Callable[[str, str, str], None]
"""Called with (bureau, what, detail) as the follower sees things happen."""


@dataclass
class BureauRun:
    """One bureau's share as the follower tracks it."""

    bureau: str
    flow_run_ids: list[str] = field(default_factory=list)
    submitted: float = 0.0
    submitted_at: float = 0.0
    state: str = "SCHEDULED"
    message: str = ""
    resumes: int = 0
    outcome: str = "pending"

    @property
    def flow_run_id(self) -> str:
        """The flow run being followed now (the latest submitted)."""
        return self.flow_run_ids[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {"bureau": self.bureau, "queue": queue_name(self.bureau),
                "flow_run_ids": self.flow_run_ids, "prefect_state": self.state,
                "message": self.message, "resumes": self.resumes, "outcome": self.outcome}


def run_distributed(estate_dir: str, number: int, options: dict[str, Any] | None = None, *,
                    only: str | None = None, resume: bool = False, dry_run: bool = False,
                    max_resumes: int = 1, start_timeout: float = START_TIMEOUT,
                    follow_timeout: float = FOLLOW_TIMEOUT, poll: float = POLL_SECONDS,
                    on_event: Event | None = None) -> dict[str, Any]:
    """Submit wave ``number`` bureau by bureau to the workers and follow it to the end.

    ``resume``: resubmit, with ``resume=True``, each bureau whose last run is not done.
    Returns ``{"wave", "state", "bureaus": [...], "systems": [...]}``; ``state`` is
    ``done`` when every bureau's journal run is done (a dry run: every flow run completed).
    """
    tell = on_event or (lambda b, w, d: None)
    check_distributed(journal=not dry_run)
    wave = load_wave(estate_dir, number, only=only)
    bureaus = list(partition(wave))
    if resume:
        bureaus = _to_resume(estate_dir, number, bureaus)
    elif not dry_run:
        with open_journal(estate_dir) as journal:
            for b in bureaus:
                journal.ensure_idle(number, bureau=b)
    workpool.ensure_pool(bureaus)
    workpool.ensure_limits(wave_limits(wave))
    workpool.deployments([workpool.WAVE_DEPLOYMENT])
    runs = {b: BureauRun(b) for b in bureaus}
    params = {"estate_dir": estate_dir, "number": number, "only": only,
              "options": options or {}, "distributed": True, "dry_run": dry_run}
    for b, r in runs.items():
        _submit(r, number, params, resume=resume)
        tell(b, "submitted", f"{queue_name(b)} (flow run {r.flow_run_id})")
    _follow(estate_dir, number, runs, params, dry_run=dry_run, max_resumes=max_resumes,
            start_timeout=start_timeout, follow_timeout=follow_timeout, poll=poll, tell=tell)
    return _outcome(estate_dir, number, runs, dry_run, {s.id for s in wave.systems})


def _to_resume(estate_dir: str, number: int, bureaus: list[str]) -> list[str]:
    """The bureaus whose last run of the wave is not done (refusing a live one)."""
    out = []
    with open_journal(estate_dir) as journal:
        journal.reconcile()
        for b in bureaus:
            last = journal.last_run(number, bureau=b)
            if last is None or last["status"] == "done":
                continue
            journal.ensure_idle(number, bureau=b)
            out.append(b)
    if not out:
        raise StepError(f"wave {number}: no bureau has an unfinished distributed run to "
                        "resume")
    return out


def _bureau_name(estate_dir: str, bureau: str) -> str:
    """The bureau's name for a flow-run name a person reads (its id if it has none)."""
    return _names(estate_dir, "bureau").get(bureau) or bureau


def _names(estate_dir: str, kind: Kind) -> dict[str, str]:
    """Id -> name of the estate's ``kind`` (``system``, ``bureau``) for what a person
    reads (empty when the estate cannot be read: the ids are shown)."""
    try:
        return names_of(Estate.load(estate_dir, check=False), kind)
    except ShangyunError:
        return {}


def _submit(r: BureauRun, number: int, params: dict[str, Any], *, resume: bool,
            deployment: str = workpool.WAVE_DEPLOYMENT) -> None:
    attempt = len(r.flow_run_ids)
    suffix = f" (resume {r.resumes})" if r.resumes else (" (resume)" if resume else "")
    if deployment == workpool.ROLLBACK_DEPLOYMENT:
        suffix, extra = (f" (retry {r.resumes})" if r.resumes else "") + " rollback", {}
    else:
        extra = {"resume": resume}
    dry = " (dry run)" if params.get("dry_run") else ""
    fid = workpool.submit(
        deployment, {**params, "bureau": r.bureau, **extra},
        queue=queue_name(r.bureau),
        name=f"wave-{number} · {_bureau_name(params['estate_dir'], r.bureau)}{suffix}{dry}",
        tags=["shangyun", f"wave-{number}", r.bureau],
        idempotency_key=f"wave-{number}-{r.bureau}-{time.time_ns()}-{attempt}")
    r.flow_run_ids.append(fid)
    r.submitted, r.submitted_at = time.monotonic(), time.time()
    r.state, r.outcome = "SCHEDULED", "pending"


def _follow(estate_dir: str, number: int, runs: dict[str, BureauRun],
            params: dict[str, Any], *, dry_run: bool, max_resumes: int,
            start_timeout: float, follow_timeout: float, poll: float, tell: Event,
            deployment: str = workpool.WAVE_DEPLOYMENT) -> None:
    """Poll Prefect (and the journal, for runs whose process died) until all are over.

    ``dry_run`` (or a rollback): nothing is journaled per bureau, so only Prefect's own
    Crashed state triggers a resubmission."""
    with contextlib.ExitStack() as stack:
        journal = None if dry_run else stack.enter_context(open_journal(estate_dir))
        _poll(journal, number, runs, params, max_resumes=max_resumes,
              start_timeout=start_timeout, follow_timeout=follow_timeout, poll=poll,
              tell=tell, deployment=deployment, dry_run=dry_run)


def _poll(journal: WaveJournal | None, number: int, runs: dict[str, BureauRun],
          params: dict[str, Any], *, max_resumes: int, start_timeout: float,
          follow_timeout: float, poll: float, tell: Event, deployment: str,
          dry_run: bool) -> None:
    deadline = time.monotonic() + follow_timeout
    open_ = set(runs)
    while open_:
        if time.monotonic() > deadline:
            raise StepError(
                f"wave {number}: still running after {follow_timeout:g} s; the bureau flow "
                f"runs go on on their workers ({', '.join(sorted(open_))}); see 'shangyun "
                f"wave status {number}'")
        current = workpool.states(runs[b].flow_run_id for b in open_)
        crashed = {} if journal is None else _journal_crashed(journal, number, runs, open_)
        for b in sorted(open_):
            r = runs[b]
            st = current[r.flow_run_id]
            if st.type != r.state:
                tell(b, st.type.lower(), st.message)
            r.state, r.message = st.type, st.message
            dead = b in crashed or st.type == "CRASHED"
            if dead:
                why = crashed.get(b)
                if st.type != "CRASHED":
                    workpool.mark_crashed(r.flow_run_id, why or "the worker process died")
                tell(b, "crashed", why or st.message)
                if r.resumes < max_resumes:
                    r.resumes += 1
                    _submit(r, number, params, resume=not dry_run, deployment=deployment)
                    tell(b, "resubmitted", f"resume {r.resumes} of {max_resumes} on "
                                           f"{queue_name(b)}")
                    continue
                r.outcome = "crashed"
                open_.discard(b)
            elif st.final:
                r.outcome = "completed" if st.type == "COMPLETED" else st.type.lower()
                open_.discard(b)
            elif st.waiting and time.monotonic() - r.submitted > start_timeout:
                workpool.cancel(r.flow_run_id, f"no worker started it in {start_timeout:g} s")
                r.outcome = "no_worker"
                tell(b, "no worker", f"nothing polled {queue_name(b)} for "
                                     f"{start_timeout:g} s: start 'shangyun worker start "
                                     f"--bureau {b}'")
                open_.discard(b)
        if open_:
            time.sleep(poll)


def _journal_crashed(journal: WaveJournal, number: int, runs: dict[str, BureauRun],
                     open_: set[str]) -> dict[str, str]:
    """Bureaus whose followed flow run's journal run was found crashed (process gone).

    A resumed run keeps its id (and the first flow run's id in its params), so a crash
    counts only when it was recorded after the latest submission: the crash that caused
    a resubmission is not taken for a second one while the resumed flow run starts."""
    journal.reconcile()
    out = {}
    for b in open_:
        r = runs[b]
        last = journal.last_run(number, bureau=b)
        if not last or last["status"] != "crashed" \
                or last.get("flow_run_id") not in r.flow_run_ids:
            continue
        ended = journal.j.get_run(last["id"]).ended_at
        if ended is not None and ended.timestamp() >= r.submitted_at:
            out[b] = f"journal run {last['id']} crashed (its process is gone)"
    return out


def _outcome(estate_dir: str, number: int, runs: dict[str, BureauRun], dry_run: bool,
             wave_systems: set[str]) -> dict[str, Any]:
    bureaus = [r.to_dict() for r in runs.values()]
    if dry_run:
        state = "done" if all(r.outcome == "completed" for r in runs.values()) else "failed"
        return {"wave": number, "state": state, "dry_run": True, "bureaus": bureaus,
                "systems": []}
    planned = [s.id for s in load_wave(estate_dir, number).systems]
    with open_journal(estate_dir) as journal:
        status = wave_status(journal, number, planned)
        for d in bureaus:
            last = journal.last_run(number, bureau=d["bureau"])
            d["journal_run"] = last["id"] if last else None
            d["journal_state"] = last["status"] if last else "never run"
    systems = [s for s in status["systems"] if s["id"] in wave_systems]
    ok = all(d["journal_state"] == "done" for d in bureaus)
    # the wave's one state and its systems counted, as 'wave status' says them
    counts = state_counts({**dict.fromkeys(status["pending"], PENDING),
                           **{s["id"]: s["state"] for s in status["systems"]}})
    return {"wave": number, "state": "done" if ok else "failed", "bureaus": bureaus,
            "wave_state": status["state"], "counts": counts, "summary": counts_words(counts),
            "systems": [{"id": s["id"], "state": s["state"],
                         "error": next((st["error"] for st in s["steps"] if st.get("error")),
                                       "")} for s in systems]}


def rollback_distributed(estate_dir: str, number: int, *, max_retries: int = 1,
                         start_timeout: float = START_TIMEOUT,
                         follow_timeout: float = FOLLOW_TIMEOUT, poll: float = POLL_SECONDS,
                         on_event: Event | None = None) -> dict[str, Any]:
    """Undo wave ``number`` bureau by bureau on the workers (each from the journal alone,
    system under its lock) and follow; a crashed rollback is resubmitted (undo is
    idempotent). Returns ``{"wave", "ok", "bureaus", "systems"}`` read from the journal."""
    tell = on_event or (lambda b, w, d: None)
    check_distributed()
    wave = load_wave(estate_dir, number)
    with open_journal(estate_dir) as journal:
        touched = set(journal.systems(number))
    bureaus = [b for b, gids in partition(wave).items()
               if any(s.id in touched for s in wave.systems if s.move_group in gids)]
    if not bureaus:
        raise StepError(f"wave {number}: the journal records no step of any system; "
                        "nothing to roll back")
    workpool.ensure_pool(bureaus)
    workpool.deployments([workpool.ROLLBACK_DEPLOYMENT])
    runs = {b: BureauRun(b) for b in bureaus}
    params = {"estate_dir": estate_dir, "number": number, "distributed": True}
    for b, r in runs.items():
        _submit(r, number, params, resume=False, deployment=workpool.ROLLBACK_DEPLOYMENT)
        tell(b, "submitted", f"rollback on {queue_name(b)} (flow run {r.flow_run_id})")
    _follow(estate_dir, number, runs, params, dry_run=True, max_resumes=max_retries,
            start_timeout=start_timeout, follow_timeout=follow_timeout, poll=poll, tell=tell,
            deployment=workpool.ROLLBACK_DEPLOYMENT)
    bureaus_out = [r.to_dict() for r in runs.values()]
    with open_journal(estate_dir) as journal:
        status = wave_status(journal, number)
        for d in bureaus_out:
            last = journal.last_run(number, bureau=d["bureau"])
            d["journal_run"] = last["id"] if last else None
            d["journal_state"] = last["status"] if last else "never run"
            d["journal_reason"] = (last.get("reason") or "") if last else ""
    names = _names(estate_dir, "system")
    systems = [{"id": s["id"], "name": names.get(s["id"], ""), "state": s["state"],
                **not_rolled_back(s["steps"])} for s in status["systems"]]
    ok = all(r.outcome == "completed" for r in runs.values()) and all(
        s["state"] in (ROLLED_BACK, ROLLED_BACK_BY_OPERATOR) for s in systems)
    return {"wave": number, "ok": ok, "bureaus": bureaus_out, "systems": systems}


def not_rolled_back(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Why a system's rollback is not complete, from its steps' latest journal records:
    ``failed_steps`` (each step left not ``undone``: key, status, the journaled error)
    and ``error`` (the first such step's error, or its status; "" when every step was
    undone)."""
    left = [{"key": st["key"], "status": st["status"], "error": st.get("error") or ""}
            for st in steps if st["status"] != "undone"
            and not str(st.get("kind", "")).startswith("failback")]
    failed = sorted(left, key=lambda st: not st["error"])  # the ones with a reason first
    error = ""
    if failed:
        first = failed[0]
        error = f"{first['key']}: {first['error'] or 'left ' + first['status'] + ', not undone'}"
    return {"error": error, "failed_steps": failed}
