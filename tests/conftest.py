"""Shared fixtures. Tests that need servers start them here and clean up after.

Area-specific fixtures live in each test folder's own ``conftest.py``.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator

import pytest

# Prefect must never phone home (no network here) and must not touch ~/.prefect.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
_PREFECT_HOME = tempfile.mkdtemp(prefix="shangyun-test-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
# The audit key and head logs (connectors/journal/heads.py) live outside every estate, in a
# folder of this test session; the head logs are not made append-only (chattr +a) so the
# folder can be removed (tests/journal/test_audit_heads.py sets the flag where it checks it).
_AUDIT_HOME = tempfile.mkdtemp(prefix="shangyun-test-audit-")
atexit.register(shutil.rmtree, _AUDIT_HOME, True)
os.environ.setdefault("SHANGYUN_AUDIT_KEY", os.path.join(_AUDIT_HOME, "audit.key"))
if not os.path.exists(os.environ["SHANGYUN_AUDIT_KEY"]):
    # made now, so no test's output carries the "created the audit key" line
    with open(os.open(os.environ["SHANGYUN_AUDIT_KEY"], os.O_WRONLY | os.O_CREAT, 0o600),
              "w", encoding="ascii") as _key:
        _key.write(secrets.token_hex(32) + "\n")
os.environ.setdefault("SHANGYUN_AUDIT_HEADS_APPEND_ONLY", "0")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API (SQLite in a temp dir) for flow tests; started once."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def _environment_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give every later test the environment this one started with.

    A test that leaves a variable behind changes what every later test's child processes
    inherit (a ``PREFECT_API_URL`` of a stopped server made a CLI child fail "Failed to
    reach API" minutes later, in another folder). What a test leaves is put back and named
    in a warning, so the leak is found where it happens."""
    own = "PYTEST_CURRENT_TEST"  # pytest's own, set and removed around each phase
    before = {k: v for k, v in os.environ.items() if k != own}
    yield
    changed = sorted(k for k in before.keys() | os.environ.keys()
                     if k != own and before.get(k) != os.environ.get(k))
    if not changed:
        return
    for k in changed:
        if k in before:
            os.environ[k] = before[k]
        else:
            del os.environ[k]
    import warnings

    warnings.warn(f"{request.node.nodeid} left environment variables changed: "
                  f"{', '.join(changed)} (put back)", stacklevel=1)
