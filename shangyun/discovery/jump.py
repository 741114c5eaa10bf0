"""Jump host specs: ``[user@]host[:port]`` (``[v6]:port`` for IPv6). Pure."""

from __future__ import annotations

from shangyun.errors import ShangyunError


def parse_jump(spec: str, default_user: str) -> tuple[str, str, int]:
    """``[user@]host[:port]`` → ``(user, host, port)``; :class:`ShangyunError` if bad."""
    user, _, hostport = spec.rpartition("@")
    host, port = hostport, "22"
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "22"
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ShangyunError(f"jump host {spec!r}: expected [user@]host[:port]")
    return user or default_user, host, int(port)
