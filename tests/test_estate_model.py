"""The estate model: coercion, validation (every problem at once), all-or-nothing saving."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.errors import EstateError, SchemaVersionError, ValidationFailed
from shangyun.estate import Estate, model
from shangyun.estate.model import _csv_lines


def small_estate() -> Estate:
    est = Estate.new("unit")
    assert not est.set_rows("bureaus", [
        {"id": "hq", "name": "总局", "kind": "hq", "link_mbps": 10000},
        {"id": "b1", "name": "一局", "kind": "bureau", "link_mbps": 100,
         "window_day": "sat", "window_start": "22:00", "window_hours": 8},
    ])
    assert not est.set_rows("systems", [
        {"id": "s1", "name": "审批系统", "bureau_id": "b1", "mlps_level": 3, "classified": "否"},
    ])
    assert not est.set_rows("hosts", [
        {"id": "h1", "hostname": "app01", "ip": "10.0.0.1", "bureau_id": "b1", "system_id": "s1",
         "kind": "vm", "cpu_cores": 4, "memory_gb": 16},
    ])
    assert not est.set_rows("disks", [{"id": "d1", "host_id": "h1", "size_gb": 100, "used_gb": 40}])
    return est


def test_round_trip_keeps_types_and_chinese(tmp_path: Path) -> None:
    est = small_estate()
    est.save(tmp_path / "e")
    raw = (tmp_path / "e" / "systems.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV must carry a BOM so Excel reads UTF-8"
    back = Estate.load(tmp_path / "e")
    assert back.rows("systems")[0]["name"] == "审批系统"
    assert back.rows("systems")[0]["classified"] is False
    assert back.rows("hosts")[0]["cpu_cores"] == 4
    assert back.summary()["per_bureau"]["b1"]["hosts"] == 1


def test_validation_reports_every_problem(tmp_path: Path) -> None:
    est = small_estate()
    est.save(tmp_path / "e")
    hosts = tmp_path / "e" / "hosts.csv"
    text = hosts.read_text(encoding="utf-8-sig")
    text += "h1,dup,,,s9,b1,vm,,,,,,,,,-3,16,,,,,,,\n"
    hosts.write_text(text, encoding="utf-8-sig")
    with pytest.raises(ValidationFailed) as info:
        Estate.load(tmp_path / "e")
    found = {(p.file, p.row, p.column) for p in info.value.problems}
    assert ("hosts.csv", 3, "id") in found          # duplicate id
    assert ("hosts.csv", 3, "system_id") in found   # dangling reference
    assert ("hosts.csv", 3, "cpu_cores") in found   # impossible value
    assert len(info.value.problems) == 3


def test_dependency_on_unknown_host_and_used_over_size() -> None:
    est = small_estate()
    est.set_rows("dependencies", [
        {"id": "x1", "source_host": "h1", "target_host": "nope", "port": 5432,
         "origin": "declared"},
        {"id": "x2", "origin": "observed"},
    ])
    est.set_rows("disks", [{"id": "d1", "host_id": "h1", "size_gb": 10, "used_gb": 20}])
    msgs = [str(p) for p in est.validate()]
    assert any("unknown host 'nope'" in m for m in msgs)
    assert any("needs a source" in m for m in msgs)
    assert any("needs a target" in m for m in msgs)
    assert any("more than the size" in m for m in msgs)


def test_other_schema_version_is_a_clear_error(tmp_path: Path) -> None:
    small_estate().save(tmp_path / "e")
    meta = yaml.safe_load((tmp_path / "e" / "estate.yaml").read_text())
    meta["schema_version"] = 99
    (tmp_path / "e" / "estate.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(SchemaVersionError, match="schema_version is 99"):
        Estate.load(tmp_path / "e")


def test_not_an_estate(tmp_path: Path) -> None:
    with pytest.raises(EstateError, match="not an estate"):
        Estate.load(tmp_path)


def test_save_keeps_other_stage_files_and_rolls_a_committed_save_forward(
    tmp_path: Path,
) -> None:
    root = tmp_path / "e"
    small_estate().save(root)
    (root / "plan").mkdir()
    (root / "plan" / "waves.csv").write_text("x")
    inode = (root / "plan" / "waves.csv").stat().st_ino
    small_estate().save(root)
    assert (root / "plan" / "waves.csv").read_text() == "x"
    assert (root / "plan" / "waves.csv").stat().st_ino == inode, "other files are not touched"
    # a crash after the commit point: the marker names a staging folder not yet moved in
    changed = small_estate()
    changed.set_rows("systems", [{"id": "s1", "name": "新名字", "bureau_id": "b1"}])
    stage = root / ".estate-staging-crash"
    changed.save(tmp_path / "other")
    stage.mkdir()
    for f in ("systems.csv", "estate.yaml"):
        (stage / f).write_bytes((tmp_path / "other" / f).read_bytes())
    (root / ".estate-commit").write_text(stage.name)
    assert Estate.load(root).rows("systems")[0]["name"] == "新名字"
    assert stage.exists(), "loading reads the committed save and writes nothing"
    Estate.load(root).save(root)  # the next save (a writer, holding the lock) rolls forward
    assert Estate.load(root).rows("systems")[0]["name"] == "新名字"
    assert not stage.exists() and not (root / ".estate-commit").exists()
    # a crash before the commit point: the staging folder is dropped, the estate unchanged
    (root / ".estate-staging-half").mkdir()
    (root / ".estate-staging-half" / "systems.csv").write_text("garbage")
    assert Estate.load(root).rows("systems")[0]["name"] == "新名字"
    Estate.load(root).save(root)
    assert Estate.load(root).rows("systems")[0]["name"] == "新名字"
    assert not (root / ".estate-staging-half").exists()


def test_every_staged_file_is_synced_before_the_commit_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The staged files are fsynced on threads while the next table is written (round 12
    of the workbook benchmark): each one, and all before the commit marker is written."""
    synced: list[str] = []
    real = model._fsync

    def recording(path: Path) -> None:
        real(path)
        synced.append(path.name)

    monkeypatch.setattr(model, "_fsync", recording)
    small_estate().save(tmp_path / "e")
    files = {"estate.yaml"} | {t.file for t in model.TABLES.values()}
    assert synced[-1] == ".estate-commit.tmp"
    assert sorted(synced[:-1]) == sorted(files)


