"""Health checks against real local servers: healthy, failing, hanging, closed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.health import (
    HealthCheck,
    HealthCheckFailed,
    check_http,
    check_tcp,
    require,
    run_check,
)
from shangyun.errors import StepError


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/hang":
            time.sleep(3)
        code, body = {"/ok": (200, b"status: UP"), "/broken": (503, b"down"),
                      "/wrong": (200, b"maintenance")}.get(self.path, (404, b"?"))
        try:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timed-out or killed check)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (free port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthy(web: str) -> None:
    res = check_http(f"{web}/ok", expect_body="UP")
    assert res.ok and res.attempts == 1
    port = int(web.rsplit(":", 1)[1])
    assert check_tcp("127.0.0.1", port).ok
    assert require(res) is res


def test_failing_status_and_body_retried_then_reported(web: str) -> None:
    t0 = time.monotonic()
    res = check_http(f"{web}/broken", attempts=3, backoff=0.1)
    took = time.monotonic() - t0
    assert not res.ok and res.attempts == 3 and "status 503, expected 200" in res.detail
    assert 0.3 <= took < 3  # backoff 0.1 + 0.2 between three attempts
    res = check_http(f"{web}/wrong", expect_body="UP", attempts=1)
    assert not res.ok and "body lacks 'UP'" in res.detail
    with pytest.raises(HealthCheckFailed, match=r"app-1: health check http GET .*/wrong"):
        require(res, "app-1")


def test_hanging_server_times_out_bounded(web: str) -> None:
    t0 = time.monotonic()
    res = check_http(f"{web}/hang", timeout=0.5, attempts=2, backoff=0.1)
    assert not res.ok and res.attempts == 2 and "no answer within 0.5 s" in res.detail
    assert time.monotonic() - t0 < 2.5


def test_closed_port_and_bad_kind() -> None:
    res = check_tcp("127.0.0.1", _closed_port(), attempts=2, backoff=0.05, timeout=0.5)
    assert not res.ok and "refused" in res.detail.lower()
    with pytest.raises(StepError, match="kind must be tcp or http"):
        run_check(HealthCheck("icmp", host="127.0.0.1"))


def test_check_round_trips_through_plain_data(web: str) -> None:
    check = HealthCheck("http", url=f"{web}/ok", expect_body="UP", attempts=1)
    again = HealthCheck.from_dict(dict(check.__dict__))
    assert again == check and run_check(again).ok
