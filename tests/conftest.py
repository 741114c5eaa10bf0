"""Shared fixtures. Tests that need servers start them here and clean up after."""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
