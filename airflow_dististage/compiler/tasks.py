"""What the compiled DAG's tasks run: one step, the GPU-pool check, and the Distiset publication.

Every callable here runs inside an Airflow task after the DAG file was parsed again in the task's
process, so it closes over the freshly built pipeline; heavy libraries are imported here, at run
time, never at parse time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_dististage.compiler.graph import DagSpec
from airflow_dististage.compiler.options import CompileOptions
from airflow_dististage.compiler.params import StepParam, runtime_values

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from airflow_dististage.pipeline import Pipeline
    from airflow_dististage.planning import ExecutionPlan
    from airflow_dististage.runtime import BatchStore, StepExecution

log = logging.getLogger(__name__)

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
        """Applies the DAG run's Params to the steps and returns the run's batch store, checked reachable
        (a store that refuses fails the task naming its URL, before any step work starts)."""
        from airflow_dististage.runtime import BatchStore

        self.pipeline.set_runtime_parameters(runtime_values(self.step_params, context["params"]))
        store = BatchStore(
            self.options.store, self.options.dag_id, context["run_id"],
            allow_pickle=self.pipeline.allow_pickle, conn_id=self.options.store_conn_id,
        )
        store.check_reachable()
        return store

    def run_step(self, step_name: str, replica: int = 0) -> dict[str, Any] | None:
        """Runs one replica of one step; reschedules itself while its predecessors have not started
        or one of them failed and awaits its retry (waiting in a worker slot could block that retry,
        e.g. in ``dag.test()``, which runs one task at a time).

        A try that starts the task afresh (the run's first, or the first after a Clear) recomputes
        the step; a retry resumes it (see :func:`fresh_start_incarnation`). Every way out of a
        failed try publishes the step's ``failed`` marker, so successors never wait for a step
        that stopped. Returns the step's summary (pushed as the task's XCom), or None if it had
        already finished in this try.
        """
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException, AirflowTaskTerminated

        from airflow_dististage.runtime import StepExecution, UpstreamFailedError
        from airflow_dististage.runtime.manifest import write_run_manifest

        context = get_current_context()
        ti = context["ti"]
        execution = StepExecution(
            self.pipeline, self.plan, self.prepare_run(context), step_name, replica,
            final_attempt=is_final_attempt(ti),
            retry_delay=longest_retry_delay(ti),
            incarnation=fresh_start_incarnation(ti),
            probe=AirflowTaskStates(context["dag_run"].dag_id, context["run_id"], self.plan),
            stall_timeout=self.options.start_timeout_seconds,
            max_tokens_per_run=self.options.max_tokens_per_run,
        )
        try:
            write_run_manifest(execution.store, self.plan, execution.fingerprints)
            execution.claim_incarnation()
            if execution.is_finished():
                log.info("Step %s replica %d already finished in this try.", step_name, replica)
                return None
            if not execution.predecessors_started() or predecessor_awaiting_retry(execution):
                execution.mark_not_running()
                self._reschedule(step_name, context)
            with self._gpus_of(execution):
                summary = execution.run()
            self._recompute_stale_successors(execution, context)
        except AirflowRescheduleException:
            raise
        except UpstreamFailedError as error:
            execution.publish_failure(error)
            # Raised only once a predecessor failed for good (or died): retrying cannot help.
            raise AirflowFailException(str(error)) from error
        except AirflowFailException as error:
            execution.publish_failure(error, will_retry=False)  # Airflow never retries it
            raise
        except AirflowTaskTerminated as error:
            # Stopped by Airflow (a Clear of a running task restarts it): successors ask Airflow.
            execution.publish_failure(error, will_retry=True)
            raise
        except BaseException as error:
            execution.publish_failure(error)
            raise
        log.info("Step %s replica %d: %s", step_name, replica, summary)
        return dataclasses.asdict(summary)

    def _recompute_stale_successors(self, execution: StepExecution, context: Any) -> None:
        """Recomputes the same-stage successors whose output this step's recomputation made stale.

        Steps of one stage have no Airflow edges between them (they run at once), so "Clear with
        downstream" on a step does not reach its successors in the stage: their tasks stay
        ``success`` on an output computed from the step's old output. One replica (see
        :meth:`_elected_to_recompute`; it never waits for its siblings: one task at a time, as in
        ``dag.test()``, must not deadlock) recomputes those here, in stage order, reading the task
        states afresh; a successor whose task Airflow will run again (cleared too) is left to its task.
        """
        from airflow_dististage.runtime import StepExecution

        if not self._elected_to_recompute(execution):
            return
        probe = AirflowTaskStates(context["dag_run"].dag_id, context["run_id"], self.plan, refresh_seconds=0.0)
        stage = self.plan.stages[execution.step_plan.stage]
        downstream = {execution.step_name}
        for name in self.plan.topological_order:
            if name not in stage.steps or not set(self.plan.steps[name].predecessors) & downstream:
                continue
            downstream.add(name)
            for replica in range(self.plan.steps[name].replicas):
                successor = StepExecution(
                    self.pipeline, self.plan, execution.store, name, replica,
                    fingerprints=execution.fingerprints, probe=probe,
                    max_tokens_per_run=self.options.max_tokens_per_run,
                )
                try:
                    left_to_airflow = probe(name, replica) != "success"
                except LookupError:
                    log.warning("Cannot read the task state of step %s: not recomputing it here.", name)
                    left_to_airflow = True
                if left_to_airflow or successor.is_finished():
                    continue
                log.info("Recomputing step %s replica %d: its input %s was recomputed.", name, replica, sorted(downstream))
                with self._gpus_of(successor):
                    successor.run()

    @contextlib.contextmanager
    def _gpus_of(self, execution: StepExecution) -> Iterator[None]:
        """Holds the GPUs one replica of a step needs on this host (``CUDA_VISIBLE_DEVICES`` set)."""
        from airflow_dististage.runtime.gpus import claim_gpus, gpus_to_claim

        gpus = gpus_to_claim(execution.step, execution.step_plan.gpus_per_replica)
        with claim_gpus(gpus, timeout=self.options.gpu_claim_timeout_seconds) as devices:
            if gpus:
                log.info("Step %s replica %d holds GPU(s) %s.", execution.step_name, execution.replica, devices)
            execution.held_gpus = devices
            yield

    @staticmethod
    def _elected_to_recompute(execution: StepExecution) -> bool:
        """Whether this replica is the one that recomputes stale successors: every replica of the step
        has finished, and this one finished last (ties: the highest replica). Every replica that
        sees all finished picks the same one, so no successor is recomputed twice."""
        markers = [execution.data.read_marker("finished", replica) for replica in range(execution.step_plan.replicas)]
        if any(marker is None for marker in markers):
            return False  # a sibling replica still runs: the last one to finish does this
        last = max(range(len(markers)), key=lambda replica: (markers[replica].get("at", 0.0), replica))
        return last == execution.replica

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
            "Predecessors of step %s have not started, or one awaits its retry; trying again in %s s.",
            step_name, self.options.reschedule_seconds,
        )
        raise AirflowRescheduleException(now + timedelta(seconds=self.options.reschedule_seconds))

    def publish_distiset(self, asset: Asset) -> dict[str, Any]:
        """Saves the run's Distiset (with the run's ``pipeline.yaml``) under ``<output>/<dag_id>/<run folder>/``
        and records it on the Asset.

        With ``store_conn_id`` the Distiset is written to a local temporary folder first, then copied
        up through the connection's filesystem (``datasets`` only takes fsspec options, not a filesystem).
        """
        import tempfile

        from airflow.sdk import get_current_context

        import fsspec

        from airflow_dististage.distiset import create_distiset
        from airflow_dististage.pipeline.serialization import config_for_distiset
        from airflow_dististage.runtime import lineage_fingerprints
        from airflow_dististage.runtime.folders import safe_folder_name
        from airflow_dististage.runtime.store import connection_filesystem

        context = get_current_context()
        store = self.prepare_run(context)
        fingerprints = lineage_fingerprints(self.pipeline, self.plan)
        config = config_for_distiset(self.pipeline)
        distiset = create_distiset(store, self.plan, fingerprints, self.pipeline.known_columns(), pipeline_config=config)
        folders = f"{safe_folder_name(self.options.dag_id)}/{safe_folder_name(context['run_id'])}"
        path = f"{self.options.output.rstrip('/')}/{folders}"
        conn_id = self.options.store_conn_id
        if conn_id is None:
            filesystem, folder = fsspec.core.url_to_fs(path)
        else:
            filesystem, folder = connection_filesystem(path, conn_id), path.split("://", 1)[1]
        filesystem.invalidate_cache(folder)
        if filesystem.exists(folder):
            filesystem.rm(folder, recursive=True)  # a republished run (after a Clear) replaces its Distiset
        if conn_id is None:
            distiset.save_to_disk(path)
        else:
            with tempfile.TemporaryDirectory(prefix="dististage-distiset-") as local:
                distiset.save_to_disk(local)
                filesystem.put(f"{local}/", folder, recursive=True)
        rows = {name: sum(split.num_rows for split in dataset.values()) for name, dataset in distiset.items()}
        extra = {"path": path, "run_id": context["run_id"], "rows": rows}
        context["outlet_events"][asset].extra = extra
        log.info("Distiset of run %s saved to %s: %s rows.", context["run_id"], path, rows)
        return extra


def predecessor_awaiting_retry(execution: StepExecution) -> str | None:
    """The predecessor of ``execution``'s step that failed and will be retried, else None.

    Its retry has not started yet (a starting retry withdraws the ``failed`` marker); one that
    will not come makes ``predecessors_started()`` raise instead.
    """
    for predecessor in execution.step_plan.predecessors:
        data = execution.data_of(predecessor)
        for replica in range(execution.plan.steps[predecessor].replicas):
            failed = data.read_marker("failed", replica)
            if failed is not None and failed.get("will_retry"):
                return predecessor
    return None


class AirflowTaskStates:
    """The task states of one DAG run, read through the task SDK (Execution API) at most every few seconds.

    Used as the runtime's :data:`~airflow_dististage.runtime.status.TaskStateProbe`: a step waiting
    for a predecessor then waits exactly as long as Airflow may still run that predecessor.
    Raises ``LookupError`` when the states cannot be read (the runtime then falls back to heartbeats).
    """

    def __init__(self, dag_id: str, run_id: str, plan: ExecutionPlan, refresh_seconds: float = 5.0) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.plan = plan
        self.refresh_seconds = refresh_seconds
        self._states: dict[str, Any] = {}
        self._read_at = -math.inf

    def __call__(self, step: str, replica: int) -> str | None:
        if time.monotonic() - self._read_at >= self.refresh_seconds:
            self._states = self._read()
            self._read_at = time.monotonic()
        key = step if self.plan.steps[step].replicas == 1 else f"{step}_{replica}"
        state = self._states.get(key)
        return None if state is None else str(getattr(state, "value", state))

    def _read(self) -> dict[str, Any]:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        try:
            answer = RuntimeTaskInstance.get_task_states(dag_id=self.dag_id, run_ids=[self.run_id])
        except Exception as error:  # noqa: BLE001 - any failure means "unknown", never "dead"
            raise LookupError(f"task states of run {self.run_id!r} cannot be read: {error}") from error
        return dict(answer.get(self.run_id, {}))


def fresh_start_incarnation(ti: Any) -> str | None:
    """The task instance's id when this try starts the task afresh, None when it is a retry.

    Airflow sets ``max_tries = try_number + retries`` when a task is cleared (and ``retries`` on
    its first try), so the tries of one trigger-or-Clear are ``max_tries - retries + 1`` onwards;
    the id stays the same across reschedules of one try and changes with every new try.
    """
    first_try = ti.max_tries - ti.task.retries + 1
    return str(ti.id) if ti.try_number <= first_try else None


def is_final_attempt(ti: Any) -> bool:
    """Whether a failure of this try fails the task for good (no retry left).

    In Airflow 3 ``try_number`` counts from 1 and ``max_tries`` is the number of retries (grown
    when the task is cleared), so tries ``1 .. max_tries`` are followed by a retry on failure.
    """
    return ti.try_number > ti.max_tries


def longest_retry_delay(ti: Any) -> float:
    """Seconds until Airflow retries this try at the latest, were it to fail now.

    Airflow waits ``retry_delay``, or with ``retry_exponential_backoff = m`` a jittered delay below
    ``2 * retry_delay * m ** (try_number - 1)``, capped by ``max_retry_delay``.
    """
    task = ti.task
    delay = task.retry_delay.total_seconds()
    multiplier = task.retry_exponential_backoff or 1.0
    if multiplier != 1.0 and multiplier > 0:
        delay = 2 * delay * multiplier ** max(ti.try_number - 1, 0)
    cap = task.max_retry_delay
    if cap is not None:
        cap_seconds = cap.total_seconds() if hasattr(cap, "total_seconds") else float(cap)
        delay = min(delay, cap_seconds)
    return delay


def api_base_url() -> str:
    """The Airflow REST API's base URL: ``[api] base_url``, else derived from the execution API URL."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback=None)
    if not base:
        execution = conf.get("core", "execution_api_server_url", fallback="http://localhost:8080/execution/")
        base = execution.rstrip("/").removesuffix("/execution")
    return base.rstrip("/")


