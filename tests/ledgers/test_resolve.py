"""`inventory resolve`: a conflict is settled by keeping one side, through the real CLI.

Before it, the only way to settle a conflict was to type a value in an exported workbook;
keeping the estate's value was impossible (typing it again is no edit), so ledger-vs-ledger
and ledger-vs-discovery conflicts were listed for ever. The decision is recorded: a later
import bringing a rejected value back raises no conflict; a new value does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shangyun.cli import main
from shangyun.estate import Estate

from .conftest import write_csv

HEAD = ["单位", "系统名称", "主机名", "IP地址", "操作系统", "CPU(核)", "内存(GB)"]


def _run(*args: str, code: int = 0) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == code, res.output
    return res.output


def _ledger(path: Path, rows: list[list[object]]) -> Path:
    return write_csv(path, [HEAD, *rows], encoding="gbk")


def _conflicts(est: str) -> list[dict[str, str]]:
    return json.loads(_run("inventory", "conflicts", "--estate", est, "--json"))["conflicts"]


def _files(est: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(est).iterdir()) if p.is_file()
            and not p.name.startswith(".")}


@pytest.fixture
def estate(tmp_path: Path) -> str:
    """湖北局's ledger, then a corrected copy disagreeing on web01's OS and CPU, db01's CPU."""
    est = str(tmp_path / "est")
    a = _ledger(tmp_path / "湖北局台账.csv", [
        ["湖北局", "审批系统", "web01", "10.1.1.5", "CentOS 7.9", 4, 16],
        ["湖北局", "审批系统", "db01", "10.1.1.6", "CentOS 7.9", 8, 32]])
    b = _ledger(tmp_path / "湖北局台账-修订.csv", [
        ["湖北局", "审批系统", "web01", "10.1.1.5", "UOS 20", 8, 16],
        ["湖北局", "审批系统", "db01", "10.1.1.6", "CentOS 7.9", 16, 32]])
    _run("inventory", "import", str(a), str(b), "--estate", est, "--no-progress")
    assert len(_conflicts(est)) == 4
    return est


def test_without_apply_nothing_is_written(estate: str) -> None:
    before = _files(estate)
    out = _run("inventory", "resolve", "web01", "--column", "os", "--keep", "incoming",
               "--estate", estate)
    assert "nothing written: add --apply" in " ".join(out.split())
    assert _files(estate) == before


def test_taking_the_incoming_os_takes_name_and_version_and_stays_decided(
        estate: str, tmp_path: Path) -> None:
    got = json.loads(_run("inventory", "resolve", "web01", "--column", "os", "--keep",
                          "incoming", "--estate", estate, "--apply", "--json"))
    assert got["ok"] and got["applied"]
    assert {c["column"] for c in got["conflicts"]} == {"os", "os_version"}  # the pair
    assert {c["key_label"] for c in got["conflicts"]} == {f"web01 ({got['conflicts'][0]['key']})"}
    web = next(h for h in Estate.load(estate).rows("hosts") if h["hostname"] == "web01")
    assert (web["os"], web["os_version"]) == ("UOS", "20")
    left = _conflicts(estate)
    assert sorted(c["column"] for c in left) == ["cpu_cores", "cpu_cores"]
    # the first ledger again, changed elsewhere (a new file): CentOS 7.9 was rejected
    _run("inventory", "import", str(_ledger(tmp_path / "湖北局台账-再报.csv", [
        ["湖北局", "审批系统", "web01", "10.1.1.5", "CentOS 7.9", 4, 16],
        ["湖北局", "审批系统", "app01", "10.1.1.7", "CentOS 7.9", 2, 4]])),
        "--estate", estate, "--no-progress")
    assert sorted(c["column"] for c in _conflicts(estate)) == ["cpu_cores", "cpu_cores"]
    # a third value is news: a conflict again
    _run("inventory", "import", str(_ledger(tmp_path / "第三份.csv", [
        ["湖北局", "审批系统", "web01", "10.1.1.5", "Kylin V10", 4, 16]])),
        "--estate", estate, "--no-progress")
    assert {c["incoming"] for c in _conflicts(estate) if c["column"] == "os"} == {"Kylin"}


