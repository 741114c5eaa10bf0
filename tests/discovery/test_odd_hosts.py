"""Discovery against hosts not shaped like the lab's: real sshd, each in its own mount
namespace where ``ss``, ``netstat``, ``ip`` and ``lsblk`` are missing (a stub that exits 127
is bind-mounted over each) and ``/etc/passwd`` adds login users whose shell is dash, bash
with a ``.bashrc`` that prints a banner without a newline, or one that drops the connection
in the middle of the run. The real CLI discovers them all in one run."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from tests.discovery.sshd import SshdFarm

MISSING = ("ss", "netstat", "ip", "lsblk")


@pytest.fixture(scope="module")
def odd_farm() -> Iterator[tuple[SshdFarm, dict[str, int]]]:
    """Six sshd (root, noisy bash user, dash user, dropping user, nologin user, a user on
    a host where df hangs), one port each."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare (mount namespaces)")
    root = Path(tempfile.mkdtemp(prefix="sy-odd-"))
    os.chmod(root, 0o755)  # the login users read authorized_keys and their home here
    farm = SshdFarm(root / "farm")
    try:
        os.chmod(root / "farm", 0o755)
        os.chmod(root / "farm" / "authorized_keys", 0o644)
        home = root / "home"
        home.mkdir(mode=0o755)
        (home / ".bashrc").write_text("printf 'Welcome to PROD-7, authorised use only. '\n")
        (home / ".profile").write_text("echo 'You have new mail.'\n")
        stub = root / "missing"
        stub.write_text("#!/bin/sh\nexit 127\n")
        dropper = root / "dropsh"  # a shell that starts answering, then kills its session
        dropper.write_text("#!/bin/sh\necho '@@shangyun:hostname@@'\nkill -9 $PPID\n")
        for f in (stub, dropper):
            os.chmod(f, 0o755)
        passwd = root / "passwd"
        passwd.write_text(Path("/etc/passwd").read_text()
                          + f"syodd:x:54321:54321::{home}:/bin/bash\n"
                          + f"sydash:x:54322:54322::{home}:/bin/dash\n"
                          + f"sydrop:x:54323:54323::{home}:{dropper}\n"
                          + f"synologin:x:54324:54324::{home}:/usr/sbin/nologin\n"
                          + f"syhang:x:54325:54325::{home}:/bin/sh\n")
        binds = [(passwd, "/etc/passwd")]
        for cmd in MISSING:
            binds += [(stub, p) for p in (shutil.which(cmd) or "",) if p]
        # and /tmp read-only (the homes are root's: not writable by the login users)
        mounts = " && ".join([*(f"mount --bind {a} {b}" for a, b in binds),
                              "mount --bind /tmp /tmp", "mount -o remount,bind,ro /tmp"])
        wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   f'{mounts} && exec "$@"', "sh"]
        servers = farm.start(5, wrapper=wrapper)
        # one more where df hangs (as on a dead NFS mount) and ifconfig is missing too
        hang = root / "hang"
        hang.write_text("#!/bin/sh\nexec sleep 600\n")
        os.chmod(hang, 0o755)
        df = shutil.which("df") or "/usr/bin/df"
        more = f"mount --bind {hang} {df} && " + "".join(
            f"mount --bind {stub} {p} && " for p in (shutil.which("ifconfig"),) if p)
        servers += farm.start(1, wrapper=[*wrapper[:-2], more + wrapper[-2], "sh"])
        farm.write_known_hosts(servers)
        users = ("root", "syodd", "sydash", "sydrop", "synologin", "syhang")
        yield farm, {u: s.port for u, s in zip(users, servers, strict=True)}
    finally:
        farm.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_odd_hosts_each_end_with_facts_or_one_clear_error(
        tmp_path: Path, odd_farm: tuple[SshdFarm, dict[str, int]]) -> None:
    farm, ports = odd_farm
    names = {"root": "bare", "syodd": "noisy", "sydash": "dashy", "sydrop": "dropper",
             "synologin": "locked", "syghost": "ghost", "syhang": "deadnfs"}
    ports = {**ports, "syghost": ports["root"]}
    est = Estate.from_records({"name": "odd"}, {
        "bureaus": [{"id": f"b-{u}", "name": f"局{u}", "kind": "bureau", "ssh_user": u}
                    for u in ports],
        "systems": [{"id": "s1", "name": "办公", "bureau_id": "b-root"}],
        "hosts": [{"id": names[u], "hostname": names[u], "ip": "127.0.0.1", "ssh_port": p,
                   "bureau_id": f"b-{u}", "system_id": "s1"} for u, p in ports.items()],
    })
    est.save(tmp_path / "estate")
    res = CliRunner().invoke(main, [
        "discover", "--estate", str(tmp_path / "estate"), "--key", str(farm.client_key),
        "--known-hosts", str(farm.root / "known_hosts"), "--timeout", "5", "--retries", "0",
        "--sample-seconds", "0.1", "--json"])
    assert res.exit_code == 0, res.output            # three hosts gave facts
    data = json.loads(res.output)
    hosts = {h["host_id"]: h for h in data["hosts"]}
    assert {k: h["status"] for k, h in hosts.items() if k != "dropper"} == {
        "bare": "ok", "noisy": "ok", "dashy": "ok", "locked": "error", "ghost": "auth-failed",
        "deadnfs": "ok"}
    # df hung: killed after its bound, the host's other facts kept
    assert hosts["deadnfs"]["seconds"] < 30
    # a nologin shell: one error naming the host and quoting what the shell said
    assert "locked (127.0.0.1:" in hosts["locked"]["reason"]
    assert "synologin ran no discovery script" in hosts["locked"]["reason"]
    assert "currently not available" in hosts["locked"]["reason"]
    # a user that does not exist there: refused, naming the host, the user and the key
    assert hosts["ghost"]["status"] == "auth-failed"
    assert "ghost (127.0.0.1:" in hosts["ghost"]["reason"]
    assert "user 'syghost'" in hosts["ghost"]["reason"] and "id_client" in hosts["ghost"]["reason"]
    # a connection dropped mid-run: one error naming the host, not a hang or a crash
    # (a reset seen first by the transport, or the session's end before the script's)
    assert hosts["dropper"]["status"] in ("error", "unreachable")
    assert "dropper (127.0.0.1:" in hosts["dropper"]["reason"]
    assert hosts["dropper"]["seconds"] < 5
    # not root: ok, with a note saying the facts are partial
    assert hosts["bare"]["reason"] == ""
    for hid in ("noisy", "dashy"):
        assert "partial facts" in hosts[hid]["reason"] and "not root" in hosts[hid]["reason"]

    facts = {hid: json.loads((tmp_path / "estate" / "facts" / f"{hid}.json").read_text())
             ["facts"] for hid in ("bare", "noisy", "dashy", "deadnfs")}
    assert facts["deadnfs"]["filesystems"] == [] and facts["bare"]["filesystems"]
    # no ip and no ifconfig: the same IPv4 addresses, from /proc
    def v4(f: dict[str, Any]) -> set[tuple[str, str]]:
        return {(i["name"], a) for i in f["interfaces"] for a in i["addresses"] if "." in a}
    assert v4(facts["deadnfs"]) == v4(facts["bare"])
    for hid, f in facts.items():
        assert f["_errors"] == {}, hid
        # the banner printed without a newline does not swallow the first section
        assert f["hostname"] == os.uname().nodename, hid
        # no `ip`: addresses come from ifconfig
        lo = next(i for i in f["interfaces"] if i["name"] == "lo")
        assert "127.0.0.1" in lo["addresses"], hid
        # no ss/netstat: sockets from /proc; no lsblk: disks from /proc/partitions
        assert any(c["state"] == "listen" and c["local_port"] == ports["root"]
                   for c in f["tcp"]), hid
        assert f["block"], hid
    assert facts["noisy"]["session"]["uid"] == 54321
    assert facts["bare"]["session"]["uid"] == 0


