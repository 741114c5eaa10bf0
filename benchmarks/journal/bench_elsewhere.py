"""N19's check per data step: ``actions.data.production_elsewhere`` on a programme's journal.

Every ``copy``, ``delta`` and ``verify`` step asks whether another system of the journal, in
any wave, is in production on its target. The journal is built with ``--systems`` systems
spread over ``--waves`` waves (each system one run's worth of steps: pre-check, convert,
upload, import, launch, two copies, freeze, delta, verify, start, DNS, health, cutover, all
done; payloads of realistic size), written in bulk straight into the SQL tables (the check
reads no audit record). Timed: the check as it was (a Python walk over ``waves()``,
``systems()``, ``last()`` and ``records()``, kept here verbatim as ``walk``) and as it is
(``production_elsewhere``: one query through :meth:`WaveJournal.production_copies`), for a
target nobody is in production on (the usual answer: every system looked at).

Usage: .venv/bin/python benchmarks/journal/bench_elsewhere.py [--systems 500] [--waves 10]
       [--repeat 20] [--target DIR-or-URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy.orm import Session

from actions.data import _target_key, production_elsewhere, traffic_switched
from connectors.journal import open_journal
from connectors.journal.models import StepRow
from connectors.journal.wave import SqlWaveJournal
from shangyun.journal.status import UNDONE
from shangyun.wave.engine import cut_over
from shangyun.wave.stepargs import DataItem, as_record, from_record

KINDS = ("precheck", "convert/d0", "upload/d0", "import/d0", "launch", "copy/db",
         "copy/files", "freeze", "delta/db", "verify", "start", "dns", "health", "cutover")


def walk(journal: SqlWaveJournal, wave: int, system_id: str,
         item: DataItem) -> tuple[int, str] | None:
    """The check before this change (one query per system and wave, and every record)."""
    want = _target_key(item)
    for w in journal.waves():
        for other in journal.systems(w):
            if (w, other) == (wave, system_id):
                continue
            if not (cut_over(journal, w, other) or traffic_switched(journal, w, other)):
                continue
            for rec in journal.records(w, other):
                if rec.kind != "copy" or rec.status == UNDONE or not rec.payload.get("item"):
                    continue
                if _target_key(from_record(DataItem, rec.payload["item"])) == want:
                    return w, other
    return None


def _item(sid: str, which: str) -> DataItem:
    if which == "db":
        return DataItem("db", "db", "postgresql",
                        {"host": f"{sid}.bureau.example", "port": 5432, "dbname": sid,
                         "user": "shangyun", "password_env": "PGPASSWORD"},
                        {"host": "db.cloud.example", "port": 5432, "dbname": sid,
                         "user": "shangyun", "password_env": "TARGET_PGPASSWORD"})
    return DataItem("files", "files", "rsync",
                    {"host": f"{sid}.bureau.example", "port": 22, "user": "shangyun",
                     "key_file": "/etc/shangyun/id", "known_hosts": "/etc/shangyun/kh",
                     "path": "/srv/data"}, f"/srv/cloud/{sid}")


def build(target: str, systems: int, waves: int) -> None:
    """A journal of ``systems`` systems over ``waves`` waves, every step done."""
    j = open_journal(target)
    try:
        runs = [j.begin_run(w + 1).id for w in range(waves)]
        t0 = dt.datetime(2026, 12, 1)
        with Session(j.engine) as s:
            n = 0
            for i in range(systems):
                w = i % waves
                sid = f"sys-{i:04d}"
                for kind in KINDS:
                    n += 1
                    undo: dict[str, Any] = {"_kind": kind.split("/")[0],
                                            "note": "x" * 200}
                    if kind.startswith("copy/"):
                        undo["item"] = as_record(_item(sid, kind.split("/")[1]))
                    at = t0 + dt.timedelta(seconds=n)
                    s.add(StepRow(run_id=runs[w], wave=w + 1, system=sid,
                                  step=f"{sid}/{kind}", status="done", attempt=1,
                                  started_at=at, ended_at=at, updated_at=at, error=None,
                                  undo=undo, result={"seconds": 1.0}))
            s.commit()
    finally:
        j.close()


def main() -> None:
    """Build the journal, then time the walk and the query alternately."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", type=int, default=500)
    ap.add_argument("--waves", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--target", help="a journal target (default: a fresh SQLite estate)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        target = a.target or tmp
        build(target, a.systems, a.waves)
        nobody = _item("nobody", "db")
        found = _item(f"sys-{a.systems - 1:04d}", "db")
        j = open_journal(target)
        try:
            wj = SqlWaveJournal(j)
            assert walk(wj, 99, "x", found) == production_elsewhere(wj, 99, "x", found)
            assert walk(wj, 99, "x", nobody) is None is production_elsewhere(wj, 99, "x",
                                                                             nobody)
            times: dict[str, list[float]] = {"walk (before)": [], "one query (after)": []}
            for _ in range(a.repeat):
                for name, fn in (("walk (before)", walk),
                                 ("one query (after)", production_elsewhere)):
                    t = time.perf_counter()
                    fn(wj, 99, "x", nobody)  # type: ignore[operator]
                    times[name].append(time.perf_counter() - t)
        finally:
            j.close()
    print(f"{a.systems} systems x {len(KINDS)} steps over {a.waves} waves "
          f"({'SQLite' if not a.target or '://' not in a.target else a.target.split(':')[0]})")
    for name, ts in times.items():
        print(f"  {name:20s} min {min(ts) * 1e3:8.1f} ms   median "
              f"{statistics.median(ts) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
