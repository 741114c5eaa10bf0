"""What the journal says happened in a wave: runs, every step's latest record, rollbacks.

Read-only: the caller (the CLI: ``connectors.journal.history.open_reader``) passes a
:class:`shangyun.journal.JournalReader` opened with ``create=False``, and nothing is written
(no ``reconcile``), so a runbook can be rendered while a wave runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shangyun.journal.ports import JournalReader
from shangyun.journal.records import StepEntry
from shangyun.journal.status import (
    DONE,
    FAILED,
    UNDO_FAILED,
    UNDO_TIMING,
    UNDOING,
    UNDONE,
)
from shangyun.wave.estimate import human_duration
from shangyun.wave.state import (
    is_finalized,
    run_outcome,
    step_kind,
    system_state,
    undone_by,
    unfinished,
)

VERIFY_KEYS = ("content_digest", "file_digest", "digest", "rows", "row_count", "row_counts",
               "checksum", "compare", "verified", "state", "adaptation")
"""Result keys that are verification evidence (digests, row counts, comparisons)."""


def _verification(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: result[k] for k in VERIFY_KEYS if k in result and result[k] not in (None, "")}
    for nested in ("disk", "instance"):
        if isinstance(result.get(nested), dict):
            for k in VERIFY_KEYS:
                if k in result[nested]:
                    out[f"{nested}.{k}"] = result[nested][k]
    out.update(boot_evidence(result.get("boot")))
    out.update(cutover_evidence(result))
    return out


def cutover_evidence(result: dict[str, Any]) -> dict[str, Any]:
    """A production start (the instances started, on which network) and the health checks
    (each check, passed or not, after how many attempts), flattened for the runbook."""
    out: dict[str, Any] = {}
    started = result.get("started")
    if isinstance(started, dict) and started.get("instances"):
        out["start.instances"] = ", ".join(str(i.get("name", "?"))
                                           for i in started["instances"]
                                           if isinstance(i, dict))
        network = (started.get("target_options") or {}).get("production_network")
        if network:
            out["start.network"] = network
    checks = [c for c in result.get("health") or [] if isinstance(c, dict)]
    if checks:
        out["health"] = "; ".join(
            f"{c.get('check', '?')}: {'ok' if c.get('ok') else 'FAILED'} after "
            f"{c.get('attempts', '?')} attempt(s), {c.get('seconds', '?')} s"
            + ("" if c.get("ok") else f" ({c.get('detail', '')})") for c in checks)
    return out


def boot_evidence(boot: object) -> dict[str, Any]:
    """A test launch's boot proof, flattened for the runbook (console: its last lines)."""
    if not isinstance(boot, dict) or not boot:
        return {}
    out: dict[str, Any] = {}
    if boot.get("failed"):
        out["boot.failed"] = boot["failed"]
    for key, label in (("hostname", "boot.hostname"),
                       ("host_key_fingerprint", "boot.host_key"),
                       ("login_prompt_seconds", "boot.login_prompt_s"),
                       ("ssh_seconds", "boot.ssh_s"), ("via", "boot.via")):
        if boot.get(key) not in (None, ""):
            out[label] = boot[key]
    apps = boot.get("app") or []
    if apps:
        out["boot.app"] = ", ".join(f"{a.get('port')}: {a.get('status', a.get('error', '?'))}"
                                    for a in apps)
    console = str(boot.get("console_excerpt") or "").splitlines()
    if console:
        out["boot.console"] = " ⏎ ".join(console[-3:])
    return out


def _undo_timing(timing: Any) -> tuple[float | None, float | None]:
    """When an undo began (a timestamp) and how long it took, from a step's journaled
    :data:`shangyun.journal.status.UNDO_TIMING` (None, None: not recorded)."""
    if not isinstance(timing, dict) or not timing.get("started"):
        return None, None
    def utc(text: Any) -> dt.datetime:  # the journal writes naive UTC
        t = dt.datetime.fromisoformat(str(text))
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)

    try:
        start = utc(timing["started"])
        end = utc(timing["ended"]) if timing.get("ended") else None
    except ValueError:
        return None, None
    return start.timestamp(), (end - start).total_seconds() if end else None


def guest_edits(result: dict[str, Any]) -> list[dict[str, str]]:
    """The edits an ``adapt`` step made inside a guest, one row per file: path, why, and
    its SHA-256 before and after (empty for other steps)."""
    rows = []
    for e in result.get("edits") or []:
        if not isinstance(e, dict):
            continue
        for f in e.get("files") or []:
            rows.append({"path": str(f.get("path", "")), "why": str(e.get("why", "")),
                         "before": str(f.get("before", "")), "after": str(f.get("after", ""))})
    return rows


RUN_COMMANDS = {"run": "wave run", "rollback": "wave rollback",
                "failback": "wave rollback --fail-back", "finalize": "wave finalize"}
"""The command that makes a run of each kind, as the runs table names it."""