def test_nothing_useful_exits_1_naming_each_host(
        tmp_path: Path, odd_farm: tuple[SshdFarm, dict[str, int]]) -> None:
    farm, ports = odd_farm
    bad = {"sydrop": "dropper", "synologin": "locked"}
    est = Estate.from_records({"name": "odd-bad"}, {
        "bureaus": [{"id": f"b-{u}", "name": f"局{u}", "kind": "bureau", "ssh_user": u}
                    for u in bad],
        "systems": [{"id": "s1", "name": "办公", "bureau_id": "b-sydrop"}],
        "hosts": [{"id": hid, "hostname": hid, "ip": "127.0.0.1", "ssh_port": ports[u],
                   "bureau_id": f"b-{u}", "system_id": "s1"} for u, hid in bad.items()],
    })
    est.save(tmp_path / "estate")
    res = CliRunner().invoke(main, [
        "discover", "--estate", str(tmp_path / "estate"), "--key", str(farm.client_key),
        "--known-hosts", str(farm.root / "known_hosts"), "--timeout", "5", "--retries", "0",
        "--sample-seconds", "0.1"])
    assert res.exit_code == 1
    assert "none of the 2 host(s) could be discovered" in res.output
    assert "dropper" in res.output and "locked" in res.output


def test_a_shell_that_exits_before_reading_the_script_is_quoted_not_called_unreachable(
        odd_farm: tuple[SshdFarm, dict[str, int]]) -> None:
    """A nologin shell ends the session without reading stdin; a script larger than the
    channel's window cannot be sent whole, so the send fails (a reset or a closed channel,
    as a loaded machine sees with any script). The shell's own words still come back."""
    from connectors.ssh import SSHPool
    from shangyun.discovery.model import SSHSettings, SSHTarget

    farm, ports = odd_farm
    settings = SSHSettings(key_file=str(farm.client_key),
                           known_hosts=str(farm.root / "known_hosts"),
                           command_timeout=20, retries=0)
    big = "# filler\n" * 1_000_000  # ~9 MB: far past the SSH channel window
    with SSHPool(settings) as pool:
        res = pool.run_script(SSHTarget("127.0.0.1", ports["synologin"], "synologin",
                                        name="locked"), big)
    assert "currently not available" in res.stdout
    assert res.exit_status != 0


