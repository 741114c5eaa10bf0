"""Fencing tokens of the journal's writes (docs/safety.md L2).

In distributed mode a worker holding a system's lock reads the lock's fencing token (it
grows with every holder) and runs that system's steps inside :func:`fenced`; every journal
write for the system's steps then carries the token, and the journal refuses a write whose
token is lower than the newest it has seen for that system (:class:`FencedWriteError`).
Local runs set no token: their writes are not fenced.

Writes outside the journal — a target cloud's import, create, start, stop and delete —
cannot check a token themselves (libvirt and EC2 know nothing of it). For them the holder
passes a *guard* with its token (:func:`fenced`'s ``guard``: the lock's own check against
Redis) and :func:`guard_writes` runs it right before each such write
(:class:`connectors.targets.fenced.FencedTarget`): a holder whose lock another worker took
is stopped before the write, not after. A guard narrows the window to the time between
its check and the write; the lock's lease loss (docs/safety.md L1) covers a pause there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType

from shangyun.journal.records import JournalError

_FENCES: ContextVar[Mapping[str, int]] = ContextVar("shangyun_fences",
                                                    default=MappingProxyType({}))

Guard = Callable[[], None]
"""Raises unless the holder's fencing token is still the newest of its lock (e.g.
:meth:`connectors.locks.LeasedRedisLockManager.check_fence` bound to the key and token)."""

_GUARDS: ContextVar[Mapping[str, Guard]] = ContextVar("shangyun_fence_guards",
                                                      default=MappingProxyType({}))


class FencedWriteError(JournalError):
    """A journal write carried a fencing token older than the newest one of its system:
    its writer's lock was taken over by another holder. Nothing was written."""

    def __init__(self, system: str, token: int, newest: int) -> None:
        super().__init__(f"system {system}: journal write refused: it carries fencing token "
                         f"{token}, older than the newest {newest} (another holder took the "
                         f"system's lock); nothing was written")
        self.system, self.token, self.newest = system, token, newest


@contextlib.contextmanager
def fenced(system: str, token: int, guard: Guard | None = None) -> Iterator[None]:
    """Journal writes for ``system``'s steps in this context carry fencing ``token``;
    ``guard`` (if given) is run by :func:`guard_writes` before every write outside the
    journal made here."""
    reset = _FENCES.set(MappingProxyType({**_FENCES.get(), system: token}))
    guards = {k: g for k, g in _GUARDS.get().items() if k != system}
    if guard is not None:
        guards[system] = guard
    reset_guards = _GUARDS.set(MappingProxyType(guards))
    try:
        yield
    finally:
        _GUARDS.reset(reset_guards)
        _FENCES.reset(reset)


def guard_writes() -> None:
    """Run the guard of every system fenced in this context, before a write outside the
    journal (a target's); raises what a guard raises when its holder's token is no longer
    the newest. No guard (a local run): nothing to check."""
    for guard in _GUARDS.get().values():
        guard()


def fence_of(system: str) -> int | None:
    """The fencing token journal writes for ``system`` carry here (None: not fenced)."""
    return _FENCES.get().get(system)


__all__ = ["FencedWriteError", "Guard", "fence_of", "fenced", "guard_writes"]
