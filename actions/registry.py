"""Step kind -> the action that does, checks and undoes it.

:func:`actions_for` builds the registry for one run context; whoever runs or undoes steps
(the wave flow, ``wave rollback``, a test) builds it and passes it in. Add a step kind by
writing its action (:class:`shangyun.wave.engine.StepAction`) in the family's module and
adding it here.
"""

from __future__ import annotations

from actions.adapt import AdaptAction
from actions.context import RunContext
from actions.cutover import DnsAction, FreezeAction, HealthAction, MarkAction, StartAction
from actions.data import CopyAction, DeltaAction, VerifyAction
from actions.failback import (
    FailbackDeltaAction,
    FailbackFreezeAction,
    FailbackMarkAction,
    FailbackVerifyAction,
)
from actions.images import ConvertAction, ImportAction, LaunchAction, PrecheckAction, UploadAction
from shangyun.wave.engine import StepAction

Registry = dict[str, StepAction]
"""Step kind -> its action."""


def actions_for(ctx: RunContext) -> Registry:
    """Every step kind's action (part 1: images; part 2: data, cutover and fail-back),
    sharing ``ctx``
    (so a freeze and its undo in one process use the same hypervisor session)."""
    return {"precheck": PrecheckAction(ctx), "convert": ConvertAction(ctx),
            "adapt": AdaptAction(ctx), "upload": UploadAction(ctx), "import": ImportAction(ctx),
            "launch": LaunchAction(ctx), "copy": CopyAction(ctx), "freeze": FreezeAction(ctx),
            "delta": DeltaAction(ctx), "verify": VerifyAction(ctx), "start": StartAction(ctx),
            "dns": DnsAction(ctx), "health": HealthAction(ctx), "cutover": MarkAction(ctx),
            "failback-freeze": FailbackFreezeAction(ctx),
            "failback-delta": FailbackDeltaAction(ctx),
            "failback-verify": FailbackVerifyAction(ctx), "failback": FailbackMarkAction(ctx)}
