"""Shared fixtures. Tests that need servers start them here and clean up after.

Area-specific fixtures live in each test folder's own ``conftest.py``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

# Prefect must never phone home (no network here) and must not touch ~/.prefect.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
_PREFECT_HOME = tempfile.mkdtemp(prefix="shangyun-test-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API (SQLite in a temp dir) for flow tests; started once."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
