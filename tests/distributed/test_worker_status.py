"""``shangyun worker status`` names each bureau queue's bureau (outside team's item 2): it
listed ``bureau-<id>`` queues alone, and a person reads bureaus by name. Against a real
Prefect server (the session's :func:`tests.conftest.prefect_harness`, on PostgreSQL) with
the pool and queues made by our own connector (:func:`connectors.workpool.ensure_pool`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from shangyun.cli import main
from shangyun.estate.model import Estate


def test_worker_status_names_each_queues_bureau(prefect_harness: None, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect.settings

    from connectors import workpool

    monkeypatch.setenv("PREFECT_API_URL", prefect.settings.PREFECT_API_URL.value())
    root = tmp_path / "estate"
    Estate.from_records({"name": "worker-status"}, {
        "bureaus": [{"id": "bj-01", "name": "北京局", "kind": "bureau"},
                    {"id": "sh-02", "name": "上海局", "kind": "bureau"}],
    }).save(root)
    workpool.ensure_pool(["bj-01", "sh-02"])
    res = CliRunner().invoke(main, ["worker", "status", "--estate", str(root)])
    assert res.exit_code == 0, res.output
    rows = {line.split("│")[1].strip(): line for line in res.output.splitlines()
            if "bureau-" in line and "│" in line}
    assert set(rows) == {"北京局", "上海局"}, res.output
    assert "bureau-bj-01" in rows["北京局"] and "bureau-sh-02" in rows["上海局"], res.output
    out = json.loads(CliRunner().invoke(main, ["worker", "status", "--estate", str(root),
                                               "--json"]).output)
    assert [(q["bureau"], q["bureau_name"], q["name"]) for q in out["queues"]] == [
        ("bj-01", "北京局", "bureau-bj-01"), ("sh-02", "上海局", "bureau-sh-02")], out


def test_a_bureau_without_its_queue_is_a_row_by_name_not_an_error(
        prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bureau added to the estate after ``worker deploy`` has no queue yet: ``worker
    status`` still shows every queue, and that bureau's row says by name what to run (it
    failed whole with "work pool 'shangyun' has no queue 'bureau-gz-03'; run 'shangyun
    worker deploy'" — an id, and a command missing its --estate)."""
    import prefect.settings

    from connectors import workpool

    monkeypatch.setenv("PREFECT_API_URL", prefect.settings.PREFECT_API_URL.value())
    monkeypatch.delenv("SHANGYUN_ESTATE", raising=False)
    root = tmp_path / "estate"
    Estate.from_records({"name": "worker-status"}, {
        "bureaus": [{"id": "bj-01", "name": "北京局", "kind": "bureau"},
                    {"id": "gz-03", "name": "广州局", "kind": "bureau"}],
    }).save(root)
    workpool.ensure_pool(["bj-01"])
    res = CliRunner().invoke(main, ["worker", "status", "--estate", str(root)])
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if "广州局" in line)
    assert "no queue" in row, res.output
    assert f"shangyun worker deploy --estate {root}" in res.output.replace("\n", ""), (
        res.output)
    out = json.loads(CliRunner().invoke(main, ["worker", "status", "--estate", str(root),
                                               "--json"]).output)
    assert [(q["bureau_name"], q["missing"]) for q in out["queues"]] == [
        ("北京局", False), ("广州局", True)], out


@pytest.mark.parametrize(("name", "served"), [
    ("shangyun-bj-01-host-a", ["bj-01"]),
    ("shangyun-bj-01+sh-02-vm-7", ["bj-01", "sh-02"]),
    ("shangyun-sh-02-x", ["sh-02"]),
    ("shangyun-zz-99-host", []),
    ("my-own-worker", []),
])
def test_a_workers_bureaus_are_read_from_its_default_name(name: str, served: list[str]) -> None:
    """``worker status`` names the bureaus each worker serves (its name carries their ids:
    ``shangyun-<id>[+<id>…]-<host>``); a name given by hand names none."""
    from shangyun.cli.worker import worker_bureaus

    assert worker_bureaus(name, ["bj-01", "sh-02"]) == served
