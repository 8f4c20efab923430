"""What ``airflow dististage pools sync`` and ``airflow dististage plan`` do (loaded lazily by the CLI)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from airflow.utils import cli as cli_utils
from airflow.utils.providers_configuration_loader import providers_configuration_loaded

from airflow_dististage.compiler.dag import PIPELINE_ATTRIBUTE, PLAN_ATTRIBUTE, POOL_ATTRIBUTE
from airflow_dististage.compiler.options import CompileError, auto_plan_gpus
from airflow_dististage.planning import AUTO, LoadGroupsError, explain_cuts
from airflow_dististage.provider.config import get_setting
from airflow_dististage.provider.pools import NoGpusFoundError, PoolSize, read_pool, resolve_gpu_count, sync_pool

if TYPE_CHECKING:
    from airflow_dististage.planning import ExecutionPlan, StagePlan


@cli_utils.action_cli
@providers_configuration_loaded
def pools_sync(args: argparse.Namespace) -> None:
    """Upserts the GPU pool with ``--gpus`` slots, or one slot per GPU this host offers."""
    name = args.pool or get_setting("gpu_pool")
    try:
        slots = resolve_gpu_count(args.gpus)
    except (NoGpusFoundError, ValueError) as error:
        raise SystemExit(str(error)) from None
    pool = sync_pool(name, slots)
    print(f"Pool {pool.name!r} now has {pool.slots} slot(s) (one per GPU).")


@cli_utils.action_cli
@cli_utils.suppress_logs_and_warning
@providers_configuration_loaded
def plan(args: argparse.Namespace) -> None:
    """Prints each pipeline DAG's load stages with their GPU need and whether the pool holds it;
    with ``--auto``, the stages ``load_groups="auto"`` plans for ``--gpus`` GPUs, each cut explained."""
    gpus = requested_auto_gpus(args)
    dags = _load_pipeline_dags(args.dag)
    blocked = False
    for dag in dags:
        pool = read_pool(args.pool or getattr(dag, POOL_ATTRIBUTE))
        execution_plan: ExecutionPlan = getattr(dag, PLAN_ATTRIBUTE)
        print(f"DAG {dag.dag_id!r} (pipeline {execution_plan.pipeline_name!r}): {describe_pool(pool)}")
        if gpus is not None:
            compiled_stages = len(execution_plan.stages)
            try:
                execution_plan = getattr(dag, PIPELINE_ATTRIBUTE).plan(AUTO, gpus=gpus)
            except LoadGroupsError as error:
                raise SystemExit(str(error)) from None
            print(
                f"load_groups='auto' for {gpus} GPU(s): {len(execution_plan.stages)} stage(s)"
                f" (the DAG has {compiled_stages}):"
            )
        reasons = explain_cuts(execution_plan) if execution_plan.gpus is not None else ()
        for stage in execution_plan.stages:
            verdict, can_run = stage_verdict(stage, execution_plan, pool)
            blocked = blocked or not can_run
            print(f"Stage {stage.index}: {list(stage.steps)} GPUs: {stage.gpus}{verdict}")
            if stage.index and reasons:
                print(f"  {reasons[stage.index]}")
    if blocked:
        raise SystemExit(
            "Some GPU steps can never run in their pool. Create or grow it with"
            " `airflow dististage pools sync --gpus N`."
        )


def requested_auto_gpus(args: argparse.Namespace) -> int | None:
    """The GPUs to plan for with ``--auto`` (``--gpus``, else ``[dististage] gpus``); None without it."""
    if not args.auto:
        if args.gpus is not None:
            raise SystemExit("--gpus goes with --auto: it sets the GPUs the automatic plan may give a stage.")
        return None
    try:
        return auto_plan_gpus(args.gpus)
    except CompileError as error:
        raise SystemExit(str(error)) from None


def describe_pool(pool: PoolSize) -> str:
    """``pool 'x' has 2 slot(s)`` or ``pool 'x' does not exist``."""
    if pool.slots is None:
        return f"pool {pool.name!r} does not exist"
    return f"pool {pool.name!r} has {pool.slots} slot(s)"


def stage_verdict(stage: StagePlan, execution_plan: ExecutionPlan, pool: PoolSize) -> tuple[str, bool]:
    """Text after a stage's GPU count, and whether every GPU task of the stage can ever run."""
    if stage.gpus == 0:
        return "", True
    largest_task = max(execution_plan.steps[name].gpus_per_replica for name in stage.steps)
    if not pool.can_hold(largest_task):
        return f" - never runs: a task needs {largest_task} GPU(s), {describe_pool(pool)}", False
    if not pool.can_hold(stage.gpus):
        return f" - GPU tasks take turns: {describe_pool(pool)}", True
    return " - fits the pool", True


def _load_pipeline_dags(target: str) -> list[Any]:
    """The DAGs compiled from pipelines in DAG file ``target``, or the DAG whose id is ``target``."""
    from airflow.dag_processing.dagbag import DagBag

    if os.path.isfile(target):
        bag = DagBag(dag_folder=os.path.abspath(target))
        dags = [dag for dag in bag.dags.values() if hasattr(dag, PLAN_ATTRIBUTE)]
        where = f"DAG file {target!r}"
    else:
        from airflow import settings

        bag = DagBag(dag_folder=_dag_file_of(target) or settings.DAGS_FOLDER)
        dags = [bag.dags[target]] if target in bag.dags else []
        where = f"DAG {target!r}"
        if dags and not hasattr(dags[0], PLAN_ATTRIBUTE):
            raise SystemExit(f"{where} was not compiled from an airflow-dististage pipeline.")
    if not dags:
        errors = "".join(f"\n  {path}: {error.strip().splitlines()[-1]}" for path, error in bag.import_errors.items())
        raise SystemExit(f"No airflow-dististage pipeline DAG found for {where}.{errors}")
    return sorted(dags, key=lambda dag: dag.dag_id)


def _dag_file_of(dag_id: str) -> str | None:
    """The file a parsed DAG came from, per Airflow's database (None when it was never parsed)."""
    from airflow.models import DagModel

    dag_model = DagModel.get_current(dag_id)
    return None if dag_model is None else dag_model.fileloc
