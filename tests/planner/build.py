"""Hand-built estates for planner tests: a few lines describe systems, hosts and links."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from shangyun.estate import Estate


def bureau(bid: str, link_mbps: float | None = None, window_hours: float | None = None,
           window_day: str | None = None, blackout: str = "") -> dict[str, Any]:
    """One bureau row; a window needs link, hours and day together."""
    row: dict[str, Any] = {"id": bid, "name": f"bureau {bid}", "kind": "bureau"}
    if link_mbps is not None:
        row.update(link_mbps=link_mbps, window_day=window_day or "sat", window_start="22:00",
                   window_hours=window_hours or 8)
    if blackout:
        row["blackout_dates"] = blackout
    return row


def system(sid: str, bureau_id: str = "B1", hosts: int = 1, data_gb: float = 10.0,
           **extra: Any) -> dict[str, Any]:
    """One system spec: its own columns plus ``hosts`` and ``data_gb`` spread over them."""
    return {"id": sid, "name": f"system {sid}", "bureau_id": bureau_id, "_hosts": hosts,
            "_data": data_gb, **extra}


def make_estate(systems: Sequence[dict[str, Any]],
                deps: Iterable[tuple[str, str] | tuple[str, str, str]] = (),
                bureaus: Sequence[dict[str, Any]] | None = None,
                host_extra: dict[str, Any] | None = None) -> Estate:
    """An estate with one row per system, ``hosts`` hosts each, and the dependencies."""
    bureaus = list(bureaus or [bureau("B1")])
    sys_rows, host_rows = [], []
    for s in systems:
        n, data = s["_hosts"], s["_data"]
        sys_rows.append({k: v for k, v in s.items() if not k.startswith("_")})
        for j in range(n):
            host_rows.append({"id": f"{s['id']}-h{j}", "hostname": f"{s['id']}-h{j}".lower(),
                              "system_id": s["id"], "bureau_id": s["bureau_id"], "kind": "vm",
                              "os": "CentOS", "os_version": "7.9", "arch": "x86_64",
                              "cpu_cores": 4, "memory_gb": 8, "disk_gb": data / n,
                              **(host_extra or {})})
    dep_rows = []
    for k, d in enumerate(deps):
        src, tgt, *typ = d
        dep_rows.append({"id": f"D{k}", "source_system": src, "target_system": tgt,
                         "type": typ[0] if typ else "async", "origin": "declared"})
    est = Estate.new("test")
    for name, rows in (("bureaus", bureaus), ("systems", sys_rows), ("hosts", host_rows),
                       ("dependencies", dep_rows)):
        problems = est.set_rows(name, rows)
        assert not problems, problems
    est.check()
    return est
