"""Is the process that owns a run still alive? (Used by ``Journal.reconcile``.)

On the orchestrator's own host the answer comes from ``/proc``: the pid must exist, not be
a zombie, and have the same start time as when the run began (so a reused pid is not
mistaken for the orchestrator). For a run owned by another host, only its heartbeat can
tell.
"""

from __future__ import annotations

import os
import socket


def this_host() -> str:
    """The name this machine records in runs it starts."""
    return socket.gethostname()


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or None if it is gone/zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if not fields or fields[0] in ("Z", "X", "x"):
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def is_alive(pid: int, start: int | None) -> bool:
    """Whether ``pid`` on this host is still the process that started at ``start``."""
    now = process_start(pid)
    if now is None:
        if os.path.isdir("/proc/1"):
            return False
        try:  # no /proc: fall back to signal 0
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return start is None or now == start
