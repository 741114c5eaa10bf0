"""Planner test fixtures: hand-built estates come from :mod:`tests.planner.build`."""

from __future__ import annotations

import datetime as dt

import pytest

from shangyun.planner import PlanOptions

START = dt.date(2027, 1, 4)  # a Monday


@pytest.fixture
def opts() -> PlanOptions:
    """Small waves, no pilot, a fixed start date: answers are easy to know by hand."""
    return PlanOptions(max_hosts=100, max_systems=4, max_tb=10, pilot_systems=0, start=START)
