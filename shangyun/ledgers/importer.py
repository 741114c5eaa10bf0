"""``inventory import``: read ledger files, merge them into the estate, validate, save.

All or nothing: every file is read and merged in memory; the merged estate is validated
and only then saved (``Estate.save`` swaps the folder in atomically). A file that cannot be
understood raises :class:`LedgerError`; a merged estate with problems raises
:class:`ValidationFailed` listing all of them; in both cases nothing is written.

Each imported file is recorded in ``estate.yaml`` ``sources`` (path, sha256, rows,
imported_at) once per name and content: importing the same file again changes nothing; the
same content under a new name (the ledger renamed or copied) is recorded again with
``same_as`` naming the file it was first recorded as, and a warning says so.
"""

from __future__ import annotations

import datetime as dt
import difflib
import glob
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shangyun.errors import EstateError, LedgerError, ValidationFailed
from shangyun.estate.lock import LOCK_FILE, writes_estate
from shangyun.estate.merge import ORDER, Merger, MergeStep, TableCounts
from shangyun.estate.model import META_FILE, Estate
from shangyun.ledgers.collector import KnownIndex
from shangyun.ledgers.grid import GridReader
from shangyun.ledgers.mapping import SAFE_LOADER, load_mapping
from shangyun.ledgers.model import LedgerRead, Mapping
from shangyun.ledgers.read import gc_paused, read_ledger
from shangyun.ledgers.resolve import resolve_deferred


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
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    #: cells an edited export workbook changes: {table, id, column, current, edited, file}
    edits: list[dict[str, Any]] = field(default_factory=list)
    #: the edits were written (``apply``); without it an import with edits writes nothing
    applied: bool = False
    #: rows an edited export workbook adds (typed as new rows): part of the reviewed diff
    #: like the edits, written only with ``apply``: {table, id, name, ip, file}
    added: list[dict[str, Any]] = field(default_factory=list)
    #: estate rows a file brought before that the file no longer lists (kept, not deleted):
    #: {file, table, id, name, bureau}
    missing: list[dict[str, Any]] = field(default_factory=list)
    #: the recorded conflicts on the cells the edits change: the edit decides them, so
    #: they are dropped from the estate when the edits are applied
    settled: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able data."""
        return {"estate": self.estate_dir, "created": self.created, "saved": self.saved,
                "dry_run": self.dry_run,
                "files": self.files, "counts": {t: c.to_dict() for t, c in self.counts.items()},
                "conflicts": self.conflicts, "new_conflicts": len(self.conflicts),
                "totals": self.totals, "warnings": self.warnings, "edits": self.edits,
                "applied": self.applied, "added": self.added, "missing": self.missing,
                "settled": self.settled}


def open_or_new(estate_dir: str | Path) -> tuple[Estate, bool]:
    """The estate at ``estate_dir`` (not checked) or a new empty one; ``True`` when new."""
    root = Path(estate_dir)
    if (root / META_FILE).is_file():
        return Estate.load(root, check=False), False
    if root.exists() and any(p.name != LOCK_FILE for p in root.iterdir()):
        raise EstateError(f"{root}: exists but is not an estate (no {META_FILE}); give an "
                          "estate folder or a new folder name")
    return Estate.new(root.resolve().name or "estate"), True


MANIFEST_SUFFIXES = (".yaml", ".yml")
#: Files a folder given to ``import`` contributes (Office lock files ``~$…`` excepted).
LEDGER_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".et", ".csv", ".tsv")
MANIFEST_NAME = "manifest.yaml"


def expand_inputs(items: Sequence[str | Path]) -> list[tuple[Path, str | None]]:
    """Folders, glob patterns and files as the ``(file, bureau)`` list to import.

    A folder holding a ``manifest.yaml`` gives that manifest (its files with their
    bureaus); any other folder gives every ledger file under it (sorted, recursively); a
    pattern (``ledgers/*/*.xlsx``, ``**/*.csv``) not naming an existing path is expanded;
    a file is itself. A file listed by a ``manifest.yaml`` in its folder or the folder
    above gets that manifest's bureau (so ``ledgers/*/*.xlsx`` imports like the manifest);
    otherwise the bureau is ``None``. A name matching nothing raises :class:`LedgerError`."""
    files = _expand_paths(items)
    listed: dict[Path, str | None] = {}
    for manifest in dict.fromkeys(d / MANIFEST_NAME for f in files
                                  for d in (f.parent, f.parent.parent)):
        if manifest.is_file() and manifest not in files:
            listed.update({f.resolve(): b for f, b in expand_manifest(manifest)})
    return [(f, listed.get(f.resolve())) for f in files]


#: Text files a folder import leaves out (notes and read-me files as often as Excel's
#: "Unicode text" exports): named in a warning; a file named on the command line is read.
TEXT_SUFFIXES = (".txt",)


def text_files_left_out(items: Sequence[str | Path]) -> list[str]:
    """One warning per folder of ``items`` (without a manifest) holding ``.txt`` files,
    which a folder import does not read (a folder's notes would refuse the import), naming
    them and saying how to import them."""
    out: list[str] = []
    for item in items:
        p = Path(item)
        if not p.is_dir() or (p / MANIFEST_NAME).is_file():
            continue
        left = sorted(str(f.relative_to(p)) for f in p.rglob("*") if f.is_file()
                      and f.suffix.lower() in TEXT_SUFFIXES and not _leftover(f, p))
        if left:
            shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5
                                           else "")
            out.append(f"{p}: {len(left)} .txt file(s) not imported ({shown}): a folder "
                       "import reads .xlsx/.xls/.csv/.tsv … only; if one is a ledger (Excel's "
                       "\"Unicode text\" saves .txt), name it on the command line")
    return out


def _leftover(f: Path, top: Path | None = None) -> bool:
    """``True`` for a file an office program or an OS leaves beside a ledger, never a ledger
    itself: Excel's owner file ``~$台账.xlsx`` (while the ledger is open), LibreOffice's
    ``.~lock.台账.xlsx#``, macOS's ``._台账.xlsx`` (copied to a USB disk) and the
    ``__MACOSX`` folder of a zip made on a Mac, hidden files and folders (below ``top``)."""
    parts = f.relative_to(top).parts if top is not None else (f.name,)
    return f.name.startswith("~$") or any(
        p.startswith(".") or p == "__MACOSX" for p in parts)


def _expand_paths(items: Sequence[str | Path]) -> list[Path]:
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            if (p / MANIFEST_NAME).is_file():
                out.append(p / MANIFEST_NAME)
                continue
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and f.suffix.lower() in LEDGER_SUFFIXES and not _leftover(f, p))
            if not found:
                raise LedgerError(str(p), "the folder holds no ledger file (" + ", ".join(
                    LEDGER_SUFFIXES) + "; Excel/macOS leftovers such as ~$… and ._… "
                    "are not ledgers)")
            out += found
        elif p.exists():
            if not p.name.startswith(("~$", "._")):  # (a shell's `*.xlsx` passes them too)
                out.append(p)
        elif any(ch in str(item) for ch in "*?["):
            found = sorted(Path(x) for x in glob.glob(str(item), recursive=True))
            found = [f for f in found if f.is_file() and not _leftover(f)
                     and "__MACOSX" not in f.parts]
            if not found:
                raise LedgerError(str(item), "the pattern matches no file")
            out += found
        else:
            raise LedgerError(str(item), "no such file or folder")
    return list(dict.fromkeys(out))


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
@writes_estate("inventory import")
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
    dry_run: bool = False,
    apply: bool = False,
) -> ImportReport:
    """Import ``files`` into the estate at ``estate_dir`` (created when missing).

    An item of ``files`` may be ``(path, bureau)`` to give that file its own bureau, or a
    ledger manifest (.yaml, see :func:`expand_manifest`); otherwise ``bureau`` applies.
    ``reader`` reads each file into grids (:func:`connectors.grid.read_grids`). All files
    are merged in memory, validated once and saved once.

    Dependencies naming systems by name only (no 单位 column) are resolved after every
    file is merged (:mod:`shangyun.ledgers.resolve`), so the order of ``files`` does not
    matter. ``report.counts`` counts each estate row the import touched once (added,
    updated or unchanged); ``report.totals`` are the estate's rows afterwards.
    ``dry_run`` reads, merges and validates everything and writes nothing.

    A workbook written by ``inventory export`` and edited (the round trip) is a set of
    **edits**: every cell of an existing row (by id) that differs from the estate is listed
    in ``report.edits``, and every row typed into it as new in ``report.added``; without
    ``apply`` nothing is written (review the diff), with ``apply`` the edited values
    replace the estate's and the new rows are added (rows deleted from it are kept, and
    named in a warning and ``report.missing``). Into a new estate (``estate_dir`` missing)
    an export is read back whole, written without ``apply``.

    ``on_file(name)`` is called as each file starts, ``advance(n)`` as rows are read (for
    progress bars). Raises :class:`LedgerError`, :class:`ValidationFailed` or
    :class:`EstateError`; in each case nothing is written.
    """
    estate, created = open_or_new(estate_dir)
    mapping: Mapping = load_mapping(mapping_file) if mapping_file else {}
    report = ImportReport(str(estate_dir), created, False,
                          counts={t: TableCounts() for t in ORDER}, dry_run=dry_run)
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    sources: list[dict[str, Any]] = list(estate.meta.get("sources") or [])
    known = {s.get("sha256") for s in sources if isinstance(s, dict)}
    # the name each content was first recorded under, and the (name, content) pairs
    first_name: dict[Any, str] = {}
    pairs: set[tuple[str, Any]] = set()
    for s in sources:
        if isinstance(s, dict):
            first_name.setdefault(s.get("sha256"), Path(str(s.get("path", ""))).name)
            pairs.add((Path(str(s.get("path", ""))).name, s.get("sha256")))
    recorded = len(sources)  # the sources recorded before this import
    renamed: dict[str, str] = {}  # file name -> the name its content was first recorded as
    again: dict[str, str] = {}  # file name -> SHA-256 of a file of this import seen before
    merger = Merger(estate)
    names = KnownIndex(merger.rows)
    changed = created
    items: list[tuple[str | Path, str | None]] = []
    for item in files:
        path, item_bureau = item if isinstance(item, tuple) else (item, bureau)
        if Path(path).suffix.lower() in MANIFEST_SUFFIXES:
            items += [(f, b or item_bureau) for f, b in expand_manifest(path)]
        elif isinstance(item, tuple):
            items.append(item)
        else:
            items.append((item, bureau))
    touched: dict[str, set[str]] = {t: set() for t in ORDER}
    by_file: dict[str, dict[str, set[str]]] = {}  # ledger file name -> table -> ids it gave
    gave: dict[int, dict[str, set[str]]] = {}  # report.files index -> table -> estate ids
    waiting: list[tuple[LedgerRead, str, dict[str, set[str]]]] = []
    vms: list[tuple[str, list[str]]] = []  # RVTools export -> the estate ids of its VMs
    for f, file_bureau in items:
        p = Path(f)
        if on_file is not None:
            on_file(p.name)
        read: LedgerRead = read_ledger(p, reader=reader, mapping=mapping,
                                       bureau=file_bureau, known=names, advance=advance,
                                       defer=True)
        if read.kind == "export":
            typed = {target: header for sh in read.sheets for header, target in sh.columns.items()}
            edits = export_edits(read.rows, merger.by_id, p.name, typed)
            report.edits += edits
            settled = settled_conflicts(edits, merger.rows["conflicts"])
            report.settled += settled
            if apply:
                for e in edits:
                    merger.by_id[e["table"]][e["id"]][e["column"]] = e["edited"]
                changed = changed or bool(edits)
        # an export's conflicts sheet: its rows, those the estate records already
        sheet_conflicts = list(dict.fromkeys(str(c.get("id")) for c in
                                             read.rows.get("conflicts", ())))
        recorded_conflicts = sum(1 for c in sheet_conflicts if c in merger.conflict_ids)
        before = ({t: set(ids) for t, ids in merger.by_id.items()}
                  if read.kind == "export" else {})
        step = merger.merge(read.rows, p.name, defines=read.kind != "export",
                            shared_hosts=read.kind != "export")
        if read.kind == "export":  # rows the team deleted from the workbook: kept, said
            gone = export_gone(read, step, before, merger, p.name)
            report.missing += gone
            report.warnings += _export_gone_lines(gone, estate_dir)
            if not created:  # (into a new estate an export is read back whole: no diff)
                report.added += export_added(step, before, merger, p.name)
        if read.kind == "export" and apply and report.settled:
            # (after the merge: the workbook's own conflicts sheet lists them too)
            gone = {c["id"] for c in report.settled}
            merger.rows["conflicts"][:] = [c for c in merger.rows["conflicts"]
                                           if c["id"] not in gone]
            for cid in gone:
                merger.by_id.get("conflicts", {}).pop(cid, None)
            merger.conflict_ids -= gone  # the same disagreement again is a new conflict
        names.rename_systems(step.renamed, merger.by_id["systems"])
        report.warnings += step.notes
        given = _given(step)
        _touch(touched, given)
        gave[len(report.files)] = mine = {t: set() for t in ORDER}
        _touch(mine, given)
        if read.kind != "export":
            _touch(by_file.setdefault(p.name, {t: set() for t in ORDER}), given)
        if not (read.kind == "export" and (report.edits or report.added) and not apply):
            report.conflicts += step.conflicts  # (unapplied edits are shown as edits)
        changed = changed or step.changed
        record = {"path": str(f), "sha256": read.sha256, "rows": read.data_rows,
                  "kind": read.kind, "imported_at": stamp}
        if read.sha256 in known:
            again[p.name] = read.sha256
            first = first_name.get(read.sha256, "")
            if (p.name, read.sha256) not in pairs and first != p.name:
                # the same ledger renamed (or copied): recorded under this name too, so
                # the rows citing it in `source` have a record, and said
                renamed[p.name] = first
                sources.append({**record, "same_as": first})
                pairs.add((p.name, read.sha256))
                changed = True
                when = ("imported before" if any(
                    isinstance(x, dict) and x.get("sha256") == read.sha256
                    for x in sources[:recorded]) else "also in this import")
                report.warnings.append(
                    f"{p.name} has the same content (by SHA-256) as {first}, {when}: the "
                    "same ledger under another name; nothing in it is new (it is recorded "
                    "as a source under this name too)")
        elif read.kind == "export" and not step.changed and not (apply and edits):
            pass  # an export that changes nothing (the estate's own rows): not recorded
        else:
            sources.append(record)
            known.add(read.sha256)
            first_name[read.sha256] = p.name
            pairs.add((p.name, read.sha256))
            changed = True
        entry = {"file": str(f), "kind": read.kind, "sha256": read.sha256,
                 "rows": read.data_rows, "read": {},
                 "merge": {t: c.to_dict() for t, c in step.counts.items()},
                 "conflicts": len(step.conflicts),
                 "sheets": [s.to_dict() for s in read.sheets]}
        if sheet_conflicts:
            entry["conflicts_sheet"] = {"rows": len(sheet_conflicts),
                                        "recorded": recorded_conflicts,
                                        "new": len(sheet_conflicts) - recorded_conflicts}
        report.files.append(entry)
        report.warnings += [f"{p.name}: {w}" for w in read.warnings]
        if read.deferred:
            waiting.append((read, p.name, mine))
        if read.kind == "rvtools" and read.rows.get("hosts"):
            vms.append((p.name, [step.id_map["hosts"].get(str(h["id"]), str(h["id"]))
                                 for h in read.rows["hosts"]]))
    for read, name, mine in waiting:  # every system is known now: any file order works
        rows, placeholders = resolve_deferred(read, names, name)
        step = merger.merge(rows, name, defines=False)
        report.warnings += merger.add_placeholders(placeholders, step.id_map["systems"])
        given = _given(step)
        _touch(touched, given)
        _touch(by_file.setdefault(name, {t: set() for t in ORDER}), given)
        report.conflicts += step.conflicts
        changed = changed or step.changed
        _touch(mine, given)
    for i, mine in gave.items():  # distinct estate rows per table, as the estate gets them
        report.files[i]["read"] = {t: len(ids) for t, ids in mine.items() if ids}
        if "conflicts_sheet" in report.files[i]:  # an export's conflicts sheet
            report.files[i]["read"]["conflicts"] = report.files[i]["conflicts_sheet"]["rows"]
    folded = merger.fold_standins()  # hosts named by address only, now known by name
    report.warnings += folded
    report.warnings += systemless_vms(vms, merger.by_id["hosts"])
    changed = changed or bool(folded)
    report.counts = _counts(touched, estate, created, merger)
    if not created:
        kinds = {Path(str(x.get("path", ""))).name: str(x.get("kind", "")) for x in sources
                 if isinstance(x, dict)}
        report.missing = no_longer_listed(by_file, merger, kinds,
                                          _older(again, sources[:recorded]))
        for m in report.missing:
            if m.get("older") and m["file"] in renamed:
                m["same_as"] = renamed[m["file"]]
        report.warnings += _missing_lines(report.missing, estate_dir)
    if not changed:
        report.warnings += estate.kept_cells()
        report.totals = {name: len(df) for name, df in estate.tables.items()}
        return report
    kept = estate.kept
    estate, problems = merger.finish()
    estate.kept = kept  # invalid hand-typed cells the import did not set: written back
    report.warnings += estate.kept_cells()
    estate.meta["sources"] = sources
    problems += estate.validate()
    if problems:
        raise ValidationFailed(problems, what=f"import into {estate_dir}")
    report.warnings += [str(w) for w in estate.warnings()]
    if dry_run or ((report.edits or report.added) and not apply):
        report.totals = {name: len(df) for name, df in estate.tables.items()}
        return report
    estate.save(estate_dir)
    report.applied = bool(report.edits or report.added)
    report.saved = True
    report.totals = {name: len(df) for name, df in estate.tables.items()}
    return report


#: Columns an edited export does not change (bookkeeping, not facts).
_NOT_EDITED = frozenset({"id", "source"})


def export_edits(rows: dict[str, list[dict[str, Any]]],
                 current: dict[str, dict[str, dict[str, Any]]],
                 file: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The cells of an exported workbook's rows (by id) that differ from ``current``
    (the estate's rows by table and id); new rows and the conflicts table are not edits.

    Each edit names its field (``column``) and the workbook's header of it (``header``,
    from ``headers``: ``"hosts.window_start"`` → ``"迁移窗口开始"``; the field name when the
    workbook's header is not known)."""
    edits: list[dict[str, Any]] = []
    for table, table_rows in rows.items():
        if table == "conflicts" or table not in current:
            continue
        by_id = current[table]
        for row in table_rows:
            cur = by_id.get(row.get("id"))
            if cur is None:
                continue
            for column, value in row.items():
                if column in _NOT_EDITED or _eq(cur.get(column), value):
                    continue
                if (table, column) == ("systems", "classified") and cur.get(column) is True \
                        and value in (None, ""):
                    header = (headers or {}).get("systems.classified", "是否涉密")
                    raise LedgerError(file, f"{header} of system {cur.get('name')!r} "
                                      f"({row['id']}) is emptied: it is classified (涉密), "
                                      "and a classified system never moves — emptied, it "
                                      "would be planned like any other; type 否 (false) if "
                                      "it is not classified", column=header)
                edits.append({"table": table, "id": row["id"], "column": column,
                              "header": (headers or {}).get(f"{table}.{column}", column),
                              "current": cur.get(column), "edited": value, "file": file})
    return edits


