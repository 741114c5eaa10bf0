"""Object storage fixtures: moto's S3 server on 127.0.0.1 (a free port), one per session."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.support import moto_server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server running in this process on 127.0.0.1."""
    with moto_server() as url:
        yield url


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A fresh, uniquely named bucket."""
    from connectors.objectstore import ObjectStore

    name = f"shangyun-test-{secrets.token_hex(6)}"
    with ObjectStore(s3_endpoint) as store:
        store.ensure_bucket(name)
    return name