def verify_gpu_pool(spec: DagSpec) -> dict[str, Any]:
    """Fails the run at once if the GPU pool is missing or too small for a GPU step, or smaller than
    the GPUs an automatic plan (``load_groups="auto"``) gave each stage.

    Airflow would otherwise leave such tasks "scheduled" forever without a word. The pool is read
    from the provider plugin's route on the api-server (``POOL_SIZE_ROUTE``; tasks have no token
    for ``/api/v2/pools``), which answers JSON with a ``slots`` key (``null`` for a missing pool).
    Any other answer (the UI's HTML page when the plugin is not installed, a redirect, an error)
    or no answer means the check could not run: with ``check_gpu_pool="strict"`` that fails the
    run, with ``"warn"`` it is logged and the run goes on unchecked.
    """
    from airflow_dististage.provider import POOL_SIZE_ROUTE

    needs = {task.step_name: task.pool_slots for task in spec.gpu_tasks}
    url = api_base_url() + POOL_SIZE_ROUTE.format(name=quote(spec.gpu_pool, safe=""))
    slots, problem = _read_pool_slots(url)
    if problem is not None:
        message = (
            f"The check of GPU pool {spec.gpu_pool!r} could not run: {problem}. Install airflow-dististage"
            f" on the api-server (its plugin serves {POOL_SIZE_ROUTE}), or compile with"
            " check_gpu_pool='warn' to run unchecked."
        )
        if spec.check_gpu_pool == "strict":
            raise GpuPoolError(message)
        log.warning("%s The run goes on unchecked.", message)
        return {"pool": spec.gpu_pool, "checked": False}
    if slots is None:
        raise GpuPoolError(
            f"GPU pool {spec.gpu_pool!r} does not exist, so Airflow would never schedule the GPU steps"
            f" {needs} (slots each step takes per replica). Create it: airflow dististage pools sync"
            f" (or airflow pools set {spec.gpu_pool} <GPUs> 'GPUs')."
        )
    too_big = {name: need for name, need in needs.items() if slots >= 0 and need > slots}
    if too_big:
        raise GpuPoolError(
            f"GPU pool {spec.gpu_pool!r} has {slots} slot(s), but step(s) {too_big} need more per"
            f" replica, so Airflow would never schedule them. Grow the pool: airflow dististage pools"
            f" sync --gpus N (N >= {max(too_big.values())}), or lower the steps' resources.gpus."
        )
    if spec.planned_gpus is not None and 0 <= slots < spec.planned_gpus:
        raise GpuPoolError(
            f"GPU pool {spec.gpu_pool!r} has {slots} slot(s), but the load stages were planned for"
            f" {spec.planned_gpus} GPU(s) (load_groups='auto'), so a stage's GPU steps could not run at once."
            f" Grow the pool (airflow dististage pools sync --gpus {spec.planned_gpus}), or compile with"
            f" gpus={slots}."
        )
    log.info("GPU pool %r has %d slot(s); GPU steps need %s.", spec.gpu_pool, slots, needs)
    return {"pool": spec.gpu_pool, "checked": True, "slots": slots}


def _read_pool_slots(url: str) -> tuple[int | None, str | None]:
    """``(slots, None)`` from the plugin's answer (slots None: no such pool), or ``(None, why not)``."""
    import httpx

    try:
        response = httpx.get(url, timeout=POOL_API_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        return None, f"{url} cannot be reached ({error})"
    answer = f"{url} answered {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return None, f"{answer} with {response.headers.get('content-type') or 'a body'} that is not JSON"
    if not isinstance(body, dict) or "slots" not in body:
        return None, f"{answer} without a 'slots' key"
    slots = body["slots"]
    if slots is None and response.status_code == 404:
        return None, None
    if isinstance(slots, bool) or not isinstance(slots, int) or not response.is_success:
        return None, f"{answer} with slots={slots!r}"
    return slots, None
