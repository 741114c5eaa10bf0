"""Fixtures of the sample tests: one default estate and one written sample, made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from shangyun.estate import Estate
from shangyun.sample import generate_estate, write_sample


@pytest.fixture(scope="session")
def estate() -> Estate:
    """The default sample estate (35 bureaus + hq, 120 systems, seed 0)."""
    return generate_estate()


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sample written to a temp folder (estate + ledgers)."""
    out = tmp_path_factory.mktemp("sy-sample") / "sample"
    write_sample(out)
    return out