def _reason(reason: str | None, status: str, shown: str) -> str:
    """A run's reason as the runs table shows it: empty when it only repeats the status
    (the journal notes the state a run ended in: ``done``, ``failed``, ``rolled_back``)."""
    return "" if not reason or reason in (status, shown) else reason


def wave_history(journal: JournalReader | None, number: int) -> dict[str, Any]:
    """Runs and per-system step history of wave ``number`` (empty when it never ran, or
    when there is no journal: ``journal`` None)."""
    if journal is None:
        return {"runs": [], "systems": {}}
    runs = journal.runs(wave=number)
    entries = journal.wave_steps(number)
    run_rows = []
    for r in runs:
        secs = (r.ended_at - r.started_at).total_seconds() if r.ended_at else None
        shown = run_outcome(r.kind, r.status, r.reason)
        run_rows.append({"id": r.id, "status": shown,
                         "operator": r.operator,
                         "host": r.host, "started": r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                         "ended": r.ended_at.strftime("%Y-%m-%d %H:%M:%S") if r.ended_at
                         else "", "seconds": secs, "duration": human_duration(secs),
                         "reason": _reason(r.reason, r.status, shown),
                         "resumes": r.resumes, "kind": r.kind, "bureau": r.bureau,
                         "command": RUN_COMMANDS.get(r.kind, r.kind)})
    latest: dict[tuple[str, str], StepEntry] = {}
    for e in entries:
        latest[(e.system, e.step)] = e
    systems: dict[str, dict[str, Any]] = {}
    recorded: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for (sid, key), e in latest.items():
        recorded.setdefault(sid, []).append((key, e.status, e.result or {}))
        result = dict(e.result or {})
        undo_result = result.pop("undo", None)
        by = undone_by(result)
        undo_start, undo_secs = _undo_timing(result.pop(UNDO_TIMING, None))
        rec = {"key": key, "kind": step_kind(key, {**(e.undo or {}), **(e.result or {})}),
               "status": e.status, "attempt": e.attempt, "run_id": e.run_id,
               "seconds": e.seconds, "duration": human_duration(e.seconds),
               "started_ts": e.started_at.timestamp() if e.started_at else None,
               "error": e.error or "", "verification": _verification(result),
               "undone": e.status in (UNDONE, UNDO_FAILED, UNDOING), "undone_by": by,
               "undo_result": undo_result, "undo_started_ts": undo_start,
               "undo_seconds": undo_secs, "guest_edits": guest_edits(result)}
        systems.setdefault(sid, {"steps": []})["steps"].append(rec)
    finalized = is_finalized(run_rows)
    for sid, s in systems.items():
        s["state"] = system_state(((st["kind"], st["status"], st["error"], st["undone_by"])
                                   for st in s["steps"]), finalized=finalized,
                                  stopped=unfinished(recorded[sid]))
        s["seconds"] = sum(st["seconds"] or 0.0 for st in s["steps"])
        s["duration"] = human_duration(s["seconds"])
        s["failures"] = [st for st in s["steps"] if st["error"]]
        s["rolled_back"] = [st for st in s["steps"] if st["undone"]]
        s["earlier_failures"] = []
    for sid, failure in _earlier_failures(journal, runs, entries, latest):
        systems[sid]["earlier_failures"].append(failure)
    return {"runs": run_rows, "systems": systems}


def _earlier_failures(journal: JournalReader, runs: list[Any], entries: list[StepEntry],
                      latest: dict[tuple[str, str], StepEntry]) -> list[tuple[str, dict[str, Any]]]:
    """``(system, {key, error, attempt, run_id})`` of each failure of a step that was done
    again since — its latest record is done, but the journal keeps the failure, and so
    does the runbook: in an earlier run's record (failed, or undone by its rollback), or,
    when the same run was resumed (its record is reused by the next attempt), in the audit
    log's ``step`` entry of the failed attempt."""
    out: dict[tuple[str, str, str, int], str] = {}
    for e in entries:
        now = latest[(e.system, e.step)]
        if e.error and e.status != DONE and now is not e and not now.error:
            out[(e.system, e.step, e.run_id, e.attempt)] = e.error
    for r in runs:
        if not r.resumes:
            continue
        for a in journal.audit_entries(run=r.id):
            key = a.action.removeprefix("step ")
            details = a.details if isinstance(a.details, dict) else {}
            now = latest.get((a.system or "", key))
            attempt = int(details.get("attempt") or 0)
            if (a.action.startswith("step ") and a.result == FAILED and details.get("error")
                    and now is not None and not now.error and now.status == DONE
                    and (now.run_id != r.id or now.attempt > attempt)):
                out.setdefault((now.system, key, r.id, attempt), str(details["error"]))
    return [(sid, {"key": key, "error": error, "attempt": attempt, "run_id": run_id})
            for (sid, key, run_id, attempt), error in out.items()]


__all__ = ["RUN_COMMANDS", "VERIFY_KEYS", "guest_edits", "wave_history"]
