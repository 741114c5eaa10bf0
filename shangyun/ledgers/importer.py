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

import yaml

from shangyun.errors import EstateError, LedgerError, ValidationFailed
from shangyun.estate.merge import ORDER, Merger, TableCounts
from shangyun.estate.model import META_FILE, Estate
from shangyun.ledgers.collector import KnownIndex
from shangyun.ledgers.grid import GridReader
from shangyun.ledgers.mapping import SAFE_LOADER, load_mapping
from shangyun.ledgers.model import LedgerRead, Mapping
from shangyun.ledgers.read import gc_paused, read_ledger


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


MANIFEST_SUFFIXES = (".yaml", ".yml")


def expand_manifest(path: str | Path) -> list[tuple[Path, str | None]]:
    """The ``(file, bureau)`` list of a ledger manifest, in its order.

    A manifest (as ``shangyun inventory sample`` writes ``ledgers/manifest.yaml``) is YAML
    with ``order:`` a list of ``{folder, bureau, files: [...]}``; file names are relative to
    ``folder`` under the manifest's own folder. Raises :class:`LedgerError` for a bad one.
    """
    p = Path(path)
    try:
        data = yaml.load(p.read_text(encoding="utf-8-sig"), Loader=SAFE_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LedgerError(str(p), f"cannot read the ledger manifest: {exc}") from exc
    order = data.get("order") if isinstance(data, dict) else None
    if not isinstance(order, list):
        raise LedgerError(str(p), "a ledger manifest needs 'order:', a list of "
                                  "{folder, bureau, files}")
    out: list[tuple[Path, str | None]] = []
    for i, entry in enumerate(order, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("files"), list):
            raise LedgerError(str(p), "each entry needs 'files:', a list of file names",
                              row=i, column="files")
        folder = p.parent / str(entry.get("folder") or "")
        bureau = entry.get("bureau")
        for name in entry["files"]:
            f = folder / str(name)
            if not f.is_file():
                raise LedgerError(str(p), f"listed file {f} does not exist", row=i,
                                  column="files")
            out.append((f, str(bureau) if bureau else None))
    return out


@gc_paused
def import_ledgers(
    files: Sequence[str | Path | tuple[str | Path, str | None]],
    estate_dir: str | Path,
    *,
    reader: GridReader,
    mapping_file: str | Path | None = None,
    bureau: str | None = None,
    on_file: Callable[[str], None] | None = None,
    advance: Callable[[int], None] | None = None,
    now: dt.datetime | None = None,
) -> ImportReport:
    """Import ``files`` into the estate at ``estate_dir`` (created when missing).

    An item of ``files`` may be ``(path, bureau)`` to give that file its own bureau, or a
    ledger manifest (.yaml, see :func:`expand_manifest`); otherwise ``bureau`` applies.
    ``reader`` reads each file into grids (:func:`connectors.grid.read_grids`). All files
    are merged in memory, validated once and saved once.

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
    merger = Merger(estate)
    names = KnownIndex(merger.rows)
    changed = created
    items: list[tuple[str | Path, str | None]] = []
    for item in files:
        if isinstance(item, tuple):
            items.append(item)
        elif Path(item).suffix.lower() in MANIFEST_SUFFIXES:
            items += [(f, b or bureau) for f, b in expand_manifest(item)]
        else:
            items.append((item, bureau))
    for f, file_bureau in items:
        p = Path(f)
        if on_file is not None:
            on_file(p.name)
        read: LedgerRead = read_ledger(p, reader=reader, mapping=mapping,
                                       bureau=file_bureau, known=names, advance=advance)
        step = merger.merge(read.rows, p.name)
        for t, c in step.counts.items():
            total = report.counts[t]
            total.added += c.added
            total.updated += c.updated
            total.unchanged += c.unchanged
        report.conflicts += step.conflicts
        changed = changed or step.changed
        if read.sha256 not in known:
            sources.append({"path": str(f), "sha256": read.sha256, "rows": read.data_rows,
                            "kind": read.kind, "imported_at": stamp})
            known.add(read.sha256)
            changed = True
        report.files.append({"file": str(f), "kind": read.kind, "sha256": read.sha256,
                             "rows": read.data_rows, "read": read.counts(),
                             "merge": {t: c.to_dict() for t, c in step.counts.items()},
                             "conflicts": len(step.conflicts),
                             "sheets": [s.to_dict() for s in read.sheets]})
    if not changed:
        report.totals = {name: len(df) for name, df in estate.tables.items()}
        return report
    estate, problems = merger.finish()
    estate.meta["sources"] = sources
    problems += estate.validate()
    if problems:
        raise ValidationFailed(problems, what=f"import into {estate_dir}")
    estate.save(estate_dir)
    report.saved = True
    report.totals = {name: len(df) for name, df in estate.tables.items()}
    return report


__all__ = ["ImportReport", "expand_manifest", "import_ledgers", "open_or_new"]
