"""Planning: step graph -> load stages -> resources per stage. Pure functions, no I/O."""

from __future__ import annotations

from airflow_dististage.planning.auto_stages import EXACT_SEARCH_LIMIT, plan_auto_stages
from airflow_dististage.planning.cuts import explain_cuts
from airflow_dististage.planning.load_stages import AUTO, SEQUENTIAL, LoadGroupsError, LoadStages, plan_load_stages
from airflow_dististage.planning.plan import ExecutionPlan, StagePlan, StepPlan, build_plan
from airflow_dististage.planning.routing import RoutingRole, routing_roles

__all__ = [
    "AUTO",
    "EXACT_SEARCH_LIMIT",
    "SEQUENTIAL",
    "ExecutionPlan",
    "LoadGroupsError",
    "LoadStages",
    "RoutingRole",
    "StagePlan",
    "StepPlan",
    "build_plan",
    "explain_cuts",
    "plan_auto_stages",
    "plan_load_stages",
    "routing_roles",
]
