"""A lock holder in its own OS process, for the lock tests.

``python -m tests.locks.holder SYSTEM_ID HOLD OUT_FILE`` enters a real SERIALIZABLE Prefect
transaction on the system's Redis lock (``$SHANGYUN_REDIS_URL``, lease from
``$SHANGYUN_LOCK_LEASE``) and keeps it for HOLD: a number of seconds, or ``until:PATH`` (until
that file exists, at most 60 s). It appends ``ready``, ``enter`` and ``leave`` lines with
wall-clock times to OUT_FILE (or ``busy <message>``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def _note(out: Path, word: str) -> None:
    with out.open("a") as f:
        f.write(f"{word} {time.time():.6f}\n")


def _hold(hold: str) -> None:
    if not hold.startswith("until:"):
        time.sleep(float(hold))
        return
    flag = Path(hold.removeprefix("until:"))
    deadline = time.monotonic() + 60
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv: list[str]) -> int:
    """Hold the lock of ``argv[0]`` as ``argv[1]`` says, noting times in ``argv[2]``."""
    system_id, hold, out = argv[0], argv[1], Path(argv[2])
    from prefect.transactions import IsolationLevel, transaction

    from connectors.locks import SystemBusyError, system_lock_key, system_lock_store

    store = system_lock_store()
    _note(out, "ready")
    try:
        with transaction(key=system_lock_key(system_id), store=store,
                         isolation_level=IsolationLevel.SERIALIZABLE, write_on_commit=False,
                         overwrite=True):
            _note(out, "enter")
            _hold(hold)
            _note(out, "leave")
    except SystemBusyError as exc:
        with out.open("a") as f:
            f.write(f"busy {exc}\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
