"""One writer at a time per estate: concurrent ``shangyun inventory import`` processes.

Real processes (the installed ``shangyun`` console script), real files: every import either
lands (its host is in the estate afterwards) or is refused naming the lock's holder; none
exits 0 with its data missing, and none crashes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shangyun.estate import Estate
from shangyun.estate.lock import LOCK_FILE, EstateLockedError, estate_lock
from tests.ledgers.conftest import HOST_HEADER, write_csv

SHANGYUN = str(Path(sys.executable).with_name("shangyun"))
PROCESSES = 8
ROUNDS = 4


def ledger(folder: Path, n: int) -> Path:
    """A one-host ledger whose host is ``h<n>`` of system ``系统<n>``."""
    return write_csv(folder / f"ledger{n}.csv", [
        HOST_HEADER,
        [1, "北京局", f"系统{n}", f"h{n}", f"10.9.{n // 250}.{n % 250 + 1}", "CentOS 7.9",
         4, 8, 100, "二级", "否", "政务外网", "张三", "13800000000"]])


def run_round(estate: Path, ledgers: list[Path], wait: str) -> list[tuple[int, str, str]]:
    env = {**os.environ, "SHANGYUN_ESTATE_LOCK_WAIT": wait}
    procs = [subprocess.Popen([SHANGYUN, "inventory", "import", str(f), "--estate", str(estate),
                               "--no-progress", "--json"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for f in ledgers]
    return [(p.wait(timeout=300), p.stdout.read(), p.stderr.read())  # type: ignore[union-attr]
            for p in procs]


def host_names(estate: Path) -> set[str]:
    return {r["hostname"] for r in Estate.load(estate, check=False).rows("hosts")}


def test_concurrent_imports_land_or_are_refused_naming_the_holder(tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    landed = refused = 0
    for rnd in range(ROUNDS):
        # round 0 starts from no folder at all; even rounds wait, odd rounds refuse at once
        wait = "60" if rnd % 2 == 0 else "0"
        ledgers = [ledger(tmp_path, rnd * PROCESSES + i) for i in range(PROCESSES)]
        results = run_round(estate, ledgers, wait)
        hosts = host_names(estate)
        for f, (rc, out, err) in zip(ledgers, results, strict=True):
            name = f.stem.replace("ledger", "h")
            assert "Traceback" not in out + err, err
            if rc == 0:
                assert json.loads(out)["saved"] is True
                assert name in hosts, f"{f.name}: exit 0 but {name} is not in the estate"
                landed += 1
            else:
                assert "is locked by pid" in out + err and "inventory import" in out + err, err
                assert name not in hosts
                refused += 1
        if wait != "0":
            assert all(rc == 0 for rc, _o, _e in results), "with a wait every import lands"
        assert not list(estate.glob(".estate-staging-*")), "no staging folder is left behind"
    assert landed + refused == PROCESSES * ROUNDS
    assert landed >= PROCESSES * ROUNDS // 2
    print(f"{PROCESSES} processes x {ROUNDS} rounds: {landed} landed, {refused} refused")


def test_refusal_names_pid_host_time_and_command(tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    with estate_lock(estate, "inventory import", create=True):
        env = {**os.environ, "SHANGYUN_ESTATE_LOCK_WAIT": "0.2"}
        p = subprocess.run([SHANGYUN, "inventory", "import", str(ledger(tmp_path, 1)),
                            "--estate", str(estate), "--no-progress"], env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode != 0 and "Traceback" not in p.stderr
        msg = " ".join((p.stdout + p.stderr).split())
        assert f"is locked by pid {os.getpid()} on host" in msg and "since 20" in msg
        assert "(inventory import)" in msg
        try:
            with estate_lock(estate, "test", wait=0):
                raise AssertionError("a second holder in one process must be refused too")
        except EstateLockedError:
            pass
    assert not estate.exists(), "a folder the lock created and nothing filled is removed"


def test_a_dry_run_takes_no_lock_and_creates_nothing(tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    p = subprocess.run([SHANGYUN, "inventory", "import", str(ledger(tmp_path, 2)),
                        "--estate", str(estate), "--no-progress", "--dry-run"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert not estate.exists()
    real = subprocess.run([SHANGYUN, "inventory", "import", str(ledger(tmp_path, 2)),
                           "--estate", str(estate), "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert real.returncode == 0, real.stderr
    assert (estate / LOCK_FILE).read_text() == "", "the holder's record is cleared on release"
