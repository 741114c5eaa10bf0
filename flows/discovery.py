"""The discovery flow (Prefect): estate hosts → one task per host → merge → artifact.

Thin: the work is done by :mod:`shangyun.discovery.engine` (usable without Prefect; the CLI
calls it directly unless asked for ``--flow``); this flow plugs in the connectors (the SSH
pool as the script runner, libvirt as the hypervisor lister). Each host is its own task run, so the
dashboard shows one state per host; a failed host never fails the flow — its status and
reason are in the result and the ``discovery-summary`` markdown artifact. Transient failures
are retried inside the SSH connector (bounded); host-key and auth failures never are.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from connectors.hypervisor import list_domains
from connectors.ssh import discovery_pool
from shangyun.discovery.engine import (
    apply_results,
    discover_one,
    markdown_summary,
    script_runner,
    targets_from_estate,
    write_facts,
)
from shangyun.discovery.hypervisors import inventory_rows
from shangyun.discovery.model import Applied, Defaults, HostResult, SSHOptions, Target
from shangyun.discovery.ports import Runner
from shangyun.estate import Estate
from shangyun.estate.names import names_of


@task(name="load-targets", cache_policy=NO_CACHE)
def load_targets(estate_dir: str, defaults: Defaults, extra: list[str]) -> list[Target]:
    """Read the estate and list the hosts to discover (estate hosts with an IP + extras)."""
    return targets_from_estate(Estate.load(estate_dir, check=True), defaults, extra)


@task(name="discover-host", cache_policy=NO_CACHE, task_run_name="discover-{target.host_id}")
def discover_host(target: Target, runner: Runner) -> HostResult:
    """Run the gather script on one host; a failure is a status, not an exception."""
    result = discover_one(target, runner)
    if not result.ok:
        get_run_logger().warning("%s: %s", result.status, result.reason)
    return result


@task(name="hypervisor-inventory", cache_policy=NO_CACHE)
def hypervisor_inventory(estate_dir: str, uris: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Estate rows (hosts, disks) of every domain of the given libvirt URIs (local images
    read only under the estate's datastore roots)."""
    estate = Estate.load(estate_dir, check=False)
    return inventory_rows(uris, list_domains, estate.datastore_roots(estate_dir),
                          names_of(estate, "bureau"))


@task(name="merge-and-save", cache_policy=NO_CACHE)
def merge_and_save(estate_dir: str, results: list[HostResult],
                   hv_rows: dict[str, list[dict[str, Any]]]) -> Applied:
    """Merge the results into the estate, save it all-or-nothing, write ``facts/``."""
    estate = Estate.load(estate_dir, check=True)
    applied = apply_results(estate, results, hv_rows)
    estate.save(estate_dir)
    assert applied.depmap is not None
    write_facts(estate_dir, results, applied.depmap, applied.matched)
    return applied


@flow(name="discovery", log_prints=True)
def discovery_flow(estate_dir: str, key_file: str, known_hosts: str, user: str = "root",
                   jump: str = "", targets: list[str] | None = None,
                   hypervisors: list[str] | None = None, concurrency: int = 50,
                   per_bureau: int | None = None, connect_timeout: float = 10.0,
                   retries: int = 2, sample_seconds: float = 1.0,
                   command_timeout: float = 120.0) -> dict[str, Any]:
    """Discover the estate's hosts over SSH (and hypervisors over libvirt), merge, report."""
    options = SSHOptions(key_file, known_hosts, Defaults(user=user, jump=jump),
                         concurrency=concurrency, per_bureau=per_bureau,
                         connect_timeout=connect_timeout, retries=retries,
                         sample_seconds=sample_seconds, command_timeout=command_timeout)
    hosts = load_targets(estate_dir, options.defaults, list(targets or []))
    results: list[HostResult] = []
    if hosts:
        with discovery_pool(options) as pool:
            runner = script_runner(pool, options.sample_seconds)
            futures = discover_host.map(hosts, unmapped(runner))
            results = [f.result() for f in futures]
    hv_rows = hypervisor_inventory(estate_dir, list(hypervisors)) if hypervisors else {}
    applied = merge_and_save(estate_dir, results, hv_rows)
    create_markdown_artifact(markdown_summary(results, applied), key="discovery-summary",
                             description="Discovery: status per host")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {"total": len(results), "counts": counts, "conflicts": applied.conflicts,
            "observed_dependencies": applied.dependencies}


def run_flow(concurrency: int = 50, **params: Any) -> dict[str, Any]:
    """Run :func:`discovery_flow` with a thread pool as wide as ``concurrency``."""
    runner = ThreadPoolTaskRunner(max_workers=max(1, concurrency))  # type: ignore[call-arg]
    return discovery_flow.with_options(task_runner=runner)(concurrency=concurrency, **params)
