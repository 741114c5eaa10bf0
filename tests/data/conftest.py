"""Fixtures for the data connectors: uniquely named PostgreSQL and MariaDB databases on the
local servers, dropped after each test."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest

from connectors.database import DbEndpoint
from tests.discovery.sshd import free_port


def _name(kind: str) -> str:
    return f"sy_{kind}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pg_pair() -> Iterator[tuple[DbEndpoint, DbEndpoint]]:
    """A source database with a few tables (FK, no-PK table, sequence) and a target name."""
    src = DbEndpoint("127.0.0.1", 5432, "postgres", _name("pgsrc"))
    dst = DbEndpoint("127.0.0.1", 5432, "postgres", _name("pgdst"))
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{src.dbname}"')
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=src.dbname,
                         autocommit=True) as conn:
        conn.execute("""
            CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL, born date);
            CREATE TABLE orders (id bigserial PRIMARY KEY,
                                 person int REFERENCES people(id), amount numeric(12,2));
            CREATE TABLE log (at timestamptz, line text);
            CREATE SCHEMA app;
            CREATE TABLE app."Settings" (k text PRIMARY KEY, v jsonb);
            INSERT INTO people (name, born)
              SELECT '人员-' || g, date '1970-01-01' + g FROM generate_series(1, 500) g;
            INSERT INTO orders (person, amount)
              SELECT 1 + g % 500, g * 1.25 FROM generate_series(1, 2000) g;
            INSERT INTO log SELECT now(), 'line ' || g FROM generate_series(1, 300) g;
            INSERT INTO app."Settings" VALUES ('a', '{"x": 1}'), ('b', '[1, 2]');
        """)
    yield src, dst
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        for ep in (src, dst):
            conn.execute(f'DROP DATABASE IF EXISTS "{ep.dbname}" WITH (FORCE)')


def pg_exec(ep: DbEndpoint, statement: str) -> list[tuple[object, ...]]:
    """Run one statement on ``ep``; returns its rows (if any)."""
    with psycopg.connect(host=ep.host, port=ep.port, user=ep.user, dbname=ep.dbname,
                         autocommit=True) as conn:
        cur = conn.execute(statement)
        return list(cur.fetchall()) if cur.description else []


@pytest.fixture
def my_pair() -> Iterator[tuple[DbEndpoint, DbEndpoint]]:
    """A MariaDB source database with tables (FK, blob, no PK) and a target name."""
    src = DbEndpoint("127.0.0.1", 3306, "root", _name("mysrc"))
    dst = DbEndpoint("127.0.0.1", 3306, "root", _name("mydst"))
    conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{src.dbname}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{src.dbname}`")
        cur.execute("CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, "
                    "name VARCHAR(100) NOT NULL) ENGINE=InnoDB")
        cur.execute("CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, person INT, "
                    "amount DECIMAL(12,2), FOREIGN KEY (person) REFERENCES people(id)) "
                    "ENGINE=InnoDB")
        cur.execute("CREATE TABLE blobs (b LONGBLOB)")
        cur.executemany("INSERT INTO people (name) VALUES (%s)",
                        [(f"人员-{i}",) for i in range(400)])
        cur.executemany("INSERT INTO orders (person, amount) VALUES (%s, %s)",
                        [(1 + i % 400, i * 1.5) for i in range(1000)])
        cur.executemany("INSERT INTO blobs VALUES (%s)", [(os.urandom(3000),) for _ in range(20)])
    yield src, dst
    conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with conn, conn.cursor() as cur:
        for ep in (src, dst):
            cur.execute(f"DROP DATABASE IF EXISTS `{ep.dbname}`")


def my_exec(ep: DbEndpoint, statement: str) -> list[tuple[object, ...]]:
    """Run one statement on ``ep``; returns its rows."""
    conn = pymysql.connect(host=ep.host, port=ep.port, user=ep.user, database=ep.dbname,
                           autocommit=True)
    with conn, conn.cursor() as cur:
        cur.execute(statement)
        return list(cur.fetchall())


@pytest.fixture(scope="module")
def private_mariadb() -> Iterator[DbEndpoint]:
    """A MariaDB server of this module's own (a fresh data folder, a free port on
    127.0.0.1, root without password): for tests that change server-wide settings
    (``read_only``), which would disturb every other test on the shared server. Stopped by
    pid and removed after. Yields an endpoint with a source database like :func:`my_pair`'s.
    It resolves no names, as the lab's servers: its ``root@<hostname>`` account, made by
    ``mariadb-install-db``, is in ``mysql.user`` but never loaded (it cannot log in)."""
    folder = Path(tempfile.mkdtemp(prefix="sy-mariadb-"))
    port = free_port()
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={folder / 'data'}",
                    "--user=root", "--auth-root-authentication-method=normal",
                    "--skip-test-db"], check=True, capture_output=True, timeout=120)
    server = subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--datadir={folder / 'data'}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--socket={folder / 'sock'}", "--skip-name-resolve",
         f"--pid-file={folder / 'pid'}", "--user=root", "--skip-log-bin",
         "--innodb-buffer-pool-size=16M", f"--log-error={folder / 'error.log'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ep = DbEndpoint("127.0.0.1", port, "root", "frozen_src")
    try:
        for _ in range(150):
            try:
                conn = pymysql.connect(host=ep.host, port=port, user="root", autocommit=True)
                break
            except pymysql.err.OperationalError:
                if server.poll() is not None:
                    raise RuntimeError(f"mariadbd exited: {(folder / 'error.log').read_text()}"
                                       ) from None
                time.sleep(0.2)
        else:
            raise RuntimeError("mariadbd did not accept connections in 30 s")
        with conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{ep.dbname}`")
            cur.execute(f"CREATE TABLE `{ep.dbname}`.people (id INT AUTO_INCREMENT "
                        "PRIMARY KEY, name VARCHAR(100) NOT NULL)")
        yield ep
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