def test_keeping_the_current_values_of_a_source_keeps_the_plan_fingerprint(
        estate: str, tmp_path: Path) -> None:
    before = Estate.load(estate)
    out = _run("inventory", "resolve", "--source", "湖北局台账-修订.csv", "--keep", "current",
               "--estate", estate, "--apply")
    assert "settled 4 conflict(s) on 4 cell(s): kept the estate's value" in " ".join(out.split())
    after = Estate.load(estate)
    assert after.fingerprint() == before.fingerprint()  # same rows: a plan stays valid
    assert _conflicts(estate) == []
    decisions = after.meta["decisions"]
    assert {(d["column"], d["kept"], tuple(d["rejected"])) for d in decisions} >= {
        ("cpu_cores", "4", ("8",)), ("cpu_cores", "8", ("16",))}
    # the corrected ledger once more (re-saved with a new row): nothing comes back
    _run("inventory", "import", str(_ledger(tmp_path / "湖北局台账-修订2.csv", [
        ["湖北局", "审批系统", "web01", "10.1.1.5", "UOS 20", 8, 16],
        ["湖北局", "审批系统", "db01", "10.1.1.6", "CentOS 7.9", 16, 32],
        ["湖北局", "审批系统", "app02", "10.1.1.9", "CentOS 7.9", 2, 4]])),
        "--estate", estate, "--no-progress")
    assert _conflicts(estate) == []


def test_two_incoming_values_for_one_cell_need_a_source(estate: str, tmp_path: Path) -> None:
    _run("inventory", "import", str(_ledger(tmp_path / "第三份.csv", [
        ["湖北局", "审批系统", "db01", "10.1.1.6", "CentOS 7.9", 24, 32]])),
        "--estate", estate, "--no-progress")
    out = _run("inventory", "resolve", "db01", "--column", "cpu_cores", "--keep", "incoming",
               "--estate", estate, "--apply", code=1)
    assert "2 conflicts bring different values" in out and "--source" in out
    got = json.loads(_run("inventory", "resolve", "db01", "--column", "cpu_cores", "--keep",
                          "incoming", "--source", "第三份.csv", "--estate", estate, "--apply",
                          "--json"))
    assert [d["kept"] for d in got["decisions"]] == ["24"]
    assert sorted(got["decisions"][0]["rejected"]) == ["16", "8"]
    db = next(h for h in Estate.load(estate).rows("hosts") if h["hostname"] == "db01")
    assert db["cpu_cores"] == 24
    assert not [c for c in _conflicts(estate) if c["column"] == "cpu_cores"
                and c["key"] == db["id"]]  # the cell's other conflict went with it


def test_a_value_the_estate_refuses_writes_nothing(tmp_path: Path) -> None:
    est = str(tmp_path / "est")
    _run("inventory", "import", str(_ledger(tmp_path / "a.csv", [
        ["湖北局", "OA", "oa01", "10.2.0.1", "CentOS 7.9", 4, 8],
        ["湖北局", "OA", "oa02", "10.2.0.2", "CentOS 7.9", 4, 8]])),
        "--estate", est, "--no-progress")
    # oa02 found by name with another address: a conflict whose incoming IP is oa01's
    _run("inventory", "import", str(_ledger(tmp_path / "b.csv", [
        ["湖北局", "OA", "oa02", "10.2.0.1", "CentOS 7.9", 4, 8]])),
        "--estate", est, "--no-progress")
    before = _files(est)
    out = _run("inventory", "resolve", "oa02", "--column", "ip", "--keep", "incoming",
               "--estate", est, "--apply", code=1)
    assert "10.2.0.1" in out and "same IP" in out
    assert _files(est) == before


@pytest.mark.parametrize(("args", "code", "said"), [
    ((), 2, "say which conflicts to settle"),
    (("--all", "--column", "os"), 2, "--all settles every conflict"),
    (("wbe01",), 1, "did you mean web01"),
    (("web01", "--column", "memory_gb"), 1, "no conflict matches row 'web01', column "
                                            "'memory_gb'"),
])
def test_clear_refusals(estate: str, args: tuple[str, ...], code: int, said: str) -> None:
    before = _files(estate)
    out = _run("inventory", "resolve", *args, "--keep", "current", "--estate", estate,
               code=code)
    assert said in " ".join(out.split())
    assert _files(estate) == before


