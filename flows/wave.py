"""The ``run_wave`` Prefect flow: move every system of a wave, each in its own transaction.

Reads top to bottom like the runbook::

    run_wave(estate, N)
      reconcile crashed runs → begin (or resume) a run in the journal → heartbeat
      for each move group (concurrently, within the global and per-bureau limits):
        for each system of the group:
          with transaction():                 # one per system
            precheck → convert… → upload… → import… → launch…   (one task per step)
          on failure: the system is undone from the journal (newest step first); then
          every system of the same move group is undone too; other groups go on
      artifacts: per-system progress, a table of states, verification results

Correctness does not rest on Prefect: each step is journaled before its task returns and
every undo reads only the journal (:mod:`shangyun.wave.engine`), so ``wave resume`` and
``wave rollback`` work after ``kill -9``; there is one undo path, the journal's (no
Prefect rollback hooks). The step actions are in :mod:`actions`; this module holds only
the Prefect side (tasks, transactions as system locks, concurrency slots, artifacts).
Retries are declared only for :class:`shangyun.errors.TransientError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.transactions import IsolationLevel, Transaction, transaction

from actions.context import Progress, RunContext, StepListener, TargetFactories
from actions.failback import refuse_mid_failback, reopen_failed_back
from actions.registry import Registry, actions_for
from actions.rollback import rollback, writes_on_switched_target
from connectors.journal.wave import open_journal
from connectors.locks import (
    SystemBusyError,
    fence_guard,
    system_fence,
    system_lock_key,
    system_lock_store,
)
from connectors.workpool import check_distributed, check_limits
from shangyun.errors import Interrupted, ShangyunError, StepError, TransientError
from shangyun.estate import Estate
from shangyun.estate.names import names_of, readable
from shangyun.journal.fence import FencedWriteError, fenced
from shangyun.journal.records import NoJournal
from shangyun.journal.status import RUN_INTERRUPTED
from shangyun.runbook.context import step_title
from shangyun.runbook.i18n import state_label, translator
from shangyun.wave.builder import wave_steps
from shangyun.wave.classified import classified_ids
from shangyun.wave.dashboard import AWAITING_FINALIZE as AWAITING_FINALIZE_NAME
from shangyun.wave.dashboard import dashboard_lang, flow_run_state, system_words
from shangyun.wave.dryrun import run_name
from shangyun.wave.engine import (
    StepAction,
    StepRecord,
    cut_over,
    execute,
    record_step,
    undo_system,
)
from shangyun.wave.estimate import GLOBAL_SLOTS, bureau_slots
from shangyun.wave.journal_port import WaveJournal, run_refusal, wave_status
from shangyun.wave.model import SystemWork, WaveWork
from shangyun.wave.partition import bureau_share
from shangyun.wave.plan import load_wave
from shangyun.wave.state import (
    BUSY,
    CUT_OVER,
    CUTOVER,
    FINISHED,
    PENDING,
    PRECHECK,
    REFUSED,
    ROLLBACK_FAILED,
    ROLLED_BACK,
    SKIPPED,
    SYSTEM_DONE,
    SYSTEM_FAILED,
    WAVE_DONE,
    WAVE_FAILED,
    counted,
    counts_words,
    run_state,
    state_counts,
)
from shangyun.wave.stepargs import ConvertDone, ImportArgs, from_record
from shangyun.wave.steps import NOT_RUN, UNDONE, RunOptions, Step

GLOBAL_LIMIT = "shangyun-wave-global"
HEARTBEAT_SECONDS = 5.0
LEFT_ALONE = "cut over (left alone): its target is in production"


_RUN_FIELDS = ("flow_run_id", "flow_run_name", "flow_name", "task_run_id", "task_run_name",
               "task_name", "worker_id", "send_to_api")


class OwnErrorsWithoutTraceback(logging.Filter):
    """A step's or a run's failure with one of our own errors (:class:`ShangyunError`, whose
    message is written for a person: it names the system, the host, the endpoint) is
    logged as that message: the Python traceback Prefect attaches goes to the DEBUG level
    (``PREFECT_LOGGING_LEVEL=DEBUG`` shows it) instead of the terminal and the dashboard.
    Any other exception keeps its traceback (a bug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the traceback of a record about one of our errors; log it at DEBUG."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ShangyunError) and not getattr(record, "shangyun_details", False):
            run = {k: getattr(record, k) for k in _RUN_FIELDS if hasattr(record, k)}
            logging.getLogger(record.name).debug(
                "details of: %s", record.getMessage(), exc_info=record.exc_info,
                extra={**run, "shangyun_details": True})
            record.exc_info, record.exc_text = None, None
        return True


def _quiet_own_errors() -> None:
    """Install :class:`OwnErrorsWithoutTraceback` on Prefect's flow-run and task-run loggers
    (once; a logging re-configuration keeps a logger's filters)."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, OwnErrorsWithoutTraceback) for f in logger.filters):
            logger.addFilter(OwnErrorsWithoutTraceback())


_quiet_own_errors()


def bureau_limit_name(bureau: str) -> str:
    """The global concurrency limit of one bureau's link."""
    return f"shangyun-bureau-{bureau}"


def wave_limits(wave: WaveWork, global_slots: int = GLOBAL_SLOTS) -> dict[str, int]:
    """The global and per-bureau concurrency limits ``wave`` needs, with their slots."""
    limits = {GLOBAL_LIMIT: global_slots}
    for s in wave.systems:
        limits[bureau_limit_name(s.bureau_id)] = bureau_slots(s.link_mbps)
    return limits


def ensure_limits(wave: WaveWork, global_slots: int = GLOBAL_SLOTS) -> dict[str, int]:
    """Create (or update) the global and per-bureau concurrency limits on demand."""
    limits = wave_limits(wave, global_slots)
    with get_client(sync_client=True) as client:
        for name, slots in limits.items():
            client.upsert_global_concurrency_limit_by_name(name, slots)
    return limits


def free_orphaned_slots(limits: Mapping[str, int]) -> dict[str, int]:
    """Set the taken slots of ``limits`` back to 0; returns the slots freed per limit.

    Called only when the journal shows no other live run (:func:`_limits`): then every
    taken slot is an orphan of a run killed while it held it (``kill -9``). Its lease died
    with it when the Prefect server was the ephemeral one of the killed process (the
    lease storage is in memory), so Prefect never gives the slot back and a ``wave
    resume`` of that bureau would wait for it forever."""
    freed: dict[str, int] = {}
    with get_client(sync_client=True) as client:
        for name in limits:
            taken = client.read_global_concurrency_limit_by_name(name).active_slots
            if taken:
                client.update_global_concurrency_limit(
                    name, GlobalConcurrencyLimitUpdate(active_slots=0))
                freed[name] = taken
    return freed


SLOT_LEASE_SECONDS = 60.0
"""How long a dead worker's concurrency slots stay taken (Prefect's minimum lease)."""


@contextlib.contextmanager
def system_slots(system: SystemWork) -> Iterator[None]:
    """Hold one slot of the global and of the system's bureau limit. Strict: a missing
    limit is an error naming it (never Prefect's warning-and-go-on)."""
    names = [GLOBAL_LIMIT, bureau_limit_name(system.bureau_id)]
    opts: dict[str, Any] = {"occupy": 1, "strict": True, "lease_duration": SLOT_LEASE_SECONDS,
                            "raise_on_lease_renewal_failure": False}  # the system lock guards
    try:
        # one limit at a time, the bureau's first: given several names, Prefect's ``strict``
        # refuses only when *every* one is missing and silently skips a missing one
        with concurrency(names[1], **opts), concurrency(names[0], **opts):
            yield
    except ConcurrencySlotAcquisitionError as exc:
        raise StepError(f"{system.id}: concurrency limits {', '.join(names)}: {exc} "
                        "(create them with 'shangyun worker deploy')") from None


@contextlib.contextmanager
def system_lock(system_id: str, distributed: bool) -> Iterator[Transaction]:
    """In distributed mode, a SERIALIZABLE Prefect transaction keyed on the system whose
    lock lives in Redis (:mod:`connectors.locks`): no two workers anywhere run the same
    system's steps, and the journal writes for its steps carry the lock's fencing token
    (:func:`shangyun.journal.fence.fenced`: a stale holder's write is refused), and every
    target write checks the token against Redis first (a stale holder is stopped before
    it). Locally,
    a plain transaction (one process owns the wave) and no token."""
    if not distributed:
        with transaction() as txn:
            yield txn
        return
    key, store = system_lock_key(system_id), system_lock_store()
    with transaction(key=key, store=store, isolation_level=IsolationLevel.SERIALIZABLE,
                     write_on_commit=False, overwrite=True) as txn:
        token = system_fence(store, key)
        with fenced(system_id, token, fence_guard(store, key, token)):
            yield txn


def _transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a step only when it failed with a :class:`TransientError`."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception as err:  # a failed state whose result cannot be read
        exc = err
    return isinstance(exc, TransientError)


@task(name="step", retries=3, retry_delay_seconds=2, retry_condition_fn=_transient_only,
      cache_policy=NO_CACHE, persist_result=False)
def step_task(journal: WaveJournal, run_id: str, wave: int, step: Step, action: StepAction,
              done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Run one step idempotently through the journal (its undo is the journal's, too)."""
    out = execute(journal, run_id, wave, step, action, done)
    if out.skipped:
        get_run_logger().info("%s already done (journal): skipped", step.key)
    return out.payload


def move_system(journal: WaveJournal, run_id: str, wave: WaveWork, system: SystemWork,
                steps: list[Step], ctx: RunContext, actions: Registry,
                distributed: bool = False, *, first: int = 0, last: int | None = None,
                done: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Move one system (``steps``: its list from :func:`wave_steps`) inside its own
    transaction; undo it alone if any step fails.

    ``distributed``: the transaction is SERIALIZABLE on the system's Redis lock, and the
    undo after a failure takes that lock again. A system whose lock another worker holds
    (or took over: the journal refused our fenced write) is reported ``busy`` and left
    alone (nothing undone: it is not ours).

    A system whose ``cutover`` the journal records done (a resume, a second run, ``--only``)
    is not touched at all: state ``cut_over``, no step runs (its target is production).
    A failed-back system is cut over again: the fail-back's freeze of its target
    databases is lifted first (:func:`actions.failback.reopen_failed_back`).

    ``first``/``last``: run only ``steps[first:last]`` (a move group's phases,
    :func:`move_group`); ``done`` holds the payloads of the steps before ``first`` (the
    earlier phase's, filled in place)."""
    tags = [f"wave-{wave.number}", system.bureau_id, system.id]
    done = {} if done is None else done
    result: dict[str, Any] = {**_identity(wave, system), "state": "running",
                              "steps": first, "of": len(steps), "verified": []}
    if cut_over(journal, wave.number, system.id):
        for step in steps:
            ctx.step_ended(step, "skipped")
        result.update(state=CUT_OVER, note=LEFT_ALONE)
        journal.audit("wave.system.left_alone", system.id, "skipped",
                      {"wave": wave.number, "reason": "cut over"})
        return result
    progress_id = _progress_artifact(wave.number, system)
    current: Step | None = None
    told = first  # how many of `steps` the listener heard end; the rest will not run
    try:
        with system_lock(system.id, distributed):
            # failed back: the target's freeze lifted, the fail-back closed (journaled)
            reopen_failed_back(journal, run_id, wave.number, system.id, actions)
            for i, step in enumerate(steps, 1):
                if i <= first:
                    continue  # done in an earlier phase of this run (`done` has it)
                if last is not None and i > last:
                    break
                current = step
                told = i - 1
                payload = step_task.with_options(
                    task_run_name=step_run_name(wave.number, system, step),
                    tags=[*tags, step.kind],
                )(journal, run_id, wave.number, step, actions[step.kind], done)
                ctx.step_ended(step, "done")
                told = i
                done[step.key] = payload
                result["steps"] = i
                _record_verification(result["verified"], step, payload)
                if progress_id is not None:
                    update_progress_artifact(progress_id, 100.0 * i / len(steps))
        result["state"] = SYSTEM_DONE
    except (SystemBusyError, FencedWriteError) as exc:  # not ours (any more): leave it
        result.update(state=BUSY, error=str(exc))
        journal.audit("wave.system.busy", system.id, "skipped", {"error": str(exc)[:2000]})
    except Exception as exc:
        if current is not None and told < len(steps) and steps[told] is current:
            ctx.step_ended(current, "failed")
            told += 1
        if cut_over(journal, wave.number, system.id):  # failed after its cutover: keep it
            result.update(state=CUT_OVER, note=LEFT_ALONE, error=" ".join(str(exc).split())[:1000])
            journal.audit("wave.system.failed", system.id, "failed", {"error": str(exc)[:2000]})
            _not_run(ctx, steps[told:])
            return result
        kept = writes_on_switched_target(journal, wave.number, system.id, ctx.names,
                                         ctx.where)
        if kept is not None:  # DNS on the target, the users wrote there: never dropped
            result.update(state=SYSTEM_FAILED, error=" ".join(f"{exc}; {kept}".split())[:2000])
            journal.audit("wave.system.failed", system.id, "failed",
                          {"error": str(exc)[:2000], "kept": kept[:2000]})
            _not_run(ctx, steps[told:])
            return result
        try:
            with system_lock(system.id, distributed):  # the audit record fenced like the undo
                report = undo_system(journal, run_id, wave.number, system.id, actions,
                                     on_step=_undone_to(ctx))
                refused = current is not None and current.kind == PRECHECK \
                    and not _interrupted(exc)  # Ctrl-C killed its qemu-img: not refused
                result.update(state=(BUSY if report.lock_lost else
                                     ROLLBACK_FAILED if not report.ok else
                                     REFUSED if refused else ROLLED_BACK),
                              error=" ".join(str(exc).split())[:1000],
                              undo_failed=report.failed)
                journal.audit("wave.system.failed", system.id, "failed",
                              {"error": str(exc)[:2000]})
        except (SystemBusyError, FencedWriteError) as busy:  # another worker has it now
            result.update(state=BUSY, error=f"{exc}; then: {busy}")
    _not_run(ctx, steps[told:])
    return result


def _interrupted(exc: BaseException) -> bool:
    """``exc`` (or an error it was raised from) is a tool stopped by Ctrl-C or a stop
    signal (:class:`Interrupted`; the journal wraps a step's error in a StepError)."""
    seen: BaseException | None = exc
    for _ in range(8):  # a bounded walk down the cause chain
        if seen is None:
            return False
        if isinstance(seen, Interrupted):
            return True
        seen = seen.__cause__
    return False


def _not_run(ctx: RunContext, steps: list[Step]) -> None:
    """Tell the run's listener that ``steps`` will not run (their system stopped)."""
    for step in steps:
        ctx.step_ended(step, NOT_RUN)


def _undone_to(ctx: RunContext) -> Callable[[StepRecord], None]:
    """An :func:`undo_system` listener telling the run's listener of each undone step."""
    return lambda rec: ctx.step_ended(record_step(rec, f"undo {rec.key}"), UNDONE)


def _record_verification(verified: list[dict[str, Any]], step: Step,
                         payload: Mapping[str, Any]) -> None:
    """Add what a ``convert``, ``adapt`` or ``import`` step journaled about its checks to a
    system's ``verified`` list: the convert's digests and qemu-img compare result, the
    adapted copy's digest (it replaces the copy's: that is what the target gets), then the
    target's own account (``ImportedDisk.verification``) on the same disk's entry."""
    if step.kind == "convert":
        conv = from_record(ConvertDone, payload)
        verified.append({"disk": step.key.rsplit("/", 1)[-1], "convert_key": step.key,
                         "source_digest": conv.source_digest,
                         "content_digest": conv.content_digest, "compare": conv.compare,
                         "target": "not imported"})
    elif step.kind == "launch" and payload.get("boot"):
        boot = dict(payload["boot"])
        verified.append({"disk": step.key.rsplit("/", 1)[-1], "convert_key": step.key,
                         "boot": boot})
    elif step.kind == "adapt":  # the adapted copy is what goes on: its digest and account
        for v in verified:
            rec = (payload.get("disks") or {}).get(v["disk"])
            if rec and payload.get("state") == "adapted" and "compare" in v:
                v["content_digest"] = rec.get("content_digest", v["content_digest"])
                v["compare"] = f"{v['compare']}; {payload.get('adaptation', 'adapted')}"
    elif step.kind == "import":
        convert_key = step.args_as(ImportArgs).convert_key
        disk = payload.get("disk") or {}
        for v in verified:
            if v["convert_key"] == convert_key:
                v["target"] = str(disk.get("verification") or "not verified: no record")


def verification_page(number: int, systems: list[dict[str, Any]]) -> str:
    """The markdown page of what was verified for each converted disk, as journaled."""
    lines = [f"# wave {number}: verification", "",
             "| system | disk | source content digest | copy content digest | "
             "qemu-img compare | target |", "|---|---|---|---|---|---|"]
    boots = []
    for s in systems:
        for v in s["verified"]:
            if "boot" in v:
                boots.append((_who(s), v["disk"], v["boot"]))
                continue
            lines.append(f"| {_who(s)} | {v['disk']} | `{v['source_digest']}` | "
                         f"`{v['content_digest']}` | {v['compare']} | {v['target']} |")
    if boots:
        lines += ["", "## boot proof (test launch, isolated network)", "",
                  "| system | host | hostname | host key (original) | console login | SSH | "
                  "app |", "|---|---|---|---|---|---|---|"]
        for sid, host, b in boots:
            apps = ", ".join(f"{a.get('port')}: {a.get('status', '?')}" for a in b.get("app", []))
            lines.append(f"| {sid} | {host} | {b.get('hostname')} | "
                         f"`{b.get('host_key_fingerprint')}` | {b.get('login_prompt_seconds')} s"
                         f" | {b.get('ssh_seconds')} s | {apps} |")
        for sid, host, b in boots:
            lines += ["", f"### {sid} / {host}: console", "", "```",
                      str(b.get("console_excerpt") or ""), "```"]
    return "\n".join(lines)


def _progress_artifact(number: int, system: SystemWork) -> Any:
    key = f"wave-{number}-{system.id}-progress".lower()
    safe = "".join(c if c.isalnum() or c == "-" else "-" for c in key)
    try:
        return create_progress_artifact(
            0.0, key=safe, description=f"wave {number} · {system.name} · progress "
                                       f"({system.id})")
    except Exception:  # artifacts are a view; a failure to draw one never stops a wave
        return None


@task(name="move-group", cache_policy=NO_CACHE, persist_result=False)
def move_group(journal: WaveJournal, run_id: str, wave: WaveWork, group: str,
               system_ids: list[str], steps: Mapping[str, list[Step]], ctx: RunContext,
               actions: Registry, distributed: bool = False) -> list[dict[str, Any]]:
    """Move the systems of one move group; if one fails, undo them all (they move together)
    — except a member that is cut over: its target is production, it is left alone and
    reported ``cut_over`` (roll it back by hand: ``wave rollback --fail-back``)."""
    results: list[dict[str, Any]] = []
    # more than one member: every member first goes through its steps before the freeze,
    # then each is frozen and cut over — a member refused or failing early rolls the
    # group back before any member is frozen or cut over (they move together)
    cuts = {sid: (_freeze_at(steps[sid]) if len(system_ids) > 1 else len(steps[sid]))
            for sid in system_ids}
    done: dict[str, dict[str, dict[str, Any]]] = {sid: {} for sid in system_ids}
    for phase in (0, 1):
        by_id = {r["id"]: r for r in results}
        for sid in system_ids:
            first, last = (0, cuts[sid]) if phase == 0 else (cuts[sid], None)
            if phase == 1 and (first >= len(steps[sid])
                               or by_id[sid]["state"] == CUT_OVER):
                continue  # nothing from the freeze on, or cut over before: left as it is
            system = wave.system(sid)
            try:
                with system_slots(system):
                    r = move_system(journal, run_id, wave, system, steps[sid], ctx, actions,
                                    distributed, first=first, last=last, done=done[sid])
            except StepError as exc:  # a missing limit: nothing more of this system ran
                r = {**_identity(wave, system), "state": SYSTEM_FAILED, "error": str(exc),
                     "steps": first, "of": len(steps[sid]), "verified": []}
                _not_run(ctx, list(steps[sid][first:]))
            if sid in by_id:  # its first phase's checks stay in its result
                r["verified"] = by_id[sid]["verified"] + r["verified"]
                results[results.index(by_id[sid])] = r
            else:
                results.append(r)
            if r["state"] not in FINISHED:
                break
        if any(r["state"] not in FINISHED for r in results):
            if phase == 0:  # the members that went through the first phase go no further
                for r in results:
                    if r["state"] in FINISHED:
                        _not_run(ctx, list(steps[r["id"]][cuts[r["id"]]:]))
            break
    failed = next((r for r in results if r["state"] not in FINISHED), None)
    if failed is not None:
        for r in results:
            if r["state"] in FINISHED and cut_over(journal, wave.number, r["id"]):
                r.update(state=CUT_OVER, note=LEFT_ALONE + f"; move group {group}: "
                         f"{_who(failed)} failed")
            elif r["state"] == SYSTEM_DONE:
                with system_lock(r["id"], distributed):
                    rep = undo_system(journal, run_id, wave.number, r["id"], actions,
                                      on_step=_undone_to(ctx))
                r.update(state=ROLLED_BACK if rep.ok else ROLLBACK_FAILED,
                         error=f"move group {group}: {_who(failed)} failed",
                         undo_failed=rep.failed)
        for sid in system_ids[len(results):]:
            results.append({**_identity(wave, wave.system(sid)), "state": SKIPPED,
                            "error": f"move group {group}: {_who(failed)} failed",
                            "steps": 0, "of": 0, "verified": []})
            _not_run(ctx, list(steps[sid]))
    for r in results:
        shown = (AWAITING_FINALIZE if r["state"] == SYSTEM_DONE
                 and any(st.kind == CUTOVER for st in steps[r["id"]]) else r["state"])
        system_outcome.with_options(
            task_run_name=outcome_run_name(wave.number, wave.system(r["id"]), shown),
            tags=[f"wave-{wave.number}", r["bureau"], r["id"], "outcome"],
        )(r, shown, return_state=True)
    return results


FROM_FREEZE = ("freeze", "delta", "verify", "start", "dns", "health", "cutover")
"""The cutover steps from the freeze on: a move group's members each go through every
step before them first (:func:`move_group`)."""


def _freeze_at(steps: list[Step]) -> int:
    """The index of the system's first step from the freeze on (``len(steps)``: none)."""
    return next((i for i, s in enumerate(steps) if s.kind in FROM_FREEZE), len(steps))


AWAITING_FINALIZE = "awaiting_finalize"
"""The outcome shown for a system a run moved through its ``cutover`` step: the journal's
state is ``cut_over`` (:func:`shangyun.wave.state.system_state`) until ``wave finalize``;
the run's result says ``done`` (it counts as moved)."""
OUTCOME_LABELS = {SYSTEM_DONE: "moved", CUT_OVER: "cut over (left alone)",
                  AWAITING_FINALIZE: "cut over — awaiting finalize",
                  ROLLED_BACK: "rolled back", REFUSED: "refused by the pre-check",
                  ROLLBACK_FAILED: "rollback failed", SYSTEM_FAILED: "failed", BUSY: "busy",
                  SKIPPED: "pending — not started (its move group failed)"}
"""What a person reads for each system outcome of a run (task-run names, flow-run message)."""
OUTCOME_LABELS_ZH = {SYSTEM_DONE: "已迁移", CUT_OVER: "已割接（保持不动）",
                     AWAITING_FINALIZE: "已割接，待收尾",
                     REFUSED: "预检查拒绝", BUSY: "被其他执行节点占用",
                     SKIPPED: "未执行 — 未开始（同迁移组的系统失败）"}
"""The zh words of :data:`OUTCOME_LABELS` the state catalogue does not have."""
_OUTCOME_STATES = {SYSTEM_DONE: "Moved", CUT_OVER: "CutOver",
                   AWAITING_FINALIZE: AWAITING_FINALIZE_NAME, ROLLED_BACK: "RolledBack",
                   REFUSED: "Refused", ROLLBACK_FAILED: "RollbackFailed",
                   SYSTEM_FAILED: "Failed", BUSY: "Busy", SKIPPED: "Skipped"}


def _who(r: Mapping[str, Any]) -> str:
    """How a log line or message names a system of a run's result: its name (``name (id)``
    only when another system of the wave has the same name; the id when it has none)."""
    return str(r.get("label") or r.get("name") or r["id"])


def _identity(wave: WaveWork, system: SystemWork) -> dict[str, Any]:
    """The fields naming ``system`` in a run's result: ids for machines (``id``,
    ``bureau``), names for people (``name``, ``label``, ``bureau_name``)."""
    names = {s.id: s.name for s in wave.systems}
    return {"id": system.id, "name": system.name, "label": readable(system.id, names),
            "bureau": system.bureau_id, "bureau_name": system.bureau_name or system.bureau_id,
            "move_group": system.move_group}


def lang() -> str:
    """The language of what the dashboard shows (task-run names): ``$SHANGYUN_LANG``,
    ``zh`` (the default) or ``en``."""
    return dashboard_lang(os.environ)


def system_run_name(number: int, system: SystemWork) -> str:
    """``wave-1 · 北京局 · 审批系统``: one system's work, by the names a person knows."""
    return run_name(number, system.bureau_name or system.bureau_id, system.name)


def step_run_name(number: int, system: SystemWork, step: Step) -> str:
    """A step's task-run name: the system's run name and the step's title from the
    catalogue in :func:`lang` (``wave-1 · 北京局 · 审批系统 · 预检查 审批系统``); the
    journal keeps the step's key (``s-…/precheck``) as it is."""
    language = lang()
    return f"{system_run_name(number, system)} · " + step_title(
        language, translator(language), step, system)


def outcome_run_name(number: int, system: SystemWork, state: str) -> str:
    """A system's outcome task-run name: ``wave-1 · 北京局 · 审批系统 · 结果：已回退``."""
    language = lang()
    word = "结果：" if language == "zh" else "outcome: "
    return f"{system_run_name(number, system)} · {word}{outcome_label(state, language)}"


def outcome_label(state: str, language: str = "en") -> str:
    """What a person reads for a system's outcome of a run, in ``language``."""
    if language == "zh":
        return OUTCOME_LABELS_ZH.get(state) or state_label("zh", state)
    return OUTCOME_LABELS.get(state, state)


@task(name="system-outcome", cache_policy=NO_CACHE, persist_result=False)
def system_outcome(result: dict[str, Any], shown: str | None = None) -> Any:
    """One task run per system carrying its outcome on the dashboard: Completed ("Moved",
    "AwaitingFinalize" for a system this run cut over, "CutOver" for one left alone) when
    it counts as done for the wave, else Failed named for what happened ("RolledBack",
    "Refused", "RollbackFailed", "Failed", "Busy", "Skipped"), with the error as its
    message. ``shown``: the outcome to show when it is not the result's state
    (:data:`AWAITING_FINALIZE`). The journal is the record; this is the view."""
    state = shown or result["state"]
    name = _OUTCOME_STATES.get(state, state)
    label = outcome_label(state)
    who = _who(result)
    message = f"{who}: {label}"
    if result.get("error"):
        message += f": {_unprefixed(str(result['error']), result)}"
    if result["state"] in FINISHED:
        get_run_logger().info("%s", message)
        return Completed(name=name, message=message, data=dict(result))
    get_run_logger().warning("%s", message)  # the one line: Prefect's own are filtered out
    return Failed(name=name, message=message[:2000], data=dict(result))


def _unprefixed(error: str, result: Mapping[str, Any]) -> str:
    """``error`` without a leading ``[system ]<the system>[, step <key>]: `` (the outcome
    line names the system already)."""
    for who in {_who(result), str(result.get("name") or ""), str(result["id"])}:
        if not who:
            continue
        for head in (f"system {who}, step ", f"system {who}: ", f"{who}: "):
            if error.startswith(head):
                rest = error[len(head):]
                return rest.split(": ", 1)[1] if head.endswith("step ") and ": " in rest \
                    else rest
    return error


class _OutcomeLogFilter(logging.Filter):
    """Drop Prefect's own lines about a ``system-outcome`` task run that ends Failed: an
    ERROR "Task run failed with state …" with an empty traceback (``NoneType: None``) and
    an ERROR "Finished in state Failed". The task logs one line itself (the system's name
    and what happened); a Failed state here is an outcome, not a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "task_name", None) != "system-outcome":
            return True
        text = str(record.msg)
        return not (text.startswith("Task run failed with state")
                    or text.startswith("Finished in state"))


def _install_outcome_filter() -> None:
    logger = logging.getLogger("prefect.task_runs")
    if not any(isinstance(f, _OutcomeLogFilter) for f in logger.filters):
        logger.addFilter(_OutcomeLogFilter())


_install_outcome_filter()


class _ProgressLog:
    """Log each step's progress (convert, upload, adapt, boot proof) at every quarter, once
    per step; pass every report on to ``also`` (the CLI's and the demo's progress bars)."""

    def __init__(self, also: Progress | None = None) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._also = also

    def __call__(self, step: Step, pct: float) -> None:
        if self._also is not None:
            with contextlib.suppress(Exception):  # a view must never fail the wave
                self._also(step, pct)
        quarter = min(4, int(pct // 25))
        with self._lock:
            if quarter <= self._seen.get(step.key, 0):
                return
            self._seen[step.key] = quarter
        try:
            logger: Any = get_run_logger()
        except Exception:  # called outside a run context (a worker thread)
            logger = logging.getLogger("shangyun.wave")
        logger.info("%s: %d%%", step.key, quarter * 25)


@flow(name="run_wave", flow_run_name="wave-{number}",
      task_runner=ThreadPoolTaskRunner(max_workers=GLOBAL_SLOTS), persist_result=False)
def run_wave(estate_dir: str, number: int, only: str | None = None,
             options: dict[str, Any] | None = None, resume: bool = False,
             bureau: str | None = None, distributed: bool = False,
             dry_run: bool = False, targets: TargetFactories | None = None,
             on_step: StepListener | None = None,
             on_progress: Progress | None = None, where: str = "") -> dict[str, Any]:
    """Run wave ``number`` of the estate's plan (``resume``: take over its latest unfinished
    run with that run's options); steps already done and still valid are skipped.

    ``bureau``: move only that bureau's share of the wave (:mod:`shangyun.wave.partition`),
    as a bureau worker does. ``distributed``: the journal must be on PostgreSQL, the
    concurrency limits must already exist (strict), and each system's steps run under its
    Redis lock. ``dry_run``: a rehearsal through Prefect — every step is a task run, slots
    and locks are taken, nothing is touched and nothing is journaled. ``targets``: target
    factories by kind (the built-in ones otherwise); ``on_step``: told as each step ends
    (the CLI's progress bar); ``on_progress``: told (step, percent) while a long step runs
    (convert, upload, adapt, the boot proof: the CLI's and the demo's bars); ``where``:
    `` --estate DIR`` ending the commands its refusals and errors print, when the command
    that started it was given one. None is
    journaled: a resume or rollback in another process
    uses the built-in targets.

    Returns ``{"wave", "run_id", "state", "systems": [...]}``; ``state`` is ``done`` when
    every system is (the flow run ends Completed, named and worded after the wave's one
    state: ``AwaitingFinalize`` while it is cut over, :mod:`shangyun.wave.dashboard`), else
    ``failed``: then the flow run ends
    Failed with that result as its data and a message naming each system not done (call
    :func:`flows.move.move_wave`, or :func:`wave_result` on the returned state, to get
    the result).
    Each system's outcome is a task run of its own (``system-outcome``: Completed "Moved",
    "AwaitingFinalize", Failed "RolledBack", "Refused", …).
    """
    if distributed:
        check_distributed(journal=not dry_run)
    if dry_run:
        return _rehearse(estate_dir, number, only, options, bureau, distributed)
    with open_journal(estate_dir) as journal:
        journal.reconcile()
        if resume:
            last = resumable_run(journal, estate_dir, number, bureau)
            only, options = last.get("only"), last.get("options") or {}
        wave = _share(load_wave(estate_dir, number, only=only), bureau)
        refuse_mid_failback(journal, number, {s.id: s.name for s in wave.systems}, where)
        refuse_held_elsewhere(journal, wave, where)
        opts, steps = _run_steps(wave, options, distributed)
        ctx = RunContext(opts, progress=_ProgressLog(on_progress), targets=targets or {},
                         on_step=on_step, names={s.id: s.name for s in wave.systems},
                         where=where)
        try:
            if resume:
                # a rollback, fail-back or finalize of the wave may be live: never alongside
                journal.ensure_idle(number, bureau=bureau)
                run_id = journal.resume_run(last["id"],  # type: ignore[index]
                                            flow_run_id=_flow_run_id())
            else:
                journal.ensure_idle(number, bureau=bureau)
                # the wave's membership as planned now (every system, whatever --only or
                # the bureau): wave finalize judges it should plan/ be gone by then
                planned = [s.id for s in (load_wave(estate_dir, number).systems
                                          if only or bureau else wave.systems)]
                run_id = journal.begin_run(number, {"options": opts.to_dict(), "only": only,
                                                    "bureau": bureau, "planned": planned,
                                                    "flow_run_id": _flow_run_id()},
                                           exclusive=True)  # two racing runs: one refused
        except ShangyunError as busy:  # refused, nothing begun: the flow run fails with it
            ctx.close()                # as its message (no traceback); move_wave raises it
            return Failed(message=str(busy), data=busy)  # type: ignore[return-value]
        ctx.bind(journal, run_id, number)
        actions = actions_for(ctx)
        state, systems = WAVE_FAILED, []
        try:
            with journal.keepalive(run_id, HEARTBEAT_SECONDS):
                _limits(wave, distributed, journal, run_id)
                futures = [move_group.with_options(
                    task_run_name=_group_name(wave, gid, sids),
                    tags=[f"wave-{number}", *sorted({wave.system(s).bureau_id for s in sids})],
                ).submit(journal, run_id, wave, gid, sids, {s: steps[s] for s in sids}, ctx,
                          actions, distributed)
                    for gid, sids in wave.move_groups.items()]
                systems = [r for f in futures for r in f.result()]
            state = run_state({s["id"]: s["state"] for s in systems})
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C, a stop signal: said as such
                state = RUN_INTERRUPTED
            raise
        finally:
            journal.finish_run(run_id, state)
            ctx.close()
        now = wave_status(journal, number, [s.id for s in load_wave(estate_dir, number).systems])
    _artifacts(number, systems, bureau, {s["id"]: s["state"] for s in now["systems"]})
    journaled = {s["id"]: s["state"] for s in now["systems"]}
    for s in systems:  # the journal's state of each system after the run (the wave's words)
        s["journal_state"] = journaled.get(s["id"], PENDING)
    counts = state_counts({**dict.fromkeys(now["pending"], PENDING), **journaled})
    result = {"wave": number, "run_id": run_id, "state": state, "bureau": bureau,
              "wave_state": now["state"], "counts": counts, "summary": counts_words(counts),
              "systems": systems}
    if state != WAVE_DONE:
        # the flow run is Failed on the dashboard when a system of it is not done, its
        # message naming each one and its outcome (:func:`wave_result` gives callers the
        # result either way)
        return Failed(message=failed_message(result), data=result)  # type: ignore[return-value]
    # Completed in the words of the wave's one state: a wave cut over is not finished
    # ("AwaitingFinalize": the source kept for fail-back until 'wave finalize')
    name, message = flow_run_state(number, now["state"], lang())
    return Completed(name=name, message=message, data=result)  # type: ignore[return-value]


def resumable_run(journal: WaveJournal, estate_dir: str, number: int,
                  bureau: str | None) -> dict[str, Any]:
    """The run ``wave resume`` takes over: the latest ``run``-kind run of the wave (of
    ``bureau``'s scope), with its params; :class:`StepError` when there is none or it is
    done (nothing to resume)."""
    last = journal.last_run(number, bureau=bureau)
    if last is None:
        scope = f" for bureau {bureau}" if bureau else " as a whole"
        hint = ("; it was run distributed: use 'wave resume --distributed'"
                if not bureau and journal.last_run(number) else "; use 'wave run'")
        raise StepError(f"wave {number} has never run{scope} in {estate_dir}{hint}")
    if last["status"] == "done":
        raise StepError(f"wave {number}: its last run {last['id']} is done; "
                        "nothing to resume")
    return last


def refuse_held_elsewhere(journal: WaveJournal, wave: WaveWork, where: str = "") -> None:
    """Refuse (:class:`StepError`, nothing run) a run of ``wave`` with a system the run
    may not move (:func:`run_refusal`): one the estate marks classified (涉密) — a re-plan
    keeps a system that ran in its wave, whatever the ledger says now — or one another
    wave of the journal still holds (a re-plan moved a system that was cut over, failed
    back or left unfinished in its first wave), naming each one and the command that
    frees it (ending with ``where``, `` --estate DIR``, when the command was given one)."""
    estate = Estate.load(wave.estate_dir, check=False)
    names, secret = names_of(estate, "system"), classified_ids(estate)
    held = [(s, why) for s in wave.systems
            if (why := run_refusal(journal, wave.number, s.id, names, secret, where))
            is not None]
    if held:
        raise StepError(f"wave {wave.number}: " + "; ".join(
            f"{_who({'id': s.id, 'name': s.name})} is {why}" for s, why in held)
            + "; nothing was run")


def failed_message(result: Mapping[str, Any]) -> str:
    """The message of a run's Failed state: which systems are not done, and what each is."""
    bureau = result.get("bureau")
    if bureau:
        bureau = next((r.get("bureau_name") for r in result["systems"]
                       if r.get("bureau") == bureau and r.get("bureau_name")), bureau)
    scope = f"wave {result['wave']}" + (f" · {bureau}" if bureau else "")
    bad = [r for r in result["systems"] if r["state"] not in FINISHED]
    listed = "; ".join(f"{_who(r)}: {outcome_label(r['state'])}"
                       for r in bad[:10])
    more = f"; … {len(bad) - 10} more" if len(bad) > 10 else ""
    return (f"{scope}: {len(bad)} of {counted(len(result['systems']), 'system')} not done — "
            f"{listed}{more}")


def wave_result(state: State) -> dict[str, Any]:
    """The result of a ``run_wave`` flow run from its final state (``return_state=True``):
    a done run's Completed state and a not-done run's Failed state both carry it; a run
    that failed with an exception (before or outside the systems) raises it."""
    data = state.result(raise_on_failure=False)
    if isinstance(data, BaseException):
        raise data
    if not isinstance(data, dict) or "systems" not in data:
        state.result()  # raises why the run failed
        raise StepError(f"run_wave ended {state.name} without a result: {state.message}")
    return data


def preflight(estate_dir: str, number: int, *, only: str | None = None,
              resume: bool = False, bureau: str | None = None, where: str = "") -> None:
    """The refusals ``run_wave`` makes before it starts (it makes them again, atomically
    with beginning its run): another run, rollback, fail-back or finalize of the wave
    live; a system in the middle of a fail-back; a system another wave holds. Nothing is
    written; an estate without a journal has nothing to refuse. ``where``: `` --estate
    DIR`` for the commands the refusals print, when the command was given one."""
    if not os.environ.get("SHANGYUN_JOURNAL") and not (Path(estate_dir) / "journal.db").exists():
        if resume:
            raise StepError(f"wave {number} has never run in {estate_dir} (no journal yet); "
                            "use 'wave run'")
        return
    with contextlib.ExitStack() as stack:
        try:
            journal = stack.enter_context(open_journal(estate_dir, create=False))
        except NoJournal:  # $SHANGYUN_JOURNAL: a database no run has written to yet
            return
        journal.ensure_idle(number, bureau=bureau)
        if resume:  # nothing to resume: said here, before Prefect starts
            only = resumable_run(journal, estate_dir, number, bureau).get("only")
        wave = _share(load_wave(estate_dir, number, only=only), bureau)
        refuse_mid_failback(journal, number, {s.id: s.name for s in wave.systems}, where)
        refuse_held_elsewhere(journal, wave, where)


def _share(wave: WaveWork, bureau: str | None) -> WaveWork:
    return bureau_share(wave, bureau) if bureau else wave


def _run_steps(wave: WaveWork, options: dict[str, Any] | None,
               distributed: bool) -> tuple[RunOptions, dict[str, list[Step]]]:
    """The run's options and its steps per system, from the one builder (the dry run's
    list; ``plan/cutover.yaml`` read once): the run and its rehearsal both call this."""
    opts = _worker_options(RunOptions(**(options or {})), distributed)
    return opts, wave_steps(wave, opts)


def _worker_options(opts: RunOptions, distributed: bool) -> RunOptions:
    """A worker may keep converted images on its own disk ($SHANGYUN_STAGING)."""
    staging = os.environ.get("SHANGYUN_STAGING")
    return replace(opts, staging_dir=staging) if distributed and staging else opts


def _flow_run_id() -> str | None:
    fid = flow_run.id
    return str(fid) if fid else None


def _limits(wave: WaveWork, distributed: bool, journal: WaveJournal | None = None,
            run_id: str | None = None) -> None:
    """Locally the flow creates its limits; a worker only checks that the submitter did.

    Locally, with ``journal`` and no other live run of any wave in it (only ``run_id``),
    the slots a killed run left taken are given back (:func:`free_orphaned_slots`,
    logged and audited): nothing else can hold them."""
    if distributed:
        check_limits(wave_limits(wave))
        return
    limits = ensure_limits(wave)
    if journal is None or set(journal.live_runs()) - {run_id}:
        return
    freed = free_orphaned_slots(limits)
    if freed:
        get_run_logger().warning(
            "concurrency slots left taken by a killed run given back: %s",
            ", ".join(f"{name} ({n})" for name, n in sorted(freed.items())))
        journal.audit("wave.slots.freed", None, "ok", {"wave": wave.number, "freed": freed})


@task(name="rehearse-step", cache_policy=NO_CACHE, persist_result=False)
def rehearse_step(step: Step) -> dict[str, Any]:
    """A dry-run step: what would be done, recorded as a task run; touches nothing."""
    return step.to_dict()


@task(name="rehearse-group", cache_policy=NO_CACHE, persist_result=False)
def rehearse_group(wave: WaveWork, system_ids: list[str], steps: dict[str, list[Step]],
                   distributed: bool) -> list[dict[str, Any]]:
    """Rehearse one move group: the same slots and system locks as a run, no-op steps."""
    out = []
    for sid in system_ids:
        system = wave.system(sid)
        result = {**_identity(wave, system), "state": "rehearsed",
                  "steps": 0, "of": len(steps[sid]), "verified": []}
        try:
            with system_slots(system), system_lock(sid, distributed):
                for st in steps[sid]:
                    rehearse_step.with_options(
                        task_run_name=f"{step_run_name(wave.number, system, st)}"
                                      + (" （演练）" if lang() == "zh" else " (dry run)"))(st)
                    result["steps"] += 1
        except (StepError, SystemBusyError) as exc:
            result.update(state="failed", error=str(exc))
        out.append(result)
    return out


def _rehearse(estate_dir: str, number: int, only: str | None,
              options: dict[str, Any] | None, bureau: str | None,
              distributed: bool) -> dict[str, Any]:
    wave = _share(load_wave(estate_dir, number, only=only), bureau)
    _, steps = _run_steps(wave, options, distributed)
    _limits(wave, distributed)
    futures = [rehearse_group.with_options(task_run_name=_group_name(wave, gid, sids))
               .submit(wave, sids, steps, distributed)
               for gid, sids in wave.move_groups.items()]
    systems = [r for f in futures for r in f.result()]
    failed = [s for s in systems if s["state"] != "rehearsed"]
    if failed:  # the flow run fails, so the dashboard and the follower both see it
        raise StepError(f"wave {number} dry run: {counted(len(failed), 'system')} could not be "
                        "rehearsed: " + "; ".join(f"{_who(s)}: {s.get('error', '')}"
                                                  for s in failed[:5]))
    return {"wave": number, "run_id": None, "state": "done", "bureau": bureau,
            "dry_run": True, "systems": systems}


@flow(name="rollback_wave", flow_run_name="wave-{number}-rollback", persist_result=False)
def rollback_wave(estate_dir: str, number: int, bureau: str | None = None,
                  system: str | None = None, distributed: bool = False) -> dict[str, Any]:
    """Undo wave ``number`` (one bureau's share, or one system) from the journal alone,
    newest step first; in distributed mode each system under its Redis lock."""
    if distributed:
        check_distributed()
    systems = None
    if bureau:
        systems = [s.id for s in _share(load_wave(estate_dir, number), bureau).systems]
    reports = rollback(estate_dir, number, system, systems=systems, bureau=bureau,
                       lock=(lambda sid: system_lock(sid, distributed)))
    log = get_run_logger()
    for r in reports:  # the worker's log says why, not only the journal
        if r.ok:
            log.info("system %s: rolled back (%d step(s) undone)", r.system_id,
                     len(r.undone))
        for key, err in r.failed.items():
            log.error("system %s: undo of %s failed: %s", r.system_id, key, err)
    out = [{"system": r.system_id, "undone": r.undone, "failed": r.failed} for r in reports]
    return {"wave": number, "bureau": bureau, "ok": all(r.ok for r in reports),
            "systems": out}


def _group_name(wave: WaveWork, gid: str, sids: list[str]) -> str:
    first = wave.system(sids[0])
    more = f" +{len(sids) - 1}" if len(sids) > 1 else ""
    return system_run_name(wave.number, first) + more


def _artifacts(number: int, systems: list[dict[str, Any]], bureau: str | None = None,
               recorded: Mapping[str, str] | None = None) -> None:
    """The wave's table of systems and a markdown page of verification results; a system's
    state in the words of its journal state (``recorded``: id →
    :func:`shangyun.wave.state.system_state`; cut over — awaiting finalize, not done)."""
    language, recorded = lang(), recorded or {}
    suffix = f"-{bureau}".lower() if bureau else ""
    suffix = "".join(c if c.isalnum() or c == "-" else "-" for c in suffix)
    create_table_artifact(
        key=f"wave-{number}-systems{suffix}",
        table=[{"system": s["name"] or s["id"], "bureau": s.get("bureau_name") or s["bureau"],
                "move group": s["move_group"],
                "state": system_words(s["state"], language,
                                      cut_over=recorded.get(s["id"]) == CUT_OVER),
                "steps": f"{s['steps']}/{s['of']}", "error": s.get("error", ""),
                "id": s["id"]}
               for s in systems],
        description=f"wave {number}: per-system progress")
    create_markdown_artifact(verification_page(number, systems),
                             key=f"wave-{number}-verification{suffix}",
                             description=f"wave {number}: what was verified")
