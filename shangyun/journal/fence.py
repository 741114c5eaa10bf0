"""Fencing tokens of the journal's writes (docs/safety.md L2).

In distributed mode a worker holding a system's lock reads the lock's fencing token (it
grows with every holder) and runs that system's steps inside :func:`fenced`; every journal
write for the system's steps then carries the token, and the journal refuses a write whose
token is lower than the newest it has seen for that system (:class:`FencedWriteError`).
Local runs set no token: their writes are not fenced.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType

from shangyun.journal.records import JournalError

_FENCES: ContextVar[Mapping[str, int]] = ContextVar("shangyun_fences",
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
def fenced(system: str, token: int) -> Iterator[None]:
    """Journal writes for ``system``'s steps in this context carry fencing ``token``."""
    reset = _FENCES.set(MappingProxyType({**_FENCES.get(), system: token}))
    try:
        yield
    finally:
        _FENCES.reset(reset)


def fence_of(system: str) -> int | None:
    """The fencing token journal writes for ``system`` carry here (None: not fenced)."""
    return _FENCES.get().get(system)


__all__ = ["FencedWriteError", "fence_of", "fenced"]
