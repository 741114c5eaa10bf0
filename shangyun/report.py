"""The estate report and the programme's status: progress by bureau and wave, systems moved /
pending / excluded, and the assessment's before/after (utilisation, servers, cost).

Pure: reads the estate, ``plan/``, ``assessment/`` and the journal (read-only).

::

    data = programme_status("inventories/x", journal=j)  # plain data (``status --json``)
    text, charts = render_report("inventories/x", fmt="html", lang="zh")
    path = write_report("inventories/x", fmt="md", lang="en")   # <estate>/runbooks/report.en.md
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from shangyun import charts
from shangyun.estate import Estate
from shangyun.journal.ports import JournalReader
from shangyun.runbook.api import write_document
from shangyun.runbook.history import wave_history
from shangyun.runbook.i18n import translator
from shangyun.runbook.render import render
from shangyun.runbook.sources import assessment_files, plan_files, to_float, wave_of_systems
from shangyun.wave.state import (
    FAILED_BACK,
    FINISHED,
    PENDING,
    REFUSED,
    ROLLED_BACK,
    ROLLED_BACK_BY_OPERATOR,
    latest_runs,
    progress_bucket,
    wave_state,
)


def _bucket(state: str) -> str:
    return progress_bucket(state)


def programme_status(estate_dir: str | Path, *,
                     journal: JournalReader | None = None) -> dict[str, Any]:
    """Where the programme stands, as plain JSON-able data (see the module docstring);
    ``journal`` (``connectors.journal.history.open_reader``; None: nothing ran yet) says
    what the waves did."""
    root = Path(estate_dir)
    estate = Estate.load(root, check=False)
    summary = estate.summary()
    pf, af = plan_files(root), assessment_files(root)
    waves_of = wave_of_systems(pf)
    excluded = {r["system"]: r.get("reason", "") for r in pf["excluded"]}
    for r in af["systems"]:
        if r.get("excluded") and r["system_id"] not in excluded:
            excluded[r["system_id"]] = r["excluded"]
    ran = {r.wave for r in journal.runs()} if journal is not None else set()
    histories = {n: wave_history(journal, n) for n in sorted(set(waves_of.values()) | ran)}
    state_of: dict[str, str] = {}
    for n, h in histories.items():
        for sid, s in h["systems"].items():
            if waves_of.get(sid) == n:
                state_of[sid] = s["state"]
    # A re-plan may put a system that already ran into another wave (or none): while the
    # wave that ran it still holds it (moved, cut over, failed, …), it counts there, as
    # ``wave status`` of that wave shows it, never as pending in the new one.
    ran_in: dict[str, int] = {}
    for n, h in histories.items():
        for sid, s in h["systems"].items():
            if (waves_of.get(sid) != n and state_of.get(sid, PENDING) == PENDING
                    and s["state"] not in (PENDING, ROLLED_BACK, ROLLED_BACK_BY_OPERATOR,
                                           REFUSED)):
                state_of[sid], ran_in[sid] = s["state"], n
    waves_of = {**waves_of, **ran_in}
    bureaus = {b["id"]: b for b in estate.rows("bureaus")}
    per_bureau: dict[str, dict[str, Any]] = {}
    systems = []
    for s in estate.rows("systems"):
        sid = s["id"]
        state = ("excluded" if sid in excluded else
                 state_of.get(sid, "pending" if sid in waves_of else "unplanned"))
        bucket = "excluded" if state == "excluded" else _bucket(state)
        b = per_bureau.setdefault(s["bureau_id"], {
            "id": s["bureau_id"], "name": (bureaus.get(s["bureau_id"]) or {}).get(
                "name", s["bureau_id"]), "systems": 0, "moved": 0, "pending": 0,
            "failed": 0, "excluded": 0, "failed_back": 0, "rolled_back_by_operator": 0})
        b["systems"] += 1
        b[bucket] += 1
        b["failed_back"] += state == FAILED_BACK
        b["rolled_back_by_operator"] += state == ROLLED_BACK_BY_OPERATOR
        systems.append({"id": sid, "name": s["name"], "bureau": s["bureau_id"],
                        "bureau_name": per_bureau[s["bureau_id"]]["name"],
                        "wave": waves_of.get(sid), "state": state,
                        "excluded_reason": excluded.get(sid, "")})
    waves = []
    wave_rows = pf["waves"] or [{"wave": n} for n in sorted(set(waves_of.values()))]
    for w in wave_rows:
        n = int(to_float(w.get("wave")))
        members = [s for s in systems if s["wave"] == n]
        runs = histories.get(n, {"runs": []})["runs"]
        waves.append({"wave": n, "start": w.get("start", ""), "systems": len(members),
                      "hosts": int(to_float(w.get("hosts"))),
                      "data_gb": to_float(w.get("data_gb")),
                      "bureaus": [b for b in str(w.get("bureaus", "")).split(";") if b],
                      "bureau_names": [str((bureaus.get(b) or {}).get("name") or b)
                                       for b in str(w.get("bureaus", "")).split(";") if b],
                      "runs": len(runs),
                      "state": wave_state((r["status"] for r in latest_runs(runs).values()),
                                          {s["id"]: s["state"] for s in members}),
                      "last_run": runs[-1]["id"] if runs else None,
                      "moved": sum(s["state"] in FINISHED for s in members),
                      "failed": sum(_bucket(s["state"]) == "failed" for s in members),
                      "failed_back": sum(s["state"] == FAILED_BACK for s in members),
                      "rolled_back_by_operator": sum(s["state"] == ROLLED_BACK_BY_OPERATOR
                                                     for s in members)})
    totals = {k: sum(b[k] for b in per_bureau.values())
              for k in ("systems", "moved", "pending", "failed", "excluded", "failed_back",
                        "rolled_back_by_operator")}
    meta = af["meta"] or {}
    return {
        "estate": summary["name"] or root.name, "path": str(root),
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "counts": summary["counts"], "disk_gb": summary["disk_gb"],
        "disk_gb_unlisted": summary["disk_gb_unlisted"],
        "assessment": meta.get("summary"), "assessed": meta.get("created"),
        "plan": {"created": (pf["plan"] or {}).get("created"),
                 "metrics": (pf["plan"] or {}).get("metrics")} if pf["plan"] else None,
        "journal": journal.target if journal is not None else None, "waves": waves,
        "bureaus": list(per_bureau.values()),
        "systems": systems, "totals": totals,
        "excluded": [s for s in systems if s["state"] == "excluded"],
    }


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.0f} %"


def before_after(assessment: dict[str, Any] | None, t: Any) -> list[dict[str, str]]:
    """The assessment's before/after rows (utilisation, servers, vCPU, memory, cost)."""
    if not assessment:
        return []
    b, a = assessment["before"], assessment["after"]
    cur = assessment.get("currency", "CNY")
    rows = [(t("cpu_util"), _pct(b.get("cpu_utilisation")), _pct(a.get("cpu_utilisation"))),
            (t("servers"), str(b["physical_servers"]), str(a["physical_servers"])),
            (t("vcpu"), str(b["vcpu"]), str(a["vcpu"])),
            (t("memory_gb"), str(b["memory_gb"]), str(a["memory_gb"])),
            (t("monthly_cost"), f"{b['monthly_cny']:,.0f} {cur}", f"{a['monthly_cny']:,.0f} {cur}")]
    out = [{"measure": m, "before": x, "after": y} for m, x, y in rows]
    if assessment.get("saving_pct") is not None:
        out.append({"measure": t("saving"), "before": "", "after": f"{assessment['saving_pct']} %"})
    return out


