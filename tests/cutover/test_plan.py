"""The pure cutover logic: the cutover file, the step sequence, finalize."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from shangyun.errors import EstateError, SchemaVersionError
from shangyun.journal.status import NEEDS_UNDO
from shangyun.wave.builder import build_steps
from shangyun.wave.cutover import (
    CUTOVER_KINDS,
    cutover_steps,
    finalize_verdict,
    load_cutover,
    parse_cutover,
    rollback_order,
    write_cutover,
)
from shangyun.wave.engine import StepRecord
from shangyun.wave.model import DiskWork, HostWork, SystemWork, WaveWork
from shangyun.wave.stepargs import DnsArgs, FreezeArgs, PrecheckArgs
from shangyun.wave.steps import RunOptions, Step

DB = {"id": "main", "engine": "postgresql",
      "source": {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "app"},
      "target": {"host": "127.0.0.1", "port": "5432", "user": "postgres", "dbname": "app2",
                 "password_env": "APP_PW"}}
FILES = {"id": "uploads", "target": "/srv/landing/up",
         "source": {"host": "127.0.0.1", "port": 22, "user": "root", "key_file": "/k",
                    "known_hosts": "/kh", "path": "/srv/up"}}


def _spec(**extra: Any) -> dict[str, Any]:
    base = {"databases": [DB], "files": [FILES],
            "dns": {"zone": "b.gov.cn", "endpoint": "http://127.0.0.1:1",
                    "records": [{"name": "app.b.gov.cn", "type": "a", "values": ["10.0.0.1"]}]},
            "health": [{"kind": "http", "url": "http://10.0.0.1/"}]}
    return {"schema_version": 1, "systems": {"sys-1": {**base, **extra}}, "soak_hours": 24}


def _wave() -> tuple[WaveWork, SystemWork]:
    disk = DiskWork("d1", "h1", "disk0", "/img/a.vmdk", "vmdk", 10)
    host = HostWork("h1", "app-vm", "test:///default", 2, 4, (disk,))
    system = SystemWork("sys-1", "审批系统", "b-01", "一局", "mg-1", 100, (host,))
    return WaveWork(3, "/e", "pf", "ef", (system,)), system


def test_sequence_is_the_runbook_order() -> None:
    plan = parse_cutover(_spec())
    assert plan.soak_hours == 24
    wave, system = _wave()
    steps = cutover_steps(wave, system, plan.systems["sys-1"])
    assert [s.key for s in steps] == [
        "sys-1/copy/main", "sys-1/copy/uploads", "sys-1/freeze", "sys-1/delta/main",
        "sys-1/delta/uploads", "sys-1/verify", "sys-1/start", "sys-1/dns", "sys-1/health",
        "sys-1/cutover"]
    assert {s.kind for s in steps} == set(CUTOVER_KINDS)
    start = next(s for s in steps if s.kind == "start")
    assert start.to_dict()["args"]["hosts"][0] == {
        "launch_key": "sys-1/launch/h1", "name": "w3-sys-1-h1", "import_keys":
        ["sys-1/import/d1"], "cpus": 2, "memory_mb": 4096, "wave": 3, "bureau": "b-01",
        "mac": ""}
    assert steps[2].to_dict()["args"]["domains"] == [{"hypervisor": "test:///default",
                                                      "name": "app-vm"}]
    dns = next(s for s in steps if s.kind == "dns")
    assert dns.args_as(DnsArgs).records[0].type == "A"
    # no password anywhere in the steps, only the variable's name
    text = str(steps[0].to_dict()["args"])
    assert "APP_PW" in text and "password'" not in text


def test_minimal_system_only_marks() -> None:
    plan = parse_cutover({"schema_version": 1, "systems": {"sys-1": {"freeze": False}}})
    wave, system = _wave()
    steps = cutover_steps(wave, system, plan.systems["sys-1"], start_target=False)
    assert [s.kind for s in steps] == ["cutover"]


@pytest.mark.parametrize(("change", "message"), [
    ({"databases": [{**DB, "engine": "oracle"}]}, "databases[0].engine: 'oracle'"),
    ({"databases": [{**DB, "target": {**DB["target"], "password": "x"}}]},
     "databases[0].target: unknown key(s) password (passwords go in the environment"),
    ({"databases": [{**DB, "target": DB["source"]}]}, "the target is the source database"),
    ({"databases": [{**DB, "source": {"host": "h", "user": "u"}}]},
     "databases[0].source: missing dbname"),
    ({"files": [FILES, FILES]}, "data item id(s) used twice: uploads"),
    ({"dns": {"zone": "z", "records": [{"name": "a", "type": "MX", "values": ["x"]}]}},
     "dns.records[0].type: 'MX'"),
    ({"health": [{"kind": "ping"}]}, "health[0].kind: 'ping'"),
    ({"health": [{"kind": "tcp", "host": "h"}]}, "health[0]: missing port"),
    ({"databases": [{**DB, "source": {**DB["source"], "port": "x"}}]}, "source.port: not a"),
])
def test_bad_file_names_the_place(change: dict[str, Any], message: str) -> None:
    with pytest.raises(EstateError) as err:
        parse_cutover(_spec(**change), "plan/cutover.yaml")
    assert "plan/cutover.yaml: systems.sys-1" in str(err.value)
    assert message in str(err.value)


def test_schema_version_checked() -> None:
    with pytest.raises(SchemaVersionError, match="schema_version 2"):
        parse_cutover({"schema_version": 2, "systems": {}})


def test_missing_schema_version_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "plan").mkdir()
    (tmp_path / "plan" / "cutover.yaml").write_text("systems: {}\n", encoding="utf-8")
    with pytest.raises(SchemaVersionError, match=r"plan/cutover\.yaml: no schema_version"):
        load_cutover(tmp_path)


def test_written_file_reads_back_with_its_version(tmp_path: Path) -> None:
    spec = {k: v for k, v in _spec().items() if k != "schema_version"}
    path = write_cutover(tmp_path, spec)
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["schema_version"] == 1
    assert load_cutover(tmp_path) == parse_cutover(_spec(), str(path))
    with pytest.raises(EstateError, match=r"health\[0\]\.kind"):
        write_cutover(tmp_path / "bad", {**spec, "systems": {"s": {"health": [{"kind": "x"}]}}})
    assert not (tmp_path / "bad").exists()


def test_rollback_order_newest_first_skips_undone() -> None:
    recs = [StepRecord(k, k.split("/")[1], "s", st) for k, st in [
        ("s/copy/a", "done"), ("s/freeze", "done"), ("s/verify", "done"),
        ("s/dns", "started"), ("s/old", "undone")]]
    assert rollback_order(recs, NEEDS_UNDO) == ["s/dns", "s/verify", "s/freeze", "s/copy/a"]


def test_finalize_verdict() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    early = {"a": {"cutover": "done", "at": now - timedelta(hours=80)},
             "b": {"cutover": "done", "at": now - timedelta(hours=10)}}
    v = finalize_verdict(early, now, 72)
    assert not v.ok and "soak period of 72 h not over: 62.0 h left" in v.reasons[0]
    assert finalize_verdict(early, now + timedelta(hours=62), 72).ok
    v = finalize_verdict({"a": {"cutover": "undone", "at": None}}, now, 72)
    assert not v.ok and "a: not cut over (cutover step: undone)" in v.reasons
    assert not finalize_verdict({}, now, 0).ok


def test_freeze_databases_adds_postgresql_sources_to_the_freeze() -> None:
    plan = parse_cutover(_spec(freeze_databases=True))
    wave, system = _wave()
    freeze = next(s for s in cutover_steps(wave, system, plan.systems["sys-1"])
                  if s.kind == "freeze")
    assert [d.id for d in freeze.args_as(FreezeArgs).databases] == ["main"]
    record = freeze.to_dict()  # undo works after a crash: the journal has what to bring back
    assert record["planned"]["databases"] == record["args"]["databases"]
    assert "database main read-only" in freeze.title


def test_freeze_is_on_by_default_with_a_bounded_wait_and_no_force() -> None:
    spec = parse_cutover(_spec()).systems["sys-1"]
    assert spec.freeze and spec.freeze_databases and not spec.force_off
    wave, system = _wave()
    maria = {**DB, "id": "crm", "engine": "mariadb"}
    for extra, seconds, force, dbs in (({}, 30.0, False, ["main"]),
                                       ({"databases": [DB, maria], "shutdown_seconds": 5,
                                         "force_off": True}, 5.0, True, ["main", "crm"]),
                                       ({"freeze_databases": False}, 30.0, False, [])):
        plan = parse_cutover(_spec(**extra))
        freeze = next(s for s in cutover_steps(wave, system, plan.systems["sys-1"])
                      if s.kind == "freeze")
        a = freeze.args_as(FreezeArgs)
        assert (a.shutdown_seconds, a.force_off) == (seconds, force)
        assert [d.id for d in a.databases] == dbs


def test_steps_read_back_from_their_json_typed() -> None:
    wave, _ = _wave()
    plan = parse_cutover(_spec(freeze_databases=True))
    steps = build_steps(wave, RunOptions(staging_dir="/stage"), plan)["sys-1"]
    assert {s.kind for s in steps} >= set(CUTOVER_KINDS) | {"convert", "launch"}
    again = [Step.from_dict(json.loads(json.dumps(s.to_dict()))) for s in steps]
    assert again == steps  # typed args and planned outputs, same JSON both ways
    assert [s.to_dict() for s in again] == [s.to_dict() for s in steps]


def test_the_precheck_is_given_the_databases_the_freeze_will_make_read_only() -> None:
    """The pre-check asks each database the freeze step lists whether it can be frozen on
    its own (MariaDB), so a refusal comes before anything is copied or stopped."""
    wave, _ = _wave()
    maria = {**DB, "id": "crm", "engine": "mariadb"}
    for extra, expected in (({"databases": [DB, maria]}, ["main", "crm"]),
                            ({"databases": [DB, maria], "freeze_databases": False}, []),
                            ({"freeze": False}, [])):
        steps = build_steps(wave, RunOptions(staging_dir="/stage"),
                            parse_cutover(_spec(**extra)))["sys-1"]
        pre = next(s for s in steps if s.kind == "precheck").args_as(PrecheckArgs)
        assert [d.id for d in pre.frozen_databases] == expected
        freeze = [s.args_as(FreezeArgs) for s in steps if s.kind == "freeze"]
        assert pre.frozen_databases == (freeze[0].databases if freeze else [])
