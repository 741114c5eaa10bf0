"""Database connectors: PostgreSQL (:mod:`.postgres`) and MariaDB (:mod:`.mariadb`).

Both offer the same verbs — ``initial_copy``, ``final_delta``, ``verify``, ``digests``,
``drop_database`` (the undo; never the source) — over a :class:`DbEndpoint`, and both verify
by per-table row counts and checksums (:class:`TableDigest`).
"""

from connectors.database.common import (
    DbEndpoint,
    TableDiff,
    TableDigest,
    compare_digests,
    require_same,
)

__all__ = ["DbEndpoint", "TableDiff", "TableDigest", "compare_digests", "require_same"]
