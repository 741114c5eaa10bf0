"""Importing a programme's ledgers gives the same estate whatever the order (hypothesis).

Each example generates the ledgers of several bureaus (real .xlsx files: a hosts sheet and
a dependency sheet under a 填报单位 line, dependencies naming systems of other bureaus) and
one cross-bureau dependency workbook without a 单位 column, then imports them in a random
order, split across several ``import_ledgers`` calls (separate ``inventory import`` runs).
The estate must be the one a single import of every file gives: the same systems (bureau,
name), hosts (bureau, hostname, IP, system) and dependencies (by system names and port).

A call whose bureau-less workbook names a system no ledger defined yet is refused naming
the file, sheet, row and column, writes nothing, and the file is imported with the next
call. Examples: ``ORDER_EXAMPLES`` per run.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.grid import read_grids
from shangyun.errors import LedgerError
from shangyun.estate.model import Estate
from shangyun.ledgers.importer import import_ledgers

from .conftest import write_xlsx

ORDER_EXAMPLES = 25

NAMES = ["统一认证", "行政审批", "OA系统", "财务系统", "门户网站", "档案管理", "邮件系统",
         "视频会议", "检验监管", "数据交换"]


@st.composite
def programmes(draw: st.DrawFn) -> dict[str, Any]:
    """Bureaus with systems (globally unique names) and hosts, and dependencies."""
    n_bureaus = draw(st.integers(2, 4))
    names = draw(st.permutations(NAMES))
    systems: list[tuple[str, str]] = []  # (bureau, system)
    bureaus = [f"第{i + 1}局" for i in range(n_bureaus)]
    k = 0
    for b in bureaus:
        for _ in range(draw(st.integers(1, 2))):
            systems.append((b, names[k]))
            k += 1
    hosts = [(b, s, f"h{i}-{j}", f"10.{i}.{j}.1")
             for i, (b, s) in enumerate(systems) for j in range(draw(st.integers(1, 2)))]
    pair = st.tuples(st.sampled_from(systems), st.sampled_from(systems),
                     st.sampled_from([443, 1521, 8080]))
    bureau_deps = draw(st.lists(pair, max_size=6))
    loose_deps = draw(st.lists(pair, max_size=3))
    split = draw(st.lists(st.integers(0, 8), max_size=3))
    order = draw(st.randoms(use_true_random=False))
    return {"bureaus": bureaus, "systems": systems, "hosts": hosts,
            "bureau_deps": bureau_deps, "loose_deps": loose_deps, "split": split,
            "order": order}


def _files(p: dict[str, Any], folder: Path) -> list[Path]:
    out: list[Path] = []
    for i, b in enumerate(p["bureaus"]):
        rows: list[list[Any]] = [[f"填报单位：{b}"], ["系统名称", "主机名", "IP地址", "操作系统"]]
        rows += [[s, h, ip, "CentOS 7.9"] for hb, s, h, ip in p["hosts"] if hb == b]
        deps: list[list[Any]] = [[f"填报单位：{b}"], ["源系统", "目标系统", "端口"]]
        deps += [[src[1], tgt[1], port] for src, tgt, port in p["bureau_deps"] if src[0] == b]
        sheets = {"主机": rows}
        if len(deps) > 2:
            sheets["依赖关系"] = deps
        out.append(write_xlsx(folder / f"b{i}.xlsx", sheets))
    if p["loose_deps"]:  # a cross-bureau dependency workbook: no 单位 column, no line
        rows = [["源系统", "目标系统", "端口"]]
        rows += [[src[1], tgt[1], port] for src, tgt, port in p["loose_deps"]]
        out.append(write_xlsx(folder / "deps.xlsx", {"依赖关系": rows}))
    return out


def _by_name(est: Estate) -> tuple[set[Any], set[Any], set[Any]]:
    bureaus = {b["id"]: b["name"] for b in est.rows("bureaus")}
    systems = {s["id"]: (bureaus[s["bureau_id"]], s["name"]) for s in est.rows("systems")}
    hosts = {(bureaus[h["bureau_id"]], h["hostname"], h["ip"], systems[h["system_id"]])
             for h in est.rows("hosts")}
    deps = {(systems[d["source_system"]], systems[d["target_system"]], d["port"])
            for d in est.rows("dependencies")}
    return set(systems.values()), hosts, deps


@settings(max_examples=ORDER_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(programmes())
def test_any_order_and_split_gives_the_same_estate(p: dict[str, Any]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ledger-order-"))
    try:
        files = _files(p, folder)
        one = folder / "one"
        import_ledgers(files, one, reader=read_grids)
        want = _by_name(Estate.load(one))
        assert want[0] == {(b, s) for b, s in p["systems"]}  # one system per name
        assert len(want[1]) == len(p["hosts"])

        shuffled = list(files)
        p["order"].shuffle(shuffled)
        cuts = sorted({c % (len(shuffled) + 1) for c in p["split"]} | {0, len(shuffled)})
        batches = [shuffled[a:b] for a, b in itertools.pairwise(cuts) if b > a]
        est = folder / "split"
        waiting: list[Path] = []
        for batch in [*batches, []]:
            todo = waiting + batch
            if not todo:
                continue
            before = Estate.load(est).fingerprint() if est.exists() else None
            try:
                import_ledgers(todo, est, reader=read_grids)
                waiting = []
            except LedgerError as exc:  # the bureau-less workbook before its systems
                text = str(exc)
                assert "deps.xlsx" in text and "row" in text and "sheet" in text, text
                assert "is not defined in any bureau" in text, text
                after = Estate.load(est).fingerprint() if est.exists() else None
                assert after == before  # nothing written
                waiting = todo
        assert not waiting
        got = Estate.load(est, check=True)
        assert _by_name(got) == want
        assert not got.rows("conflicts")
        assert "placeholders" not in got.meta  # every system named is defined
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_later_import_that_defines_a_named_system_takes_it_over(tmp_path: Path) -> None:
    """湖南局's dependency names 统一认证 (湖北局's system) and is imported first, alone:
    统一认证 is a placeholder in 湖南局; importing 湖北局's ledger later merges it there
    (was: two systems called 统一认证)."""
    hunan = write_xlsx(tmp_path / "hunan.xlsx", {
        "主机": [["填报单位：湖南局"], ["系统名称", "主机名", "IP地址"],
               ["行政审批", "hn-app01", "10.20.1.11"]],
        "依赖": [["填报单位：湖南局"], ["源系统", "目标系统", "端口"],
               ["行政审批", "统一认证", 443]]})
    hubei = write_xlsx(tmp_path / "hubei.xlsx", {
        "主机": [["填报单位：湖北局"], ["系统名称", "主机名", "IP地址"],
               ["统一认证", "hb-auth01", "10.30.1.11"]]})
    est = tmp_path / "est"
    first = import_ledgers([hunan], est, reader=read_grids)
    assert any("'统一认证' (hunan.xlsx, sheet '依赖', row 3)" in w and "placeholder" in w
               for w in first.warnings), first.warnings
    assert len(Estate.load(est).meta["placeholders"]) == 1
    second = import_ledgers([hubei], est, reader=read_grids)
    assert any("merged into it" in w and "'湖北局'" in w for w in second.warnings)
    got = Estate.load(est, check=True)
    systems, _hosts, deps = _by_name(got)
    assert systems == {("湖南局", "行政审批"), ("湖北局", "统一认证")}
    assert deps == {(("湖南局", "行政审批"), ("湖北局", "统一认证"), 443)}
    assert "placeholders" not in got.meta
    before = got.fingerprint()
    import_ledgers([hunan], est, reader=read_grids)  # again: nothing changes
    assert Estate.load(est).fingerprint() == before
