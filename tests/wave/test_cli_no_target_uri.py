"""``wave run`` on the libvirt target without ``--target-uri``: one clear refusal before
Prefect starts, nothing journaled. Before, a temporary Prefect server started, every system's
pre-check failed a minute later with "ValueError: give a libvirt URI or an open connection"
and the wave was journaled as failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from tests.wave.conftest import build_estate


@pytest.mark.parametrize("as_json", [False, True])
def test_a_libvirt_run_without_a_target_uri_is_refused_before_anything_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    monkeypatch.delenv("SHANGYUN_TARGET_URI", raising=False)
    root = tmp_path / "estate"
    build_estate(root, tmp_path / "images", n_systems=1, mib=1)
    args = ["wave", "run", "1", "--estate", str(root), *(["--json"] if as_json else [])]
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0
    text = json.loads(res.stdout)["error"] if as_json else res.output
    assert "--target-uri" in text and "nothing was run" in text, res.output
    assert "ValueError" not in res.output
    assert not (root / "journal.db").exists()
    # the dry run still shows the steps (it touches nothing and needs no target)
    res = CliRunner().invoke(main, ["wave", "run", "1", "--estate", str(root), "--dry-run"])
    assert res.exit_code == 0 and "precheck" in res.output, res.output