def test_a_host_past_the_command_timeout_keeps_the_facts_it_gave(
        tmp_path: Path, odd_farm: tuple[SshdFarm, dict[str, int]]) -> None:
    """df hangs for its 10 s bound; a 4 s --command-timeout stops the script inside the
    filesystems section: the host ends ``timeout``, its reason names it and the section,
    and the sections before it (hostname … block) are kept in its facts file."""
    farm, ports = odd_farm
    users = {"root": "bare", "syhang": "deadnfs"}
    est = Estate.from_records({"name": "slow"}, {
        "bureaus": [{"id": f"b-{u}", "name": f"局{u}", "kind": "bureau", "ssh_user": u}
                    for u in users],
        "systems": [{"id": "s1", "name": "办公", "bureau_id": "b-root"}],
        "hosts": [{"id": h, "hostname": h, "ip": "127.0.0.1", "ssh_port": ports[u],
                   "bureau_id": f"b-{u}", "system_id": "s1"} for u, h in users.items()],
    })
    est.save(tmp_path / "estate")
    res = CliRunner().invoke(main, [
        "discover", "--estate", str(tmp_path / "estate"), "--key", str(farm.client_key),
        "--known-hosts", str(farm.root / "known_hosts"), "--timeout", "5", "--retries", "2",
        "--command-timeout", "4", "--sample-seconds", "0.1", "--json"])
    assert res.exit_code == 0, res.output
    hosts = {h["host_id"]: h for h in json.loads(res.output)["hosts"]}
    assert hosts["bare"]["status"] == "ok"
    slow = hosts["deadnfs"]
    assert slow["status"] == "timeout"
    assert 4 <= slow["seconds"] < 10  # stopped at the command timeout, tried once
    assert slow["reason"].startswith("deadnfs (127.0.0.1:"), slow["reason"]
    assert "did not finish within 4 s" in slow["reason"]
    assert "stopped in the 'filesystems' section (still running)" in slow["reason"]
    doc = json.loads((tmp_path / "estate" / "facts" / "deadnfs.json").read_text())
    facts = doc["facts"]
    assert doc["status"] == "timeout" and doc["attempts"] == 1
    assert facts["hostname"] == os.uname().nodename and facts["block"]
    assert facts["memory"] and facts["cpu"]
    assert "filesystems" not in facts and "interfaces" not in facts
    assert facts["_errors"]["filesystems"].startswith("still running at the command timeout")
    assert facts["_errors"]["interfaces"] == "section missing from the output"
    # not merged: the estate's row says only that the host timed out
    row = next(h for h in Estate.load(tmp_path / "estate").rows("hosts") if h["id"] == "deadnfs")
    assert row["discovery_status"] == "timeout"