def systemless_vms(vms: list[tuple[str, list[str]]],
                   hosts: dict[str, dict[str, Any]]) -> list[str]:
    """One warning per RVTools export (file, the estate ids of its VMs) whose VMs no ledger
    of the estate or of this import gives a system: RVTools names none, and assess and plan
    work on systems. VMs a bureau ledger lists (by host name or IP, with its 系统名称) have
    theirs, so the README pattern (ledgers and exports in one import) warns of none."""
    out: list[str] = []
    for file, ids in vms:
        alone = [hosts[i] for i in dict.fromkeys(ids) if i in hosts
                 and not hosts[i].get("system_id")]
        if not alone:
            continue
        shown = ", ".join(str(h.get("hostname") or h["id"]) for h in alone[:10])
        more = f" … and {len(alone) - 10} more" if len(alone) > 10 else ""
        out.append(f"{file}: an RVTools export names no system, and no ledger gives one to "
                   f"{len(alone)} of its {len(set(ids))} VM(s): {shown}{more} — assess and "
                   "plan work on systems: import the bureau's ledger listing them (by host "
                   "name or IP, with its 系统名称) too, or `inventory export --xlsx F`, type "
                   "each VM's 所属系统 in F and `inventory import F --apply`")
    return out


def settled_conflicts(edits: list[dict[str, Any]],
                      conflicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conflict rows on a cell (table, row id, column) that one of ``edits`` changes:
    typing a value in an exported workbook is how a conflict is resolved (docs/ledgers.md),
    so the edit settles it, whichever value it keeps."""
    cells = {(str(e["table"]), str(e["id"]), str(e["column"])) for e in edits}
    return [c for c in conflicts
            if (str(c.get("table")), str(c.get("key")), str(c.get("column"))) in cells]


def held_edits(edits: list[dict[str, Any]], estate: Estate,
               held: dict[str, str], what_changes: str = "the edit") -> list[str]:
    """One warning per row of an edited export (a system, or a host, disk or database of a
    system) whose system a wave has already moved: the edit changes the estate, not the
    machine on the cloud. ``held``: system id -> what holds it (``moved in wave 1``)."""
    hosts = {str(r["id"]): r for r in estate.rows("hosts")}
    names = {str(r["id"]): str(r.get("name") or r["id"]) for r in estate.rows("systems")}
    disks = {str(r["id"]): str(r.get("host_id") or "") for r in estate.rows("disks")}
    dbs = {str(r["id"]): r for r in estate.rows("databases")}
    out: dict[tuple[str, str], list[str]] = {}
    for e in edits:
        table, rid = str(e["table"]), str(e["id"])
        host = hosts.get(disks.get(rid, "") if table == "disks" else
                         str(dbs.get(rid, {}).get("host_id") or "") if table == "databases"
                         else rid if table == "hosts" else "")
        sid = (rid if table == "systems" else
               str(dbs.get(rid, {}).get("system_id") or "") if table == "databases" else "")
        sid = sid or str((host or {}).get("system_id") or "")
        if sid not in held:
            continue
        hn = str((host or {}).get("hostname") or (host or {}).get("id") or "")
        what = {"hosts": f"host {hn}", "disks": f"disk {rid} of host {hn}",
                "databases": f"database {rid} on host {hn}"}.get(table, "system")
        out.setdefault((sid, what), []).append(str(e["column"]))
    return [f"{what} ({', '.join(cols)}): {names.get(sid, sid)} ({sid}) is {held[sid]}; "
            f"{what_changes} changes the estate, not the machine already on the cloud"
            for (sid, what), cols in out.items()]


def _older(again: dict[str, str], sources: list[Any]) -> dict[str, set[str]]:
    """File name of this import -> the names of the files the estate recorded after it: a
    file whose content (SHA-256) was imported before is older than every file recorded after
    its first record (``sources``: the estate's records before this import, oldest first)."""
    out: dict[str, set[str]] = {}
    for name, sha in again.items():
        first = next((i for i, x in enumerate(sources)
                      if isinstance(x, dict) and x.get("sha256") == sha), None)
        if first is not None:
            out[name] = {Path(str(x.get("path", ""))).name for x in sources[first + 1:]
                         if isinstance(x, dict) and x.get("sha256") != sha}
    return out


def no_longer_listed(by_file: dict[str, dict[str, set[str]]], merger: Merger,
                     kinds: dict[str, str] | None = None,
                     older: dict[str, set[str]] | None = None) -> list[dict[str, Any]]:
    """The hosts and systems of the estate that a file of this import brought before
    (its name in their ``source``) but no longer lists, in the bureaus the file gave now
    (so two bureaus' files of one name do not report each other's rows).

    A file re-submitted under another name (``台账.xlsx`` a month later as
    ``台账-12月修订.xlsx``) is a new version of the earlier file when it lists rows of a
    table the earlier file brought, and either at least half of them (in the bureaus it
    gives) or its name is the earlier one's with something added or changed
    (:func:`_same_ledger_name`): the earlier file's rows it does not list are reported too,
    with ``earlier`` naming that file and ``listed`` giving how many of how many rows the
    new file lists. ``kinds`` (file name -> the format that read it: ledger, rvtools …) keeps
    a ledger from passing for a new version of an RVTools export, and the other way round.
    ``older`` (file name -> files recorded after its content was first imported,
    :func:`_older`): a file re-imported after its newer version is no new version of it;
    its rows are reported with ``older`` set (the newer file brought them).

    ``by_file``: ledger file name -> table -> ids the file gave in this import. Two passes
    over the rows: {file, table, id, name, bureau, ip, earlier, listed} each."""
    out: list[dict[str, Any]] = []
    if not by_file:
        return out
    bureaus = merger.by_id["bureaus"]
    for table, label in (("systems", "name"), ("hosts", "hostname")):
        rows = [r for r in merger.rows[table] if r.get("source")
                and isinstance(r.get("source"), str)]
        # earlier files a file of this import continues: (file, earlier) -> (listed, of)
        shared: dict[tuple[str, str, str], int] = {}
        total: dict[tuple[str, str], int] = {}
        for row in rows:
            files = row["source"].split(";")
            old = [f for f in files if f not in by_file]
            if not old:
                continue
            bid = str(row.get("bureau_id") or "")
            for e in old:
                total[(e, bid)] = total.get((e, bid), 0) + 1
                for f in files:
                    if f in by_file and row["id"] in by_file[f][table]:
                        shared[(f, e, bid)] = shared.get((f, e, bid), 0) + 1
        continues: dict[str, list[tuple[str, int, int]]] = {}  # earlier -> [(file, listed, of)]
        for (f, e) in {(f, e) for f, e, _b in shared}:
            gave_b = by_file[f]["bureaus"]
            listed = sum(n for (ff, ee, b), n in shared.items() if ff == f and ee == e
                         and b in gave_b)
            of = sum(n for (ee, b), n in total.items() if ee == e and b in gave_b)
            if kinds and kinds.get(f, "") != kinds.get(e, kinds.get(f, "")):
                continue  # a ledger is no new version of an RVTools export
            if of and (2 * listed >= of or _same_ledger_name(f, e)):
                continues.setdefault(e, []).append((f, listed, of))
        for row in rows:
            files = row["source"].split(";")
            b = bureaus.get(row.get("bureau_id") or "", {})
            item = {"table": table, "id": row["id"], "name": row.get(label),
                    "bureau": b.get("name"), "ip": row.get("ip") if table == "hosts" else None}
            for f in files:
                gave = by_file.get(f)
                if (gave is None or row["id"] in gave[table]
                        or row.get("bureau_id") not in gave["bureaus"]):
                    continue
                out.append({"file": f, **item})
            if any(f in by_file for f in files):
                continue  # a file of this import lists it (or reported it above)
            for e in files:
                for f, listed, of in continues.get(e, []):
                    if row.get("bureau_id") in by_file[f]["bureaus"]:
                        out.append({"file": f, **item, "earlier": e,
                                    "listed": f"{listed} of {of}",
                                    "older": e in (older or {}).get(f, set())})
                        break
    return out


def export_added(step: MergeStep, before: dict[str, set[str]], merger: Merger,
                 file: str) -> list[dict[str, Any]]:
    """The rows merging an ``inventory export`` workbook added to the estate (typed into it
    as new rows; ``before``: the estate's ids per table before the merge), by name (a
    host's IP too): {table, id, name, ip, file} each. They are part of the reviewed diff:
    the caller writes them only with ``apply``."""
    out: list[dict[str, Any]] = []
    for table in ORDER:
        if table == "conflicts":
            continue
        for rid in sorted(set(step.id_map.get(table, {}).values()) - before.get(table, set())):
            row = merger.by_id.get(table, {}).get(rid)
            if row is None:
                continue
            out.append({"table": table, "id": rid, "name": _row_name(table, row, merger),
                        "ip": row.get("ip") if table == "hosts" else None, "file": file})
    return out


def _row_name(table: str, row: dict[str, Any], merger: Merger) -> str:
    """A row as a person names it: a host by host name, a system or bureau by name, a disk
    or database by its name on its host, a dependency as ``source → target:port``."""
    def named(ref_table: str, rid: Any) -> str:
        ref = merger.by_id.get(ref_table, {}).get(str(rid or ""), {})
        return str(ref.get("hostname" if ref_table == "hosts" else "name") or rid or "")

    if table == "hosts":
        return str(row.get("hostname") or row.get("ip") or row["id"])
    if table in ("disks", "databases"):
        what = row.get("name") or row.get("path") or row.get("engine") or row["id"]
        where = (named("hosts", row["host_id"]) if row.get("host_id")
                 else named("systems", row.get("system_id")))
        return f"{what} on {where}" if where else str(what)
    if table == "dependencies":
        src = (named("systems", row["source_system"]) if row.get("source_system")
               else named("hosts", row.get("source_host")))
        dst = (named("systems", row["target_system"]) if row.get("target_system")
               else named("hosts", row["target_host"]) if row.get("target_host")
               else str(row.get("external") or ""))
        port = "" if _eq(row.get("port"), None) else f":{row['port']}"
        return f"{src} → {dst}{port}"
    return str(row.get("name") or row["id"])


def export_gone(read: LedgerRead, step: MergeStep, before: dict[str, set[str]],
                merger: Merger, file: str) -> list[dict[str, Any]]:
    """The systems and hosts the estate had before an ``inventory export`` workbook was
    merged that the workbook does not list (its sheet of that table is there, the row is
    not: deleted by the team, or brought into the estate after the export), in the
    bureaus the workbook lists: {file, table, id, name, bureau, ip, export} each. An
    import never deletes, so they are kept; the caller says so."""
    out: list[dict[str, Any]] = []
    tables = {sh.kind for sh in read.sheets}
    bureaus_given = set(step.id_map.get("bureaus", {}).values())
    by_bureau = merger.by_id["bureaus"]
    for table, label in (("systems", "name"), ("hosts", "hostname")):
        if table not in tables:
            continue
        listed = set(step.id_map.get(table, {}).values())
        for rid in sorted(before.get(table, set()) - listed):
            row = merger.by_id[table].get(rid)
            if row is None or ("bureaus" in tables and row.get("bureau_id") not in bureaus_given):
                continue
            out.append({"file": file, "table": table, "id": rid, "name": row.get(label),
                        "bureau": by_bureau.get(row.get("bureau_id") or "", {}).get("name"),
                        "ip": row.get("ip") if table == "hosts" else None, "export": True})
    return out


def _export_gone_lines(gone: list[dict[str, Any]], estate_dir: str | Path) -> list[str]:
    """One warning per table naming the rows an exported workbook no longer lists."""
    lines = []
    for table in ("systems", "hosts"):
        rows = [g for g in gone if g["table"] == table]
        if not rows:
            continue
        what = "host(s)" if table == "hosts" else "system(s)"
        shown = ", ".join(f"{r['name']}" + (f" ({r['ip']})" if r.get("ip") else "")
                          + f" [{r['bureau']}]" for r in rows[:20])
        more = f" … and {len(rows) - 20} more (--json lists all)" if len(rows) > 20 else ""
        lines.append(
            f"{rows[0]['file']} (an `inventory export` workbook) does not list {len(rows)} "
            f"{what} the estate has: {shown}{more}. They are kept — deleting a row from an "
            "exported workbook does not remove it from the estate (or the row came into the "
            "estate after the export); shangyun has no remove command: to remove them, "
            "delete their rows (and the rows referring to them) from "
            f"{Path(estate_dir) / (table + '.csv')} and run `shangyun inventory validate`")
    return lines


def _same_ledger_name(a: str, b: str) -> bool:
    """``True`` when two file names look like versions of one ledger: one stem begins with
    the other (``台账`` / ``台账-12月修订``) or they are mostly alike (``台账2026-11`` /
    ``台账2026-12``)."""
    sa, sb = (Path(x).stem.lower().strip() for x in (a, b))
    if not sa or not sb:
        return False
    return sa.startswith(sb) or sb.startswith(sa) or \
        difflib.SequenceMatcher(None, sa, sb).ratio() >= 0.8


def _missing_lines(missing: list[dict[str, Any]], estate_dir: str | Path) -> list[str]:
    """One warning per file (and earlier file) and table listing the rows it no longer
    lists."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for m in missing:
        groups.setdefault((m["file"], m.get("earlier") or "", m["table"]), []).append(m)
    lines = []
    for (f, earlier, table), rows in groups.items():
        what = "host(s)" if table == "hosts" else "system(s)"
        shown = ", ".join(f"{r['name']}" + (f" ({r['ip']})" if r.get("ip") else "")
                          + f" [{r['bureau']}]" for r in rows[:20])
        more = f" … and {len(rows) - 20} more (--json lists all)" if len(rows) > 20 else ""
        if earlier and rows[0].get("older"):
            was = (f"has the content of {rows[0]['same_as']}, imported before (by SHA-256), "
                   "and" if rows[0].get("same_as") else
                   "was imported before (the same content, by SHA-256) and")
            lines.append(
                f"{f} {was} is older than {earlier}, imported since: it lists "
                f"{rows[0]['listed']} {what} the estate "
                f"has from {earlier} but not these {len(rows)}: {shown}{more}. They are kept "
                "(an import never deletes).")
            continue
        if earlier:
            head = (f"{f} lists {rows[0]['listed']} {what} the estate has from {earlier} "
                    f"(a new version of it?) but not these {len(rows)}: {shown}{more}. ")
        else:
            head = (f"{f} no longer lists {len(rows)} {what} the estate has from it: "
                    f"{shown}{more}. ")
        lines.append(
            head + "They are kept (an import never deletes); shangyun has no remove command: "
            "to remove them, delete their rows (and the rows referring to them) from "
            f"{Path(estate_dir) / (table + '.csv')} and run `shangyun inventory validate`")
    return lines


def _given(step: MergeStep) -> dict[str, set[str]]:
    """The estate ids a merge step gave, per table (made once per step, added to the
    import's, the file's and the ledger's touched ids by :func:`_touch`)."""
    return {t: set(ids.values()) for t, ids in step.id_map.items()}


def _touch(touched: dict[str, set[str]], given: dict[str, set[str]]) -> None:
    """Add ``given`` (:func:`_given`) to ``touched`` (tables it does not have skipped)."""
    for t, got in given.items():
        if t in touched:
            touched[t] |= got


def _counts(touched: dict[str, set[str]], before: Estate, created: bool,
            merger: Merger) -> dict[str, TableCounts]:
    """Each estate row the import touched, counted once: added (new), updated (a value
    filled) or unchanged — so the counts of one table add up to the rows it touched."""
    out: dict[str, TableCounts] = {}
    for t in ORDER:
        ids = touched.get(t, set())
        c = TableCounts()
        if ids and created:  # (a new estate: every row it touched was added)
            c.added = len(ids)
        elif ids:
            old = {} if created else {r["id"]: r for r in before.rows(t)}
            for i in ids:
                prev = old.get(i)
                if prev is None:
                    c.added += 1
                elif _same(prev, merger.by_id[t].get(i)):
                    c.unchanged += 1
                else:
                    c.updated += 1
        out[t] = c
    return out


def _same(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    if b is None:
        return True
    return all(_eq(a.get(k), b.get(k)) for k in set(a) | set(b) if k != "source")


def _eq(x: Any, y: Any) -> bool:
    if x is None or x == "" or (isinstance(x, float) and x != x):
        return y is None or y == "" or (isinstance(y, float) and y != y)
    return bool(x == y)


__all__ = [
    "ImportReport",
    "expand_inputs",
    "expand_manifest",
    "export_added",
    "export_edits",
    "held_edits",
    "import_ledgers",
    "no_longer_listed",
    "open_or_new",
    "text_files_left_out",
]
