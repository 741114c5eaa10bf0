"""The running lab: real sshd logins, per-host identity, real connections and databases."""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import paramiko
import psycopg
import pymysql
import pytest

from lab import LabState
from lab.oses import OSES
from tests.lab.helpers import run, ssh_client


def test_state_file_round_trips(lab: LabState) -> None:
    again = LabState.load(lab.lab_dir)
    assert again == lab
    assert {h.role for h in lab.hosts} == {"auth", "app", "db", "fs", "light"}
    assert len(lab.hosts) == 10
    assert len({h.ip for h in lab.hosts}) == 10
    assert all(h.ip.startswith(lab.net.split(".0.0/")[0] + ".") for h in lab.hosts)
    assert oct(Path(lab.client_key).stat().st_mode & 0o777) == "0o600"


def test_ssh_login_with_paramiko_reject_policy(lab: LabState) -> None:
    h = lab.host("b01-app01")
    out = run(lab, h, "id -u; hostname")
    assert out.split() == ["0", "b01-app01"]


def test_unknown_host_key_is_refused(lab: LabState, tmp_path: Path) -> None:
    h = lab.host("b01-db01")
    other = lab.host("b01-fs01")
    # a known_hosts that lists another host's key under this host's address
    key_line = next(x for x in Path(lab.known_hosts).read_text().splitlines()
                    if x.startswith(other.hostname + ","))
    kh = tmp_path / "kh"
    kh.write_text(f"{h.ip} {' '.join(key_line.split()[1:])}\n")
    c = paramiko.SSHClient()
    c.load_host_keys(str(kh))
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        c.connect(h.ip, username="root", key_filename=lab.client_key, allow_agent=False,
                  look_for_keys=False, timeout=10)
    c.close()


def test_password_login_is_refused(lab: LabState) -> None:
    h = lab.host("b01-app01")
    t = paramiko.Transport((h.ip, h.port))
    try:
        t.connect()
        with pytest.raises(paramiko.BadAuthenticationType) as exc:
            t.auth_password("root", "root")
        assert exc.value.allowed_types == ["publickey"]
    finally:
        t.close()


def test_openssh_client_strict_host_key_checking(lab: LabState) -> None:
    h = lab.host("b02-fs01")
    cp = subprocess.run(
        ["ssh", "-i", lab.client_key, "-o", f"UserKnownHostsFile={lab.known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "GlobalKnownHostsFile=/dev/null", f"root@{h.ip}", "hostname"],
        capture_output=True, text=True, timeout=30, check=False)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == "b02-fs01"


def test_each_host_has_its_own_name_os_and_processes(lab: LabState) -> None:
    for h in lab.hosts:
        out = run(lab, h, "hostname; echo ---; cat /etc/os-release 2>/dev/null; echo ---; "
                  "cat /etc/redhat-release /etc/SuSE-release 2>/dev/null; echo ---; "
                  "ps -eo pid=,comm=")
        name, osr, legacy, ps = out.split("---\n")
        assert name.strip() == h.hostname
        assert Path(h.dir, "init.sh").is_file()
        look = OSES[h.os]
        want = look.files.get("etc/os-release", "<real>")
        if want is None:
            assert osr == ""
        elif want == "<real>":
            assert 'ID=debian' in osr
        else:
            assert osr == want
        if "etc/redhat-release" in look.files:
            assert legacy == look.files["etc/redhat-release"]
        if "etc/SuSE-release" in look.files:
            assert legacy == look.files["etc/SuSE-release"]
        procs = [line.split() for line in ps.splitlines()]
        assert procs[0] == ["1", "bash"], f"{h.id}: PID 1 is {procs[0]}"
        comms = {p[1] for p in procs}
        assert "sshd" in comms
        assert len(procs) < 20, f"{h.id} sees foreign processes: {comms}"


def test_the_machine_keeps_its_own_os_release(lab: LabState) -> None:
    assert lab.hosts  # the lab is up while we look
    real = Path("/usr/lib/os-release").read_text()
    assert "ID=debian" in real
    dpkg = Path("/var/lib/dpkg/info/base-files.md5sums")
    if dpkg.exists():
        line = next(x for x in dpkg.read_text().splitlines() if x.endswith("usr/lib/os-release"))
        assert hashlib.md5(real.encode()).hexdigest() == line.split()[0]


def _established(lab: LabState, host_id: str) -> str:
    return run(lab, lab.host(host_id), "ss -tnpH state established")


def test_ss_shows_each_hosts_expected_connections(lab: LabState) -> None:
    pending = {h.id: list(h.dependencies) for h in lab.hosts if h.dependencies}
    assert pending, "the lab declares no dependencies"
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        for hid in list(pending):
            ss = _established(lab, hid)
            pending[hid] = [d for d in pending[hid]
                            if not any(f"{d.target_ip}:{d.port}" in line
                                       and f'(("{d.process}"' in line
                                       for line in ss.splitlines())]
            if not pending[hid]:
                del pending[hid]
        if pending:
            time.sleep(1)
    assert not pending, f"connections missing: {pending}"
    # and the other side sees the connection from its own namespace, not anyone else's
    auth = lab.host("b01-auth01")
    ss = _established(lab, auth.id)
    apps = {h.ip for h in lab.hosts_with_role("app")}
    peers = {line.split()[3].rsplit(":", 1)[0] for line in ss.splitlines()
             if f"{auth.ip}:8443" in line}
    assert apps <= peers
    assert all(f"{h.ip}:" not in ss for h in lab.hosts_with_role("db"))


def test_databases_are_real_and_seeded(lab: LabState) -> None:
    engines = set()
    for h in lab.hosts_with_role("db"):
        db = h.database
        assert db is not None
        engines.add(db.engine)
        if db.engine == "postgresql":
            with psycopg.connect(host=h.ip, port=db.port, user=db.user, dbname=db.name,
                                 connect_timeout=5) as c:
                n = c.execute("select count(*) from orders").fetchone()
                assert n is not None and n[0] == db.tables["orders"] == 1000
                where = c.execute("select inet_server_addr()::text").fetchone()
                assert where is not None and where[0].startswith(h.ip)
        else:
            c = pymysql.connect(host=h.ip, port=db.port, user=db.user, database=db.name,
                                connect_timeout=5)
            try:
                with c.cursor() as cur:
                    cur.execute("select count(*) from orders")
                    assert cur.fetchone() == (1000,)
            finally:
                c.close()
    assert engines == {"postgresql", "mariadb"}


def test_file_server_serves_files_over_sftp(lab: LabState) -> None:
    fs = lab.host("b01-fs01")
    c = ssh_client(lab, fs)
    try:
        sftp = c.open_sftp()
        base = str(Path(lab.lab_dir) / "hosts" / fs.id)
        for rel in fs.files:
            with sftp.open(f"{base}/{rel}", "rb") as f:
                data = f.read()
            assert data == (Path(base) / rel).read_bytes()
            assert len(data) > 1000
    finally:
        c.close()


def test_hosts_have_their_recorded_mac(lab: LabState) -> None:
    for h in lab.hosts[:4]:
        out = run(lab, h, "cat /sys/class/net/eth0/address")
        assert out.strip() == h.mac


def test_light_hosts_listen_and_connect(lab: LabState) -> None:
    webs = lab.hosts_with_role("light")
    assert len(webs) == 3
    for w in webs:
        out = run(lab, w, "ss -tlnpH")
        assert f"{w.ip}:8080" in out and '"nginx"' in out
