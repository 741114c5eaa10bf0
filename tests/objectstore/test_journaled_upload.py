"""An upload whose resumable state lives in the journal: kill -9, reconcile, resume, undo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from connectors.journal import open_journal
from connectors.objectstore import MiB, ObjectStore
from shangyun.digest import digest_bytes
from shangyun.journal import DONE, RUN_CRASHED, UNDONE

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
    from connectors.objectstore import ObjectStore
    from connectors.journal import open_journal
    j = open_journal({estate!r}, algorithm="sm3", operator="night-shift")
    run = j.begin_run(2)
    start = j.step_started(run, "sys-1", "upload", undo={{"bucket": {bucket!r},
                                                          "key": "sys-1/disk0.img"}})
    print(run.id, flush=True)
    store = ObjectStore({endpoint!r}, part_size=5 << 20, concurrency=1)
    def save(state):
        j.step_progress(run, "sys-1", "upload", undo={{"upload": state}})
    def progress(done, total):
        print(done // (5 << 20), flush=True)
    store.upload_file({path!r}, {bucket!r}, "sys-1/disk0.img", algorithm="sm3",
                      on_state=save, progress=progress)
    print("finished", flush=True)
"""


def test_upload_state_in_the_journal_survives_kill_and_undo_works(
        s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    estate.mkdir()
    path = tmp_path / "disk0.img"
    data = os.urandom(25 * MiB)
    path.write_bytes(data)
    code = textwrap.dedent(CHILD).format(estate=str(estate), bucket=bucket,
                                         endpoint=s3_endpoint, path=str(path))
    child = subprocess.Popen([sys.executable, "-c", code],
                             env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = child.stdout.readline().strip()  # type: ignore[union-attr]
        assert run_id.startswith("w2-"), child.stderr.read()  # type: ignore[union-attr]
        for _ in range(10):
            line = child.stdout.readline().strip()  # type: ignore[union-attr]
            assert line and line != "finished", child.stderr.read()  # type: ignore[union-attr]
            if int(line) >= 2:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)

    with open_journal(estate) as j, ObjectStore(s3_endpoint, part_size=5 * MiB) as store:
        assert [r.id for r in j.reconcile()] == [run_id]
        assert j.get_run(run_id).status == RUN_CRASHED
        run = j.resume_run(run_id)
        start = j.step_started(run, "sys-1", "upload")
        assert not start.skip and start.entry.attempt == 2
        state: dict[str, Any] = start.entry.undo["upload"]
        sent: list[int] = []
        store.client.meta.events.register("before-send.s3.UploadPart",
                                          lambda **_: sent.append(1))
        res = store.upload_file(path, bucket, "sys-1/disk0.img", resume=state)
        assert res.upload_id == state["upload_id"] and res.parts_reused >= 2
        assert res.parts_sent == len(sent) == res.parts_total - res.parts_reused
        assert res.digest == f"sm3:{digest_bytes(data, 'sm3')}"  # algorithm from the state
        done = j.step_done(run, "sys-1", "upload", result=res.to_dict(), undo=res.to_dict())
        assert done.status == DONE and done.result["parts_sent"] == len(sent)

        # rollback from the journal alone, twice
        for _ in range(2):
            for e in j.steps_to_undo(run, "sys-1"):
                j.mark_undoing(run, "sys-1", e.step)
                store.undo(e.undo)
                j.mark_undone(run, "sys-1", e.step)
        assert store.stat(bucket, "sys-1/disk0.img") is None
        assert j.step(run, "sys-1", "upload").status == UNDONE
        assert j.verify_audit().ok
        actions = [e.action for e in j.audit_entries(run=run_id)]
        assert actions == ["run begin", "step upload", "run crashed", "run resume",
                           "step upload", "step upload", "step upload", "step upload"]
