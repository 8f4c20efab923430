"""What the compiled DAG's tasks run: one step, the GPU-pool check, and the Distiset publication.

Every callable here runs inside an Airflow task after the DAG file was parsed again in the task's
process, so it closes over the freshly built pipeline; heavy libraries are imported here, at run
time, never at parse time.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_dististage.compiler.graph import DagSpec
from airflow_dististage.compiler.options import CompileOptions
from airflow_dististage.compiler.params import StepParam, runtime_values

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from airflow_dististage.pipeline import Pipeline
    from airflow_dististage.planning import ExecutionPlan
    from airflow_dististage.runtime import BatchStore

log = logging.getLogger(__name__)

GPU_CLAIM_TIMEOUT_SECONDS = 600.0
POOL_API_TIMEOUT_SECONDS = 10.0


class GpuPoolError(RuntimeError):
    """The GPU pool is missing or smaller than a step's need: its tasks would never be scheduled."""


@dataclass(frozen=True)
class CompiledPipeline:
    """Everything a task of the compiled DAG needs: the pipeline, its plan, options and Param table."""

    pipeline: Pipeline
    plan: ExecutionPlan
    options: CompileOptions
    step_params: dict[str, StepParam]

    def prepare_run(self, context: Any) -> BatchStore:
        """Applies the DAG run's Params to the steps and returns the run's batch store."""
        from airflow_dististage.runtime import BatchStore

        self.pipeline.set_runtime_parameters(runtime_values(self.step_params, context["params"]))
        return BatchStore(self.options.store, self.pipeline.name, context["run_id"])

    def run_step(self, step_name: str, replica: int = 0) -> dict[str, Any] | None:
        """Runs one replica of one step; reschedules itself while its predecessors have not started.

        Returns the step's summary (pushed as the task's XCom), or None if it had already finished.
        """
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_dististage.runtime import StepExecution, UpstreamFailedError
        from airflow_dististage.runtime.gpus import claim_gpus

        context = get_current_context()
        execution = StepExecution(self.pipeline, self.plan, self.prepare_run(context), step_name, replica)
        if execution.is_finished():
            log.info("Step %s replica %d already finished in this run.", step_name, replica)
            return None
        try:
            if not execution.predecessors_started():
                self._reschedule(step_name, context)
            gpus = self.plan.steps[step_name].gpus_per_replica
            with claim_gpus(gpus, timeout=GPU_CLAIM_TIMEOUT_SECONDS) as devices:
                if gpus:
                    log.info("Step %s replica %d holds GPU(s) %s.", step_name, replica, devices)
                summary = execution.run()
        except UpstreamFailedError as error:
            raise AirflowFailException(str(error)) from error  # retrying cannot help
        log.info("Step %s replica %d: %s", step_name, replica, summary)
        return dataclasses.asdict(summary)

    def _reschedule(self, step_name: str, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException

        now = datetime.now(timezone.utc)
        first_wait = context["ti"].get_first_reschedule_date(context)
        waited = (now - first_wait).total_seconds() if first_wait else 0.0
        if waited > self.options.start_timeout_seconds:
            raise AirflowFailException(
                f"Step {step_name!r} waited {waited:.0f} s for its predecessors"
                f" {list(self.plan.steps[step_name].predecessors)} to start (start_timeout_seconds="
                f"{self.options.start_timeout_seconds:.0f}); see their task states."
            )
        log.info(
            "Predecessors of step %s have not started; trying again in %s s.",
            step_name, self.options.reschedule_seconds,
        )
        raise AirflowRescheduleException(now + timedelta(seconds=self.options.reschedule_seconds))

    def publish_distiset(self, asset: Asset) -> dict[str, Any]:
        """Saves the run's Distiset under ``<output>/<dag_id>/<run folder>/`` and records it on the Asset."""
        from airflow.sdk import get_current_context

        from airflow_dististage.distiset import create_distiset
        from airflow_dististage.runtime.store import safe_run_folder

        context = get_current_context()
        distiset = create_distiset(self.prepare_run(context), self.plan)
        path = f"{self.options.output.rstrip('/')}/{self.options.dag_id}/{safe_run_folder(context['run_id'])}"
        distiset.save_to_disk(path)
        rows = {name: sum(split.num_rows for split in dataset.values()) for name, dataset in distiset.items()}
        extra = {"path": path, "run_id": context["run_id"], "rows": rows}
        context["outlet_events"][asset].extra = extra
        log.info("Distiset of run %s saved to %s: %s rows.", context["run_id"], path, rows)
        return extra


def api_base_url() -> str:
    """The Airflow REST API's base URL: ``[api] base_url``, else derived from the execution API URL."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback=None)
    if not base:
        execution = conf.get("core", "execution_api_server_url", fallback="http://localhost:8080/execution/")
        base = execution.rstrip("/").removesuffix("/execution")
    return base.rstrip("/")


def check_gpu_pool(spec: DagSpec) -> dict[str, Any]:
    """Fails the run at once if the GPU pool is missing or too small for a GPU step.

    Airflow would otherwise leave such tasks "scheduled" forever without a word. The pool is read
    from the provider plugin's route on the api-server (``POOL_SIZE_ROUTE``; tasks have no token
    for ``/api/v2/pools``); if the api-server cannot be reached or refuses the request, the check
    logs why and lets the run go on (the pool still gates the tasks).
    """
    import httpx

    from airflow_dististage.provider import POOL_SIZE_ROUTE

    needs = {task.step_name: task.pool_slots for task in spec.gpu_tasks}
    url = api_base_url() + POOL_SIZE_ROUTE.format(name=quote(spec.gpu_pool, safe=""))
    try:
        response = httpx.get(url, timeout=POOL_API_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        log.warning("Cannot check GPU pool %r at %s (%s); the run goes on unchecked.", spec.gpu_pool, url, error)
        return {"pool": spec.gpu_pool, "checked": False}
    if response.status_code == 404:
        raise GpuPoolError(
            f"GPU pool {spec.gpu_pool!r} does not exist, so Airflow would never schedule the GPU steps"
            f" {needs} (slots each step takes per replica). Create it: airflow dististage pools sync"
            f" (or airflow pools set {spec.gpu_pool} <GPUs> 'GPUs')."
        )
    if response.is_error:
        log.warning(
            "Cannot check GPU pool %r: %s answered %d; the run goes on unchecked.",
            spec.gpu_pool, url, response.status_code,
        )
        return {"pool": spec.gpu_pool, "checked": False}
    slots = response.json()["slots"]
    too_big = {name: need for name, need in needs.items() if slots >= 0 and need > slots}
    if too_big:
        raise GpuPoolError(
            f"GPU pool {spec.gpu_pool!r} has {slots} slot(s), but step(s) {too_big} need more per"
            f" replica, so Airflow would never schedule them. Grow the pool: airflow dististage pools"
            f" sync --gpus N (N >= {max(too_big.values())}), or lower the steps' resources.gpus."
        )
    log.info("GPU pool %r has %d slot(s); GPU steps need %s.", spec.gpu_pool, slots, needs)
    return {"pool": spec.gpu_pool, "checked": True, "slots": slots}
