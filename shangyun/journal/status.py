"""The statuses of runs and steps, and the kinds of runs: defined here once.

A step of a system in a run goes ``started`` → ``done`` (or ``failed``), and a rollback
takes it ``undoing`` → ``undone`` (or ``undo_failed``). A run is ``running`` until it ends
``done``, ``failed`` or ``aborted``, or a dead orchestrator's run is found ``crashed``.
"""

from __future__ import annotations

from typing import Final

STARTED: Final = "started"
DONE: Final = "done"
FAILED: Final = "failed"
UNDOING: Final = "undoing"
UNDONE: Final = "undone"
UNDO_FAILED: Final = "undo_failed"
STEP_STATUSES: Final = (STARTED, DONE, FAILED, UNDOING, UNDONE, UNDO_FAILED)
"""Every status a step record can have."""
NEEDS_UNDO: Final = (STARTED, DONE, FAILED, UNDOING, UNDO_FAILED)
"""Statuses of a step that may have left something behind, so a rollback must undo it."""
UNDO_TIMING: Final = "undo_timing"
"""The key of an undone step's result that holds when its undo began and ended (ISO times):
the step's own ``ended_at`` stays the step's, so its duration is the step's, not the undo's."""
UNDO_BY: Final = "by"
"""The key, in an undone step's ``UNDO_TIMING``, of the run that undid it: ``{"run": id,
"kind": kind}`` — a ``rollback`` run is the operator's ``wave rollback`` command, a ``run``
is the automatic rollback of a failing run."""

RUN_RUNNING: Final = "running"
RUN_DONE: Final = "done"
RUN_FAILED: Final = "failed"
RUN_CRASHED: Final = "crashed"
RUN_ABORTED: Final = "aborted"
RUN_STATUSES: Final = (RUN_RUNNING, RUN_DONE, RUN_FAILED, RUN_CRASHED, RUN_ABORTED)
"""Every status a run can have."""
RUN_INTERRUPTED: Final = "interrupted"
"""The reason of a run ended ``failed`` because its process was interrupted (Ctrl-C, a
stop signal): a step of it that tries to go on after is told so, not "not running"."""

RUN_KINDS: Final = ("run", "rollback", "finalize", "failback")
ROLLBACK_KIND: Final = "rollback"
"""The kind of the operator's ``wave rollback`` command's run."""
FINALIZE_KIND: Final = "finalize"
"""The kind of ``wave finalize``'s run."""
FAILBACK_KIND: Final = "failback"
"""The kind of ``wave rollback --fail-back``'s run."""
"""What a journaled run did: moved systems (``run``, the only kind ``wave resume`` takes up),
undid them (``rollback``), closed the wave (``finalize``), or carried cut-over systems
back to their sources with their production writes (``failback``)."""


__all__ = ["DONE", "FAILBACK_KIND", "FAILED", "FINALIZE_KIND", "NEEDS_UNDO", "ROLLBACK_KIND",
           "RUN_ABORTED", "RUN_CRASHED", "RUN_DONE", "RUN_FAILED", "RUN_KINDS", "RUN_RUNNING",
           "RUN_STATUSES", "STARTED", "STEP_STATUSES", "UNDOING", "UNDONE", "UNDO_BY",
           "UNDO_FAILED", "UNDO_TIMING"]
