"""Benchmark (issue #8): the same 200-system dry-run wave on one worker vs two workers.

Builds an estate of 200 systems in two bureaus (100 each, 400 Mbps links: 4 slots per
bureau; the global limit is 4 slots) with a one-wave plan, starts a Prefect server on a
fresh PostgreSQL database, a fresh PostgreSQL journal database and a Redis lock database
(/11), runs ``shangyun worker deploy`` once, then alternates two configurations:

* **one worker**: ``shangyun worker start --bureau B1 --bureau B2`` (both queues);
* **two workers**: ``worker start --bureau B1`` and ``worker start --bureau B2``,

timing ``shangyun wave run 1 --distributed --dry-run --json`` end to end as a fresh process
(and a 1-system wave, ``--only``, for the fixed cost of one distributed run). Per flow run,
from the Prefect API: created → start (queue, worker poll, process spawn), start → end (the
flow), its task runs (→ cost per task run) and the most steps running at once. For scale,
the local ``wave run 1 --dry-run`` (pure, no Prefect). Prints a table and the speed-up
median(one worker) / median(two workers). Everything it starts or creates is removed, even
on error.

    .venv/bin/python benchmarks/distributed/bench_workers.py [--repeat 3] [--systems 200]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shangyun.errors import ShangyunError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support import flush_lock_keys, kill_tree, pg_database

ROOT = Path(__file__).resolve().parents[2]
SHANGYUN = str(Path(sys.executable).parent / "shangyun")
REDIS_URL = "redis://127.0.0.1:6379/11"
B1, B2 = "bureau-01", "bureau-02"
WAVE_TIMEOUT = 900.0
WORKER_READY_TIMEOUT = 120.0
RECORDS_TIMEOUT = 90.0


class BenchError(ShangyunError):
    """A benchmark step failed (names the command, worker or flow run)."""


# -- estate ------------------------------------------------------------------------------
def build(root: Path, n: int) -> None:
    """``n`` systems (one VM, two disks each) in two bureaus of 400 Mbps, half each, and a
    one-wave plan of two-system move groups that never mix bureaus."""
    from shangyun.estate import Estate

    bureaus = [{"id": b, "name": f"第{k}局", "kind": "bureau", "link_mbps": 400}
               for k, b in enumerate((B1, B2), 1)]
    systems, hosts, disks = [], [], []
    fmts = ["vmdk", "vhd", "vhdx", "qcow2", "raw"]
    for i in range(n):
        b = B1 if i < n // 2 else B2
        systems.append({"id": f"sys-{i:04d}", "name": f"业务系统{i}", "bureau_id": b})
        hosts.append({"id": f"host-{i:04d}", "hostname": f"vm{i:04d}", "system_id":
                      f"sys-{i:04d}", "bureau_id": b, "kind": "vm", "cpu_cores": 2,
                      "memory_gb": 4, "hypervisor": f"test:///lab/{b}.xml"})
        for j in range(2):
            disks.append({"id": f"disk-{i:04d}-{j}", "host_id": f"host-{i:04d}",
                          "size_gb": 40, "format": fmts[(i + j) % 5],
                          "path": f"/srv/images/{b}/vm{i:04d}-{j}.img"})
    est = Estate.from_records({"name": "bench-distributed",
                               "datastore_roots": ["/srv/images"]},
                              {"bureaus": bureaus, "systems": systems, "hosts": hosts,
                               "disks": disks})
    est.save(root)
    half = n // 2
    ids = [s["id"] for s in systems]
    groups = [ids[k:k + 2] for k in range(0, half, 2)] + \
             [ids[k:k + 2] for k in range(half, n, 2)]
    plan = {"schema_version": 1, "estate_fingerprint": est.fingerprint(),
            "waves": [{"number": 1, "move_groups": [{"id": f"mg-{k}", "systems": g}
                                                    for k, g in enumerate(groups)]}]}
    (root / "plan").mkdir()
    (root / "plan" / "plan.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True))


# -- services ----------------------------------------------------------------------------
@dataclass
class Bench:
    """The benchmark's environment, estate and running workers."""

    estate: Path
    logs: Path
    env: dict[str, str]
    api_url: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cli(self, *args: str, timeout: float = WAVE_TIMEOUT) -> tuple[float, str]:
        """Run the shangyun CLI as a fresh process; (seconds, stdout); an error names it."""
        t0 = time.perf_counter()
        try:
            r = subprocess.run([SHANGYUN, *args], env=self.env, capture_output=True,
                               text=True, timeout=timeout, cwd=ROOT)
        except subprocess.TimeoutExpired:
            raise BenchError(f"shangyun {' '.join(args)} took more than {timeout:g} s") \
                from None
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise BenchError(f"shangyun {' '.join(args)} exited {r.returncode}:\n"
                             f"{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
        return dt, r.stdout

    def start_workers(self, groups: list[list[str]], tag: str) -> list[str]:
        """One ``shangyun worker start`` per bureau group, each in its own session, named
        freshly; wait (bounded) until the pool shows every one online."""
        names = []
        for bureaus in groups:
            name = f"bench-{'+'.join(bureaus)}-{tag}"
            args = [SHANGYUN, "worker", "start", "--name", name]
            for b in bureaus:
                args += ["--bureau", b]
            with (self.logs / f"{name}.log").open("ab") as out:
                self.workers.append(subprocess.Popen(
                    args, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                    start_new_session=True, stdin=subprocess.DEVNULL))
            names.append(name)
        from connectors import workpool

        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while time.monotonic() < deadline:
            online = {w["name"] for w in workpool.workers() if w["status"] == "ONLINE"}
            if set(names) <= online:
                return names
            dead = [p for p in self.workers if p.poll() is not None]
            if dead:
                raise BenchError(f"worker exited {dead[0].returncode}; see {self.logs}")
            time.sleep(0.5)
        raise BenchError(f"workers {', '.join(names)} not online after "
                         f"{WORKER_READY_TIMEOUT:g} s; see {self.logs}")

    def stop_workers(self) -> None:
        """Kill every worker's whole tree."""
        for w in self.workers:
            kill_tree(w)
        self.workers.clear()


# -- Prefect records ---------------------------------------------------------------------
def _post(api: str, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(f"{api}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def task_runs(api: str, flow_run_id: str, expected: int) -> list[dict[str, Any]]:
    """The task runs of one flow run, once their records have all arrived (they come as
    events, after the flow ends): the count reaches ``expected`` or stops growing."""
    body = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
    deadline, last, same = time.monotonic() + RECORDS_TIMEOUT, -1, 0
    while time.monotonic() < deadline:
        n = int(_post(api, "/task_runs/count", body))
        same = same + 1 if n == last else 0
        if n >= expected or same >= 5:
            break
        last = n
        time.sleep(1.0)
    rows: list[dict[str, Any]] = []
    for offset in range(0, 100_000, 200):
        page = _post(api, "/task_runs/filter", {**body, "limit": 200, "offset": offset})
        rows += page
        if len(page) < 200:
            break
    return rows


def _ts(value: str | None) -> float | None:
    import datetime as dt

    return dt.datetime.fromisoformat(value).timestamp() if value else None


def system_spans(rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Per system, (first step's start, last step's end) from its ``rehearse-step`` task
    runs (``wave-1 · bureau · system · kind (dry run)``): while it holds its slots."""
    spans: dict[str, tuple[float, float]] = {}
    for r in rows:
        name = str(r["name"])
        s, e = _ts(r.get("start_time")), _ts(r.get("end_time"))
        if not name.endswith("(dry run)") or s is None or e is None:
            continue
        key = name.rsplit(" · ", 1)[0]
        old = spans.get(key, (s, e))
        spans[key] = (min(old[0], s), max(old[1], e))
    return list(spans.values())


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine so far, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def max_concurrent(spans: list[tuple[float, float]]) -> int:
    """The most spans open at the same instant."""
    events = [(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans]
    cur = best = 0
    for _, d in sorted(events, key=lambda x: (x[0], x[1])):
        cur += d
        best = max(best, cur)
    return best


def flow_runs(api: str, result: dict[str, Any], expected: dict[str, int]) -> list[dict[str, Any]]:
    """Per bureau flow run of a distributed result: queue time, flow time, task runs, the
    process that ran it; the result must be done with every flow run COMPLETED."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    if result.get("state") != "done":
        raise BenchError(f"wave result is {result.get('state')!r}: {json.dumps(result)[:500]}")
    out = []
    with get_client(sync_client=True) as client:
        for b in result["bureaus"]:
            if b["outcome"] != "completed" or len(b["flow_run_ids"]) != 1:
                raise BenchError(f"bureau {b['bureau']}: outcome {b['outcome']}, flow runs "
                                 f"{b['flow_run_ids']}")
            fid = b["flow_run_ids"][0]
            fr = client.read_flow_run(UUID(fid))
            if fr.state is None or fr.state.type.value != "COMPLETED":
                raise BenchError(f"flow run {fid} ({b['bureau']}) is {fr.state}")
            if not (fr.created and fr.start_time and fr.end_time):
                raise BenchError(f"flow run {fid} ({b['bureau']}) has no start/end time")
            want = expected.get(b["bureau"], 0)
            rows = task_runs(api, fid, want)
            if want and len(rows) != want:
                raise BenchError(f"flow run {fid} ({b['bureau']}): {len(rows)} task runs "
                                 f"recorded, {want} expected")
            out.append({"bureau": b["bureau"], "id": fid,
                        "created": fr.created.timestamp(),
                        "start": fr.start_time.timestamp(), "end": fr.end_time.timestamp(),
                        "queue_s": (fr.start_time - fr.created).total_seconds(),
                        "flow_s": (fr.end_time - fr.start_time).total_seconds(),
                        "task_runs": len(rows), "spans": system_spans(rows),
                        "process": fr.infrastructure_pid})
    return out


# -- measurement -------------------------------------------------------------------------
CONFIGS = {"one worker": [[B1, B2]], "two workers": [[B1], [B2]]}


def measure(bench: Bench, config: str, rep: int, first: str,
            expected: dict[str, int]) -> dict[str, Any]:
    """Start ``config``'s workers, time the 200-system and the 1-system distributed dry
    runs, read their flow runs, kill the workers."""
    tag = f"{config.split()[0]}-{rep}-{secrets.token_hex(2)}"
    try:
        bench.start_workers(CONFIGS[config], tag)
        wave = ("wave", "run", "1", "--estate", str(bench.estate), "--distributed",
                "--dry-run", "--json")
        b0, t0 = cpu_busy()
        secs, out = bench.cli(*wave)
        b1, t1 = cpu_busy()
        runs = flow_runs(bench.api_url, json.loads(out), expected)
        one_s, out1 = bench.cli(*wave, "--only", first)
        one = flow_runs(bench.api_url, json.loads(out1), {})
    finally:
        bench.stop_workers()
        flush_lock_keys(REDIS_URL)
    both = max_concurrent([sp for fr in runs for sp in fr["spans"]])
    for fr in [*runs, *one]:
        fr["systems_at_once"] = max_concurrent(fr.pop("spans"))
    return {"config": config, "rep": rep, "wave_s": secs, "runs": runs, "one_s": one_s,
            "one": one[0], "systems_at_once": both,
            "cpu_busy": (b1 - b0) / (t1 - t0) if t1 > t0 else float("nan")}


def local_dry_run(bench: Bench, repeat: int) -> tuple[list[float], int]:
    """The pure ``wave run 1 --dry-run --json`` (no Prefect): seconds per run, steps."""
    times, steps = [], 0
    for _ in range(repeat):
        secs, out = bench.cli("wave", "run", "1", "--estate", str(bench.estate),
                              "--dry-run", "--json", timeout=120)
        times.append(secs)
        steps = int(json.loads(out)["step_count"])
    return times, steps


def report(results: list[dict[str, Any]], local: list[float], steps: int, n: int) -> None:
    """Print the per-run table, the medians, the speed-up and the per-run overhead."""
    print(f"\n{n}-system dry-run wave, {steps} steps, 2 bureaus; "
          f"{os.cpu_count()} CPUs; load before/after: see uptime\n")
    print("| config | rep | wave end to end (s) | bureau | created→start (s) | "
          "start→end (s) | task runs | ms / task run | systems at once (run / wave) | "
          "runs overlap (s) | machine CPU busy |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        runs = r["runs"]
        overlap = max(0.0, min(x["end"] for x in runs) - max(x["start"] for x in runs)) \
            if len(runs) > 1 else 0.0
        for k, fr in enumerate(runs):
            per = 1000 * fr["flow_s"] / fr["task_runs"] if fr["task_runs"] else float("nan")
            head = (f"| {r['config']} | {r['rep']} | {r['wave_s']:.1f}" if k == 0
                    else "| | |")
            tail = f"{overlap:.1f} | {100 * r['cpu_busy']:.0f} %" if k == 0 else " |"
            both = f" / {r['systems_at_once']}" if k == 0 else ""
            print(f"{head} | {fr['bureau']} | {fr['queue_s']:.1f} | {fr['flow_s']:.1f} | "
                  f"{fr['task_runs']} | {per:.1f} | {fr['systems_at_once']}{both} | {tail} |")
    print()
    med: dict[str, float] = {}
    for config in CONFIGS:
        mine = [r for r in results if r["config"] == config]
        med[config] = statistics.median(r["wave_s"] for r in mine)
        ones = [r["one_s"] for r in mine]
        q = [fr["queue_s"] for r in mine for fr in r["runs"]]
        f = [fr["flow_s"] for r in mine for fr in r["runs"]]
        per = [1000 * fr["flow_s"] / fr["task_runs"] for r in mine for fr in r["runs"]
               if fr["task_runs"]]
        oq = [r["one"]["queue_s"] for r in mine]
        of = [r["one"]["flow_s"] for r in mine]
        procs = sorted({str(fr["process"]) for r in mine for fr in r["runs"]})
        shown = ", ".join(f"{r['wave_s']:.1f}" for r in mine)
        print(f"{config}: {n}-system wave median {med[config]:.1f} s "
              f"(runs: {shown}); per bureau flow "
              f"run: created→start median {statistics.median(q):.1f} s, start→end "
              f"{statistics.median(f):.1f} s, {statistics.median(per):.1f} ms per task run; "
              f"1-system wave median {statistics.median(ones):.1f} s (created→start "
              f"{statistics.median(oq):.1f} s, flow {statistics.median(of):.1f} s); "
              f"{len(procs)} distinct flow-run processes")
    print(f"local pure dry run (no Prefect): median {statistics.median(local):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in local)})")
    speed = med["one worker"] / med["two workers"]
    print(f"\nspeed-up = median(one worker) / median(two workers) = {speed:.2f}")
    print(f"distributed / local (one worker) = {med['one worker'] / statistics.median(local):.0f}×")


def main() -> None:
    """Set up the programme, alternate the configurations, report, clean up."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--systems", type=int, default=200)
    ap.add_argument("--query-seconds", type=float, default=1.0,
                    help="PREFECT_WORKER_QUERY_SECONDS of the workers (Prefect's default: 10)")
    ap.add_argument("--out", default=None, help="Also write the raw results (JSON) here.")
    a = ap.parse_args()
    if a.systems < 4 or a.systems % 4:
        raise BenchError(f"--systems {a.systems}: use a multiple of 4 (two bureaus, "
                         "two-system move groups)")
    from connectors import prefect_server

    with tempfile.TemporaryDirectory(prefix="shangyun-bench-dist-") as tmp, \
            pg_database("bench_prefect") as pdb, pg_database("bench_journal") as jdb:
        base = Path(tmp)
        estate, logs, home = base / "estate", base / "logs", base / "prefect-home"
        logs.mkdir()
        home.mkdir()
        build(estate, a.systems)
        server_dir = base / "server"
        try:
            t0 = time.perf_counter()
            info = prefect_server.start(
                server_dir, port=prefect_server.free_port(),
                database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pdb}",
                timeout=180)
            print(f"Prefect server on PostgreSQL ({pdb}) up in "
                  f"{time.perf_counter() - t0:.1f} s at {info.api_url}")
            env = {**os.environ, "PREFECT_API_URL": info.api_url,
                   "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                   "PREFECT_WORKER_QUERY_SECONDS": f"{a.query_seconds:g}",
                   "SHANGYUN_JOURNAL": f"postgresql://postgres@127.0.0.1:5432/{jdb}",
                   "SHANGYUN_REDIS_URL": REDIS_URL, "PYTHONPATH": str(ROOT)}
            os.environ.update({k: env[k] for k in ("PREFECT_API_URL", "PREFECT_HOME",
                                                   "SHANGYUN_REDIS_URL")})
            bench = Bench(estate, logs, env, info.api_url)
            flush_lock_keys(REDIS_URL)
            secs, _ = bench.cli("worker", "deploy", "--estate", str(estate), "--json",
                                timeout=600)
            print(f"worker deploy: {secs:.1f} s")
            local, steps = local_dry_run(bench, a.repeat)
            groups_per_bureau = a.systems // 4
            per_bureau = steps // 2 + groups_per_bureau
            expected = {B1: per_bureau, B2: per_bureau}
            results = []
            try:
                for rep in range(1, a.repeat + 1):
                    for config in CONFIGS:
                        r = measure(bench, config, rep, "sys-0000", expected)
                        results.append(r)
                        print(f"rep {rep} {config}: wave {r['wave_s']:.1f} s, 1-system "
                              f"{r['one_s']:.1f} s", flush=True)
            finally:
                bench.stop_workers()
            report(results, local, steps, a.systems)
            if a.out:
                Path(a.out).write_text(json.dumps(results, indent=1), encoding="utf-8")
        finally:
            prefect_server.stop(server_dir)
            print(f"cleaned {flush_lock_keys(REDIS_URL)} leftover lock key(s) in {REDIS_URL}")


if __name__ == "__main__":
    main()
