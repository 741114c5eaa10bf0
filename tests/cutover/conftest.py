"""Fixtures for the cutover tests: the data fixtures (databases, sshd, moto DNS, a web
server) reused from ``tests/data`` and ``tests/discovery``, and a wave journal in a temp
estate folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.data.conftest import my_pair, pg_pair  # noqa: F401  (fixtures)
from tests.data.test_dns import dns  # noqa: F401  (fixture)
from tests.data.test_health import web  # noqa: F401  (fixture)
from tests.discovery.sshd import SshdFarm, one_sshd


@pytest.fixture(scope="module")
def farm() -> Iterator[SshdFarm]:
    """One real sshd on 127.0.0.1 for the module."""
    with one_sshd("sy-cutover-sshd-") as f:
        yield f
