"""Step kind -> the action that does, checks and undoes it."""

from __future__ import annotations

import threading

from actions.context import CutoverContext, RunContext
from actions.cutover import DnsAction, FreezeAction, HealthAction, MarkAction, StartAction
from actions.data import CopyAction, DeltaAction, VerifyAction
from actions.images import ConvertAction, ImportAction, LaunchAction, PrecheckAction, UploadAction
from shangyun.wave.engine import StepAction


def actions_for(ctx: RunContext) -> dict[str, StepAction]:
    """Step kind -> its action, sharing ``ctx``."""
    return {"precheck": PrecheckAction(ctx), "convert": ConvertAction(ctx),
            "upload": UploadAction(ctx), "import": ImportAction(ctx),
            "launch": LaunchAction(ctx), **cutover_actions_for(ctx)}


def cutover_actions(cctx: CutoverContext) -> dict[str, StepAction]:
    """Step kind -> action for the cutover kinds."""
    return {"copy": CopyAction(cctx), "freeze": FreezeAction(cctx), "delta": DeltaAction(cctx),
            "verify": VerifyAction(cctx), "start": StartAction(cctx), "dns": DnsAction(cctx),
            "health": HealthAction(cctx), "cutover": MarkAction(cctx)}


def all_actions(cctx: CutoverContext) -> dict[str, StepAction]:
    """Part 1's actions and the cutover actions, for undoing a whole system."""
    return {**actions_for(cctx.run), **cutover_actions(cctx)}


_CONTEXTS: dict[int, CutoverContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def cutover_actions_for(run: RunContext) -> dict[str, StepAction]:
    """The cutover actions sharing one :class:`CutoverContext` per run context (so a freeze
    and its undo in one process use the same hypervisor connection)."""
    with _CONTEXTS_LOCK:
        cctx = _CONTEXTS.get(id(run))
        if cctx is None or cctx.run is not run:
            cctx = _CONTEXTS[id(run)] = CutoverContext(run)
    return cutover_actions(cctx)


def close_cutover_context(run: RunContext) -> None:
    """Close and forget the :class:`CutoverContext` of ``run`` (its source-hypervisor
    connections); nothing when the run never used one. :meth:`RunContext.close` calls it."""
    with _CONTEXTS_LOCK:
        cctx = _CONTEXTS.get(id(run))
        if cctx is None or cctx.run is not run:
            return
        del _CONTEXTS[id(run)]
    cctx.close()
