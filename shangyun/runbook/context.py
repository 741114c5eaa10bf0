"""The runbook's context: everything a wave's runbook shows, as plain data (no I/O but
reading the estate's files and the journal).

Before the wave: window and bureaus, systems with owners and contacts, the go/no-go
checklist, every step per system (the wave engine's own step list,
:func:`shangyun.wave.builder.wave_steps`) with its estimated duration, the rollback per
system, dependencies, readiness warnings and a sign-off table. After it (when the journal
has runs of the wave): runs, step durations, verification results, failures and rollbacks,
and the final state per system.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Collection, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from shangyun.errors import EstateError
from shangyun.estate import Estate
from shangyun.estate.names import command_arg, names_of, readable
from shangyun.journal.ports import JournalReader
from shangyun.journal.status import RUN_INTERRUPTED, UNDO_FAILED, UNDONE
from shangyun.planner.files import PLAN_FILE, read_plan_meta
from shangyun.planner.inputs import dr_pairs_of
from shangyun.runbook.history import wave_history
from shangyun.runbook.i18n import LANGS, MESSAGES, STEP_TITLES, failure_text, reason_text
from shangyun.runbook.sources import assessment_files, plan_files, to_float, wave_of_systems
from shangyun.wave.builder import wave_steps
from shangyun.wave.classified import classified_ids
from shangyun.wave.estimate import (
    DEFAULT_LINK_MBPS,
    DISK_MBPS,
    LINK_EFFICIENCY,
    bureau_slots,
    estimate_wave,
    human_duration,
    window_verdict,
)
from shangyun.wave.model import SystemWork, WaveWork, estate_index, system_work
from shangyun.wave.plan import csv_groups, wave_groups
from shangyun.wave.runwords import run_words
from shangyun.wave.state import (
    CUT_OVER,
    FAILBACK,
    FAILED_BACK,
    FINISHED,
    PARTIAL,
    PENDING,
    REFUSED,
    ROLLBACK_FAILED,
    ROLLED_BACK,
    ROLLED_BACK_BY_OPERATOR,
    SYSTEM_FAILED,
    WAVE_CUT_OVER,
    WAVE_DONE,
    WAVE_FAILED_BACK,
    WAVE_PARTLY_FAILED_BACK,
    WAVE_PARTLY_ROLLED_BACK,
    WAVE_ROLLED_BACK,
    is_finalized,
    last_rollback,
    latest_runs,
    not_finalizable,
    stays_in_wave,
    wave_state,
)
from shangyun.wave.stepargs import (
    AdaptArgs,
    AdaptPlanned,
    ConvertArgs,
    DataItem,
    DnsArgs,
    FreezeArgs,
    HealthArgs,
    ImportArgs,
    LaunchArgs,
    StartArgs,
    UploadArgs,
    UploadPlanned,
    VerifyArgs,
)
from shangyun.wave.steps import RunOptions, Step, disk_source
from shangyun.wave.unmoved import hosts_never_moved, launched_hosts
from shangyun.words import counted

CHECKS = ("chk_fingerprint", "chk_paths", "chk_ready", "chk_window")
MANUAL_CHECKS = ("chk_backup", "chk_notice", "chk_contacts", "chk_target")
SIGNERS = ("role_bureau", "role_owner", "role_change", "role_engineer", "role_security")


def plan_rates(plan: dict[str, Any]) -> tuple[float, float]:
    """The estimate's rates a plan recorded (``plan.yaml`` options): the link efficiency
    and the local disk speed (MB/s); the defaults for a plan written before they were
    options."""
    opts = plan.get("options") or {}
    return (to_float(opts.get("link_efficiency"), LINK_EFFICIENCY) or LINK_EFFICIENCY,
            to_float(opts.get("disk_mbps"), DISK_MBPS) or DISK_MBPS)


def _wave_work(root: Path, estate: Estate, plan: dict[str, Any], number: int,
               ran_here: tuple[str, ...] = ()) -> WaveWork:
    """The wave as the engine sees it, tolerating disks without a path (warned instead);
    ``ran_here``: systems the journal holds in this wave that the plan now puts elsewhere
    (each shown as its own group)."""
    groups = csv_groups(root, number)
    if groups is None:
        groups = wave_groups(plan, number, str(root / PLAN_FILE))
    groups = [*groups, *(("-", [sid]) for sid in ran_here)]
    ix = estate_index(estate)
    systems, bureaus, hosts, disks = ix.systems, ix.bureaus, ix.hosts, ix.disks
    out = []
    for gid, sids in groups:
        for sid in sids:
            if sid not in systems:
                raise EstateError(f"{root / 'plan' / 'move_groups.csv'}: wave {number} names "
                                  f"system {sid!r}, which is not in systems.csv")
            out.append(system_work(systems[sid], bureaus, hosts.get(sid, []), disks, gid,
                                   strict=False))
    return WaveWork(number=number, estate_dir=str(root),
                    plan_fingerprint=str(plan.get("estate_fingerprint") or ""),
                    estate_fingerprint=estate.fingerprint(), systems=tuple(out))


def _run_options(journal: JournalReader | None, number: int) -> RunOptions | None:
    """The options of the wave's latest ``run``-kind run, so its steps read as the run did
    them (its bucket, staging folder, target; the journal's step keys name them); None when
    it never ran (or its options cannot be read: the defaults then)."""
    if journal is None:
        return None
    runs = [r for r in journal.runs(wave=number) if r.kind == "run"]
    if not runs:
        return None
    try:
        return RunOptions(**(runs[-1].begun_with().get("options") or {}))
    except TypeError:  # options of another version: the defaults
        return None


def _undo_text(t: Any, step: Step) -> str:
    p = step.planned
    fields = {name: str(getattr(p, name, "")) for name in
              ("path", "bucket", "key", "volume", "name", "zone")}
    if isinstance(p, AdaptPlanned):
        fields["path"] = ", ".join(p.paths)
    fields["item"] = step.args.id if isinstance(step.args, DataItem) else ""
    return str(t(f"undo_{step.kind}", **fields))


def step_title(lang: str, t: Any, step: Step, system: SystemWork) -> str:
    """A step's title for a reader in ``lang``, from :data:`STEP_TITLES` and the step's
    args (the engine's own title, English, serves logs and Prefect)."""
    a, p = step.args, step.planned
    kind = step.kind
    hosts = {h.id: h.hostname for h in system.hosts}
    fields: dict[str, Any]
    if kind == "precheck" or kind == "cutover":
        fields = {"name": system.name}
    elif isinstance(a, AdaptArgs):
        fields = {"host": a.hostname, "mode": a.mode}
    elif isinstance(a, ConvertArgs):
        disk_host = {d.id: d.host_id for d in system.disks}.get(step.key.rsplit("/", 1)[-1])
        fields = {"src": disk_source(a.source, hosts.get(disk_host or "", "")),
                  "fmt": a.source_format, "to": a.target_format}
    elif isinstance(a, UploadArgs) and isinstance(p, UploadPlanned):
        fields = {"file": PurePosixPath(a.path).name, "bucket": p.bucket, "key": p.key}
    elif isinstance(a, ImportArgs):
        fields = {"bucket": a.bucket, "key": a.key, "target": a.target, "volume": a.volume}
    elif isinstance(a, LaunchArgs):
        host_id = step.key.rsplit("/", 1)[-1]
        fields = {"host": hosts.get(host_id, host_id), "target": a.target, "name": a.name}
    elif isinstance(a, DataItem):
        fields = {"kind": a.kind, "item": a.id}
    elif isinstance(a, FreezeArgs):
        what = []
        if a.domains:
            what.append(t("freeze_domains", names=", ".join(d.name for d in a.domains)))
        if a.databases:
            what.append(t("freeze_dbs", names=", ".join(d.id for d in a.databases)))
        fields = {"name": system.name, "what": "; ".join(what)}
    elif isinstance(a, VerifyArgs):
        fields = {"n": len(a.items)}
    elif isinstance(a, StartArgs):
        fields = {"hosts": ", ".join(h.name for h in a.hosts)}
    elif isinstance(a, DnsArgs):
        fields = {"zone": a.zone}
    elif isinstance(a, HealthArgs):
        fields = {"n": len(a.checks)}
    else:  # a kind the catalogue does not title: the engine's words
        return step.title
    return STEP_TITLES[kind][LANGS.index(lang)].format(**fields)


def _dr_partners(estate: Estate, plan: dict[str, Any], waves_of: dict[str, int],
                 names: dict[str, str], t: Any) -> dict[str, list[str]]:
    """Per system, its DR partners in the reader's language, each with the wave it moves
    in (the estate's ``dr_primary`` and the plan's ``--dr-pair``s), so the team cutting one
    over knows where the other one is."""
    options = plan.get("options") or {}
    declared = tuple((str(a), str(b)) for a, b in options.get("dr_pairs") or [])
    sysdf = estate.tables["systems"]
    out: dict[str, list[str]] = {}
    for standby, primary in ((s, p) for s, p, _w in dr_pairs_of(sysdf, declared)):
        for me, other, key in ((standby, primary, "dr_primary_is"),
                               (primary, standby, "dr_standby_is")):
            wave = waves_of.get(other)
            where = t("dr_in_wave", n=wave) if wave is not None else t("not_moving")
            out.setdefault(me, []).append(t(key, name=names.get(other) or other, where=where))
    return out


def build_context(estate_dir: str | Path, number: int, t: Any,
                  options: RunOptions | None = None,
                  journal: JournalReader | None = None, lang: str = "en") -> dict[str, Any]:
    """The whole runbook of wave ``number`` as plain data; ``t`` is the translator of
    ``lang``.
    ``journal`` (None: the wave never ran) says what happened."""
    root = Path(estate_dir)
    estate = Estate.load(root, check=False)
    plan = read_plan_meta(root)
    pf, af = plan_files(root), assessment_files(root)
    waves_of = wave_of_systems(pf)
    history = wave_history(journal, number)
    known = {str(r["id"]) for r in estate.rows("systems")}
    # a re-plan put a system that ran here into another wave (or none): while this wave
    # still holds it (moved, cut over, failed …) it is shown here, as `wave status` does
    ran_here = tuple(sid for sid, h in history["systems"].items()
                     if waves_of.get(sid) != number and sid in known
                     and stays_in_wave(h["state"], planned_here=False))
    wave = _wave_work(root, estate, plan, number, ran_here)
    opts = options or _run_options(journal, number) or RunOptions(
        staging_dir=str(root / "staging"))
    eff, disk_mbps = plan_rates(plan)
    sys_rows = {r["id"]: r for r in estate.rows("systems")}
    names = names_of(estate, "system")  # commands a person copies name systems by name
    bureaus = {r["id"]: r for r in estate.rows("bureaus")}
    hosts = {r["id"]: r for r in estate.rows("hosts")}
    used = {d["id"]: float(d["used_gb"]) for d in estate.rows("disks")
            if d.get("used_gb") is not None}
    readiness = {r["system_id"]: r for r in af["systems"]}
    reasons = {r["system"]: r.get("reasons", "") for r in pf["systems"]}
    partners = _dr_partners(estate, plan, waves_of, names, t)
    excluded = {r["system"]: r.get("reason", "") for r in pf["excluded"]}
    warnings: list[dict[str, str]] = [
        {"system": sid, "text": t("warn_replanned", n=number, w=waves_of[sid])
         if sid in waves_of else t("warn_unplanned", n=number)} for sid in ran_here]
    if wave.plan_fingerprint != wave.estate_fingerprint:
        warnings.append({"system": "", "text": t("warn_fingerprint")})
    ids = {s.id for s in wave.systems}
    wave_plan = wave_steps(wave, opts)
    # bureaus whose windows fall on the same date share the run's workers
    day = {r.get("bureau_id"): r.get("date", "") for r in pf["windows"]
           if str(r.get("wave")) == str(number)}
    estimate = estimate_wave(wave, wave_plan, used, day, eff, disk_mbps,
                             {h: to_float(r.get("disk_gb")) for h, r in hosts.items()})
    systems = []
    for s in wave.systems:
        row = sys_rows[s.id]
        link = s.link_mbps
        if link is None:
            link = DEFAULT_LINK_MBPS
            warnings.append({"system": s.id, "text": t("warn_no_link",
                                                        bureau=_label(s.bureau_id, bureaus),
                                                        mbps=DEFAULT_LINK_MBPS)})
        steps = []
        for st, secs in zip(wave_plan[s.id], estimate.steps[s.id], strict=True):
            steps.append({"key": st.key, "kind": st.kind, "kind_label": t(f"kind_{st.kind}"),
                          "title": step_title(lang, t, st, s), "seconds": secs,
                          "estimate": human_duration(secs),
                          "undo": _undo_text(t, st)})
        hostnames = {h.id: h.hostname for h in s.hosts}
        for d in s.disks:
            if not d.path:
                warnings.append({"system": s.id, "text": t(
                    "warn_no_path", disk=d.name or d.id,
                    host=hostnames.get(d.host_id) or d.host_id)})
        # a host with no disk in the estate (a ledger gives its size, not its disks): the
        # wave converts nothing for it; the plan counted its disk_gb and its copy time, and
        # so does this (its size unknown: the estimate is unknown, never a guess)
        bare = [h for h in s.hosts if not h.disks]
        unsized = estimate.unsized.get(s.id, [])
        for h in bare:
            if h.id not in estimate.bare:
                warnings.append({"system": s.id, "text": t("warn_no_disks_unsized",
                                                            host=h.hostname)})
                continue
            warnings.append({"system": s.id, "text": t(
                "warn_no_disks", host=h.hostname,
                gb=f"{to_float(hosts[h.id].get('disk_gb')) or 0:,.0f}",
                est=human_duration(estimate.bare[h.id]))})
        a = readiness.get(s.id, {})
        if a.get("readiness") in ("conditional", "not ready") and a.get("reasons"):
            for reason in str(a["reasons"]).split(" | "):
                warnings.append({"system": s.id, "text": f"{_readiness(t, a['readiness'])}："
                                 f"{reason_text(lang, reason)}" if lang == "zh" else
                                 f"{a['readiness']}: {reason}"})
        deps = _dependencies(estate, s.id, ids, sys_rows, hosts, waves_of, excluded, number, t)
        warnings.extend({"system": s.id, "text": d["warning"]} for d in deps if d["warning"])
        hist = history["systems"].get(s.id, {"steps": [], "state": "pending"})
        # the steps that ran out of the plan's (n/m), and beside them those it does not
        # list: a fail-back's, or a step a re-plan dropped — never "15/13 steps"
        keys = {st["key"] for st in steps}
        ran = [st for st in hist["steps"] if st["key"] in keys]
        others = [st for st in hist["steps"] if st["key"] not in keys]
        back = sum(1 for st in others if st["kind"].startswith(FAILBACK))
        extra = " ".join(x for x in (
            t("failback_steps", n=back, what=counted(back, "fail-back step")) if back else "",
            t("unplanned_steps", n=len(others) - back,
              what=counted(len(others) - back, "step")) if len(others) > back else "") if x)
        total = estimate.seconds(s.id)
        systems.append({
            "id": s.id, "name": s.name, "bureau": s.bureau_id, "bureau_name": s.bureau_name,
            "cmd": command_arg("system", s.id, names),
            "owner": row.get("owner") or "", "phone": row.get("phone") or "",
            "criticality": _criticality(t, row.get("criticality") or ""),
            "move_group": s.move_group,
            "hosts": [{"hostname": h.hostname, "ip": hosts[h.id].get("ip") or "",
                       "os": " ".join(x for x in (hosts[h.id].get("os") or "",
                                                  hosts[h.id].get("os_version") or "") if x),
                       "cpu": h.cpu_cores, "memory_gb": h.memory_gb,
                       "disks": len(h.disks)} for h in s.hosts],
            "data_gb": round(sum(used.get(d.id, d.size_gb) for d in s.disks)
                             + sum(to_float(hosts[h.id].get("disk_gb")) or 0.0 for h in bare),
                             1),
            "hosts_without_disks": [h.hostname for h in bare],
            "link_mbps": link, "readiness": a.get("readiness", ""),
            "readiness_label": _readiness(t, a.get("readiness", "")),
            "plan_reasons": reasons.get(s.id, ""), "steps": steps, "seconds": total,
            "dr_partners": partners.get(s.id, []),
            "estimate": t("unknown") if unsized else human_duration(total),
            "unsized": unsized, "rollback": list(reversed(steps)),
            "slots": bureau_slots(link), "offset": estimate.offsets[s.id],
            "dependencies": deps, "history": hist, "state": hist["state"],
            "ran_steps": len(ran), "other_steps": extra})
    windows = _windows(pf["windows"], number, bureaus, systems, estimate.spans, t, warnings)
    wrow = next((w for w in pf["waves"] if str(w.get("wave")) == str(number)), {})
    # once the wave ran, the pre-run checks judge only what is still to run (not moved:
    # failed, rolled back, pending …); a moved system's bureau needs no window any more
    left = [s for s in systems if s["state"] not in FINISHED]
    judged = left if history["runs"] and left else systems
    checks = _checks(wave, judged, [w for w in windows if w["bureau"] in
                                    {s["bureau"] for s in judged}], warnings, t)
    ran_with = _run_options(journal, number)
    out = outcome(number, systems, history["runs"], t, classified_ids(estate),
                  _never_moved(systems, estate.rows("hosts")),
                  run_words(ran_with.to_dict() if ran_with else None, root))
    return {
        "wave": number, "estate": estate.meta.get("name", root.name),
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "start": wrow.get("start", ""), "pilot": str(wrow.get("pilot", "")).lower() == "true",
        "windows": windows, "bureaus": sorted({s["bureau"] for s in systems}),
        "systems": systems, "checks": checks,
        "verdict": verdict(checks, t, number if is_finalized(history["runs"]) else None,
                           ran=out["label"] if history["runs"] else None, left=len(left)),
        "warnings": [{**w, "system": _label(w["system"], sys_rows)} if w["system"] else w
                     for w in warnings],
        "signers": [t(r) for r in SIGNERS], "efficiency": eff,
        "move_groups": wave.move_groups, "runs": history["runs"],
        "ran": bool(history["runs"]),
        "step_count": sum(len(s["steps"]) for s in systems),
        "failures": [{"system": s["id"], "name": s["name"], **f,
                      "error": failure_text(t, _one_line(f["error"], 600))} for s in systems
                     for f in s["history"].get("failures", [])],
        "earlier_failures": [{"system": s["id"], "name": s["name"], **f,
                              "error": failure_text(t, _one_line(f["error"], 600))}
                             for s in systems
                             for f in s["history"].get("earlier_failures", [])],
        "rollbacks": _rollbacks(systems, t),
        "outcome": out,
    }


def _one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _rollbacks(systems: list[dict[str, Any]], t: Any) -> list[dict[str, Any]]:
    """One entry per system with undone steps: how many, of which kinds, and any undo
    that failed (not one line per step)."""
    out = []
    for s in systems:
        undone = s["history"].get("rolled_back", [])
        if not undone:
            continue
        return_kinds: dict[str, int] = {}
        for st in undone:
            return_kinds[st["kind"]] = return_kinds.get(st["kind"], 0) + 1
        failed = [st for st in undone if st["status"] == UNDO_FAILED]
        secs = sum(st.get("undo_seconds") or 0.0 for st in undone)
        out.append({"system": s["id"], "name": s["name"], "state": s["state"],
                    "undone": sum(st["status"] == UNDONE for st in undone),
                    "steps": len(undone),
                    "kinds": ", ".join(f"{t('kind_' + k) if ('kind_' + k) in MESSAGES else k}"
                                       f" ×{n}" for k, n in return_kinds.items()),
                    "undo_failed": [{"key": st["key"],
                                     "error": failure_text(t, _one_line(st["error"]))}
                                    for st in failed],
                    "duration": human_duration(secs) if secs >= 0.1 else ""})
    return out


def _never_moved(systems: list[dict[str, Any]],
                 hosts: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Cut-over system id -> the hostnames the estate gives it that its run never moved
    (:func:`shangyun.wave.unmoved.hosts_never_moved`, the judgement ``wave finalize``
    makes)."""
    launched = {s["id"]: launched_hosts((st["key"], st["kind"], st["status"])
                                        for st in s["history"].get("steps", []))
                for s in systems if s["state"] == CUT_OVER}
    return hosts_never_moved(launched, hosts)


def outcome(number: int, systems: list[dict[str, Any]], runs: list[dict[str, Any]],
            t: Any, classified: Collection[str] = (),
            never_moved: Mapping[str, list[str]] | None = None,
            again: str = "") -> dict[str, Any]:
    """What the wave did, for the runbook's first screen: the wave's one state
    (:func:`shangyun.wave.state.wave_state`), what moved, what rolled back (or was refused)
    and why, and what needs a decision, each with the command to take it up.
    ``classified``: the ids the estate marks classified (涉密) — a wave cut over with one
    of them does not say to finalize (it would refuse) but how to bring it home.
    ``never_moved``: cut-over system id -> hostnames the estate gives it that its run never
    moved (:func:`_never_moved`) — finalize refuses those too: the runbook says how to move
    each whole. ``again``: the options that repeat the wave's last run
    (:func:`shangyun.wave.runwords.run_words`), given to every ``wave run`` it suggests so
    the command is accepted as printed (a libvirt run without ``--target-uri`` is not)."""
    latest = latest_runs(runs)
    state = wave_state((r["status"] for r in latest.values()),
                       {s["id"]: s["state"] for s in systems})

    interrupted = {r["id"] for r in runs if r.get("reason") == RUN_INTERRUPTED}

    def why(s: dict[str, Any]) -> str:
        errors = [f for f in s["history"].get("failures", []) if f["status"] != UNDO_FAILED]
        if errors:
            f = errors[0]
            step = f["key"].split("/", 1)[-1]  # the system is named already: its step
            kind = t("kind_" + f["kind"]) if ("kind_" + f["kind"]) in MESSAGES else f["kind"]
            error = failure_text(t, _unprefixed(_one_line(f["error"]), s, f["key"]))
            return f"{kind} `{step}`: {error}"
        undone = s["history"].get("rolled_back", [])
        undoers = {st.get("undone_by") for st in undone}
        if undoers == {"run"} and undone and all(
                st.get("run_id") in interrupted for st in undone):
            return t("why_interrupted")  # Ctrl-C: the run undid what it was moving
        return t("why_group") if undoers == {"run"} else t("why_undone")

    rollback = last_rollback(runs) or {}
    by_operator = t("why_operator", at=rollback.get("ended") or rollback.get("started") or "?",
                    who=rollback.get("operator") or "?")
    whys = {ROLLED_BACK_BY_OPERATOR: by_operator}
    moved = [s for s in systems if s["state"] in FINISHED]
    back = [{"name": s["name"], "id": s["id"], "state": s["state"],
             "why": t("why_failed_back", n=number, sid=s.get("cmd") or s["id"], again=again)
             if s["state"] == FAILED_BACK else whys.get(s["state"]) or why(s)}
            for s in systems
            if s["state"] in (ROLLED_BACK, REFUSED, FAILED_BACK, ROLLED_BACK_BY_OPERATOR)]
    decide = []
    for s in systems:
        st = s["state"]
        if st in (ROLLED_BACK, REFUSED):
            action = t("decide_rerun", n=number, sid=s.get("cmd") or s["id"], again=again)
        elif st == ROLLBACK_FAILED:
            keys = ", ".join(f"`{x['key']}`" for x in s["history"]["steps"]
                             if x["status"] == UNDO_FAILED)
            action = t("decide_undo_failed", keys=keys, n=number, sid=s.get("cmd") or s["id"])
        elif st in (SYSTEM_FAILED, PARTIAL):
            action = t("decide_resume", n=number, sid=s.get("cmd") or s["id"])
        else:
            continue
        decide.append({"name": s["name"], "id": s["id"], "state": st, "action": action})
    pending = [s for s in systems if s["state"] == PENDING]
    refused = not_finalizable({s["id"]: s["state"] for s in systems}) \
        if state == WAVE_CUT_OVER else []  # moved disks-only: finalize would refuse them
    secret = [s for s in systems if s["id"] in set(classified)] \
        if state == WAVE_CUT_OVER else []  # classified: finalize would refuse them
    never_moved = never_moved or {}
    unmoved = [s for s in systems if s["id"] in never_moved] \
        if state == WAVE_CUT_OVER else []  # hosts never moved: finalize would refuse them
    label = (t("wave_cut_over_mixed",
                 cut=", ".join(s["name"] or s["id"] for s in systems if s["state"] == CUT_OVER),
                 disks=", ".join(s["name"] or s["id"] for s in systems if s["id"] in refused))
             if refused else t(f"wave_{state.replace(' ', '_')}"))  # disks-only: not on target
    return {"state": state, "label": label,
            "ok": state in (WAVE_DONE, WAVE_CUT_OVER), "ran": bool(runs),
            "failed_back": state in (WAVE_FAILED_BACK, WAVE_PARTLY_FAILED_BACK,
                                     WAVE_ROLLED_BACK, WAVE_PARTLY_ROLLED_BACK),
            "finalize": (t("finalize_refused_classified", n=number, names=", ".join(
                             s["name"] or s["id"] for s in secret), home="; ".join(
                             _home_commands(number, s) for s in secret))
                         if secret else
                         t("finalize_refused_unmoved", n=number, names=", ".join(
                             f"{s['name'] or s['id']} ({', '.join(never_moved[s['id']])})"
                             for s in unmoved), home="; ".join(
                             _move_whole_commands(number, s, again) for s in unmoved))
                         if unmoved else
                         t("finalize_refused", n=number, again=again, names=", ".join(
                             s["name"] or s["id"] for s in systems if s["id"] in refused))
                         if refused else
                         t("pending_finalize", n=number) if state == WAVE_CUT_OVER else ""),
            "summary": t("outcome_summary", moved=len(moved), total=len(systems),
                         back=len(back), decide=len(decide), pending=len(pending)),
            "moved": [{"name": s["name"], "id": s["id"],
                       "cut_over": s["state"] == CUT_OVER} for s in moved],
            "rolled_back": back, "decide": decide,
            "pending": [{"name": s["name"], "id": s["id"]} for s in pending]}


def _home_commands(number: int, system: dict[str, Any]) -> str:
    """The commands that bring a system of wave ``number`` home, as code spans: a cut-over
    one is failed back, then rolled back; any other rolled back."""
    arg = system.get("cmd") or system["id"]
    back = f"shangyun wave rollback {number} --system {arg}"
    return (f"`{back} --fail-back` → `{back}`" if system["state"] == CUT_OVER
            else f"`{back}`")


def _move_whole_commands(number: int, system: dict[str, Any], again: str = "") -> str:
    """The commands that move a cut-over system of wave ``number`` whole, as code spans:
    fail it back, then run it again (with ``again``, the last run's options)."""
    arg = system.get("cmd") or system["id"]
    return (f"`shangyun wave rollback {number} --system {arg} --fail-back` → "
            f"`shangyun wave run {number} --only {arg}{again}`")


def _unprefixed(error: str, system: dict[str, Any], key: str) -> str:
    """``error`` without a leading ``system <id or name>[, step <key>]: `` (the outcome
    line names the system and the step already)."""
    for who in (system["id"], system.get("name") or "", f"{system.get('name')} "
                f"({system['id']})"):
        for head in (f"system {who}, step {key}: ", f"system {who}: ", f"{who}: "):
            if who and error.startswith(head):
                return error[len(head):]
    return error


def _criticality(t: Any, criticality: str) -> str:
    """A criticality (``low`` … ``critical``) in the document's language; as stored when
    the catalogue lacks it."""
    key = f"criticality_{criticality}"
    return t(key) if key in MESSAGES else criticality


def _readiness(t: Any, readiness: str) -> str:
    """A readiness (``ready``, ``conditional``, ``not ready``) for a reader; as stored when
    the catalogue lacks it."""
    key = f"readiness_{readiness}"
    return t(key) if key in MESSAGES else readiness


def _label(ident: str, rows: dict[str, Any]) -> str:
    """A system or bureau for a reader: its name (``name (id)`` when another row of
    ``rows`` has the same name; the id alone when it has none)."""
    return readable(ident, {k: str((r or {}).get("name") or "") for k, r in rows.items()})


def _dependencies(estate: Estate, sid: str, ids: set[str], sys_rows: dict[str, Any],
                  hosts: dict[str, Any], waves_of: dict[str, int], excluded: dict[str, str],
                  number: int, t: Any) -> list[dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for d in estate.rows("dependencies"):
        src = d.get("source_system") or (hosts.get(d.get("source_host") or "") or {}).get(
            "system_id")
        dst = d.get("target_system") or (hosts.get(d.get("target_host") or "") or {}).get(
            "system_id")
        if not src or not dst or src == dst or sid not in (src, dst):
            continue
        other, direction = (dst, "depends_on") if src == sid else (src, "used_by")
        wave = waves_of.get(other)
        where = (t("this_wave") if other in ids else
                 t("not_moving") if other in excluded or wave is None else f"{wave}")
        warning = ""
        if direction == "depends_on" and other not in ids:
            if other in excluded or wave is None:
                warning = t("warn_not_moving", other=_label(other, sys_rows))
            elif wave > number:
                warning = t("warn_later", other=_label(other, sys_rows), wave=wave)
        key = (direction, other)
        if key in out:
            out[key]["ports"].add(str(d.get("port") or ""))
            continue
        out[key] = {"direction": direction, "label": t(direction), "other": other,
                    "other_name": (sys_rows.get(other) or {}).get("name", other),
                    "where": where, "type": d.get("type") or "", "warning": warning,
                    "ports": {str(d.get("port") or "")}}
    for v in out.values():
        v["ports"] = ", ".join(sorted(p for p in v["ports"] if p and p != "None"))
    return list(out.values())


def _windows(rows: list[dict[str, Any]], number: int, bureaus: dict[str, Any],
             systems: list[dict[str, Any]], spans: dict[str, float], t: Any,
             warnings: list[dict[str, str]]) -> list[dict[str, Any]]:
    data: dict[str, float] = {}
    unsized: set[str] = set()  # bureaus with a host of no known size: estimate unknown
    for s in systems:
        data[s["bureau"]] = data.get(s["bureau"], 0.0) + s["data_gb"]
        if s["unsized"]:
            unsized.add(s["bureau"])
    out = []
    seen = set()
    for r in rows:
        if str(r.get("wave")) != str(number):
            continue
        bid = r.get("bureau_id", "")
        seen.add(bid)
        cap, hours = to_float(r.get("capacity_gb")), to_float(r.get("hours"))
        gb = data.get(bid, to_float(r.get("data_gb")))
        fits = not cap or gb <= cap
        span = spans.get(bid, 0.0)  # the bureau's part of the schedule
        link = (bureaus.get(bid) or {}).get("link_mbps")
        verdict = window_verdict(link, hours, cap, gb, span, sized=bid not in unsized)
        if verdict["missing"]:
            warnings.append({"system": "", "text": t(
                "warn_unknown", bureau=_label(bid, bureaus),
                what=", ".join(_column(m) for m in verdict["missing"]))})
        if not fits:
            warnings.append({"system": "", "text": t("warn_window",
                                                     bureau=_label(bid, bureaus),
                                                     data=round(gb, 1), cap=cap)})
        if hours and span > hours * 3600:
            warnings.append({"system": "", "text": f"{_label(bid, bureaus)}: " + t(
                "warn_estimate", est=human_duration(span), hours=hours)})
        out.append({"bureau": bid, "name": (bureaus.get(bid) or {}).get("name", bid),
                    "date": r.get("date", ""), "start": r.get("start", ""), "hours": hours,
                    "capacity_gb": cap, "data_gb": round(gb, 1), "fits": verdict["ok"] is True,
                    "link_mbps": link,
                    "estimate": t("unknown") if bid in unsized else human_duration(span),
                    **verdict,
                    **_window_texts(t, link, hours, cap)})
    for bid in sorted(set(data) - seen):
        b = bureaus.get(bid) or {}
        hours = to_float(b.get("window_hours")) or None
        verdict = window_verdict(b.get("link_mbps"), hours, None, data[bid],
                                 spans[bid], sized=bid not in unsized)
        verdict["missing"] = sorted({*verdict["missing"], "window_day"})
        verdict["ok"] = None
        warnings.append({"system": "", "text": t(
            "warn_unknown", bureau=_label(bid, bureaus),
            what=", ".join(_column(m) for m in verdict["missing"]))})
        out.append({"bureau": bid, "name": b.get("name", bid), "date": "",
                    "start": str(b.get("window_start") or ""),
                    "hours": hours or 0.0, "capacity_gb": 0.0,
                    "data_gb": round(data[bid], 1), "fits": False,
                    "link_mbps": b.get("link_mbps"),
                    "estimate": t("unknown") if bid in unsized
                    else human_duration(spans[bid]), **verdict,
                    **_window_texts(t, b.get("link_mbps"), hours, None)})
    return out


def _column(missing: str) -> str:
    """The estate column a window's ``missing`` entry names (a bare name is the bureau's)."""
    return missing if "." in missing else f"bureaus.{missing}"


def _window_texts(t: Any, link: Any, hours: float | None, cap: float | None) -> dict[str, str]:
    unknown = t("unknown")
    return {"link_text": f"{link:g}" if isinstance(link, int | float) and link else unknown,
            "hours_text": f"{hours:g}" if hours else unknown,
            "capacity_text": f"{cap:,.1f}" if cap else unknown}


def _window_check(windows: list[dict[str, Any]], t: Any) -> dict[str, Any]:
    """Check "each bureau's data and estimated time fit its window": failed, unknown (what
    to fill in) or OK; never OK while a window is unknown."""
    bad = [w for w in windows if w["ok"] is False]
    unknown = [w for w in windows if w["ok"] is None]
    names = {w["bureau"]: w["name"] for w in windows}
    if bad:
        result = t("attention") + ": " + "; ".join(
            f"{readable(w['bureau'], names)}: " + ", ".join(t(f"window_{x}") for x in w["why"])
            for w in bad)
    elif unknown:
        result = t("unknown_fill", what="; ".join(
            f"{readable(w['bureau'], names)}: " + ", ".join(_column(m) for m in w["missing"])
            for w in unknown))
    else:
        result = t("ok")
    return {"text": t("chk_window"), "auto": True, "ok": not bad and not unknown,
            "result": result}


def verdict(checks: list[dict[str, Any]], t: Any, closed: int | None = None,
            ran: str | None = None, left: int = 0) -> dict[str, Any]:
    """GO when every automatic check passed, else NO-GO with the checks that did not.
    ``closed``: the number of a finalized wave — nothing of it will run again, so its
    runbook reads as what happened: no go/no-go (``go`` None, ``closed`` True), the
    checklist kept below as what was checked before its runs. ``ran``: the wave's state in
    words, once it ran (the journal's, :func:`outcome`), and ``left`` how many of its
    systems are still to run (not moved): none left, the verdict is what the journal says
    (``go`` None, no reasons); some left, the journal's state, then GO / NO-GO for them
    (``checks`` judged on those systems only: a window is a pre-run judgement)."""
    if closed is not None:
        return {"go": None, "closed": True, "label": t("verdict_closed", n=closed),
                "reasons": []}
    if ran is not None and not left:
        return {"go": None, "closed": False, "label": t("verdict_ran", state=ran),
                "reasons": []}
    failed = [c for c in checks if c["auto"] and not c["ok"]]
    go = t("go") if not failed else t("no_go")
    return {"go": not failed, "closed": False,
            "label": go if ran is None else t("verdict_rest", state=ran, n=left,
                                              what=counted(left, "system"), go=go),
            "reasons": [f"{c['text']}: {c['result']}" for c in failed]}


def _checks(wave: WaveWork, systems: list[dict[str, Any]], windows: list[dict[str, Any]],
            warnings: list[dict[str, str]], t: Any) -> list[dict[str, Any]]:
    """The go/no-go checklist over ``systems`` (the wave's, or those still to run) and
    their bureaus' ``windows``."""
    ids = {s["id"] for s in systems}
    results = {
        "chk_fingerprint": wave.plan_fingerprint == wave.estate_fingerprint,
        "chk_paths": all(d.path for s in wave.systems if s.id in ids for d in s.disks)
        and not any(s["hosts_without_disks"] for s in systems),
        "chk_ready": all(s["readiness"] != "not ready" for s in systems),
    }
    out = [{"text": t(k), "auto": True, "ok": v,
            "result": t("ok") if v else t("attention")} for k, v in results.items()]
    if not results["chk_fingerprint"]:  # say what changed and what to do, not "Attention"
        out[0]["result"] = t("chk_fingerprint_changed",
                             estate=shlex.quote(str(wave.estate_dir)))
    out.append(_window_check(windows, t))
    out += [{"text": t(k), "auto": False, "ok": None, "result": t("confirm")}
            for k in MANUAL_CHECKS]
    return out


__all__ = ["build_context"]
