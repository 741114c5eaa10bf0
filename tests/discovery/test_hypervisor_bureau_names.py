"""``discover --hypervisor BUREAU=URI`` takes the bureau as a person names it (or its id).

Seen following docs/discovery.md on an imported ledger (bureau ids are hashes there):
``--hypervisor 北京局=test:///default`` filed the VM under a bureau id '北京局' that no bureau
has, and saved the estate that way — ``inventory validate`` then failed on it
("hosts.csv, row 2, column bureau_id: refers to unknown bureau '北京局'") and ``inventory
show`` listed the bureau twice. The libvirt test driver's built-in ``test:///default``
(one domain, ``test``) is the hypervisor; no host is logged in to."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate import Estate
from tests.discovery.sshd import keygen


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    root = tmp_path / "estate"
    Estate.from_records({"name": "names"},
                        {"bureaus": [{"id": "b-9cf560da52", "name": "北京局", "kind": "bureau"}]}
                        ).save(root)
    return root


def _discover(estate: Path, spec: str) -> tuple[int, str]:
    key = estate.parent / "id"
    if not key.exists():
        keygen(key)
        (estate.parent / "known_hosts").write_text("")
    r = CliRunner().invoke(main, ["discover", "--estate", str(estate), "--key", str(key),
                                  "--known-hosts", str(estate.parent / "known_hosts"),
                                  "--hypervisor", spec])
    return r.exit_code, r.output


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.iterdir()
            if p.is_file() and p.name != ".estate.lock"}


def test_a_bureau_given_by_name_files_the_domains_under_its_id(estate: Path) -> None:
    code, out = _discover(estate, "北京局=test:///default")
    assert code == 0, out
    est = Estate.load(estate, check=True)  # a valid estate: no bureau id nobody has
    assert [(h["hostname"], h["bureau_id"]) for h in est.rows("hosts")] == [
        ("test", "b-9cf560da52")]
    assert [b["id"] for b in est.rows("bureaus")] == ["b-9cf560da52"]


def test_an_unknown_bureau_is_refused_by_name_before_anything_is_written(
        estate: Path) -> None:
    before = _files(estate)
    code, out = _discover(estate, "上海局=test:///default")
    assert code == 1, out
    assert "unknown bureau '上海局'" in out and "--hypervisor" in out, out
    assert _files(estate) == before
