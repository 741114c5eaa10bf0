"""Write a stage's sub-folder of the estate (``assessment/``, ``plan/``) all-or-nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from shangyun.errors import EstateError, SchemaVersionError


def write_folder(root: Path, files: dict[str, str | pd.DataFrame | dict[str, object]],
                 keep: tuple[str, ...] = ()) -> Path:
    """Write ``files`` (name → text, DataFrame as CSV, or dict as YAML) as folder ``root``.

    The folder is written beside ``root`` and swapped in with renames: a crash leaves
    either the old folder or the new one, never a mix. ``keep``: files of the old folder
    that a person wrote (not in ``files``), carried into the new one unchanged.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.new-", dir=root.parent))
    try:
        for name, content in files.items():
            path = tmp / name
            if isinstance(content, pd.DataFrame):
                content.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
            elif isinstance(content, dict):
                path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False),
                                encoding="utf-8")
            else:
                path.write_text(content, encoding="utf-8")
        for name in keep:
            if name not in files and (root / name).is_file():
                shutil.copy2(root / name, tmp / name)
        old = root.parent / f".{root.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if root.exists():
            os.rename(root, old)
        os.rename(tmp, root)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def read_meta(path: Path, version: int) -> dict[str, Any]:
    """Read a stage's YAML header (``assessment.yaml``, ``plan.yaml``) and check its
    ``schema_version``: the one reader of every stage header. A missing file is an
    :class:`EstateError` naming it (callers that allow an absent stage check first)."""
    if not path.is_file():
        raise EstateError(f"{path}: missing")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EstateError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise EstateError(f"{path}: expected a mapping at the top level")
    if doc.get("schema_version") != version:
        raise SchemaVersionError(f"{path}: schema_version is {doc.get('schema_version')!r}, "
                                 f"this shangyun reads schema_version {version}")
    return doc
