"""Planning: step graph -> load stages -> resources per stage. Pure functions, no I/O."""

from __future__ import annotations

from airflow_dististage.planning.load_stages import SEQUENTIAL, LoadGroupsError, LoadStages, plan_load_stages
from airflow_dististage.planning.plan import ExecutionPlan, StagePlan, StepPlan, build_plan
from airflow_dististage.planning.routing import RoutingRole, routing_roles

__all__ = [
    "SEQUENTIAL",
    "ExecutionPlan",
    "LoadGroupsError",
    "LoadStages",
    "RoutingRole",
    "StagePlan",
    "StepPlan",
    "build_plan",
    "plan_load_stages",
    "routing_roles",
]
