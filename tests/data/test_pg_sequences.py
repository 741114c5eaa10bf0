"""PostgreSQL sequences through the final delta and verification: a sequence that no table
owns (``DEFAULT nextval('invoice_no')``, as legacy schemas number invoices) advanced on the
source while the wave ran. The delta re-copied the table's rows but left the target's
sequence where the initial copy put it, and ``verify`` (tables only) said equal: the first
production insert after the cutover collided with a row the source had written."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.database import DbEndpoint
from connectors.database import postgres as pg
from shangyun.errors import VerificationError
from tests.data.conftest import pg_exec

SCHEMA = """
CREATE SEQUENCE invoice_no START 1000;
CREATE SEQUENCE app.ticket_no;
CREATE TABLE invoices (id int PRIMARY KEY DEFAULT nextval('invoice_no'), what text);
CREATE TABLE app.tickets (no bigint DEFAULT nextval('app.ticket_no'), what text);
INSERT INTO invoices (what) SELECT 'first ' || g FROM generate_series(1, 10) g;
"""


def _next(ep: DbEndpoint, seq: str) -> int:
    return int(str(pg_exec(ep, f"SELECT nextval('{seq}')")[0][0]))


def test_a_standalone_sequence_advanced_during_the_wave_is_carried_and_checked(
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    src, dst = pg_pair
    pg_exec(src, SCHEMA)
    pg.initial_copy(src, dst)
    pg_exec(src, "INSERT INTO invoices (what) SELECT 'late ' || g FROM generate_series(1, 7) g")
    pg_exec(src, "SELECT nextval('app.ticket_no') FROM generate_series(1, 3)")  # numbers
    # handed out (a ticket table elsewhere): no row changed, the sequence moved on
    with pytest.raises(VerificationError) as err:
        pg.verify(src, dst)
    assert "sequence app.ticket_no" in str(err.value), err.value
    assert "public.invoice_no" in str(err.value), err.value
    pg.freeze(src)
    try:
        pg.final_delta(src, dst)
        pg.verify(src, dst)  # tables and sequences level
        # the first write on the target after the cutover gets the next free number
        pg_exec(dst, "BEGIN READ WRITE; INSERT INTO invoices (what) VALUES ('prod'); COMMIT")
        assert pg_exec(dst, "SELECT max(id) FROM invoices") == [(1017,)]
        assert _next(dst, "app.ticket_no") == 4
    finally:
        pg.unfreeze(src)


def test_a_target_sequence_moved_after_the_delta_refuses_the_cutover(
        pg_pair: tuple[DbEndpoint, DbEndpoint]) -> None:
    """Corrupted between delta and verify: one sequence of the target set back."""
    src, dst = pg_pair
    pg_exec(src, SCHEMA)
    pg.initial_copy(src, dst)
    pg.final_delta(src, dst)
    pg.verify(src, dst)
    pg_exec(dst, "SELECT setval('invoice_no', 1001)")
    with pytest.raises(VerificationError, match=r"sequence public\.invoice_no: 1009 on the "
                                                r"source, 1001 on the target"):
        pg.verify(src, dst)


@settings(max_examples=4, deadline=None)
@given(handed=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=3))
def test_any_sequence_position_is_carried(handed: list[int]) -> None:
    """Sequences (used or never called) at varied positions end equal after the delta."""
    from tests.support import pg_database

    with pg_database("sy_seqsrc") as name:
        src = DbEndpoint("127.0.0.1", 5432, "postgres", name)
        dst = DbEndpoint("127.0.0.1", 5432, "postgres", f"{name}_copy")
        pg_exec(src, "".join(f"CREATE SEQUENCE s{i};" for i in range(len(handed))))
        try:
            pg.initial_copy(src, dst)
            for i, n in enumerate(handed):
                if n:
                    pg_exec(src, f"SELECT nextval('s{i}') FROM generate_series(1, {n})")
            pg.final_delta(src, dst)
            pg.verify(src, dst)
            for i, n in enumerate(handed):
                assert _next(dst, f"s{i}") == n + 1
        finally:
            pg.drop_database(dst, source=src)
