"""The lab's object store: moto's S3-compatible server on 127.0.0.1, the wave's staging.

``lab up`` starts it (or keeps the running one), ``lab down`` stops it by its pid; its URL is
``LabState.s3_endpoint``. Any access key works (moto checks none); the wave reads them from
the environment as it would for a real store.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from lab import hosts as hx
from lab.state import LabError

LOG_FILE = "objectstore.log"
PID_FILE = "objectstore.pid"  # also found without the state file (down over a lost state)
_DETACHED: list[subprocess.Popen[bytes]] = []  # outlives this process; `lab down` stops it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str, timeout: float = 1.0) -> bool:
    host, _, port = url.removeprefix("http://").partition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _is_moto(pid: int) -> bool:
    try:
        return b"moto" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def ensure(lab_dir: Path, url: str = "", pid: int = 0, timeout: float = 30.0
           ) -> tuple[str, int]:
    """Keep the object store at ``url`` (process ``pid``) if it still runs and answers, else
    start a new one; returns ``(url, pid)``."""
    if url and pid and hx.pid_alive(pid) and _is_moto(pid) and _answers(url):
        return url, pid
    stop(pid)
    port = _free_port()
    log = lab_dir / LOG_FILE
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"the lab's object store (moto) exited with {proc.returncode}; "
                           f"see {log}")
        if _answers(url, timeout=0.5):
            _DETACHED.append(proc)
            (lab_dir / PID_FILE).write_text(f"{proc.pid}\n", encoding="ascii")
            return url, proc.pid
        time.sleep(0.1)
    stop(proc.pid)
    raise LabError(f"the lab's object store (moto) did not answer on {url} within "
                   f"{timeout:.0f} s; see {log}")


def stop(pid: int) -> None:
    """Stop the object store's process (only if ``pid`` is moto's)."""
    if pid and hx.pid_alive(pid) and _is_moto(pid):
        hx.stop_pids([pid])


def stop_recorded(lab_dir: Path) -> None:
    """Stop the object store whose pid the lab folder records (works without a state)."""
    try:
        pid = int((lab_dir / PID_FILE).read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return
    stop(pid)
