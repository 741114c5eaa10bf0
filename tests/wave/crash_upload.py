"""Helper run as a child process by the kill -9 test: start wave 1 for one system through
the step engine (real journal, qemu-img, S3), and stall after the first uploaded part so
the test can ``kill -9`` it in the middle of the upload.

    python -m tests.wave.crash_upload ESTATE OPTIONS_JSON
"""

from __future__ import annotations

import json
import sys
import threading
import time

from actions.context import RunContext
from actions.registry import actions_for
from connectors.journal.wave import open_journal
from shangyun.wave.engine import execute
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions, Step, system_steps


def main() -> None:
    """Run until the first part of the first upload is sent, then stall (bounded)."""
    estate, options = sys.argv[1], json.loads(sys.argv[2])
    opts = RunOptions(**options)
    stalled = threading.Event()

    def progress(step: Step, pct: float) -> None:
        if step.kind == "upload" and pct > 0 and not stalled.is_set():
            stalled.set()
            print("UPLOADING", flush=True)
            time.sleep(120)  # the test kills us here; bounded if it does not

    wave = load_wave(estate, 1)
    with open_journal(estate) as j:
        run = j.begin_run(1, {"options": opts.to_dict(), "only": None})
        ctx = RunContext(opts, progress=progress).bind(j, run, 1)
        actions = actions_for(ctx)
        done: dict[str, dict[str, object]] = {}
        for step in system_steps(wave, wave.systems[0], opts):
            done[step.key] = execute(j, run, 1, step, actions[step.kind], done).payload
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main()
