"""Benchmark: fail-back of a 1M-row PostgreSQL table vs the forward move of the same table,
side by side in one run, on the local server (127.0.0.1:5432, user postgres).

Forward move (what a wave does for the table): ``initial_copy`` (pg_dump → pg_restore),
then the cutover's ``final_delta`` after one row changed on the (frozen) source — the
table differs, so it is reloaded whole (``DELETE`` + ``COPY``) — and ``verify``.
Fail-back (``wave rollback --fail-back`` for the table): the target frozen, one row
written on it, then the reverse delta ``final_delta(target, source, into_source=…)`` (the
same reload the other way, into the journaled source by identity, through its freeze)
and ``verify`` target against source. Prints seconds and the ratios
fail-back / forward move and fail-back / forward delta.

    .venv/bin/python benchmarks/wave/bench_failback.py [--rows 1000000] [--repeat 2]
"""

from __future__ import annotations

import argparse
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


def write(ep: DbEndpoint, statement: str) -> None:
    """One statement on ``ep``, through shangyun's own freeze (as an operator could)."""
    with psycopg.connect(host=HOST, port=PORT, user=USER, dbname=ep.dbname, autocommit=True,
                         options=pg.WRITER_OPTIONS) as conn:
        conn.execute(statement)


def make_source(name: str, rows: int) -> None:
    """One table of ``rows`` rows (a primary key, text, a date)."""
    admin(f'CREATE DATABASE "{name}"')
    with psycopg.connect(host=HOST, port=PORT, user=USER, dbname=name, autocommit=True) as c:
        c.execute(f"""
            CREATE TABLE citizens (id bigint PRIMARY KEY, name text, born date, note text);
            INSERT INTO citizens SELECT g, '居民-' || g, date '1950-01-01' + (g % 20000),
                   md5(g::text) FROM generate_series(1, {rows}) g;
        """)
        c.execute("VACUUM ANALYZE")


def one_round(src: DbEndpoint, dst: DbEndpoint) -> dict[str, float]:
    """Forward move, then fail-back, of the one table; seconds of each part."""
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    pg.initial_copy(src, dst, jobs=1)
    t1 = time.perf_counter()
    pg.freeze(src)
    write(src, "UPDATE citizens SET note = 'late write' WHERE id = 1")
    t2 = time.perf_counter()
    delta = pg.final_delta(src, dst, jobs=1)
    pg.verify(src, dst, jobs=1)
    t3 = time.perf_counter()
    assert delta.recopied == ["public.citizens"], delta.recopied
    out["copy"], out["delta+verify"] = t1 - t0, t3 - t2
    out["forward"] = out["copy"] + out["delta+verify"]
    # cut over: production writes on the target, then the fail-back
    identity = pg.source_identity(src)
    write(dst, "UPDATE citizens SET note = 'production write' WHERE id = 2")
    t4 = time.perf_counter()
    pg.freeze(dst)
    back = pg.final_delta(dst, src, jobs=1, into_source=identity)
    pg.verify(dst, src, jobs=1)
    pg.unfreeze(src)
    t5 = time.perf_counter()
    assert back.recopied == ["public.citizens"], back.recopied
    out["failback"] = t5 - t4
    pg.unfreeze(dst)
    return out


def main() -> None:
    """Build the source once per round (the fail-back changes it), ``--repeat`` rounds."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    made: list[str] = []
    try:
        for i in range(args.repeat):
            src = DbEndpoint(HOST, PORT, USER, f"sy_bench_fbsrc_{tag}_{i}")
            dst = DbEndpoint(HOST, PORT, USER, f"sy_bench_fbdst_{tag}_{i}")
            made += [src.dbname, dst.dbname]
            t = time.perf_counter()
            make_source(src.dbname, args.rows)
            built = time.perf_counter() - t
            r = one_round(src, dst)
            print(f"round {i + 1} ({args.rows:,} rows, built in {built:.1f} s): "
                  f"forward move {r['forward']:6.2f} s (copy {r['copy']:.2f} + delta+verify "
                  f"{r['delta+verify']:.2f})   fail-back {r['failback']:6.2f} s   "
                  f"ratio fail-back/forward move {r['failback'] / r['forward']:.2f}×   "
                  f"fail-back/forward delta+verify {r['failback'] / r['delta+verify']:.2f}×")
            for name in (src.dbname, dst.dbname):
                admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        for name in made:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
