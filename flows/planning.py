"""The planning flow (Prefect): assess → plan → write → artifacts for the dashboard.

Thin: the work is done by the pure :func:`shangyun.assess.assess` and
:func:`shangyun.planner.make_plan` (``shangyun plan`` calls them directly, without Prefect);
this flow makes a plan visible in the dashboard — a table artifact of the waves and a
markdown summary with the metrics and the excluded systems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from connectors.journal.history import open_reader
from shangyun.assess import assess, assessment_data_dir, load_catalog, write_assessment
from shangyun.errors import EstateError
from shangyun.estate import Estate
from shangyun.planner import Plan, PlanOptions, make_plan, write_plan
from shangyun.planner.history import RanWaves, ran_waves
from shangyun.runbook.sources import plan_files


@task(name="load-estate", cache_policy=NO_CACHE)
def load_estate(estate_dir: str) -> Estate:
    """Read and validate the estate folder."""
    return Estate.load(estate_dir, check=True)


@task(name="assess", cache_policy=NO_CACHE)
def assess_estate(estate: Estate, estate_dir: str) -> dict[str, Any]:
    """Assess the estate and write ``assessment/``; returns the totals."""
    result = assess(estate)
    write_assessment(result, estate_dir)
    return result.summary


@task(name="ran-waves", cache_policy=NO_CACHE)
def read_ran_waves(estate_dir: str) -> RanWaves:
    """What the journal says ran (read only; nothing when the estate has no journal), with
    the plan it ran under: a re-plan keeps those waves as they ran."""
    try:
        previous = plan_files(Path(estate_dir))
    except EstateError:
        previous = None
    with open_reader(estate_dir) as journal:  # None: no journal, or no journal tables yet
        return ran_waves(journal, previous)


@task(name="plan", cache_policy=NO_CACHE)
def plan_estate(estate: Estate, options: PlanOptions,
                history: RanWaves | None = None, data_dir: str | None = None) -> Plan:
    """Run the pure planner (raises PlanError, which fails the flow, when infeasible);
    ``history``: the waves that ran, kept as they ran; ``data_dir``: the data files the
    assessment read (``assess --data``; None: the packaged ones)."""
    return make_plan(estate, options, catalog=load_catalog(data_dir), history=history)


@task(name="write-plan", cache_policy=NO_CACHE)
def save_plan(plan: Plan, estate_dir: str) -> str:
    """Write ``plan/`` into the estate all-or-nothing; returns its path."""
    return str(write_plan(plan, estate_dir))


def summary_markdown(plan: Plan, assessment: dict[str, Any] | None) -> str:
    """The plan's metrics, waves and exclusions as markdown for the dashboard."""
    m = plan.metrics
    lines = ["# Migration plan", "",
             f"- waves: **{m['waves']}** (lower bound {m['lower_bound_waves']})",
             f"- move groups: {m['move_groups']} ({m['split_groups']} from split components)",
             f"- dependencies crossing waves: {m['cut_dependencies']} of {m['dependencies']}",
             f"- systems planned: {m['systems_planned']}, excluded: {m['systems_excluded']}",
             f"- estate fingerprint: `{plan.fingerprint[:16]}…`"]
    if assessment and assessment.get("saving_pct") is not None:
        lines.append(f"- monthly cost: {assessment['before']['monthly_cny']:,.0f} → "
                     f"{assessment['after']['monthly_cny']:,.0f} {assessment['currency']} "
                     f"({-assessment['saving_pct']:+.1f} %)")
    if plan.excluded:
        lines += ["", "## Excluded", ""]
        lines += [f"- {e['system']}: {e['reason']}" for e in plan.excluded[:50]]
    return "\n".join(lines)


@flow(name="planning", log_prints=True)
def planning(estate_dir: str, options: dict[str, Any] | None = None,
             run_assessment: bool = True) -> dict[str, Any]:
    """Assess (optional) and plan the estate at ``estate_dir``; returns the ``--json`` shape.

    ``options`` are :class:`~shangyun.planner.PlanOptions` fields as plain data (dates as
    ``YYYY-MM-DD``), so a deployment can pass them as parameters.
    """
    opts = PlanOptions.from_dict(options or {})
    estate = load_estate(estate_dir)
    summary = assess_estate(estate, estate_dir) if run_assessment else None
    plan = plan_estate(estate, opts, read_ran_waves(estate_dir),
                       assessment_data_dir(estate_dir))
    path = save_plan(plan, estate_dir)
    create_table_artifact(
        key="plan-waves", description="Waves of the plan",
        table=[{"wave": w["number"], "start": w["start"], "pilot": w["pilot"],
                "systems": len(w["systems"]), "hosts": w["hosts"], "data_gb": w["data_gb"],
                "bureaus": ", ".join(w["bureaus"])} for w in plan.waves])
    create_markdown_artifact(summary_markdown(plan, summary), key="plan-summary",
                             description="Plan metrics and exclusions")
    get_run_logger().info("plan written to %s: %d waves", path, plan.metrics["waves"])
    return plan.to_json()
