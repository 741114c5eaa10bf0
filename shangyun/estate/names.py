"""Names for people, ids for machines: one resolver for every command that takes a system,
a host or a bureau, and one way to show one.

A person types an id (``s0008``) or a name (``审批系统``, ``b01-auth01``, ``北京直属局``);
:func:`resolve` returns the id, or raises :class:`NameNotFound` with a "did you mean" list,
or :class:`AmbiguousName` listing the ids that share the name. :func:`label` shows an id
the way a person reads it: ``name (id)``.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Literal

from shangyun.errors import EstateError
from shangyun.estate.model import Estate

Kind = Literal["system", "host", "bureau"]

#: Where each kind's names live: the estate table and its name column.
NAME_COLUMNS: dict[str, tuple[str, str]] = {
    "system": ("systems", "name"),
    "host": ("hosts", "hostname"),
    "bureau": ("bureaus", "name"),
}


class NameNotFound(EstateError):
    """No system, host or bureau has this id or name (the message suggests close ones)."""


class AmbiguousName(EstateError):
    """A name shared by several systems, hosts or bureaus: the message lists their ids."""


def names_of(estate: Estate, kind: Kind) -> dict[str, str]:
    """Id → name for every system, host or bureau of ``estate`` (empty name when none)."""
    table, column = NAME_COLUMNS[kind]
    rows = estate.rows(table)
    return {str(r["id"]): _text(r.get(column)) for r in rows}


def resolve(kind: Kind, text: str, names: Mapping[str, str]) -> str:
    """The id that ``text`` (an id or a name, as typed) means among ``names`` (id → name).

    An exact id wins; then an exact name; then a name ignoring case and surrounding blanks;
    then the one name that contains ``text`` (``审批系统`` finds ``宁夏局行政审批信息系统``
    only when no other name contains it).
    """
    wanted = text.strip()
    if wanted in names:
        return wanted
    folded = wanted.casefold()
    tiers = (("named", lambda n: n == wanted), ("named", lambda n: n.casefold() == folded),
             ("whose name contains", lambda n: bool(folded) and folded in n.casefold()))
    for how, same in tiers:
        ids = sorted(i for i, n in names.items() if n and same(n))
        if len(ids) == 1:
            return ids[0]
        if len(ids) > 1:
            raise AmbiguousName(
                f"{len(ids)} {kind}s {how} {wanted!r}: "
                + ", ".join(label(i, names) for i in ids[:10]) + (" …" if len(ids) > 10 else "")
                + f"; give the {kind} id or its full name")
    raise NameNotFound(f"unknown {kind} {wanted!r}" + _did_you_mean(wanted, names))


def resolve_all(kind: Kind, texts: Iterable[str], names: Mapping[str, str]) -> list[str]:
    """:func:`resolve` for each of ``texts``, in order."""
    return [resolve(kind, t, names) for t in texts]


def label(ident: str, names: Mapping[str, str]) -> str:
    """``name (id)`` for a person; just the id when it has no name (or the name is the id)."""
    name = names.get(ident, "")
    return f"{name} ({ident})" if name and name != ident else ident


def _did_you_mean(wanted: str, names: Mapping[str, str]) -> str:
    by_word: dict[str, str] = {}
    for ident, name in names.items():
        by_word.setdefault(ident, ident)
        if name:
            by_word.setdefault(name, ident)
    close = difflib.get_close_matches(wanted, list(by_word), n=3, cutoff=0.5)
    if not close:
        close = [w for w in by_word if wanted and (wanted in w or w in wanted)][:3]
    if not close:
        return ""
    return "; did you mean " + ", ".join(label(by_word[w], names) for w in close) + "?"


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def resolve_in(estate_dir: str | os.PathLike[str], kind: Kind, text: str) -> str:
    """:func:`resolve` ``text`` against the estate in ``estate_dir`` (loaded unchecked)."""
    return resolve(kind, text, names_of(Estate.load(estate_dir, check=False), kind))


_SHELL_SAFE = re.compile(r"[\w@%+=:,./-]+")


def shell_word(text: str) -> str:
    """``text`` as one word of a POSIX shell command a person copies: as it is when every
    character is a letter or digit of any script (a Chinese name stays readable) or one of
    ``@%+=:,./-_``, else :func:`shlex.quote` d (spaces, quotes, brackets …)."""
    return text if _SHELL_SAFE.fullmatch(text) else shlex.quote(text)


def command_arg(kind: Kind, ident: str, names: Mapping[str, str], suffix: str = "") -> str:
    """How a command printed for a person names ``ident`` (``--only``, ``--system``,
    ``--pin NAME=W`` with ``suffix`` ``=W``): its name when :func:`resolve` gives the id
    back — the CLI takes names — else the id (a name shared by several, or none), as one
    shell word (:func:`shell_word`)."""
    name = names.get(ident, "")
    word = ident
    if name and name != ident:
        try:
            if resolve(kind, name, names) == ident:
                word = name
        except EstateError:  # ambiguous: the id it is
            pass
    return shell_word(word + suffix)


def readable(ident: str, names: Mapping[str, str]) -> str:
    """How a sentence names ``ident``: its name alone when no other id of ``names`` shares
    it, ``name (id)`` when one does (the id disambiguates), the id when it has no name."""
    name = names.get(ident, "")
    if not name or name == ident:
        return ident
    if sum(1 for n in names.values() if n == name) > 1:
        return f"{name} ({ident})"
    return name
