"""Passwords on the command lines of a discovered host's processes must not land in the
estate: real processes on a real sshd host (this machine), the real CLI, then every file
of the estate searched for each password."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from shangyun.facts.services import redact
from tests.discovery.conftest import Hosts

# how database clients, caches and scripts are run in the estates we meet (达梦 disql,
# Oracle sqlplus, redis, sshpass, curl), each with its own password
COMMANDS = {
    "Dm8pw4disql": ["disql", "SYSDBA/Dm8pw4disql@127.0.0.1:5236"],
    "Orapw4sqlplus": ["sqlplus", "system/Orapw4sqlplus@orcl"],
    "Redispw4server": ["redis-server", "*:6379", "--requirepass", "Redispw4server"],
    "Redispw4cli": ["redis-cli", "-h", "10.0.0.5", "-a", "Redispw4cli", "ping"],
    "Sshpasspw": ["sshpass", "-p", "Sshpasspw", "ssh", "root@10.0.0.9"],
    "Curlpw4user": ["curl", "-u", "admin:Curlpw4user", "http://10.0.0.5/"],
    "Dbpass4app": ["app", "--db-pass=Dbpass4app"],
}


def test_redact_masks_the_forms_we_meet() -> None:
    for secret, argv in COMMANDS.items():
        line = " ".join(argv)
        assert secret not in redact(line), line
        assert redact(line).split()[0] == argv[0]          # the command itself stays


def test_passwords_in_process_arguments_never_reach_the_estate(tmp_path: Path,
                                                               sshd_hosts: Hosts) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *argv])
             for argv in COMMANDS.values()]
    try:
        time.sleep(0.2)
        srv = sshd_hosts.good[0]
        Estate.from_records({"name": "secrets"}, {
            "bureaus": [{"id": "b1", "name": "一局", "kind": "bureau"}],
            "hosts": [{"id": "app", "hostname": "app", "ip": "127.0.0.1",
                       "ssh_port": srv.port, "bureau_id": "b1"}],
        }).save(tmp_path / "estate")
        res = CliRunner().invoke(main, [
            "discover", "--estate", str(tmp_path / "estate"), "--key", str(sshd_hosts.key),
            "--known-hosts", str(sshd_hosts.known_hosts), "--timeout", "5",
            "--retries", "0", "--sample-seconds", "0.1"])
        assert res.exit_code == 0, res.output
    finally:
        for p in procs:
            p.kill()
            p.wait()
    facts = (tmp_path / "estate" / "facts" / "app.json").read_text()
    assert "disql SYSDBA/" in facts and "redis-cli -h 10.0.0.5" in facts  # they were seen
    for f in (tmp_path / "estate").rglob("*"):
        if f.is_file():
            text = f.read_text(errors="replace")
            leaked = [s for s in COMMANDS if s in text]
            assert not leaked, (f, leaked)
    assert not [s for s in COMMANDS if s in res.output]
