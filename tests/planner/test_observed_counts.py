"""Discovery writes each observed dependency twice: one host→host row per (client host,
server host, port) and a system→system roll-up of them (docs/discovery.md). The plan counts
dependencies: the roll-up is a summary of host rows the plan already counts, so counting it
too doubled every observed link in the metrics and in the reasons a team lead reads
("2 dependencies cross to systems in other waves" for one connection)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shangyun.discovery.dependencies import rollup
from shangyun.planner import PlanOptions, make_plan
from tests.planner.build import bureau, make_estate, system


def _estate(links: list[tuple[int, int, int]], declared: int):
    """System A (bureau B1, 3 hosts) talks to system B (bureau B2, 3 hosts): one observed
    host row per link (client host, server host, port), their roll-up, and ``declared``
    ledger rows A→B."""
    est = make_estate([system("A", "B1", hosts=3), system("B", "B2", hosts=3)],
                      [("A", "B", "async")] * declared,
                      bureaus=[bureau("B1"), bureau("B2")])
    host_rows = [{"id": f"obs-A-h{a}-B-h{b}-{port}", "source_host": f"A-h{a}",
                  "target_host": f"B-h{b}", "source_system": "A", "target_system": "B",
                  "external": "", "port": port, "service": "", "process": "java",
                  "type": "other", "origin": "observed", "seen_count": 1}
                 for a, b, port in links]
    deps = est.rows("dependencies") + host_rows + rollup(host_rows)
    assert not est.set_rows("dependencies", deps)
    return est


@settings(max_examples=10, deadline=None)
@given(links=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2),
                                st.sampled_from([8080, 8443, 9000])),
                      min_size=1, max_size=6, unique=True),
       declared=st.integers(0, 2))
def test_an_observed_link_is_counted_once(links: list[tuple[int, int, int]],
                                          declared: int) -> None:
    est = _estate(links, declared)
    plan = make_plan(est, PlanOptions(pins={"A": 1, "B": 2}, pilot_systems=0))
    n = len(links) + declared
    assert plan.metrics["dependencies"] == n, plan.metrics
    assert plan.metrics["cut_dependencies"] == n, plan.metrics
    reasons = " | ".join(r for s in plan.systems if s["system"] == "A" for r in s["reasons"])
    word = "dependency crosses" if n == 1 else "dependencies cross"
    assert f"{n} {word} to systems in other waves" in reasons, reasons
