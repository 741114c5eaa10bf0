"""The header alias table: which ledger headers mean which estate column.

Bureaus write their ledgers (台账) with their own headers. A ledger *target* is an estate
column written ``"<table>.<column>"`` (``"hosts.memory_gb"``, ``"systems.mlps_level"``,
``"bureaus.name"``); :data:`~shangyun.ledgers.aliases.ALIASES` (the table itself lives in
:mod:`shangyun.ledgers.aliases`) lists, for every target, the headers that mean it —
the first alias is the canonical Chinese header, the second the canonical English one
(what :func:`canonical_header` returns and what the sample generator may use), the rest
are variants seen in real ledgers.

Headers are compared after :func:`normalize_header` (full-width → half-width, lower case,
no spaces/underscores/punctuation) and a unit in brackets is split off first
(``内存（G）`` → ``内存`` + unit ``g``; :func:`split_unit`), so ``内存(GB)``, ``内存（G）``,
``Memory (GB)`` and ``memory_gb`` all find ``hosts.memory_gb``.

A few short headers mean different things on different sheets (``版本`` is the OS version
on a host sheet and the engine version on a database sheet); :data:`CONTEXT_ALIASES` holds
those per sheet kind and wins over :data:`ALIASES`. :data:`IGNORED` lists headers that are
known and deliberately dropped (序号, 备注 …).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from shangyun.ledgers.aliases import (
    ALIASES,
    CONTEXT_ALIASES,
    IGNORED,
    SHEET_KINDS,
    SIZE_UNITS,
)

_DROP = re.compile(r"[\s_\-.:：*＊、'\"`‘’“”\u200b\u200c\u200d\u2060\ufeff\u00ad]+")
_UNIT = re.compile(r"^(?P<base>.+?)\s*[(\[{<](?P<unit>[^)\]}>]*)[)\]}>]\s*$")
_TRAILING_UNIT = re.compile(r"^(?P<base>.+?)(?P<unit>gib|mib|tib|gb|mb|tb|g|m|t|%)$")


def normalize_header(text: object) -> str:
    """A header in comparable form: NFKC (full-width → ASCII), lower case, no spaces or
    underscores, dashes, dots, colons, asterisks or quotes. ``None`` gives ``""``."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", str(text)).strip().lower()
    s = s.replace("（", "(").replace("）", ")").replace("【", "[").replace("】", "]")
    return _DROP.sub("", s)


def split_unit(header: str) -> tuple[str, str]:
    """``(base, unit)`` of a normalized header: ``"内存(g)"`` → ``("内存", "g")``.

    A unit is what stands in brackets at the end; without brackets the unit is ``""``.
    """
    m = _UNIT.match(header)
    if m and m.group("base"):
        return m.group("base"), m.group("unit")
    return header, ""


def _build() -> tuple[dict[str, str], dict[str, dict[str, str]], frozenset[str]]:
    general: dict[str, str] = {}
    for target, names in ALIASES.items():
        for n in names:
            general.setdefault(normalize_header(n), target)
            base, _unit = split_unit(normalize_header(n))
            general.setdefault(base, target)
    context = {kind: {normalize_header(k): v for k, v in table.items()}
               for kind, table in CONTEXT_ALIASES.items()}
    ignored = frozenset(normalize_header(n) for n in IGNORED)
    return general, context, ignored


_GENERAL, _CONTEXT, _IGNORED = _build()
IGNORE = "ignore"


def lookup(header: object, kind: str | None = None) -> tuple[str | None, str]:
    """The target of one header cell and the unit written in it.

    Returns ``(target, unit)``: ``target`` is ``"table.column"``, :data:`IGNORE` for a known
    header we drop, or ``None`` for an unknown header; ``unit`` is the bracketed (or
    trailing) unit such as ``"g"``, ``"mb"``, ``"核"``, ``"%"`` or ``""``. ``kind`` (one of
    :data:`SHEET_KINDS`) lets the sheet's context decide short ambiguous headers.
    """
    if header is None:
        return None, ""
    return _lookup(str(header), kind)


@functools.lru_cache(maxsize=65536)
def _lookup(header: str, kind: str | None) -> tuple[str | None, str]:
    norm = normalize_header(header)
    if not norm:
        return None, ""
    base, unit = split_unit(norm)
    ctx = _CONTEXT.get(kind or "", {})
    for cand in (norm, base):
        if cand in ctx:
            return ctx[cand], unit
        if cand in _GENERAL:
            return _GENERAL[cand], unit
        if cand in _IGNORED:
            return IGNORE, unit
    m = _TRAILING_UNIT.match(base)
    if m and not unit:
        b = m.group("base")
        if b in ctx:
            return ctx[b], m.group("unit")
        if b in _GENERAL:
            return _GENERAL[b], m.group("unit")
    return _bilingual(header, kind) or (None, unit)


_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD_BREAK = re.compile(r"[\s/|]+")


def _bilingual(header: str, kind: str | None) -> tuple[str, str] | None:
    """A header written in two languages (``Hostname 主机名``, ``主机名 / Hostname``,
    ``操作系统\nOS``), as vendors' ledgers head their columns: split where the text goes
    from one script to the other across a space, a slash or a line break, each half looked
    up alone. The target both halves name (the English half may be unknown: ``Physical
    host 宿主机``; the Chinese one must be known, so ``OS 许可`` is no OS), or ``None``
    when they name different fields (``CPU 内存``, ``CPU 型号``)."""
    words = [w for w in _WORD_BREAK.split(unicodedata.normalize("NFKC", header)) if w]
    if len(words) < 2:
        return None
    halves: list[list[str]] = []
    for w in words:
        cjk = bool(_CJK.search(w))
        if halves and bool(_CJK.search(halves[-1][0])) == cjk:
            halves[-1].append(w)
        else:
            halves.append([w])
    if len(halves) != 2:
        return None
    found = [_lookup(" ".join(h), kind) for h in halves]
    targets = {t for t, _u in found if t is not None}
    cjk_known = any(t is not None for (t, _u), h in zip(found, halves, strict=True)
                    if _CJK.search(h[0]))
    if len(targets) != 1 or not cjk_known:
        return None
    return targets.pop(), next((u for _t, u in found if u), "")


def canonical_header(target: str, lang: str = "zh") -> str:
    """The canonical header of ``target`` in ``lang`` (``"zh"`` or ``"en"``)."""
    names = ALIASES[target]
    return names[0] if lang == "zh" else names[1]


def aliases_of(target: str) -> tuple[str, ...]:
    """Every header (canonical first) that means ``target``."""
    return ALIASES[target]


__all__ = [
    "ALIASES", "CONTEXT_ALIASES", "IGNORE", "IGNORED", "SHEET_KINDS", "SIZE_UNITS",
    "aliases_of", "canonical_header", "lookup", "normalize_header", "split_unit",
]
