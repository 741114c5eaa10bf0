"""scripts/setup's services (scripts/lib/services.sh) against scratch servers made the way
Debian makes them: PostgreSQL with ``peer`` locally and ``scram-sha-256`` from 127.0.0.1,
MariaDB with root only through ``unix_socket``. The lab, the demo and the tests log in as
``postgres``/``root`` from 127.0.0.1 without a password; on a new Debian machine setup must
make that work (this machine's servers were set up so by hand, which hid the gap)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

REPO = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("mariadbd") or not (PG_BIN / "initdb").exists(),
    reason="needs root, PostgreSQL 15 and MariaDB (scripts/setup installs them)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _services(call: str) -> subprocess.CompletedProcess[str]:
    """Run ``call`` in bash with scripts/lib/services.sh sourced, as scripts/setup does."""
    script = ('set -euo pipefail; say() { printf "[setup] %s\\n" "$*" >&2; }; '
              'as_root() { "$@"; }; . scripts/lib/services.sh; ' + call)
    return subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def _as(user: str, *cmd: str) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd]


@pytest.fixture()
def scratch() -> Iterator[Path]:
    """A folder the database users can reach (pytest's tmp_path is root-only), removed after."""
    d = Path(tempfile.mkdtemp(prefix="shangyun-setup-test-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture()
def debian_pg(scratch: Path) -> Iterator[tuple[int, Path, Path]]:
    """A scratch PostgreSQL with Debian's authentication: (port, socket dir, data dir)."""
    tmp_path = scratch
    data, sock = tmp_path / "pg", tmp_path / "pgsock"
    sock.mkdir()
    shutil.chown(tmp_path, "postgres", "postgres")
    shutil.chown(sock, "postgres", "postgres")
    port = _free_port()
    subprocess.run(_as("postgres", str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                       "--auth-local=peer", "--auth-host=scram-sha-256", "--no-sync",
                       "--locale=C.UTF-8"),
                   check=True, capture_output=True)
    subprocess.run(_as("postgres", str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l",
                       str(tmp_path / "pg.log"), "-o",
                       f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start"),
                   check=True, capture_output=True, start_new_session=True)
    try:
        yield port, sock, data
    finally:
        subprocess.run(_as("postgres", str(PG_BIN / "pg_ctl"), "-D", str(data), "-m",
                           "immediate", "stop"), capture_output=True)


def _pg_login(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-w",
                           "-Atc", "select current_user", "postgres"],
                          capture_output=True, text=True)


def test_pg_ensure_lets_postgres_in_from_127_0_0_1_once(
        debian_pg: tuple[int, Path, Path]) -> None:
    port, sock, data = debian_pg
    refused = _pg_login(port)
    assert refused.returncode != 0 and "password" in refused.stderr  # Debian's default

    before = (data / "pg_hba.conf").stat()
    first = _services(f"pg_ensure {port} {sock}")
    assert first.returncode == 0, first.stderr
    assert "letting role postgres log in from 127.0.0.1" in first.stderr
    assert _pg_login(port).stdout.strip() == "postgres"
    hba = (data / "pg_hba.conf").read_text()
    assert hba.startswith("# shangyun scripts/setup")
    assert hba.count("postgres    127.0.0.1/32    trust") == 1
    assert "scram-sha-256" in hba  # everything else as it was
    after = (data / "pg_hba.conf").stat()  # edited in place: owner and mode kept
    assert (after.st_ino, after.st_uid, after.st_mode) == (before.st_ino, before.st_uid,
                                                           before.st_mode)

    again = _services(f"pg_ensure {port} {sock}")  # idempotent: nothing said, nothing added
    assert again.returncode == 0 and again.stderr == ""
    assert (data / "pg_hba.conf").read_text() == hba


def _my_start_cmd(tmp: Path, port: int, resolve: bool) -> str:
    """The scratch mariadbd's start command (what setup's default would be for the real one)."""
    opts = ["--no-defaults", "--user=mysql", f"--datadir={tmp / 'data'}", f"--port={port}",
            "--bind-address=127.0.0.1", f"--socket={tmp / 'sock'}",
            f"--pid-file={tmp / 'pid'}", f"--log-error={tmp / 'err.log'}"]
    if not resolve:
        opts.append("--skip-name-resolve")
    return ("start-stop-daemon --start --background --pidfile " + str(tmp / "pid")
            + " --exec /usr/sbin/mariadbd -- " + " ".join(opts))


def _my_login(port: int) -> str | None:
    try:
        conn = pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=5)
    except pymysql.err.OperationalError:
        return None
    with conn, conn.cursor() as cur:
        cur.execute("SELECT current_user()")
        row = cur.fetchone()
        return str(row[0]) if row else None


@pytest.mark.parametrize("resolve", [True, False], ids=["name-resolve", "skip-name-resolve"])
def test_my_ensure_starts_mariadb_and_lets_root_in_over_tcp(scratch: Path,
                                                            resolve: bool) -> None:
    tmp = scratch / "my"
    tmp.mkdir()
    shutil.chown(tmp, "mysql", "mysql")
    subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={tmp / 'data'}",
                    "--auth-root-authentication-method=socket", "--skip-test-db"],
                   check=True, capture_output=True, timeout=120)
    port = _free_port()
    try:
        first = _services(f"my_ensure {port} {tmp / 'sock'} "
                          + _my_start_cmd(tmp, port, resolve))
        assert first.returncode == 0, first.stderr
        assert f"starting MariaDB on 127.0.0.1:{port}" in first.stderr
        assert "letting root log in from 127.0.0.1" in first.stderr
        assert _my_login(port) in {"root@localhost", "root@127.0.0.1"}
        # root still logs in over the socket (unix_socket kept)
        sock = subprocess.run(["mariadb", "-uroot", f"--socket={tmp / 'sock'}", "-Nse",
                               "SELECT current_user()"], capture_output=True, text=True)
        assert sock.stdout.strip() == "root@localhost", sock.stderr

        again = _services(f"my_ensure {port} {tmp / 'sock'} false")
        assert again.returncode == 0 and again.stderr == ""
    finally:
        if (tmp / "pid").exists():
            pid = int((tmp / "pid").read_text())
            os.kill(pid, 15)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)


def test_my_ensure_says_when_mariadb_does_not_start(tmp_path: Path) -> None:
    port = _free_port()
    res = _services(f"wait_for() {{ \"${{@:2}}\"; }}; my_ensure {port} {tmp_path}/sock true")
    assert res.returncode == 1
    assert f"ERROR: MariaDB does not answer on 127.0.0.1:{port}" in res.stderr