def render_report(estate_dir: str | Path, fmt: str = "md", lang: str = "zh", *,
                  image_prefix: str = "",
                  journal: JournalReader | None = None) -> tuple[str, dict[str, bytes]]:
    """The report's text and its PNG chart (``progress``); HTML embeds it."""
    t = translator(lang)
    data = programme_status(estate_dir, journal=journal)
    labels = {k: t(k) for k in ("moved", "pending", "failed", "excluded")}
    png = charts.progress_png([{**b, "label": b["name"]} for b in data["bureaus"]], labels,
                              t("progress"))
    image = charts.data_uri(png) if fmt == "html" else f"{image_prefix}progress.png"
    text = render("report", fmt, lang, {**data, "image": image,
                                        "before_after": before_after(data["assessment"], t)})
    return text, {"progress": png}


def write_report(estate_dir: str | Path, fmt: str = "md", lang: str = "zh",
                 out: str | Path | None = None, *,
                 journal: JournalReader | None = None) -> Path:
    """Render and write the report (default ``<estate>/runbooks/report.<lang>.<fmt>``)."""
    path = Path(out) if out else Path(estate_dir) / "runbooks" / f"report.{lang}.{fmt}"
    text, pngs = render_report(estate_dir, fmt, lang, image_prefix=f"{path.stem}.",
                               journal=journal)
    return write_document(path, text, pngs if fmt == "md" else None)


__all__ = ["before_after", "programme_status", "render_report", "write_report"]
