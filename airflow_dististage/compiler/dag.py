"""The last step of compilation: specs, Params and docs become an ``airflow.sdk`` DAG.

Built inside ``with DAG(...)`` so that calling :func:`compile_pipeline` in a DAG file registers
the DAG with Airflow like a hand-written one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_dististage.compiler.docs import render_doc_md
from airflow_dististage.compiler.graph import (
    CHECK_POOL_TASK_ID,
    PUBLISH_TASK_ID,
    DagSpec,
    StageSpec,
    TaskSpec,
    build_dag_spec,
    kubernetes_executor_config,
)
from airflow_dististage.compiler.options import (
    DEFAULT_STEP_RETRIES,
    auto_plan_gpus,
    check_retries,
    data_locations_doc,
    resolve_options,
)
from airflow_dististage.compiler.params import build_params, collect_step_params
from airflow_dististage.compiler.tasks import CompiledPipeline, verify_gpu_pool
from airflow_dististage.planning import AUTO

if TYPE_CHECKING:
    from datetime import datetime

    from airflow.sdk import DAG, Asset

    from airflow_dististage.pipeline import Pipeline

PLAN_ATTRIBUTE = "dististage_plan"
"""The compiled DAG's attribute holding its :class:`~airflow_dististage.planning.ExecutionPlan`."""
POOL_ATTRIBUTE = "dististage_gpu_pool"
"""The compiled DAG's attribute holding the name of its GPU pool."""
PIPELINE_ATTRIBUTE = "dististage_pipeline"
"""The compiled DAG's attribute holding its pipeline (``airflow dististage plan --auto`` plans it again)."""


def distiset_asset(dag_id: str, output: str | None = None) -> Asset:
    """The Asset a compiled DAG updates after each run: the URI of the DAG's output folder.

    That folder is ``<output>/<safe_folder_name(dag_id)>`` (``team.synth_données`` ->
    ``team.synth_donn~c3~a9es``), so the URI is ASCII whatever the DAG id. Schedule another DAG
    on new data with ``schedule=[distiset_asset("my_dag")]``.
    """
    from airflow.sdk import Asset

    from airflow_dististage.provider.config import get_setting
    from airflow_dististage.runtime.folders import safe_folder_name

    output = output or get_setting("output")
    base = output if "://" in output else Path(os.path.abspath(output)).as_uri()
    return Asset(uri=f"{base.rstrip('/')}/{safe_folder_name(dag_id)}")


