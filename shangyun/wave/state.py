"""One system state, computed in one place from the journal's step records: ``wave status``,
the runbook, ``status`` and the report all call :func:`system_state`.

States: ``pending`` (nothing recorded), ``done`` (every step done), ``refused`` (the
pre-check refused the system and nothing else ran or stayed done: untouched, not "rolled
back"), ``rolled_back`` (every step undone), ``rollback_failed`` (an undo failed),
``failed`` (a step failed), ``partial`` (steps started or done, the run not finished),
``failed_back`` (``wave rollback --fail-back`` carried it home: its ``failback`` mark is
done and its ``cutover`` is not). A fail-back's other steps (``failback-…``) do not
change the state: a refused fail-back leaves a cut-over system ``done``.
"""

from __future__ import annotations

from collections.abc import Iterable

PRECHECK = "precheck"
FAILBACK = "failback"


def system_state(steps: Iterable[tuple[str, str]]) -> str:
    """A system's state from ``(kind, status)`` of each of its steps' latest record."""
    steps = list(steps)
    if (FAILBACK, "done") in steps and ("cutover", "done") not in steps:
        return "failed_back"
    steps = [(k, s) for k, s in steps if not k.startswith(FAILBACK)]
    statuses = {status for _, status in steps}
    if not statuses:
        return "pending"
    if "undo_failed" in statuses:
        return "rollback_failed"
    if statuses == {"done"}:
        return "done"
    failed_kinds = {kind for kind, status in steps if status == "failed"}
    others = {status for kind, status in steps if kind != PRECHECK}
    if failed_kinds == {PRECHECK} and others <= {"undone"}:
        return "refused"
    if statuses == {"undone"}:
        return "rolled_back"
    if "failed" in statuses:
        return "failed"
    return "partial"


__all__ = ["FAILBACK", "PRECHECK", "system_state"]
