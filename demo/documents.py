"""The last two lab stages: the wave-1 runbooks and the estate report (written, and published
on the dashboard), then where to look."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from connectors.dashboard import dashboard_status, publish_report, publish_runbook
from connectors.journal.history import open_reader
from demo.cutover import S3_ENV
from demo.state import DemoState, console
from shangyun.errors import ShangyunError
from shangyun.report import programme_status, write_report
from shangyun.runbook import write_runbook
from shangyun.wave.state import CUT_OVER


def stage_documents(st: DemoState) -> str:
    """Write the wave-1 runbook (zh and en, html and md) and the estate report."""
    written = []
    with open_reader(st.estate_dir) as journal:
        for lang in ("zh", "en"):
            for fmt in ("html", "md"):
                written.append(str(write_runbook(st.estate_dir, 1, fmt, lang,
                                                 journal=journal)))
                if st.api_url and fmt == "md":
                    url = publish_runbook(st.estate_dir, 1, lang, journal=journal)
                    console.print(f"  published to the dashboard: {url}", markup=False)
        for lang in ("zh", "en"):
            if st.api_url:
                url = publish_report(st.estate_dir, lang, journal=journal)
                console.print(f"  published to the dashboard: {url}", markup=False)
            written.append(str(write_report(st.estate_dir, "html", lang, journal=journal)))
    st.results["documents"] = written
    missing = [w for w in written if not Path(w).is_file()]
    if missing:
        raise ShangyunError(f"documents not written: {', '.join(missing)}")
    charts = sum(len(list(Path(w).parent.glob(f"{Path(w).stem}.*.png")))
                 for w in written if w.endswith(".md"))
    return (f"{len(written)} documents and {charts} chart images ({len(written) + charts} "
            f"files) in {st.estate_dir / 'runbooks'}")


def stage_where(st: DemoState) -> str:
    """Say where to look."""
    with open_reader(st.estate_dir) as journal:
        data = programme_status(st.estate_dir, journal=journal)
    dashboard = dashboard_status(st.estate_dir, data["waves"])
    c, t = data["counts"], data["totals"]
    console.print(f"estate: {c['bureaus']} bureaus, {c['systems']} systems, {c['hosts']} "
                  f"hosts; systems {t['moved']} moved, {t['pending']} pending, {t['failed']} "
                  f"failed or rolled back, {t['excluded']} excluded")
    for w in data["waves"]:
        run = w.get("flow_run")
        console.print(f"  wave {w['wave']} ({w['start']}): {w['systems']} systems, {w['state']}"
                      + (f" — {run['name']} [{run['state']}] {run['url']}" if run else ""),
                      markup=False)
    lines = [f"estate:     {st.estate_dir}  (CSV tables, open them in Excel)",
             f"plan:       {st.estate_dir / 'plan'}",
             f"runbooks:   {st.estate_dir / 'runbooks'}",
             f"status:     .venv/bin/shangyun status --estate {st.estate_dir}",
             f"lab:        {st.lab.lab_dir if st.lab else st.lab_dir}  "
             "(stop it with: .venv/bin/shangyun lab down"
             + (f" --dir {st.lab_dir})" if st.lab_dir else ")")]
    if dashboard:
        lines.insert(3, f"dashboard:  {dashboard['url']}  (stop: .venv/bin/shangyun "
                        f"server stop --estate {st.estate_dir})")
    for line in lines:
        console.print(f"  {line}", markup=False)
    for line in follow_up(st, data):
        console.print(line, markup=False)
    return "see above"


def follow_up(st: DemoState, data: dict[str, Any]) -> list[str]:
    """The commands a team runs next, and the lab endpoint's credentials they need: the
    fail-back and the DNS switch back talk to the lab's moto server, which reads
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment like any S3/Route 53
    client. Moto checks none: these are dummy values, not secrets (nothing is written to a
    file)."""
    env = " ".join(f"{k}={v}" for k, v in S3_ENV.items())
    cut = [s["name"] for s in data["systems"]  # cut over, not finalized: fail-back possible
           if s["wave"] == 1 and s["state"] == CUT_OVER]
    estate = _arg(str(st.estate_dir))
    lines = ["follow-up commands (in this shell):",
             f"  export SHANGYUN_ESTATE={estate}",
             "  .venv/bin/shangyun wave status 1",
             "  .venv/bin/shangyun runbook 1          # or: report, plan explain NAME"]
    if cut:
        lines += ["the lab cloud's endpoint (its object store and DNS: fail-back, DNS switch "
                  "back) needs credentials in the environment; the lab's moto server checks "
                  "none, so these are dummy values, not secrets:",
                  f"  export {env}",
                  f"  .venv/bin/shangyun wave rollback 1 --system {_arg(cut[0])} "
                  "--fail-back"]
    return lines


def _arg(text: str) -> str:
    """``text`` as one shell word: as is when every character is a letter or digit (any
    script: a Chinese name stays readable) or one of ``-_./:``, else quoted."""
    if text and all(c.isalnum() or c in "-_./:" for c in text):
        return text
    return shlex.quote(text)
