"""Helpers shared by several test areas: free ports and moto's server on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

# moto accepts any credentials; these are not secrets.
MOTO_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's ThreadedMotoServer (S3, EC2, Route53) on 127.0.0.1; yields its URL.

    Sets the dummy AWS credentials moto accepts for the duration (and drops AWS_PROFILE),
    restoring the environment afterwards.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    keys = [*MOTO_ENV, "AWS_PROFILE"]
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(MOTO_ENV)
    os.environ.pop("AWS_PROFILE", None)
    port = free_port()
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
