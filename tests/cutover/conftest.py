"""Fixtures for the cutover tests: the data fixtures (databases, sshd, moto DNS, a web
server) reused from ``tests/data`` and ``tests/discovery``, and a wave journal in a temp
estate folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.data.conftest import my_pair, pg_pair  # noqa: F401  (fixtures)
from tests.data.test_dns import dns  # noqa: F401  (fixture)
from tests.data.test_health import web  # noqa: F401  (fixture)
from tests.discovery.sshd import SshdFarm, one_sshd


@pytest.fixture(scope="module")
def farm() -> Iterator[SshdFarm]:
    """One real sshd on 127.0.0.1 for the module."""
    with one_sshd("sy-cutover-sshd-") as f:
        yield f


def write_health(root: Path, base: str, sys02: str) -> None:
    """The estate's ``plan/cutover.yaml``: sys-01's health check passes (``BASE/ok``),
    sys-02's asks ``BASE`` + ``sys02`` (``/broken`` fails it, twice, quickly)."""
    spec = {"schema_version": 1, "systems": {
        "sys-01": {"health": [{"kind": "http", "url": f"{base}/ok", "expect_body": "UP"}]},
        "sys-02": {"health": [{"kind": "http", "url": f"{base}{sys02}", "expect_body": "UP",
                               "attempts": 2, "backoff": 0.05}]}}}
    (root / "plan" / "cutover.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
