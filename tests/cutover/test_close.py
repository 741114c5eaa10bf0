"""A run's context closes the cutover's source-hypervisor connections when it closes."""

from __future__ import annotations

import libvirt
import pytest

from actions import registry as cutover_actions
from actions.context import RunContext
from actions.registry import actions_for
from shangyun.wave.steps import RunOptions


def test_run_context_close_closes_source_hypervisors() -> None:
    run = RunContext(RunOptions())
    actions = actions_for(run)  # part 1's and the cutover's actions, one CutoverContext
    assert "freeze" in actions
    cctx = cutover_actions._CONTEXTS[id(run)]
    conn = cctx.hypervisor("test:///default")
    assert conn.isAlive() == 1
    assert cctx.hypervisor("test:///default") is conn  # one connection per URI and run
    run.close()
    assert id(run) not in cutover_actions._CONTEXTS
    with pytest.raises(libvirt.libvirtError):
        conn.isAlive()  # really closed
    run.close()  # safe twice
    other = RunContext(RunOptions())
    other.close()  # a run that never used the cutover actions
    assert id(other) not in cutover_actions._CONTEXTS
