"""Lab fixtures: one shared lab per test session, torn down at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab import LabState
from tests.lab_support import can_run_lab, lab_session


@pytest.fixture(scope="session")
def lab() -> Iterator[LabState]:
    """A running lab: 2 bureaus (7 full-role hosts) plus 3 light web hosts."""
    reason = can_run_lab()
    if reason:
        pytest.skip(reason)
    with lab_session(bureaus=2, hosts=10) as state:
        yield state
