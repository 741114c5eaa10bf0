"""``plan.yaml`` has one reader, and every consumer goes through it (schema checked)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shangyun.errors import EstateError, SchemaVersionError
from shangyun.planner.files import explain, read_plan_meta
from shangyun.runbook.sources import plan_files
from shangyun.wave.plan import load_wave


def _write(estate: Path, doc: object) -> Path:
    path = estate / "plan" / "plan.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


READERS = [
    ("read_plan_meta", lambda d: read_plan_meta(d)),
    ("load_wave", lambda d: load_wave(d, 1)),
    ("plan_files", lambda d: plan_files(Path(d))),
    ("explain", lambda d: explain(d, "s1")),
]


@pytest.mark.parametrize(("name", "read"), READERS, ids=[r[0] for r in READERS])
@pytest.mark.parametrize("version", [None, 2, "1"])
def test_every_reader_checks_the_schema_version(tmp_path: Path, name: str, read: object,
                                                 version: object) -> None:
    doc: dict[str, object] = {"waves": [{"number": 1, "systems": ["s1"]}]}
    if version is not None:
        doc["schema_version"] = version
    path = _write(tmp_path, doc)
    with pytest.raises(SchemaVersionError) as err:
        read(str(tmp_path))  # type: ignore[operator]
    assert str(path) in str(err.value)
    assert "schema_version" in str(err.value)


def test_a_plan_without_waves_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, {"schema_version": 1, "waves": "all of them"})
    with pytest.raises(EstateError, match="'waves' list") as err:
        read_plan_meta(tmp_path)
    assert str(path) in str(err.value)


def test_no_plan_is_absent_for_the_report_and_an_error_for_the_wave(tmp_path: Path) -> None:
    assert plan_files(tmp_path)["plan"] is None
    with pytest.raises(EstateError, match="not an estate"):  # a wrong --estate says so
        load_wave(str(tmp_path), 1)
    (tmp_path / "estate.yaml").write_text("name: e\n", encoding="utf-8")
    with pytest.raises(EstateError, match="no plan yet"):
        load_wave(str(tmp_path), 1)
