"""How a distributed wave is split between bureau workers.

Each move group is moved by one worker: the worker of the bureau that owns most of the
group's systems (ties go to the bureau id that sorts first), because the data of a system
is copied from its bureau's server room by the worker that sits near it. A move group is
never split: its systems move together or roll back together.

Pure functions; the submitter (``shangyun wave run --distributed``) and every worker's flow
run compute the same split from the same plan.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from shangyun.errors import PlanError
from shangyun.wave.model import WaveWork

POOL = "shangyun"
"""The Prefect work pool (type ``process``) that every bureau worker polls."""


def queue_name(bureau: str) -> str:
    """The work queue of one bureau's worker: ``bureau-<id>``."""
    return f"bureau-{bureau}"


def group_bureau(wave: WaveWork, group: str) -> str:
    """The bureau whose worker moves move group ``group`` (most systems; ties: lowest id)."""
    sids = wave.move_groups.get(group)
    if not sids:
        raise PlanError(f"wave {wave.number} has no move group {group!r}")
    counts = Counter(wave.system(s).bureau_id for s in sids)
    best = max(counts.values())
    return min(b for b, n in counts.items() if n == best)


def partition(wave: WaveWork) -> dict[str, list[str]]:
    """Bureau id -> the move groups its worker moves, in plan order (bureaus sorted)."""
    out: dict[str, list[str]] = {}
    for gid in wave.move_groups:
        out.setdefault(group_bureau(wave, gid), []).append(gid)
    return dict(sorted(out.items()))


def bureau_share(wave: WaveWork, bureau: str) -> WaveWork:
    """The part of ``wave`` that ``bureau``'s worker moves (its move groups, plan order).

    Raises :class:`PlanError` when the bureau has nothing in this wave (a flow run sent to
    the wrong queue must not silently do nothing).
    """
    groups = set(partition(wave).get(bureau, []))
    if not groups:
        raise PlanError(f"wave {wave.number} has no move group for bureau {bureau!r}; "
                        f"its bureaus are {', '.join(partition(wave)) or 'none'}")
    return replace(wave, systems=tuple(s for s in wave.systems if s.move_group in groups))
