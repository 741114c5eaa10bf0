"""Journal fixtures: a fresh journal on SQLite (temp estate folder) or on the real PostgreSQL.

PostgreSQL: one uniquely named database per test session on 127.0.0.1:5432 (user postgres,
trust), emptied after each test and dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine

from connectors.journal.models import Base

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of our own for this session; dropped afterwards."""
    name = f"shangyun_journal_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where to open a fresh journal: an estate folder (SQLite) or a PostgreSQL URL."""
    if request.param == "sqlite":
        estate = tmp_path / "estate"
        estate.mkdir()
        yield str(estate)
        return
    url: str = request.getfixturevalue("pg_url")
    yield url
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        Base.metadata.drop_all(engine)
    finally:
        engine.dispose()
