"""上线时间 (go-live date): read from ledgers in the forms bureaus write it (text dates,
Excel date cells and serial numbers, 2019.3, 2019年3月, 2019), refused naming the cell when
it is no date, shown by ``inventory show``, exported and read back (same fingerprint)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.cli import main
from shangyun.estate import Estate
from shangyun.ledgers.values import BadValue, parse_go_live

from .conftest import write_csv, write_xlsx

HEAD = ["单位", "系统名称", "主机名", "IP地址", "操作系统", "上线时间"]


def run(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def test_go_live_in_every_form_shown_exported_and_read_back(tmp_path: Path) -> None:
    rows = [HEAD,
            ["湖北局", "审批", "app01", "10.11.0.1", "CentOS 7.9", dt.datetime(2019, 3, 1)],
            ["湖北局", "审批", "app02", "10.11.0.2", "CentOS 7.9", "2019.3"],
            ["湖北局", "审批", "app03", "10.11.0.3", "CentOS 7.9", "2016年11月"],
            ["湖北局", "审批", "app04", "10.11.0.4", "CentOS 7.9", 44000],
            ["湖北局", "审批", "app05", "10.11.0.5", "CentOS 7.9", "2021"],
            ["湖北局", "审批", "app06", "10.11.0.6", "CentOS 7.9", ""]]
    ledger = write_xlsx(tmp_path / "湖北局.xlsx", {"主机": rows})
    est = tmp_path / "e"
    run("inventory", "import", str(ledger), "--estate", str(est))
    hosts = {h["hostname"]: h["go_live"] for h in Estate.load(est).rows("hosts")}
    assert hosts == {"app01": "2019-03-01", "app02": "2019-03", "app03": "2016-11",
                     "app04": "2020-06-18", "app05": "2021", "app06": ""}
    shown = json.loads(run("inventory", "show", "--estate", str(est), "--json"))
    assert [b["go_live"] for b in shown["per_bureau"].values()] == [["2016-11", "2021"]]
    assert "2016-11 … 2021" in run("inventory", "show", "--estate", str(est))
    before = Estate.load(est).fingerprint()
    for lang in ("zh", "en"):
        book = tmp_path / f"export-{lang}.xlsx"
        run("inventory", "export", "--estate", str(est), "--xlsx", str(book), "--lang", lang)
        again = tmp_path / f"again-{lang}"
        run("inventory", "import", str(book), "--estate", str(again))
        back = Estate.load(again)
        assert {h["hostname"]: h["go_live"] for h in back.rows("hosts")} == hosts
        assert back.fingerprint() == before


def test_a_bad_go_live_cell_is_refused_naming_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "b.csv", [
        HEAD, ["湖北局", "审批", "app01", "10.12.0.1", "CentOS 7.9", "2018-05"],
        ["湖北局", "审批", "app02", "10.12.0.2", "CentOS 7.9", "去年春天"]])
    res = CliRunner().invoke(main, ["inventory", "import", str(path), "--estate",
                                    str(tmp_path / "e")])
    text = " ".join(res.output.split())
    assert res.exit_code != 0
    assert "row 3" in text and "上线时间" in text and "'去年春天'" in text and "2019年3月" in text
    assert not (tmp_path / "e" / "hosts.csv").exists()


def test_a_system_sheet_keeps_the_systems_go_live(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "s.xlsx", {"系统": [
        ["单位", "系统名称", "负责人", "等保级别", "上线时间"],
        ["湖北局", "审批", "张三", "三级", "2015年6月"],
        ["湖北局", "财务", "李四", "二级", "2020/1/15"]]})
    est = tmp_path / "e"
    run("inventory", "import", str(path), "--estate", str(est))
    got = {s["name"]: s["go_live"] for s in Estate.load(est).rows("systems")}
    assert got == {"审批": "2015-06", "财务": "2020-01-15"}


def test_an_estate_without_go_live_keeps_its_fingerprint() -> None:
    est = Estate.from_records({"name": "t"}, {
        "bureaus": [{"id": "b1", "name": "湖北局", "kind": "bureau"}],
        "hosts": [{"id": "h1", "hostname": "a", "bureau_id": "b1"}]})
    fp = est.fingerprint()
    est.tables["hosts"] = est.tables["hosts"].drop(columns=["go_live"])
    assert est.fingerprint() == fp  # as before the column existed
    est.tables["hosts"]["go_live"] = ["2019"]
    assert est.fingerprint() != fp


@settings(max_examples=80, deadline=None)
@given(st.dates(dt.date(1990, 1, 1), dt.date(2039, 12, 31)), st.integers(0, 6))
def test_every_written_form_gives_its_date(day: dt.date, form: int) -> None:
    text, want = [
        (day.isoformat(), day.isoformat()),
        (f"{day.year}/{day.month}/{day.day}", day.isoformat()),
        (f"{day.year}年{day.month}月{day.day}日", day.isoformat()),
        (f"{day.year}.{day.month}", f"{day.year}-{day.month:02d}"),
        (f"{day.year}年{day.month}月", f"{day.year}-{day.month:02d}"),
        (str((day - dt.date(1899, 12, 30)).days), day.isoformat()),
        (f"{day.year}年", str(day.year)),
    ][form]
    assert parse_go_live(text) == want


@pytest.mark.parametrize("text", ["2019.13", "2019-02-30", "明年", "3/1/2019", "v2", "19.3"])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(BadValue, match="go-live date"):
        parse_go_live(text)
