"""``python -m connectors.prefect_dashboard server start …``: Prefect's own CLI (``prefect
server start``: the dashboard's persistent server runs in this process) with its SQLite
transactions begun ``IMMEDIATE`` (:func:`connectors.prefect_app.begin_immediate`), as the
CLI's temporary server's are. What :func:`connectors.prefect_server.start` runs."""

from __future__ import annotations

import sys
from typing import Any

from prefect.cli import app

from connectors.prefect_app import begin_immediate

MODULE = "connectors.prefect_dashboard"


def main() -> Any:
    """Prefect's CLI with this process's arguments (``sys.argv``), after
    :func:`begin_immediate`."""
    begin_immediate()
    return app()


if __name__ == "__main__":
    sys.exit(main())
