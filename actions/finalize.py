"""Closing a wave: once every system is cut over and the soak period is over."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.journal.wave import open_journal
from shangyun.errors import ShangyunError, StepError
from shangyun.estate import Estate
from shangyun.estate.names import names_of, shell_word
from shangyun.planner.files import PLAN_FILE
from shangyun.runbook.sources import plan_files, wave_of_systems
from shangyun.wave.classified import classified_ids, classified_refusal
from shangyun.wave.cutover import DEFAULT_SOAK_HOURS, UNLISTED, finalize_verdict, load_cutover
from shangyun.wave.journal_port import holding_wave
from shangyun.wave.runwords import last_run_words
from shangyun.wave.unmoved import hosts_never_moved, launched_hosts, never_moved_reason


def _system_names(estate_dir: str) -> dict[str, str]:
    """Id -> name of the estate's systems for the refusal a person reads (empty when the
    estate cannot be read: the ids are shown)."""
    try:
        return names_of(Estate.load(estate_dir, check=False), "system")
    except ShangyunError:
        return {}


def _classified(estate_dir: str) -> set[str]:
    """The ids of the systems the estate marks classified (涉密); empty when the estate
    cannot be read."""
    try:
        return classified_ids(Estate.load(estate_dir, check=False))
    except ShangyunError:
        return set()


def _hosts_not_moved(journal: Any, estate_dir: str, number: int, cut: list[str],
                     names: dict[str, str], again: str = "", where: str = "") -> list[str]:
    """One reason per cut-over system (``cut``) the estate gives a host its run never
    moved (:func:`shangyun.wave.unmoved.hosts_never_moved`, the judgement ``wave status``
    and the runbook use too), each naming the hosts and the commands that move it whole."""
    try:
        hosts = Estate.load(estate_dir, check=False).rows("hosts")
    except ShangyunError:
        return []
    launched = {sid: launched_hosts((r.key, r.kind, r.status)
                                    for r in journal.records(number, sid)) for sid in cut}
    return [never_moved_reason(number, sid, missing, names, again, where)
            for sid, missing in hosts_never_moved(launched, hosts).items()]


def _members(journal: Any, estate_dir: str, number: int,
             runs: list[dict[str, Any]]) -> set[str]:
    """The systems of wave ``number``: the plan's (``plan/``) when the estate has one, else
    the membership the wave's latest run recorded at its start (``planned``). Without
    either, a :class:`StepError` says what is missing and what to do: judging only the
    journal's systems would close the wave over a planned system that never ran."""
    root = Path(estate_dir)
    files = plan_files(root)
    planned = wave_of_systems(files)
    if files["plan"] is not None or planned:
        return {sid for sid, n in planned.items() if n == number}
    for run in reversed(runs):
        if run["kind"] == "run":
            members = journal.run_params(run["id"]).get("planned")
            if members is not None:
                return {str(m) for m in members}
    raise StepError(
        f"wave {number} cannot be finalized: the plan is missing ({root / PLAN_FILE} and "
        f"{root / 'plan' / 'move_groups.csv'} are gone) and the journal's runs of wave "
        f"{number} do not record the wave's systems (begun before runs recorded them), so "
        "finalize cannot tell whether a system planned into the wave never ran. Make the "
        f"plan again (shangyun plan --estate {shell_word(estate_dir)}, with the options it "
        f"was made with), then run 'shangyun wave finalize {number}' again; nothing was "
        "finalized")