def test_a_failed_fsync_leaves_the_estate_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "e"
    small_estate().save(root)
    before = {f.name: f.read_bytes() for f in root.iterdir() if f.is_file()}
    real = model._fsync

    def failing(path: Path) -> None:
        if path.name == "hosts.csv":
            raise OSError(5, "Input/output error")
        real(path)

    monkeypatch.setattr(model, "_fsync", failing)
    changed = small_estate()
    changed.set_rows("systems", [{"id": "s1", "name": "新名字", "bureau_id": "b1"}])
    with pytest.raises(OSError, match="Input/output error"):
        changed.save(root)
    assert {f.name: f.read_bytes() for f in root.iterdir() if f.is_file()} == before
    assert not list(root.glob(".estate-staging-*")) and not (root / ".estate-commit").exists()


def test_duplicates_and_unknown_references_each_named_in_row_order() -> None:
    est = small_estate()
    est.set_rows("disks", [{"id": i, "host_id": h, "size_gb": 10} for i, h in [
        ("d1", "h1"), ("d2", "hx"), ("d1", "h1"), ("d3", "hy"), ("d2", "hx"), ("d1", "h1")]])
    found = [(p.row, p.column, p.message) for p in est.validate() if p.file == "disks.csv"]
    assert found == [
        (4, "id", "duplicate id 'd1' (first at row 2)"),
        (6, "id", "duplicate id 'd2' (first at row 3)"),
        (7, "id", "duplicate id 'd1' (first at row 2)"),
        (3, "host_id", "refers to unknown host 'hx'"),
        (5, "host_id", "refers to unknown host 'hy'"),
        (6, "host_id", "refers to unknown host 'hx'"),
    ]


_FIELD = st.text(alphabet=st.sampled_from(["a", "是", ",", '"', "\n", "\r", " ", "x"]),
                 max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.lists(
    st.one_of(st.lists(_FIELD, min_size=n, max_size=n),
              _FIELD.map(lambda v, n=n: [v] * n)),  # a column holding one value throughout
    min_size=1, max_size=6)))
def test_csv_lines_are_what_the_csv_module_writes(columns: list[list[str]]) -> None:
    """The table writer quotes and joins column by column; the text is csv.writer's."""
    n = len(columns[0])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(zip(*columns, strict=True))
    assert _csv_lines(columns, n) == buf.getvalue()
