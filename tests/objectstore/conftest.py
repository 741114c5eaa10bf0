"""Object storage fixtures: moto's S3 server on 127.0.0.1 (a free port), one per session."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator

import pytest

# moto accepts any credentials; these are not secrets.
TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server running in this process on 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in TEST_ENV}
    os.environ.update(TEST_ENV)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A fresh, uniquely named bucket."""
    from connectors.objectstore import ObjectStore

    name = f"shangyun-test-{secrets.token_hex(6)}"
    with ObjectStore(s3_endpoint) as store:
        store.ensure_bucket(name)
    return name
