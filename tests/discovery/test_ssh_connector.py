"""The SSH connector against real sshd: host keys, auth, timeouts, jump hosts, limits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from connectors.ssh import (
    ChangedHostKeyError,
    CommandTimeoutError,
    SSHPool,
    SSHSettings,
    SSHTarget,
    SSHTimeoutError,
    UnknownHostKeyError,
    UnreachableError,
    known_hosts_name,
    parse_jump,
)
from shangyun.discovery import gather_script, parse_output
from shangyun.errors import AuthError, HostKeyError
from tests.discovery.conftest import Hosts


def _pool(h: Hosts, **kw: float) -> SSHPool:
    settings = SSHSettings(str(h.key), str(h.known_hosts), connect_timeout=kw.pop("t", 2.0),
                           banner_timeout=2.0, auth_timeout=2.0,
                           command_timeout=kw.pop("cmd", 30.0), retries=int(kw.pop("r", 1)),
                           retry_delay=0.05)
    return SSHPool(settings, max_connections=int(kw.pop("max", 8)))


def test_gather_script_runs_in_one_session(sshd_hosts: Hosts) -> None:
    s = sshd_hosts.good[0]
    with _pool(sshd_hosts) as pool:
        res = pool.run_script(SSHTarget(s.address, s.port, name="h0"),
                              gather_script(sample_seconds=0.1))
    facts = parse_output(res.stdout)
    assert res.exit_status == 0 and res.attempts == 1
    assert facts["_complete"] and facts["_errors"] == {}
    assert facts["session"]["server_port"] == s.port
    listening = {c["local_port"] for c in facts["tcp"] if c["state"] == "listen"}
    assert s.port in listening
    assert facts["cpu"]["cores"] >= 1 and facts["memory"]["total_kib"] > 0


def test_unknown_host_key_is_refused(sshd_hosts: Hosts) -> None:
    s = sshd_hosts.unknown
    with _pool(sshd_hosts) as pool, pytest.raises(UnknownHostKeyError) as err:
        pool.run_script(SSHTarget(s.address, s.port, name="new-host"), "echo hi")
    assert "new-host" in str(err.value) and "not in known_hosts" in str(err.value)
    assert err.value.status == "unknown-host-key"


def test_changed_host_key_is_refused(sshd_hosts: Hosts) -> None:
    s = sshd_hosts.changed
    with _pool(sshd_hosts) as pool, pytest.raises(ChangedHostKeyError) as err:
        pool.run_script(SSHTarget(s.address, s.port), "echo hi")
    assert "CHANGED" in str(err.value) and str(s.port) in str(err.value)
    assert isinstance(err.value, HostKeyError)


def test_wrong_client_key_is_auth_error_and_not_retried(sshd_hosts: Hosts) -> None:
    s = sshd_hosts.wrong_key
    with _pool(sshd_hosts, r=3) as pool:
        start = time.monotonic()
        with pytest.raises(AuthError) as err:
            pool.run_script(SSHTarget(s.address, s.port, name="db9"), "echo hi")
    assert "db9" in str(err.value) and "authentication refused" in str(err.value)
    assert time.monotonic() - start < 2.0


def test_dead_port_is_retried_then_unreachable(sshd_hosts: Hosts, dead_port: int) -> None:
    with _pool(sshd_hosts, r=2) as pool, pytest.raises(UnreachableError) as err:
        pool.run_script(SSHTarget("127.0.0.1", dead_port), "echo hi")
    assert "connection refused" in str(err.value)
    assert err.value.attempts == 3  # type: ignore[attr-defined]


def test_silent_host_times_out(sshd_hosts: Hosts, silent_port: int) -> None:
    with _pool(sshd_hosts, t=0.5, r=0) as pool:
        pool.settings = SSHSettings(str(sshd_hosts.key), str(sshd_hosts.known_hosts),
                                    connect_timeout=0.5, banner_timeout=0.5, retries=0)
        start = time.monotonic()
        with pytest.raises(SSHTimeoutError) as err:
            pool.run_script(SSHTarget("127.0.0.1", silent_port, name="hung"), "echo hi")
    assert "hung" in str(err.value)
    assert time.monotonic() - start < 5


def test_command_timeout_is_not_retried(sshd_hosts: Hosts) -> None:
    s = sshd_hosts.good[0]
    start = time.monotonic()
    with _pool(sshd_hosts, cmd=0.5, r=2) as pool, pytest.raises(SSHTimeoutError) as err:
        pool.run_script(SSHTarget(s.address, s.port, name="stuck"), "sleep 5")
    assert "stuck" in str(err.value) and "not retried" in str(err.value)
    assert err.value.attempts == 1  # type: ignore[attr-defined]
    assert err.value.status == "timeout"
    assert time.monotonic() - start < 1.5   # one try, not three


def test_command_timeout(sshd_hosts: Hosts) -> None:
    s = sshd_hosts.good[0]
    with _pool(sshd_hosts, cmd=0.5, r=0) as pool, pytest.raises(SSHTimeoutError) as err:
        pool.run_script(SSHTarget(s.address, s.port), "echo before; sleep 5; echo after")
    assert "did not finish" in str(err.value)
    assert isinstance(err.value, CommandTimeoutError)
    assert err.value.partial_output == "before\n"  # what came before the timeout is kept


def test_jump_host_tunnels_and_is_verified(sshd_hosts: Hosts) -> None:
    target, jump = sshd_hosts.good[0], sshd_hosts.good[1]
    with _pool(sshd_hosts) as pool:
        res = pool.run_script(SSHTarget(target.address, target.port,
                                        jump=f"root@{jump.address}:{jump.port}"),
                              "echo $SSH_CONNECTION")
        assert res.stdout.split()[3] == str(target.port)
        # a jump host that may not forward: the target is never reached directly
        with pytest.raises(UnreachableError) as err:
            pool.run_script(SSHTarget(target.address, target.port,
                                      jump=f"{sshd_hosts.no_forwarding.address}:"
                                           f"{sshd_hosts.no_forwarding.port}"), "echo hi")
        assert "jump host" in str(err.value)
        # a jump host whose key is unknown is refused like any host
        with pytest.raises(UnknownHostKeyError) as err2:
            pool.run_script(SSHTarget(target.address, target.port,
                                      jump=f"{sshd_hosts.unknown.address}:"
                                           f"{sshd_hosts.unknown.port}"), "echo hi")
        assert "jump host" in str(err2.value)


def _peak(pool: SSHPool, targets: list[SSHTarget]) -> dict[str, int]:
    """Run ``sleep 0.3`` on every target at once; the peak of open connections, overall
    (``""``) and per bureau."""
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    lock = threading.Lock()
    orig = pool._connect

    def bump(keys: tuple[str, ...], n: int) -> None:
        with lock:
            for k in keys:
                active[k] = active.get(k, 0) + n
                peak[k] = max(peak.get(k, 0), active[k])

    def counting(target: SSHTarget):  # type: ignore[no-untyped-def]
        client = orig(target)
        keys = ("", target.bureau) if target.bureau else ("",)
        bump(keys, 1)
        real_close = client.close

        def close() -> None:
            bump(keys, -1)
            real_close()

        client.close = close  # type: ignore[method-assign]
        return client

    pool._connect = counting  # type: ignore[method-assign]
    threads = [threading.Thread(target=pool.run_script, args=(t, "sleep 0.3")) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return peak


def test_pool_bounds_connections(sshd_hosts: Hosts) -> None:
    targets = [SSHTarget(s.address, s.port) for s in sshd_hosts.good * 2]
    with _pool(sshd_hosts, max=2) as pool:
        assert _peak(pool, targets)[""] == 2


def test_pool_bounds_each_bureau(sshd_hosts: Hosts) -> None:
    s = sshd_hosts.good
    targets = [SSHTarget(x.address, x.port, bureau="B1") for x in s] + \
        [SSHTarget(x.address, x.port, bureau="B2") for x in s]
    settings = SSHSettings(str(sshd_hosts.key), str(sshd_hosts.known_hosts))
    with SSHPool(settings, max_connections=8, per_bureau=1) as pool:
        peak = _peak(pool, targets)
    assert peak["B1"] == 1 and peak["B2"] == 1 and peak[""] == 2


def test_missing_files_are_clear_errors(tmp_path: Path, sshd_hosts: Hosts) -> None:
    with pytest.raises(AuthError, match="private key file not found"):
        SSHPool(SSHSettings(str(tmp_path / "nokey"), str(sshd_hosts.known_hosts)))
    with pytest.raises(HostKeyError, match="known_hosts file not found"):
        SSHPool(SSHSettings(str(sshd_hosts.key), str(tmp_path / "nofile")))


def test_names() -> None:
    assert known_hosts_name("10.0.0.1", 22) == "10.0.0.1"
    assert known_hosts_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"
    assert parse_jump("ops@jump.b3:2200", "root") == ("ops", "jump.b3", 2200)
    assert parse_jump("jump.b3", "root") == ("root", "jump.b3", 22)
    assert parse_jump("[fd00::1]:22", "u") == ("u", "fd00::1", 22)
