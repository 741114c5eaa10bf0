"""Real database instances for lab database hosts: data dirs, first start, seed data.

PostgreSQL 15 and MariaDB come from Debian packages; each database host gets its own data
directory in its host folder, owned by ``postgres``/``mysql``, and its server runs inside
the host's namespaces (listening only on the host's address). Logins: role/user
``shangyun`` without a password, trusted only from the lab network (10.0.0.0/8) — a lab,
not a production setting. Each has database ``appdb`` with table ``orders`` (1000 rows).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from lab.hosts import PG_BIN, run
from lab.state import LabError, LabHost

ROWS = 1000


def _chown(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user, user)


def _as(user: str) -> list[str]:
    """Run as the database's own user when we are root; as ourselves otherwise."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def init_datadir(h: LabHost, d: Path) -> None:
    """Create the host's database data directory once (initdb / mariadb-install-db)."""
    db = h.database
    if db is None:
        return
    d.mkdir(parents=True, exist_ok=True)
    if db.engine == "postgresql":
        pg = d / "pgdata"
        if (pg / "PG_VERSION").exists():
            return
        if pg.exists():
            shutil.rmtree(pg)
        pg.mkdir(mode=0o700)
        _chown(pg, "postgres")
        run([*_as("postgres"), str(PG_BIN / "initdb"), "-D", str(pg), "-A",
             "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            what=f"lab host {h.id}: initdb", timeout=120)
        with open(pg / "pg_hba.conf", "a") as f:
            f.write("host all all 10.0.0.0/8 trust\n")
    else:
        my = d / "mydata"
        (d / "init.sql").write_text(
            "CREATE USER IF NOT EXISTS 'shangyun'@'%';\n"
            "GRANT ALL PRIVILEGES ON *.* TO 'shangyun'@'%' WITH GRANT OPTION;\n"
            "CREATE DATABASE IF NOT EXISTS appdb;\n"
            "CREATE TABLE IF NOT EXISTS appdb.orders (id INT PRIMARY KEY, bureau VARCHAR(8),"
            " amount DECIMAL(12,2), note VARCHAR(64));\n"
            "INSERT IGNORE INTO appdb.orders VALUES "
            + ",".join(f"({i},'{h.bureau}',{i * 1.5:.2f},'order-{i}')"
                       for i in range(1, ROWS + 1)) + ";\n")
        if (my / "mysql").is_dir():
            return
        tmp = d / "mytmp"
        tmp.mkdir(exist_ok=True)
        _chown(tmp, "mysql")
        user = ["--user=mysql"] if os.geteuid() == 0 else []
        # Several mariadb-install-db at once (other labs, other sessions) were seen to
        # crash; run them one at a time machine-wide, each with its own tmpdir, and retry.
        with open(Path(tempfile.gettempdir()) / "shangyun-lab-mariadb-install.lock", "a") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            try:
                for attempt in range(3):
                    if my.exists():
                        shutil.rmtree(my)
                    my.mkdir(mode=0o750)
                    _chown(my, "mysql")
                    try:
                        run(["mariadb-install-db", "--no-defaults", f"--datadir={my}", *user,
                             "--auth-root-authentication-method=normal", "--skip-test-db",
                             "--skip-name-resolve", f"--tmpdir={tmp}"],
                            what=f"lab host {h.id}: mariadb-install-db", timeout=180)
                        break
                    except LabError:
                        if attempt == 2:
                            raise
            finally:
                fcntl.flock(lk, fcntl.LOCK_UN)
    db.tables = {"orders": ROWS}


def seed_postgres(h: LabHost, timeout: float = 60.0) -> None:
    """Create role ``shangyun``, database ``appdb`` and its ``orders`` rows where missing
    (idempotent; a database whose ``orders`` table exists is never written)."""
    assert h.database is not None
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(host=h.ip, port=h.database.port, user="postgres",
                                 dbname="postgres", connect_timeout=3, autocommit=True) as c:
                if not c.execute("select 1 from pg_roles where rolname='shangyun'").fetchone():
                    c.execute("create role shangyun login superuser")
                if not c.execute("select 1 from pg_database where datname='appdb'").fetchone():
                    c.execute("create database appdb owner shangyun")
            with psycopg.connect(host=h.ip, port=h.database.port, user="shangyun",
                                 dbname="appdb", connect_timeout=3) as c:
                # A seeded database is left alone: a wave may have frozen it read-only, and
                # rows the application deleted must not come back. Table and rows are made in
                # one transaction, so a seed cut short leaves no table behind.
                seeded = c.execute("select to_regclass('public.orders')").fetchone()
                if seeded is None or seeded[0] is None:
                    c.execute("create table orders (id int primary key, bureau varchar(8), "
                              "amount numeric(12,2), note varchar(64))")
                    c.execute("insert into orders select g, %s, g * 1.5, 'order-' || g "
                              "from generate_series(1, %s) g", (h.bureau, ROWS))
            return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.3)
    raise LabError(f"lab host {h.id}: PostgreSQL at {h.ip}:{h.database.port} did not accept "
                   f"connections in {timeout:.0f} s: {last}")
