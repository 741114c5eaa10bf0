"""The lab comes up twice (idempotent), repairs a dead host, and goes down clean."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab import LabError, LabState, down, status, up
from lab.build import NET_RESERVATIONS, lab_tag
from lab.hosts import pid_alive
from shangyun.cli import main
from tests.lab_support import can_run_lab

pytestmark = pytest.mark.skipif(can_run_lab() is not None, reason=str(can_run_lab()))


def _netns_with(tag: str) -> list[str]:
    d = Path("/run/netns")
    return [n for n in os.listdir(d) if n.startswith(f"sy{tag}")] if d.is_dir() else []


def _links_with(tag: str) -> list[str]:
    return [n for n in os.listdir("/sys/class/net") if n.startswith(f"sy{tag}")]


@pytest.fixture()
def lab_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="shangyun-lab-life-"))
    d.chmod(0o755)
    yield d
    if (d / "lab.json").exists():
        down(d)
    if d.is_dir() and not any(d.iterdir()):
        d.rmdir()


def test_up_twice_repair_and_down_clean(lab_dir: Path) -> None:
    first = up(lab_dir, bureaus=1)
    tag = first.tag
    reservation = NET_RESERVATIONS / first.net.split(".")[1]
    assert reservation.read_text() == str(lab_dir)  # parallel labs cannot take this net
    assert len(first.hosts) == 4
    pids = {h.id: h.pid for h in first.hosts}
    assert all(pid_alive(p) for p in pids.values())
    assert len(_netns_with(tag)) == 4

    t0 = time.monotonic()
    second = up(lab_dir, bureaus=1)
    assert time.monotonic() - t0 < 10
    assert {h.id: h.pid for h in second.hosts} == pids  # nothing restarted
    assert [i.sha256 for i in second.images] == [i.sha256 for i in first.images]
    assert Path(second.known_hosts).read_text() == Path(first.known_hosts).read_text()

    # kill one host: the next `up` restarts exactly that one
    victim = second.host("b01-fs01")
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(victim.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    st = status(lab_dir)
    assert st["up"] == 3 and st["total"] == 4
    third = up(lab_dir, bureaus=1)
    changed = {h.id for h in third.hosts if h.pid != pids[h.id]}
    assert changed == {"b01-fs01"}
    assert status(lab_dir)["up"] == 4

    all_pids = [h.pid for h in third.hosts] + list(pids.values())
    res = down(lab_dir)
    assert res["hosts_stopped"] == 4
    assert not lab_dir.exists()
    assert not reservation.exists()
    assert _netns_with(tag) == []
    assert _links_with(tag) == []
    assert not any(pid_alive(p) for p in all_pids)
    # a second down is harmless
    assert down(lab_dir)["hosts_stopped"] == 0


def test_up_with_other_sizes_keeps_what_still_fits(lab_dir: Path) -> None:
    small = up(lab_dir, bureaus=1, hosts=5)
    assert [h.id for h in small.hosts][-1] == "b01-web01"
    web = small.host("b01-web01")
    big = up(lab_dir, bureaus=2)
    kept = {h.id: h.pid for h in small.hosts if h.id != "b01-web01"}
    assert {h.id: h.pid for h in big.hosts if h.id in kept} == kept
    assert "b01-web01" not in {h.id for h in big.hosts}
    assert not pid_alive(web.pid) and web.netns not in _netns_with(big.tag)
    assert status(lab_dir)["up"] == 7
    down(lab_dir)
    assert _netns_with(big.tag) == []


def test_up_over_a_corrupt_state_file_starts_afresh(lab_dir: Path) -> None:
    first = up(lab_dir, bureaus=1)
    (lab_dir / "lab.json").write_text("{not json")
    second = up(lab_dir, bureaus=1)
    assert not any(pid_alive(h.pid) for h in first.hosts)  # the old processes were swept
    assert all(pid_alive(h.pid) for h in second.hosts)
    assert status(lab_dir)["up"] == 4
    down(lab_dir)
    assert _netns_with(second.tag) == []


def test_down_without_state_file_still_cleans(lab_dir: Path) -> None:
    state = up(lab_dir, bureaus=1)
    (lab_dir / "lab.json").unlink()
    down(lab_dir)
    assert not (NET_RESERVATIONS / state.net.split(".")[1]).exists()
    assert _netns_with(state.tag) == []
    assert not any(pid_alive(h.pid) for h in state.hosts)
    assert not lab_dir.exists()


@pytest.mark.slow  # TCG boots / lab bring-up: kept out of the 45-min suite
def test_cli_up_status_down(lab_dir: Path) -> None:
    r = CliRunner()
    res = r.invoke(main, ["lab", "up", "--dir", str(lab_dir), "--bureaus", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert '"hosts"' in res.output
    res = r.invoke(main, ["lab", "status", "--dir", str(lab_dir), "--json"])
    assert res.exit_code == 0, res.output
    assert '"up": 4' in res.output
    res = r.invoke(main, ["lab", "down", "--dir", str(lab_dir)])
    assert res.exit_code == 0 and not lab_dir.exists()
    assert _netns_with(lab_tag(lab_dir)) == []
    res = r.invoke(main, ["lab", "status", "--dir", str(lab_dir)])
    assert res.exit_code == 1 and "no lab here" in res.output


def test_bad_arguments_are_clear_errors(lab_dir: Path) -> None:
    with pytest.raises(LabError, match="fewer than the 7 hosts"):
        up(lab_dir, bureaus=2, hosts=3)
    with pytest.raises(LabError, match="no lab here"):
        LabState.load(lab_dir)
    assert list(lab_dir.iterdir()) == []  # nothing written


@pytest.mark.slow
def test_200_hosts_come_up_fast(lab_dir: Path) -> None:
    t0 = time.monotonic()
    state = up(lab_dir, bureaus=2, hosts=200)
    took = time.monotonic() - t0
    assert len(state.hosts) == 200
    assert status(lab_dir)["up"] == 200
    assert took < 60, f"200-host lab took {took:.1f} s"
    down(lab_dir)
    assert _netns_with(state.tag) == []


def test_loopback_fallback_without_namespaces(lab_dir: Path) -> None:
    from tests.lab.helpers import run

    state = up(lab_dir, bureaus=1, mode="loopback")
    assert state.mode == "loopback" and state.bridge == ""
    assert _netns_with(state.tag) == []
    app, auth = state.host("b01-app01"), state.host("b01-auth01")
    assert app.ip.startswith("127.") and app.port == 2222
    assert run(state, app, "echo ok").strip() == "ok"  # real sshd, key + known_hosts
    pairs = [f"{app.ip}:", f"{auth.ip}:8443"]
    deadline = time.monotonic() + 30
    seen = False
    while not seen and time.monotonic() < deadline:
        ss = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True,
                            text=True, check=True, timeout=30).stdout
        seen = any(all(p in line for p in pairs) and '"java"' in line
                   for line in ss.splitlines())
        time.sleep(0.2)
    assert seen, "app → auth connection not seen from the app's own loopback address"
    pids = [h.pid for h in state.hosts]
    down(lab_dir)
    assert not any(pid_alive(p) for p in pids)
    ss = subprocess.run(["ss", "-tlnH"], capture_output=True, text=True, check=True,
                        timeout=30).stdout
    assert app.ip not in ss and auth.ip not in ss


def test_a_second_up_seeds_a_database_the_first_left_unseeded(lab_dir: Path) -> None:
    """A lab up that failed after starting its hosts (the real guest's boot) left their
    PostgreSQL without role shangyun and appdb, and a second up, finding the hosts running,
    did not seed them: wave 1's database copy failed ('role "shangyun" does not exist')."""
    import psycopg

    first = up(lab_dir, bureaus=1)
    db = next(h for h in first.hosts if h.database and h.database.engine == "postgresql")
    assert db.database is not None
    with psycopg.connect(host=db.ip, port=db.database.port, user="postgres",
                         dbname="postgres", autocommit=True, connect_timeout=5) as c:
        c.execute("drop database appdb with (force)")
        c.execute("drop role shangyun")
    second = up(lab_dir, bureaus=1)
    assert {h.id: h.pid for h in second.hosts} == {h.id: h.pid for h in first.hosts}
    with psycopg.connect(host=db.ip, port=db.database.port, user="shangyun", dbname="appdb",
                         autocommit=True, connect_timeout=5) as c:
        row = c.execute("select count(*) from orders").fetchone()
    assert row is not None and row[0] == 1000
