"""What ``wave status``, ``shangyun status`` and the wave commands read of a wave beside its
journal: the wave as the journal records it, why ``wave finalize`` would refuse it, and the
options that repeat its last run (application shell: it opens the estate and the journal)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from shangyun.cli.output import estate_words
from shangyun.errors import EstateError, ShangyunError
from shangyun.estate import Estate
from shangyun.estate.names import names_of, readable
from shangyun.wave.classified import CLASSIFIED_WORDS, classified_ids, way_home
from shangyun.wave.state import CUT_OVER, not_finalizable
from shangyun.wave.unmoved import hosts_never_moved, launched_hosts, never_moved_reason


def finalize_refusal(number: int, systems: list[dict[str, Any]],
                      estate_dir: str | None) -> str | None:
    """Why ``wave finalize`` would refuse a wave that reads cut over, as ``wave status``
    says it (None: it would not): a system the estate marks classified
    (:func:`_classified_words`), a cut-over system the estate gives a host its run never
    moved (:func:`_never_moved_words`, the judgement finalize makes), or systems moved
    disks-only (:func:`_not_finalizable_words`).

    ``systems`` without their steps (a run's own report: ``wave run``/``resume``, a
    distributed run) are judged as the journal records them, as ``wave status`` judges."""
    if estate_dir and (not systems or any("steps" not in s for s in systems)):
        # no estate or journal to read: judged on what the report says
        with contextlib.suppress(ShangyunError):
            systems = journaled_wave(estate_dir, number)["systems"]
    estate = estate_or_none(estate_dir)
    secret = _classified_words(number, systems, estate, estate_dir)
    if secret:
        return secret
    unmoved = _never_moved_words(number, systems, estate, estate_dir)
    if unmoved:
        return unmoved
    refused = not_finalizable({s["id"]: s["state"] for s in systems})
    return _not_finalizable_words(number, refused, estate, estate_dir) if refused else None


def estate_or_none(estate_dir: str | None) -> Estate | None:
    """The estate at ``estate_dir`` for a judgement that is said beside a status; None
    when there is none to read (the status is said without it)."""
    if not estate_dir:
        return None
    try:
        return Estate.load(estate_dir, check=False)
    except ShangyunError:
        return None


def _never_moved_words(number: int, systems: list[dict[str, Any]],
                       estate: Estate | None, estate_dir: str | None = None) -> str | None:
    """Why ``wave finalize`` would refuse the wave for its cut-over systems the estate now
    gives a host their run never moved (:func:`shangyun.wave.unmoved.hosts_never_moved`,
    as finalize judges it), with the commands that move each whole; None when none."""
    if estate is None:
        return None
    launched = {s["id"]: launched_hosts((st["key"], st["kind"], st["status"])
                                        for st in s["steps"])
                for s in systems if s["state"] == CUT_OVER}
    missing = hosts_never_moved(launched, estate.rows("hosts"))
    if not missing:
        return None
    names, again = names_of(estate, "system"), last_run_options(estate_dir, number)
    where = estate_words(estate_dir) if estate_dir else ""
    return "finalize would refuse " + "; ".join(
        never_moved_reason(number, sid, hosts, names, again, where)
        for sid, hosts in missing.items())


def _classified_words(number: int, systems: list[dict[str, Any]],
                      estate: Estate | None, estate_dir: str | None = None) -> str | None:
    """Why ``wave finalize`` would refuse the wave for the systems of it the estate marks
    classified (涉密) — a ledger re-imported after the wave ran — and what brings each one
    home (:mod:`shangyun.wave.classified`); None when it has none (or no estate)."""
    if estate is None:
        return None
    secret, names = classified_ids(estate), names_of(estate, "system")
    hit = [s for s in systems if s["id"] in secret]
    if not hit:
        return None
    where = estate_words(estate_dir) if estate_dir else ""
    return "finalize would refuse " + "; ".join(
        f"{readable(s['id'], names)}: {CLASSIFIED_WORDS} — "
        f"{way_home(number, s['state'], s['id'], names, where)}" for s in hit)


def _not_finalizable_words(number: int, refused: list[str], estate: Estate | None,
                           estate_dir: str | None) -> str:
    """Why ``wave finalize`` would refuse a cut-over wave and what to do instead
    (:func:`not_finalizable`: systems moved disks-only, each named; by their names in
    ``estate``, the one :func:`finalize_refusal` loaded)."""
    names = names_of(estate, "system") if estate is not None else {}
    who = ", ".join(readable(s, names) for s in refused[:10]) + (" …" if len(refused) > 10
                                                                   else "")
    where = estate_words(estate_dir) if estate_dir else ""
    again = last_run_options(estate_dir, number)
    return (f"finalize would refuse {who}: moved disks-only (plan/cutover.yaml does not "
            f"list it, nothing of it was switched: its source is still production). List "
            f"it in plan/cutover.yaml and run 'shangyun wave run {number}{where}{again}' "
            f"again to "
            f"cut it over, or take it out of the wave (re-plan); then 'shangyun wave "
            f"finalize {number}{where}' after the soak period")


def last_run_options(estate_dir: str | None, number: int) -> str:
    """The options that repeat wave ``number``'s last run (``--target-uri …``,
    :func:`shangyun.wave.runwords.last_run_words`), for a ``wave run`` a command suggests:
    a libvirt run without them is refused. Empty when there is no such run to read (no
    estate, no journal, a journal that cannot be read). Creates nothing."""
    from connectors.journal.history import open_reader
    from connectors.journal.wave import SqlWaveJournal
    from shangyun.wave.runwords import last_run_words

    if not estate_dir:
        return ""
    with contextlib.suppress(ShangyunError), open_reader(estate_dir) as history:
        return last_run_words(SqlWaveJournal(history) if history else None, number,
                              estate_dir)
    return ""


def estate_names(estate_dir: str, kind: Any) -> dict[str, str]:
    """Id -> name of the estate's systems or bureaus, for what a person reads (empty when
    the estate cannot be read: the ids are shown)."""
    try:
        return names_of(Estate.load(estate_dir, check=False), kind)
    except ShangyunError:
        return {}


def journaled_wave(estate_dir: str, number: int) -> dict[str, Any]:
    """Wave ``number`` as the journal records it (``never run`` without a journal); raises
    :class:`EstateError` when ``estate_dir`` is not an estate. Creates nothing."""
    from connectors.journal.history import open_reader
    from connectors.journal.wave import SqlWaveJournal
    from shangyun.estate.model import META_FILE  # (pandas: start-up cost)
    from shangyun.runbook.sources import plan_files, wave_of_systems
    from shangyun.wave.journal_port import wave_status
    from shangyun.wave.state import NEVER_RUN

    if not (Path(estate_dir) / META_FILE).is_file():
        raise EstateError(f"{estate_dir}: no estate here (no {META_FILE}); check --estate "
                          "or $SHANGYUN_ESTATE")
    root = Path(estate_dir)
    planned = sorted(sid for sid, n in wave_of_systems(plan_files(root)).items() if n == number)
    # a journal that cannot be opened (damaged, a bad URL) is an error, not "never run"
    with open_reader(estate_dir) as journal:
        if journal is None:  # no journal yet: nothing ever ran (and status writes nothing)
            return {"wave": number, "state": NEVER_RUN, "runs": [], "systems": [],
                    "pending": planned, "bureaus": {}}
        return wave_status(SqlWaveJournal(journal), number, planned)


