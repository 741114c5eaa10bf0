"""Health checks after cutover: TCP connect and HTTP GET, with a timeout per attempt and a
bounded number of attempts with exponential backoff between them.

A check returns a :class:`HealthResult` (for the journal); :func:`require` turns a failed one
into :class:`HealthCheckFailed`, which the wave answers with a rollback.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from shangyun.errors import StepError

MAX_BODY = 1 << 20
# no proxy from the environment: a health check talks to the new system directly
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HealthCheckFailed(StepError):
    """The new system did not pass its health check (after every allowed attempt)."""


@dataclass(frozen=True)
class HealthCheck:
    """What to check: ``kind`` "tcp" (``host``, ``port``) or "http" (``url``, expected
    status and optional body substring); ``timeout`` per attempt, ``attempts`` in all,
    ``backoff`` seconds before the second attempt, doubling up to ``max_backoff``."""

    kind: str
    host: str = ""
    port: int = 0
    url: str = ""
    expect_status: int = 200
    expect_body: str | None = None
    timeout: float = 5.0
    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 10.0

    def label(self) -> str:
        """``tcp 127.0.0.1:80`` or ``http GET URL``."""
        return f"tcp {self.host}:{self.port}" if self.kind == "tcp" else f"http GET {self.url}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthCheck:
        """A check from plain data (a journal or a plan file)."""
        return cls(**data)


@dataclass(frozen=True)
class HealthResult:
    """The outcome: passed or not, attempts used, seconds spent, the last failure."""

    check: str
    ok: bool
    attempts: int
    seconds: float
    detail: str

    def to_dict(self) -> dict[str, object]:
        """Plain data for the journal."""
        return asdict(self)


def _tcp_once(check: HealthCheck) -> str | None:
    try:
        with socket.create_connection((check.host, check.port), timeout=check.timeout):
            return None
    except TimeoutError:
        return f"connect timed out after {check.timeout} s"
    except OSError as exc:
        return f"connect failed: {exc.strerror or exc}"


def _http_once(check: HealthCheck) -> str | None:
    req = urllib.request.Request(check.url, method="GET",
                                 headers={"User-Agent": "shangyun-health/1"})
    try:
        with _OPENER.open(req, timeout=check.timeout) as resp:
            status, body = resp.status, resp.read(MAX_BODY)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(MAX_BODY) if exc.fp else b""
    except TimeoutError:
        return f"no answer within {check.timeout} s"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            return f"no answer within {check.timeout} s"
        return f"request failed: {reason}"
    except (http.client.HTTPException, OSError) as exc:
        return f"request failed: {exc}"
    if status != check.expect_status:
        return f"status {status}, expected {check.expect_status}"
    if check.expect_body is not None and check.expect_body not in body.decode(errors="replace"):
        return f"body lacks {check.expect_body!r}"
    return None


def run_check(check: HealthCheck) -> HealthResult:
    """Run ``check`` up to ``attempts`` times with backoff; stops at the first success."""
    if check.kind not in ("tcp", "http"):
        raise StepError(f"health check {check.label()}: kind must be tcp or http")
    once = _tcp_once if check.kind == "tcp" else _http_once
    start, delay, detail = time.monotonic(), check.backoff, ""
    attempts = max(1, check.attempts)
    for n in range(1, attempts + 1):
        failure = once(check)
        if failure is None:
            return HealthResult(check.label(), True, n, round(time.monotonic() - start, 3), "ok")
        detail = failure
        if n < attempts:
            time.sleep(delay)
            delay = min(delay * 2, check.max_backoff)
    return HealthResult(check.label(), False, attempts, round(time.monotonic() - start, 3),
                        detail)


def check_tcp(host: str, port: int, *, timeout: float = 3.0, attempts: int = 3,
              backoff: float = 0.5) -> HealthResult:
    """TCP connect to ``host:port``."""
    return run_check(HealthCheck("tcp", host=host, port=port, timeout=timeout,
                                 attempts=attempts, backoff=backoff))


def check_http(url: str, *, expect_status: int = 200, expect_body: str | None = None,
               timeout: float = 5.0, attempts: int = 3, backoff: float = 0.5) -> HealthResult:
    """HTTP GET ``url``: the status must equal ``expect_status`` and the body contain
    ``expect_body`` (when given)."""
    return run_check(HealthCheck("http", url=url, expect_status=expect_status,
                                 expect_body=expect_body, timeout=timeout, attempts=attempts,
                                 backoff=backoff))


def require(result: HealthResult, system: str = "") -> HealthResult:
    """Return ``result`` if it passed; raise :class:`HealthCheckFailed` naming it if not."""
    if not result.ok:
        who = f"{system}: " if system else ""
        raise HealthCheckFailed(f"{who}health check {result.check} failed after "
                                f"{result.attempts} attempt(s): {result.detail}")
    return result