def test_refusal_as_json(estate: str) -> None:
    got = json.loads(_run("inventory", "resolve", "nosuch", "--keep", "current", "--estate",
                          estate, "--json", code=1))
    assert got["ok"] is False and "nosuch" in got["error"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(cpus=st.lists(st.integers(1, 64), min_size=2, max_size=4), keep=st.sampled_from(
    ["current", "incoming"]), pick=st.integers(0, 3))
# v2.csv holds v1.csv's content: recorded as the same ledger, its name still settles
@example(cpus=[1, 2, 2], keep="incoming", pick=1)
def test_after_a_decision_no_reimport_of_the_same_values_brings_a_conflict_back(
        tmp_path_factory: pytest.TempPathFactory, cpus: list[int], keep: str,
        pick: int) -> None:
    """Property: files giving one host several CPU counts, any decision, then the same
    files re-saved and imported again in any order: no conflict on the cell."""
    tmp = tmp_path_factory.mktemp("prop")
    est = str(tmp / "est")
    files = [_ledger(tmp / f"v{i}.csv", [["湖北局", "OA", "oa01", "10.2.0.1", "CentOS 7.9",
                                          n, 8]]) for i, n in enumerate(cpus)]
    _run("inventory", "import", *map(str, files), "--estate", est, "--no-progress")
    values = list(dict.fromkeys(cpus))
    if len(values) == 1:
        assert _conflicts(est) == []
        return
    source = files[1 + pick % (len(files) - 1)].name
    chosen = cpus[1 + pick % (len(files) - 1)]
    args = ["--source", source] if keep == "incoming" and chosen != cpus[0] else ["--all"]
    if keep == "incoming" and chosen == cpus[0]:
        keep = "current"
    _run("inventory", "resolve", *args, "--keep", keep, "--estate", est, "--apply")
    final = Estate.load(est).rows("hosts")[0]["cpu_cores"]
    assert final == (chosen if keep == "incoming" else cpus[0])
    again = [_ledger(tmp / f"again{i}.csv", [["湖北局", "OA", "oa01", "10.2.0.1",
                                             "CentOS 7.9", n, 8], ["湖北局", "OA", f"x{i}",
                                             f"10.2.1.{i + 1}", "CentOS 7.9", 1, 1]])
             for i, n in enumerate(reversed(cpus))]
    _run("inventory", "import", *map(str, again), "--estate", est, "--no-progress")
    assert _conflicts(est) == []



@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize("apply", [False, True])
@pytest.mark.parametrize("keep", ["incoming", "current"])
def test_settling_a_hostname_labels_the_row_by_the_estates_name_and_the_new_one(
        tmp_path: Path, keep: str, apply: bool, as_json: bool) -> None:
    """The hostname is the very cell being settled: the row is the host the estate knows
    as web01 (the name the operator typed), before and after --apply — never only the
    incoming name, which the estate does not know the host by yet (or no more)."""
    est = str(tmp_path / "est")
    a = _ledger(tmp_path / "a.csv", [["湖北局", "审批系统", "web01", "10.1.1.5", "CentOS 7.9",
                                      4, 16]])
    b = _ledger(tmp_path / "b.csv", [["湖北局", "审批系统", "WEB-PROD-1", "10.1.1.5",
                                      "CentOS 7.9", 4, 16]])
    _run("inventory", "import", str(a), str(b), "--estate", est, "--no-progress")
    (c,) = _conflicts(est)
    assert (c["column"], c["current"], c["incoming"]) == ("hostname", "web01", "WEB-PROD-1")
    hid = c["key"]
    out = _run("inventory", "resolve", "web01", "--keep", keep, "--estate", est,
               *(["--apply"] if apply else []), *(["--json"] if as_json else []))
    want = f"web01 → WEB-PROD-1 ({hid})" if keep == "incoming" else f"web01 ({hid})"
    if as_json:
        assert [x["key_label"] for x in json.loads(out)["conflicts"]] == [want]
        return
    text = " ".join(out.split())
    assert want in text and "│ hostname │" in text, text
    if keep == "incoming":
        assert f"│ WEB-PROD-1 ({hid})" not in text   # not the incoming name alone
