"""A run's context closes the cutover's source-hypervisor sessions when it closes."""

from __future__ import annotations

import pytest

from actions.context import RunContext
from actions.registry import actions_for
from connectors.hypervisor import HypervisorError
from shangyun.wave.steps import RunOptions

SOURCE_VM = "test"  # the running domain of libvirt's built-in test:///default


def test_run_context_close_closes_source_hypervisors() -> None:
    run = RunContext(RunOptions())
    actions = actions_for(run)  # part 1's and the cutover's actions, one RunContext
    assert "freeze" in actions
    session = run.hypervisor("test:///default")
    assert session.alive()
    assert run.hypervisor("test:///default") is session  # one session per URI and run
    run.close()
    assert not session.alive()  # really closed
    with pytest.raises(HypervisorError):
        session.is_active(SOURCE_VM)
    assert run.hypervisor("test:///default") is not session  # a new one after close
    run.close()  # safe twice
    run.close()
    other = RunContext(RunOptions())
    other.close()  # a run that never used the cutover actions
