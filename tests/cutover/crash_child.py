"""Child process for the kill -9 test: run the given cutover steps through the journal of
an estate folder (``python crash_child.py SPEC.json``). The parent kills it mid-way."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actions.context import RunContext
from actions.registry import actions_for
from actions.rollback import run_system_steps
from connectors.journal.wave import open_journal
from shangyun.wave.steps import RunOptions, Step


def main() -> None:
    """Run the steps; print the outcome (if it ever gets there)."""
    spec = json.loads(Path(sys.argv[1]).read_text())
    steps = [Step.from_dict(s) for s in spec["steps"]]
    with open_journal(spec["estate"]) as journal:
        run_id = journal.begin_run(1, {"options": {}})
        ctx = RunContext(RunOptions()).bind(journal, run_id, 1)
        print(json.dumps(run_system_steps(journal, run_id, 1, steps, actions_for(ctx))))
        ctx.close()
        journal.finish_run(run_id, "done")


if __name__ == "__main__":
    main()
