"""``kill -9`` of ``wave finalize`` after it began its run, before it ended it. A finalize
changes nothing but the journal, so the wave is as it was — cut over, awaiting finalize —
and the next step is to finalize again. Seen: ``wave status 1`` and ``status`` said the
wave ``crashed`` (the crashed finalize run taken as the wave's latest), whose next step is
``wave resume`` — which refused: 'its last run … is done; nothing to resume'. Now a
finalize run that did not end done is not the wave's state (the runs table still lists
it), and ``wave finalize`` again closes the wave. A real child process killed with
SIGKILL, the real SQLite journal, the real CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from shangyun.cli import main
from tests.cutover.test_cli_finalize import _estate

ROOT = Path(__file__).resolve().parents[2]


def test_a_killed_finalize_leaves_the_wave_awaiting_finalize(tmp_path: Path) -> None:
    root = _estate(tmp_path, "2020-01-01T00:00:00+00:00")  # sys-1 cut over long ago
    (root / "plan" / "move_groups.csv").write_text("id,wave,systems\nmg-1,1,sys-1\n",
                                                  encoding="utf-8-sig")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from connectors.journal.wave import open_journal
        with open_journal({str(root)!r}) as j:  # as finalize_wave begins its run
            j.begin_run(1, {{"soak_hours": 0}}, kind="finalize", exclusive=True)
            print("begun", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "begun"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    r = CliRunner()
    st = json.loads(r.invoke(main, ["wave", "status", "1", "--estate", str(root),
                                    "--json"]).stdout)
    assert st["state"] == "cut_over" and not st["finalized"], st
    assert [(x["kind"], x["status"]) for x in st["runs"]] == [("run", "done"),
                                                              ("finalize", "crashed")], st
    text = " ".join(r.invoke(main, ["wave", "status", "1", "--estate", str(root)]).output.split())
    assert "crashed" not in text.split("runs:")[0] and "wave finalize 1" in text, text
    prog = json.loads(r.invoke(main, ["status", "--estate", str(root), "--json"]).stdout)
    assert [w["state"] for w in prog["waves"]] == ["cut_over"], prog["waves"]
    done = r.invoke(main, ["wave", "finalize", "1", "--estate", str(root), "--soak-hours", "0",
                           "--json"])
    assert done.exit_code == 0 and json.loads(done.stdout)["finalized"], done.output
    st = json.loads(r.invoke(main, ["wave", "status", "1", "--estate", str(root),
                                    "--json"]).stdout)
    assert st["state"] == "done" and st["finalized"], st
