"""Counts in number for what a person reads: ``1 system``, ``2 systems``, ``1 dependency
crosses``, never ``system(s)``."""

from __future__ import annotations


def plural(noun: str) -> str:
    """``noun``'s plural: ``dependency`` → ``dependencies``, ``system`` → ``systems``,
    ``bus`` → ``buses``."""
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "o", "u"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def counted(n: float, noun: str, many: str | None = None) -> str:
    """``n`` and ``noun`` in number: ``1 system``, ``2 systems``, ``0 systems``,
    ``1.5 hours`` (``many``: the plural when :func:`plural` does not know it)."""
    shown = str(n) if isinstance(n, int) or not float(n).is_integer() else str(int(n))
    return f"{shown} {noun}" if n == 1 else f"{shown} {many or plural(noun)}"


def verb(n: float, one: str, many: str) -> str:
    """The verb agreeing with a count: ``one`` for 1, else ``many`` (``crosses``/``cross``)."""
    return one if n == 1 else many


__all__ = ["counted", "plural", "verb"]
