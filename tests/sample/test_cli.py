"""``shangyun inventory sample``: writes, refuses a foreign folder, --force, --json; and the
shipped sample under inventories/sample is what the generator makes today."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from tests.sample.test_ledgers import _digests

ROOT = Path(__file__).resolve().parents[2]


def _sample(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["inventory", "sample", *args])
    return result.exit_code, result.output


def test_writes_estate_and_ledgers_as_json(tmp_path: Path) -> None:
    code, out = _sample("--out", str(tmp_path / "s"), "--bureaus", "3", "--systems", "15",
                        "--seed", "4", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["counts"]["bureaus"] == 4 and data["counts"]["systems"] == 15
    est = Estate.load(tmp_path / "s")
    assert data["fingerprint"] == est.fingerprint()
    assert all((tmp_path / "s" / f).is_file() for f in data["ledgers"])
    assert (tmp_path / "s" / "ledgers" / "manifest.yaml").is_file()
    # a sample folder may be written again, with other parameters
    code, out = _sample("--out", str(tmp_path / "s"), "--bureaus", "2", "--systems", "12",
                        "--json")
    assert code == 0, out
    assert len(Estate.load(tmp_path / "s").tables["bureaus"]) == 3


def test_refuses_a_folder_that_is_not_a_sample(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me", encoding="utf-8")
    code, out = _sample("--out", str(tmp_path), "--bureaus", "2", "--systems", "12")
    assert code == 1
    assert "not a generated sample" in out and "--force" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
    code, out = _sample("--out", str(tmp_path), "--bureaus", "2", "--systems", "12", "--force")
    assert code == 0, out
    assert not (tmp_path / "mine.txt").exists()
    assert (tmp_path / "estate.yaml").is_file()


def test_bad_parameters_exit_nonzero(tmp_path: Path) -> None:
    code, out = _sample("--out", str(tmp_path / "x"), "--systems", "20", "--dependencies",
                        "1000")
    assert code == 1 and "dependencies=1000" in out
    assert not (tmp_path / "x").exists()
    code, out = _sample("--out", str(tmp_path / "x"), "--bureaus", "0")
    assert code == 2 and "--bureaus" in out


def test_shipped_sample_is_current(sample_dir: Path) -> None:
    shipped = ROOT / "inventories" / "sample"
    assert _digests(shipped) == _digests(sample_dir), (
        "inventories/sample is stale; regenerate it with: rm -rf inventories/sample && "
        ".venv/bin/shangyun inventory sample --out inventories/sample")


def test_a_sample_in_use_is_refused_and_its_journal_survives_force(tmp_path: Path) -> None:
    """A sample that became a real estate (plan, runbooks, facts, journal) is work: refused
    without --force; with --force still refused while it holds the audit journal."""
    out = tmp_path / "s"
    code, text = _sample("--out", str(out), "--bureaus", "2", "--systems", "12")
    assert code == 0, text
    for d in ("plan", "runbooks", "facts"):
        (out / d).mkdir()
        (out / d / "x.txt").write_text("work", encoding="utf-8")
    (out / "journal.db").write_bytes(b"SQLite format 3\x00journal")
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    code, text = _sample("--out", str(out), "--bureaus", "3", "--systems", "12")
    assert code == 1 and "journal.db" in text and "never deletes" in text, text
    code, text = _sample("--out", str(out), "--bureaus", "3", "--systems", "12", "--force")
    assert code == 1 and "journal.db" in text, text
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert (out / "journal.db").read_bytes() == b"SQLite format 3\x00journal"
    (out / "journal.db").rename(tmp_path / "journal.db")
    code, text = _sample("--out", str(out), "--bureaus", "3", "--systems", "12")
    assert code == 1 and "sample in use" in " ".join(text.split()) and "plan" in text, text
    assert (out / "plan" / "x.txt").is_file()
    code, text = _sample("--out", str(out), "--bureaus", "3", "--systems", "12", "--force")
    assert code == 0, text
    assert not (out / "plan").exists() and (tmp_path / "journal.db").is_file()
