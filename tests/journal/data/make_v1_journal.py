"""How ``journal-v1.db`` and ``journal-v1.json`` were made (journal schema version 1).

This script ran once, against the code of commit a59e0c0 (journal schema version 1, run
options as JSON in the ``note`` column); it does not run against later code, and is kept to
say what the fixture holds: runs of every kind and scope (a whole-wave run with options and
``only``, two bureau runs with flow run ids, a rollback, a finalize, a run journaled before
kinds existed, a crashed run), steps in every status, and an SM3 audit chain.
``journal-v1.json`` is what that code read back; ``test_migration.py`` compares.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def main() -> None:
    """Write the fixture journal and what today's code reads from it."""
    sys.path.insert(0, str(ROOT))
    from shangyun.journal import open_journal
    from shangyun.wave.journal_port import WaveJournal
    from shangyun.wave.steps import Step

    estate = HERE / "v1"
    estate.mkdir(exist_ok=True)
    db = estate / "journal.db"
    for p in estate.glob("journal.db*"):
        p.unlink()
    with open_journal(str(estate), algorithm="sm3", operator="li.na") as j:
        wj = WaveJournal(j)
        whole = wj.begin_run(1, {"options": {"verify": "full", "parallel": 2},
                                 "only": "sys-01", "bureau": None, "flow_run_id": "fr-0"})
        s1 = Step("convert", "sys-01", "sys-01/convert", "convert", {"disk": "a.vmdk"})
        s2 = Step("upload", "sys-01", "sys-01/upload", "upload")
        wj.record(whole, 1, s1, "started", {"path": "/staging/a.qcow2"})
        wj.record(whole, 1, s1, "done", {"digest": "sm3:00ab", "path": "/staging/a.qcow2"})
        wj.record(whole, 1, s2, "started", {"bucket": "b"})
        wj.progress(whole, s2, {"multipart": {"upload_id": "u-1", "parts": [1, 2]}})
        wj.record(whole, 1, s2, "failed", {}, error="TransientError: 503")
        wj.finish_run(whole, "failed")
        b1 = wj.begin_run(1, {"options": {}, "only": None, "bureau": "b1",
                              "flow_run_id": "fr-b1"})
        s3 = Step("convert", "sys-02", "sys-02/convert", "convert")
        wj.record(b1, 1, s3, "started", {"password": "hunter2", "path": "/x"})
        wj.record(b1, 1, s3, "done", {"digest": "sha256:ff"})
        wj.finish_run(b1, "done")
        b2 = wj.begin_run(1, {"options": {"verify": "sample"}, "only": None, "bureau": "b2",
                              "flow_run_id": "fr-b2"})
        s4 = Step("dns", "sys-03", "sys-03/dns", "dns")
        wj.record(b2, 1, s4, "started", {"zone": "gov.example"})
        wj.finish_run(b2, "failed")
        undo = wj.begin_run(1, {"system": "sys-01", "options": {}, "bureau": None},
                            kind="rollback")
        wj.record(undo, 1, s1, "undoing", {"_run_id": whole})
        wj.record(undo, 1, s1, "undone", {"_run_id": whole})
        wj.record(undo, 1, s2, "undoing", {"_run_id": whole})
        wj.record(undo, 1, s2, "undo_failed", {"_run_id": whole}, error="bucket gone")
        wj.finish_run(undo, "failed")
        fin = wj.begin_run(2, {"soak_hours": 24}, kind="finalize")
        wj.finish_run(fin, "done")
        old = j.begin_run(2, note='{"rollback": true}').id  # before run kinds existed
        j.finish_run(old, "done", note="rolled back by hand")
        j.audit("cutover approve", "ok", system="sys-01", details={"token": "t0k", "n": 1})
    # a run whose process died: begun in a child that exits without finishing it
    code = ("import sys; sys.path.insert(0, %r)\n"  # noqa: UP031
            "from shangyun.journal import open_journal\n"
            "from shangyun.wave.journal_port import WaveJournal\n"
            "with open_journal(%r) as j:\n"
            "    WaveJournal(j).begin_run(3, {'options': {}, 'only': None, 'bureau': 'b3',"
            " 'flow_run_id': 'fr-b3'})\n") % (str(ROOT), str(estate))
    subprocess.run([sys.executable, "-c", code], check=True)
    with open_journal(str(estate), create=False) as j:
        wj = WaveJournal(j)
        wj.reconcile()
        want = {
            "runs": {w: wj.runs(w) for w in (1, 2, 3)},
            "params": {r.id: wj.run_params(r.id) for r in j.runs()},
            "last_run": wj.last_run(1), "last_run_b1": wj.last_run(1, bureau="b1"),
            "last_runs_by_bureau": {str(k): v for k, v in wj.last_runs_by_bureau(1).items()},
            "records": [r.__dict__ for r in wj.records(1)],
            "steps": [e.to_dict() for e in j.wave_steps(1)],
            "audit": [e.to_dict() for e in j.audit_entries()],
            "verify": j.verify_audit().to_dict(),
        }
    (HERE / "journal-v1.json").write_text(
        json.dumps(want, indent=1, ensure_ascii=False, sort_keys=True, default=str) + "\n",
        encoding="utf-8")
    src, dst = sqlite3.connect(db), sqlite3.connect(HERE / "journal-v1.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    for p in estate.glob("journal.db*"):
        p.unlink()
    estate.rmdir()


if __name__ == "__main__":
    main()