def finalize_wave(estate_dir: str, number: int, *, now: datetime | None = None,
                  soak_hours: float | None = None, where: str = "") -> dict[str, Any]:
    """Close wave ``number`` once every system is cut over and the soak period is over.

    Reads the journal (each system's ``cutover`` step and its time; a system of the wave
    that never ran counts as not cut over — the wave's systems are the plan's, or, with
    ``plan/`` gone, those its latest run recorded at its start; with neither it refuses:
    :func:`_members`) and the soak period of
    ``plan/cutover.yaml``; refuses with a :class:`StepError` listing every reason. Closing
    writes a ``finalize`` run and an audit record. A wave finalized before, with no run
    since, is not closed again: the result says so (``already``, ``finalized_at``) and
    nothing is journaled; after a run since (a re-plan put another system into the wave)
    the wave is judged again, that system included. A system the estate marks classified
    (涉密) is refused with the commands that bring it home
    (:func:`shangyun.wave.classified.classified_refusal`).
    The source systems are never deleted or changed: decommissioning them is a separate,
    human decision. The commands a refusal prints repeat the wave's last run's options,
    and end with ``where`` (`` --estate DIR``, when the command was given one)."""
    plan = load_cutover(estate_dir)
    soak = soak_hours if soak_hours is not None else (
        plan.soak_hours if plan else DEFAULT_SOAK_HOURS)
    now = now or datetime.now(UTC)
    with open_journal(estate_dir, create=False) as journal:
        journal.ensure_idle(number)
        runs = journal.runs(number)  # oldest first
        last = max((i for i, r in enumerate(runs)
                    if r["kind"] == "finalize" and r["status"] == "done"), default=None)
        closed = [] if last is None else [runs[last]]
        if closed and any(r["kind"] != "finalize" for r in runs[last + 1:]):
            closed = []  # a run since (a re-plan added a system): finalize it, or say why not
        if closed:  # finalized before, nothing run since: said so, nothing journaled again
            return {"wave": number, "finalized": True, "already": True,
                    "finalized_at": closed[0].get("ended_at") or closed[0].get("started_at"),
                    "systems": sorted(journal.systems(number)), "soak_hours": soak,
                    "last_cutover": None, "source_deleted": False}
        systems: dict[str, dict[str, Any]] = {}
        for sid in journal.systems(number):
            rec = journal.last(number, sid, f"{sid}/cutover")
            at = None
            if rec is not None and rec.payload.get("cut_over_at"):
                at = datetime.fromisoformat(str(rec.payload["cut_over_at"]))
            status = rec.status if rec else (
                "never run" if plan is not None and sid in plan.systems else UNLISTED)
            systems[sid] = {"cutover": status, "at": at}
        # a system of the wave that never ran (an --only run moved the others) is not
        # cut over: the wave is not closed over it
        for sid in sorted(_members(journal, estate_dir, number, runs)):
            if sid not in systems:
                systems[sid] = {"cutover": "never run", "at": None}
        names, classified = _system_names(estate_dir), _classified(estate_dir)
        again = last_run_words(journal, number, estate_dir)
        verdict = finalize_verdict(systems, now, soak, names, number, again, where)
        # a classified (涉密) system — a re-imported ledger may mark one after its wave
        # ran — never gets the cloud as its home: after a finalize no fail-back is possible
        secret = [f"{names.get(sid) or sid} is "
                  + classified_refusal(sid, number, holding_wave(journal, sid), names, where)
                  for sid in sorted(systems) if sid in classified]
        unmoved = _hosts_not_moved(journal, estate_dir, number,
                                   [sid for sid, v in systems.items() if v["cutover"] == "done"],
                                   names, again, where)
        if secret or unmoved or not verdict.ok:
            raise StepError(f"wave {number} cannot be finalized: " + "; ".join(
                [*secret, *unmoved, *(verdict.reasons if not verdict.ok else [])]))
        run_id = journal.begin_run(number, {"soak_hours": soak}, kind="finalize",
                                   exclusive=True)
        journal.audit("wave.finalized", None, "ok",
                      {"wave": number, "systems": sorted(systems), "soak_hours": soak,
                       "last_cutover": verdict.cut_over_at.isoformat()
                       if verdict.cut_over_at else None})
        journal.finish_run(run_id, "done")
    return {"wave": number, "finalized": True, "already": False, "finalized_at": None,
            "systems": sorted(systems), "soak_hours": soak,
            "last_cutover": verdict.cut_over_at.isoformat() if verdict.cut_over_at else None,
            "source_deleted": False}
