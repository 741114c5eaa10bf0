"""Writing a generated sample into a folder: the estate (estate.yaml + CSVs) and its ledgers.

The folder is built beside the target and swapped in with renames, so a failure never
leaves half a sample. A folder that holds anything but a pristine sample (an estate in
use: plan, runbooks, facts …) is refused unless ``force``; a folder that holds an audit
journal is refused even with ``force`` (the journal is never deleted).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from shangyun.errors import EstateError
from shangyun.estate import Estate
from shangyun.estate.lock import LOCK_FILE
from shangyun.estate.model import META_FILE
from shangyun.estate.schema import TABLES
from shangyun.sample.generator import GENERATOR, generate_estate
from shangyun.sample.ledgers import LedgerFile, write_ledgers

LEDGER_DIR = "ledgers"


@dataclass
class SampleResult:
    """What :func:`write_sample` wrote: the folder, the estate and the ledger files."""

    path: Path
    estate: Estate
    ledgers: list[LedgerFile] = field(default_factory=list)


def is_sample_dir(path: str | Path) -> bool:
    """``True`` when ``path`` holds a sample written by :func:`write_sample`."""
    meta = Path(path) / META_FILE
    if not meta.is_file():
        return False
    try:
        data = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    gen = data.get("generator") if isinstance(data, dict) else None
    return isinstance(gen, dict) and gen.get("tool") == GENERATOR


#: What a sample folder holds; anything else (journal, plan, runbooks, facts …) is work.
SAMPLE_NAMES = frozenset({META_FILE, LEDGER_DIR, LOCK_FILE, *(t.file for t in TABLES.values())})
#: Names never deleted, even with ``force``: the audit journal (SQLite and its side files).
AUDIT_PREFIXES = ("journal", "audit")


def _check_replaceable(root: Path, force: bool) -> None:
    """Refuse to replace ``root`` unless it is empty or a pristine sample (or ``force``);
    refuse even with ``force`` when it holds an audit journal."""
    names = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    if not names:
        return
    audit = [n for n in names if n.startswith(AUDIT_PREFIXES)]
    if audit:
        raise EstateError(f"{root}: holds an audit journal ({', '.join(audit[:5])}); "
                          "shangyun never deletes it, even with --force: write the sample "
                          "to another folder, or move the journal away yourself first")
    foreign = [n for n in names if n not in SAMPLE_NAMES]
    if force or (is_sample_dir(root) and not foreign):
        return
    held = f"{', '.join(foreign[:5])}{' …' if len(foreign) > 5 else ''}"
    what = ("is not a generated sample" if not is_sample_dir(root) else "is a sample in use")
    if foreign:
        what += f" (it holds files a sample does not write: {held})"
    raise EstateError(f"{root}: {what}; choose an empty folder or pass --force to replace it")


def write_sample(
    out: str | Path,
    *,
    bureaus: int = 35,
    systems: int = 120,
    seed: int = 0,
    hosts: int | None = None,
    dependencies: int | None = None,
    force: bool = False,
) -> SampleResult:
    """Generate the sample estate and write it (and its ledgers under ``ledgers/``) to ``out``.

    Raises :class:`EstateError` when ``out`` is a non-empty folder that is not a sample
    (unless ``force``) or a file.
    """
    root = Path(out).resolve()
    if root.exists() and not root.is_dir():
        raise EstateError(f"{root}: exists and is not a folder")
    _check_replaceable(root, force)
    estate = generate_estate(bureaus=bureaus, systems=systems, seed=seed, hosts=hosts,
                             dependencies=dependencies)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.sample-", dir=root.parent))
    try:
        estate.save(tmp / "estate")
        for f in (tmp / "estate").iterdir():
            f.rename(tmp / f.name)
        (tmp / "estate").rmdir()
        files = write_ledgers(estate, tmp / LEDGER_DIR, seed)
        old = root.parent / f".{root.name}.sample-old"
        if old.exists():
            shutil.rmtree(old)
        if root.exists():
            root.rename(old)
        tmp.rename(root)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    ledgers = [LedgerFile(root / f.path.relative_to(tmp), f.bureau, f.style) for f in files]
    return SampleResult(root, estate, ledgers)
