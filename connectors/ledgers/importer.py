"""``inventory import``: read ledger files, merge them into the estate, validate, save.

All or nothing: every file is read and merged in memory; the merged estate is validated
and only then saved (``Estate.save`` swaps the folder in atomically). A file that cannot be
understood raises :class:`LedgerError`; a merged estate with problems raises
:class:`ValidationFailed` listing all of them; in both cases nothing is written.

Each imported file is recorded in ``estate.yaml`` ``sources`` (path, sha256, rows,
imported_at) once per content: importing the same file again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.ledgers.read import LedgerRead, Mapping, load_mapping, read_ledger
from shangyun.errors import EstateError, ValidationFailed
from shangyun.estate.merge import ORDER, TableCounts, merge_rows
from shangyun.estate.model import META_FILE, Estate


@dataclass
class ImportReport:
    """What an import did: per file what was read, per table what changed, new conflicts."""

    estate_dir: str
    created: bool
    saved: bool
    files: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, TableCounts] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able data."""
        return {"estate": self.estate_dir, "created": self.created, "saved": self.saved,
                "files": self.files, "counts": {t: c.to_dict() for t, c in self.counts.items()},
                "conflicts": self.conflicts, "new_conflicts": len(self.conflicts),
                "totals": self.totals}


def open_or_new(estate_dir: str | Path) -> tuple[Estate, bool]:
    """The estate at ``estate_dir`` (not checked) or a new empty one; ``True`` when new."""
    root = Path(estate_dir)
    if (root / META_FILE).is_file():
        return Estate.load(root, check=False), False
    if root.exists() and any(root.iterdir()):
        raise EstateError(f"{root}: exists but is not an estate (no {META_FILE}); give an "
                          "estate folder or a new folder name")
    return Estate.new(root.resolve().name or "estate"), True


def import_ledgers(
    files: Sequence[str | Path],
    estate_dir: str | Path,
    *,
    mapping_file: str | Path | None = None,
    bureau: str | None = None,
    on_file: Callable[[str], None] | None = None,
    advance: Callable[[int], None] | None = None,
    now: dt.datetime | None = None,
) -> ImportReport:
    """Import ``files`` into the estate at ``estate_dir`` (created when missing).

    ``on_file(name)`` is called as each file starts, ``advance(n)`` as rows are read (for
    progress bars). Raises :class:`LedgerError`, :class:`ValidationFailed` or
    :class:`EstateError`; in each case nothing is written.
    """
    estate, created = open_or_new(estate_dir)
    mapping: Mapping = load_mapping(mapping_file) if mapping_file else {}
    report = ImportReport(str(estate_dir), created, False,
                          counts={t: TableCounts() for t in ORDER})
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    sources: list[dict[str, Any]] = list(estate.meta.get("sources") or [])
    known = {s.get("sha256") for s in sources if isinstance(s, dict)}
    problems = []
    changed = created
    for f in files:
        p = Path(f)
        if on_file is not None:
            on_file(p.name)
        read: LedgerRead = read_ledger(p, mapping=mapping, bureau=bureau, known=estate,
                                       advance=advance)
        merged = merge_rows(estate, read.rows, p.name)
        estate = merged.estate
        problems += merged.problems
        for t, c in merged.counts.items():
            total = report.counts[t]
            total.added += c.added
            total.updated += c.updated
            total.unchanged += c.unchanged
        report.conflicts += merged.conflicts
        changed = changed or merged.changed
        if read.sha256 not in known:
            sources.append({"path": str(f), "sha256": read.sha256, "rows": read.data_rows,
                            "kind": read.kind, "imported_at": stamp})
            known.add(read.sha256)
            changed = True
        report.files.append({"file": str(f), "kind": read.kind, "sha256": read.sha256,
                             "rows": read.data_rows, "read": read.counts(),
                             "merge": {t: c.to_dict() for t, c in merged.counts.items()},
                             "conflicts": len(merged.conflicts),
                             "sheets": [s.to_dict() for s in read.sheets]})
    estate.meta["sources"] = sources
    problems += estate.validate()
    if problems:
        raise ValidationFailed(problems, what=f"import into {estate_dir}")
    if changed:
        estate.save(estate_dir)
        report.saved = True
    report.totals = {name: len(df) for name, df in estate.tables.items()}
    return report


__all__ = ["ImportReport", "import_ledgers", "open_or_new"]
