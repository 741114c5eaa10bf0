"""Ctrl-C while an estate table is read: pandas' C reader swallows the KeyboardInterrupt
raised inside its read of the in-memory buffer and raises ``ParserError("… Calling
read(nbytes) on source failed …")`` instead, which the estate turned into "bureaus.csv
cannot be read … — fix or restore the file": a sound file called damaged because the person
pressed Ctrl-C (seen with ``python -m demo --sample``). The interrupt must stay an
interrupt."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd

from shangyun.estate.model import _read_table


def test_ctrl_c_during_a_table_read_is_an_interrupt_never_a_damaged_file(tmp_path: Path) -> None:
    table = tmp_path / "hosts.csv"
    table.write_text("id,hostname,ip\n" + "h-1,web01,10.0.0.1\n" * 600_000, encoding="utf-8")
    t0 = time.perf_counter()
    _read_table(table)
    took = time.perf_counter() - t0
    outcomes: list[str] = []
    for i in range(16):  # SIGINT at points spread over the read
        fired = threading.Event()

        def ctrl_c(delay: float = took * (i + 1) / 17,
                   fired: threading.Event = fired) -> None:
            time.sleep(delay)
            os.kill(os.getpid(), signal.SIGINT)
            fired.set()

        threading.Thread(target=ctrl_c, daemon=True).start()
        try:
            try:
                _read_table(table)
                outcomes.append("read")
            except KeyboardInterrupt:
                outcomes.append("interrupted")
            except pd.errors.ParserError as exc:
                outcomes.append(f"ParserError: {exc}")
            fired.wait(10)
            time.sleep(0.05)
        except KeyboardInterrupt:  # the signal came after the read
            outcomes.append("after")
    assert not [o for o in outcomes if o.startswith("ParserError")], outcomes
    assert "interrupted" in outcomes, outcomes  # the signal did land inside a read
