"""Names where a person reads (#17): each step's task run is named for the system, its
bureau and the step's title from the catalogue (zh by default, ``SHANGYUN_LANG=en``), the
journal keys stay as they are; a system whose outcome task ends Failed logs one line — its
name and what happened — and no Prefect "Task run failed with state" line with an empty
traceback (``NoneType: None``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.wave import outcome_run_name, step_run_name, system_outcome
from shangyun.wave.builder import wave_steps
from shangyun.wave.plan import load_wave
from shangyun.wave.steps import RunOptions
from tests.wave.conftest import WaveEstate, build_estate


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> WaveEstate:
    tmp = tmp_path_factory.mktemp("names")
    return build_estate(tmp / "estate", tmp / "images", n_systems=2, mib=1)


def test_step_task_runs_carry_the_system_name_and_the_catalogue_title(
        small: WaveEstate, monkeypatch: pytest.MonkeyPatch) -> None:
    wave = load_wave(str(small.root), 1)
    system = wave.system("sys-01")
    steps = wave_steps(wave, RunOptions(staging_dir=str(small.root / "staging")))["sys-01"]
    by_kind = {s.kind: s for s in steps}
    monkeypatch.delenv("SHANGYUN_LANG", raising=False)
    assert step_run_name(1, system, by_kind["precheck"]) == \
        "wave-1 · 一局 · 审批系统 · 预检查 审批系统"
    convert = step_run_name(1, system, by_kind["convert"])
    assert convert.startswith("wave-1 · 一局 · 审批系统 · 转换 ") and "sys-01" not in convert
    launch = step_run_name(1, system, by_kind["launch"])
    assert "隔离测试启动 vm01" in launch, launch
    assert outcome_run_name(1, system, "rolled_back") == "wave-1 · 一局 · 审批系统 · 结果：已回退"
    monkeypatch.setenv("SHANGYUN_LANG", "en")
    assert step_run_name(1, system, by_kind["precheck"]) == \
        "wave-1 · 一局 · 审批系统 · pre-check 审批系统"
    assert outcome_run_name(1, system, "refused") == \
        "wave-1 · 一局 · 审批系统 · outcome: refused by the pre-check"
    # the journal keys are the machine's: unchanged
    assert by_kind["precheck"].key == "sys-01/precheck"


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture()
def task_logs() -> Iterator[_Keep]:
    keep = _Keep()
    logger = logging.getLogger("prefect.task_runs")
    logger.addHandler(keep)
    try:
        yield keep
    finally:
        logger.removeHandler(keep)


def test_a_failed_outcome_logs_one_clear_line(prefect_harness: None, task_logs: _Keep,
                                              tmp_path: Path) -> None:
    from prefect import flow

    @flow(name="outcome-log-test")
    def run() -> list[str]:
        states = [system_outcome.with_options(task_run_name=f"outcome {r['id']}")(
            r, return_state=True) for r in (
            {"id": "sys-02", "name": "档案系统", "state": "rolled_back",
             "error": "health check http://10.0.0.2:1/health: connection refused"},
            {"id": "sys-01", "name": "审批系统", "state": "done"})]
        return [s.type.value for s in states]

    assert run() == ["FAILED", "COMPLETED"]
    mine = [r for r in task_logs.records if getattr(r, "task_name", "") == "system-outcome"]
    text = [r.getMessage() for r in mine]
    failed = [r for r in mine if "档案系统" in r.getMessage()]
    assert len(failed) == 1, text
    assert failed[0].levelno == logging.WARNING
    assert failed[0].getMessage() == ("档案系统: rolled back: health check "
                                      "http://10.0.0.2:1/health: connection refused")
    assert not any(r.exc_info for r in mine), text
    assert not any(r.levelno >= logging.ERROR for r in mine), text
    assert not any("Task run failed with state" in t or "Finished in state Failed" in t
                   for t in text), text
    assert any(t == "审批系统: moved" for t in text), text


def test_the_outcome_line_does_not_repeat_the_system() -> None:
    from flows.wave import _unprefixed

    r = {"id": "sys-02", "name": "档案系统", "label": "档案系统"}
    assert _unprefixed("档案系统: health check x failed", r) == "health check x failed"
    assert _unprefixed("system sys-02, step sys-02/convert/d1: OSError: gone", r) == \
        "OSError: gone"
    assert _unprefixed("system 档案系统: test launch of vm02 did not boot", r) == \
        "test launch of vm02 did not boot"
    assert _unprefixed("move group mg-1: 审批系统 failed", r) == "move group mg-1: 审批系统 failed"
