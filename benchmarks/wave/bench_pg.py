"""Benchmark: move and verify a 1M-row PostgreSQL database with shangyun's connector vs bare
``pg_dump | psql``, in the same run, on the local server (127.0.0.1:5432, user postgres).

shangyun = ``initial_copy(verify=True)``: pg_dump -Fd -j N of one exported snapshot →
pg_restore -j N, with the source's per-table row counts and checksums read in that snapshot
while the dump runs, then the target's, compared. (A separate ``verify`` pass — both sides
read again, as at cutover — is timed apart.) The baseline moves the same
database with ``pg_dump DB | psql NEWDB`` and verifies nothing. Prints seconds and the ratio
(target ≤ 1.5×).

    .venv/bin/python benchmarks/wave/bench_pg.py [--rows 1000000] [--jobs 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg

from connectors.database import DbEndpoint
from connectors.database import postgres as pg

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"


def admin(statement: str) -> None:
    """Run one statement on the postgres database."""
    with psycopg.connect(host=HOST, port=PORT, user=USER, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(statement)


def make_source(name: str, rows: int) -> None:
    """A database of ``rows`` rows over three tables (a 60/30/10 split), with keys, an FK
    and an index, like a small business system's."""
    admin(f'CREATE DATABASE "{name}"')
    big, mid, small = int(rows * 0.6), int(rows * 0.3), rows - int(rows * 0.6) - int(rows * 0.3)
    with psycopg.connect(host=HOST, port=PORT, user=USER, dbname=name, autocommit=True) as c:
        c.execute(f"""
            CREATE TABLE citizens (id bigint PRIMARY KEY, name text, born date, note text);
            INSERT INTO citizens SELECT g, '居民-' || g, date '1950-01-01' + (g % 20000),
                   md5(g::text) FROM generate_series(1, {big}) g;
            CREATE TABLE cases (id bigint PRIMARY KEY, citizen bigint REFERENCES citizens(id),
                   opened timestamptz, amount numeric(12,2), state text);
            INSERT INTO cases SELECT g, 1 + g % {big},
                   timestamptz '2020-01-01' + g * interval '1 min',
                   (g % 100000) / 100.0, (ARRAY['open','closed','review'])[1 + g % 3]
                   FROM generate_series(1, {mid}) g;
            CREATE INDEX ON cases (citizen);
            CREATE TABLE audit (at timestamptz, line text);
            INSERT INTO audit SELECT now(), 'event ' || g FROM generate_series(1, {small}) g;
        """)
        c.execute("VACUUM ANALYZE")


def run_baseline(src: str, dst: str) -> float:
    """``createdb dst; pg_dump src | psql dst`` — seconds."""
    t0 = time.perf_counter()
    admin(f'CREATE DATABASE "{dst}" TEMPLATE template0')
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    dump = subprocess.Popen(["pg_dump", "-h", HOST, "-p", str(PORT), "-U", USER, src],
                            stdout=subprocess.PIPE, env=env)
    load = subprocess.run(["psql", "-h", HOST, "-p", str(PORT), "-U", USER, "-q", "-X",
                           "-v", "ON_ERROR_STOP=1", "-d", dst], stdin=dump.stdout,
                          stdout=subprocess.DEVNULL, env=env, check=True)
    assert dump.stdout is not None
    dump.stdout.close()
    if dump.wait() != 0 or load.returncode != 0:
        raise SystemExit("baseline failed")
    return time.perf_counter() - t0


def run_shangyun(src: str, dst: str, jobs: int) -> tuple[float, float, int]:
    """``initial_copy(verify=True)``: dump one exported snapshot, restore, and compare every
    table's row count and checksum with the source's *in that snapshot* (read while the dump
    runs) — (seconds in all, seconds of the separate ``verify`` pass after it, rows)."""
    s, d = DbEndpoint(HOST, PORT, USER, src), DbEndpoint(HOST, PORT, USER, dst)
    t0 = time.perf_counter()
    result = pg.initial_copy(s, d, jobs=jobs, verify=True)
    t1 = time.perf_counter()
    pg.verify(s, d, jobs=jobs)  # the cutover's independent pass, reported apart
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, sum(x.rows for x in result.digests.values())


def main() -> None:
    """Build the source once, then alternate baseline and shangyun ``--repeat`` times."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    src = f"sy_bench_src_{tag}"
    made: list[str] = [src]
    try:
        t = time.perf_counter()
        make_source(src, args.rows)
        print(f"source: {args.rows:,} rows built in {time.perf_counter() - t:.1f} s")
        for i in range(args.repeat):
            base_db, sy_db = f"sy_bench_base_{tag}_{i}", f"sy_bench_sy_{tag}_{i}"
            made += [base_db, sy_db]
            base = run_baseline(src, base_db)
            total, verify_s, rows = run_shangyun(src, sy_db, args.jobs)
            assert rows == args.rows, rows
            print(f"run {i + 1}: pg_dump | psql {base:6.2f} s   shangyun copy+verify "
                  f"{total:6.2f} s ({rows:,} rows)   ratio {total / base:.2f}×   "
                  f"[separate verify pass {verify_s:.2f} s]")
            admin(f'DROP DATABASE IF EXISTS "{base_db}" WITH (FORCE)')
            admin(f'DROP DATABASE IF EXISTS "{sy_db}" WITH (FORCE)')
    finally:
        for name in made:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