def compile_pipeline(
    pipeline: Pipeline,
    *,
    dag_id: str,
    load_groups: Any = None,
    schedule: Any = None,
    start_date: datetime | None = None,
    params: Mapping[str, Any] | None = None,
    gpu_pool: str | None = None,
    store: str | None = None,
    output: str | None = None,
    default_args: dict[str, Any] | None = None,
    gpu_pool_slots: int | None = None,
    queue: str | None = None,
    kubernetes_gpu: bool = False,
    reschedule_seconds: float = 5.0,
    start_timeout_seconds: float = 6 * 3600.0,
    step_retries: int | None = None,
    check_gpu_pool: str = "strict",
    gpu_claim_timeout_seconds: float = 600.0,
    gpus: int | None = None,
    max_tokens_per_run: int | None = None,
    store_conn_id: str | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """Compiles ``pipeline`` to an Airflow DAG: one TaskGroup ``stage_<i>`` per load stage.

    Args:
        pipeline: the pipeline; validated here, errors name the step or column at fault.
        dag_id: the DAG's id.
        load_groups: as for ``Pipeline.plan``: lists of steps loaded together,
            ``"sequential_step_execution"``, or ``"auto"``: the fewest stages that each need at
            most ``gpus`` GPUs.
        schedule, start_date, default_args: as for ``DAG``.
        params: extra DAG Params, kept next to the steps' runtime-parameter Params.
        gpu_pool: the pool gating GPU steps (default ``[dististage] gpu_pool``).
        store: batch store URL or absolute folder (default ``[dististage] store``); each run
            writes under ``<store>/<dag_id>/<run_id>/``.
        output: where each run saves its Distiset, URL or absolute folder (default ``[dististage] output``).
        gpu_pool_slots: the pool's size if known now; a step needing more GPUs is rejected here.
        queue: Celery queue for GPU steps.
        kubernetes_gpu: attach a KubernetesExecutor pod override requesting ``nvidia.com/gpu``.
        reschedule_seconds: wait between checks of a step whose predecessors have not started.
        start_timeout_seconds: fail a step that waited this long for its predecessors to start.
        step_retries: retries of step tasks (default: ``default_args["retries"]`` if given, else 2);
            a retry resumes the step. While a failed step will be retried, its successors wait
            for it; once it failed for good, they fail without retries.
        check_gpu_pool: ``"strict"`` (default) fails a run whose GPU pool cannot be checked (the
            provider plugin is not installed on the api-server, or the API is unreachable);
            ``"warn"`` only logs it and runs on. A missing or too small pool fails in both modes.
        gpu_claim_timeout_seconds: how long a GPU step waits for free GPUs on its host.
        gpus: with ``load_groups="auto"``, the GPUs one load stage may use (default
            ``[dististage] gpus``); the run's ``check_gpu_pool`` task fails when the pool is smaller.
        max_tokens_per_run: each run's token budget for all its LLM steps together (input + output
            tokens): they stop generating once it is reached and finish with the rows they have.
        store_conn_id: the Airflow connection whose credentials and endpoint open ``store`` and
            ``output`` (object-storage URLs then) in the tasks and the run view (default
            ``[dististage] store_conn_id``, unset: fsspec's own configuration).
        **dag_kwargs: passed to ``DAG`` (``tags``, ``catchup``, ``max_active_runs``, ...).

    Raises:
        PipelineValidationError, LoadGroupsError, CompileError: the pipeline, load groups or options
            cannot run; raised while the DAG file is parsed.
    """
    from airflow.sdk import DAG

    default_args = dict(default_args or {})
    if step_retries is None:
        step_retries = default_args.get("retries", DEFAULT_STEP_RETRIES)
        check_retries(step_retries, "default_args['retries'] (the step tasks' retries)")
    options = resolve_options(
        dag_id,
        store=store,
        output=output,
        gpu_pool=gpu_pool,
        gpu_pool_slots=gpu_pool_slots,
        queue=queue,
        kubernetes_gpu=kubernetes_gpu,
        reschedule_seconds=reschedule_seconds,
        start_timeout_seconds=start_timeout_seconds,
        step_retries=step_retries,
        check_gpu_pool=check_gpu_pool,
        gpu_claim_timeout_seconds=gpu_claim_timeout_seconds,
        max_tokens_per_run=max_tokens_per_run,
        store_conn_id=store_conn_id,
    )
    if not dag_id.isascii():
        # Airflow 3.3's in-process task API (dag.test(), `airflow dags test`) fails to store an XCom
        # of such a DAG: its WSGI bridge decodes the URL naming the DAG id as Latin-1.
        default_args.setdefault("do_xcom_push", False)
    plan = pipeline.plan(load_groups, gpus=auto_plan_gpus(gpus) if load_groups == AUTO else gpus)
    spec = build_dag_spec(plan, options)
    step_params = collect_step_params(pipeline)
    dag_params = build_params(step_params, params, list(pipeline.steps))
    compiled = CompiledPipeline(pipeline=pipeline, plan=plan, options=options, step_params=step_params)
    doc_md = render_doc_md(pipeline, plan, options)
    user_doc = dag_kwargs.pop("doc_md", None)
    if user_doc:
        doc_md = f"{user_doc}\n\n{doc_md}"
    dag_kwargs.setdefault("description", pipeline.description)
    dag_kwargs.setdefault("tags", ["dististage"])

    with DAG(
        dag_id,
        schedule=schedule,
        start_date=start_date,
        default_args=default_args,
        doc_md=doc_md,
        **dag_kwargs,
    ) as dag:
        _build_tasks(compiled, spec, retry_delay_given="retry_delay" in default_args)
    # Set after the tasks exist: a task copies the DAG's Params when created, which costs
    # tasks x params deep copies; tasks read the DAG's Params at run time anyway.
    dag.params = dag_params
    dag.fileloc = _calling_file()
    # Read by `airflow dististage plan` (provider/commands.py).
    setattr(dag, PLAN_ATTRIBUTE, plan)
    setattr(dag, POOL_ATTRIBUTE, options.gpu_pool)
    setattr(dag, PIPELINE_ATTRIBUTE, pipeline)
    return dag


def _calling_file() -> str:
    """The first file up the stack outside this package: the DAG file that compiled the pipeline."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame = sys._getframe(1)
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(package_dir + os.sep):
        frame = frame.f_back
    return frame.f_code.co_filename


def _build_tasks(compiled: CompiledPipeline, spec: DagSpec, *, retry_delay_given: bool) -> None:
    from airflow.sdk import chain, task

    nodes: list[Any] = []
    if spec.needs_gpu_pool:

        def check_pool() -> dict[str, Any]:
            return verify_gpu_pool(spec)

        nodes.append(task(check_pool, task_id=CHECK_POOL_TASK_ID, retries=0)())
    retry_args: dict[str, Any] = {"retries": compiled.options.step_retries}
    if not retry_delay_given:
        retry_args["retry_delay"] = timedelta(seconds=compiled.options.reschedule_seconds)
    nodes.extend(_stage_node(compiled, stage, retry_args) for stage in spec.stages)
    asset = distiset_asset(compiled.options.dag_id, compiled.options.output)

    def publish_distiset() -> dict[str, Any]:
        return compiled.publish_distiset(asset)

    doc = data_locations_doc(compiled.options)
    nodes.append(task(publish_distiset, task_id=PUBLISH_TASK_ID, outlets=[asset], doc_json=doc)())
    chain(*nodes)


def _stage_node(compiled: CompiledPipeline, stage: StageSpec, retry_args: dict[str, Any]) -> Any:
    from airflow.sdk import TaskGroup

    if stage.is_barrier:
        return _step_task(compiled, stage.tasks[0], retry_args)
    steps = ", ".join(task_spec.task_id for task_spec in stage.tasks)
    with TaskGroup(stage.group_id, prefix_group_id=False, tooltip=f"Load stage {stage.index}: {steps}") as group:
        for task_spec in stage.tasks:
            _step_task(compiled, task_spec, retry_args)
    return group


def _step_task(compiled: CompiledPipeline, spec: TaskSpec, retry_args: dict[str, Any]) -> Any:
    from airflow.sdk import task

    step_name = spec.step_name

    def run_step(replica: int = 0) -> dict[str, Any] | None:
        return compiled.run_step(step_name, replica)

    operator_args: dict[str, Any] = {"task_id": spec.task_id, "pool_slots": spec.pool_slots, **retry_args}
    if spec.pool:
        operator_args["pool"] = spec.pool
    if spec.queue:
        operator_args["queue"] = spec.queue
    if spec.kubernetes_gpus:
        operator_args["executor_config"] = kubernetes_executor_config(spec.kubernetes_gpus)
    decorated = task(run_step, **operator_args)
    if spec.is_mapped:
        return decorated.expand(replica=list(range(spec.replicas)))
    return decorated()
