"""Assessment fixtures: the packaged catalogue, loaded once."""

from __future__ import annotations

import pytest

from shangyun.assess import Catalog, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The data files shipped in shangyun/data."""
    return load_catalog()
