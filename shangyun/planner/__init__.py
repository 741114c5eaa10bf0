"""The wave planner: move groups, waves under every constraint, and the reasons for each.

Pure: an :class:`~shangyun.estate.Estate` and :class:`PlanOptions` in, a :class:`Plan` out
(:func:`make_plan`); :func:`write_plan` puts it into the estate's ``plan/`` folder and
:func:`explain` reads one system's reasons back.
"""

from shangyun.planner.files import explain, plan_matches, read_plan_meta, write_plan
from shangyun.planner.inputs import window_capacity_gb
from shangyun.planner.options import ORDER_MODES, PlanOptions, next_monday
from shangyun.planner.plan import PLAN_SCHEMA_VERSION, Plan, make_plan

__all__ = [
    "ORDER_MODES", "PLAN_SCHEMA_VERSION", "Plan", "PlanOptions", "explain", "make_plan",
    "next_monday", "plan_matches", "read_plan_meta", "window_capacity_gb", "write_plan",
]
