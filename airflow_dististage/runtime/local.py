"""The local runner behind ``Pipeline.run``: stage after stage, one process per step replica.

Within a stage every step replica runs in its own forked process and streams through the batch
store; the next stage starts once the stage finished. The parent only launches, watches exit
codes and draws progress, so a child that dies (even by SIGKILL) cannot hang the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import multiprocessing
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from multiprocessing.connection import wait as wait_for_exits
from typing import TYPE_CHECKING, Any

import networkx as nx

from airflow_dististage.pipeline.serialization import config_for_distiset
from airflow_dististage.planning import AUTO
from airflow_dististage.runtime.backoff import Backoff
from airflow_dististage.runtime.dataset import attach_dataset
from airflow_dististage.runtime.encoding import preload_converters
from airflow_dististage.runtime.executor import StepExecution, lineage_fingerprints
from airflow_dististage.runtime.gpus import claim_gpus, gpus_to_claim, host_gpus
from airflow_dististage.runtime.locks import hold_step_locks
from airflow_dististage.runtime.manifest import write_run_manifest
from airflow_dististage.runtime.progress import LiveDisplay
from airflow_dististage.runtime.store import BatchStore
from airflow_dististage.runtime.tokens import check_token_budget

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from airflow_dististage.distiset import Distiset
    from airflow_dististage.pipeline.base import Pipeline
    from airflow_dististage.planning import ExecutionPlan, StagePlan
    from airflow_dististage.steps.base import GeneratorStep

logger = logging.getLogger("airflow_dististage.runtime")

LOCAL_RUN_ID = "local"
"""Run id of local runs: one run folder per pipeline name, which is what lets ``use_cache`` reuse
steps. Steps live there under their lineage fingerprint, so pipelines that share a name but not a
step's code, configuration or inputs never share its files; two live runs needing the same step
output take turns (see :mod:`~airflow_dististage.runtime.locks`)."""

DRY_RUN_ID = "dry_run"
"""Run id of dry runs (``Pipeline.dry_run``): their one-batch outputs never stand in for a normal run's."""

_CHILD_EXIT_FAILED = 1
_MAX_WAIT = 0.5
_STOP_GRACE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


class StepFailedError(RuntimeError):
    """A step of a local run failed; ``step`` names it and the message carries its error."""

    def __init__(self, step: str, replica: int, error: str) -> None:
        super().__init__(f"Step {step!r} (replica {replica}) failed: {error}")
        self.step = step
        self.replica = replica


def default_cache_dir(pipeline: Pipeline) -> str:
    """``pipeline.cache_dir``, else ``$DISTISTAGE_CACHE_DIR``, else ``~/.cache/airflow_dististage``."""
    return (
        pipeline.cache_dir
        or os.environ.get("DISTISTAGE_CACHE_DIR")
        or os.path.join(os.path.expanduser("~"), ".cache", "airflow_dististage")
    )


def run_pipeline(
    pipeline: Pipeline,
    dataset: Any = None,
    parameters: dict[str, dict[str, Any]] | None = None,
    load_groups: Any = None,
    use_cache: bool = True,
    dataset_batch_size: int = 50,
    storage_parameters: dict[str, Any] | None = None,
    max_tokens_per_run: int | None = None,
    *,
    show_progress: bool | None = None,
    heartbeat_timeout: float = 60.0,
    run_id: str = LOCAL_RUN_ID,
) -> Distiset:
    """Runs ``pipeline`` on this machine and returns its Distiset.

    Args:
        pipeline: the pipeline to run.
        dataset: rows for the first steps (list of dicts, ``datasets.Dataset`` or pandas
            ``DataFrame``); a ``LoadDataFromDicts`` loader is added for them, as distilabel does.
        parameters: runtime parameters, ``{step_name: {parameter: value}}``.
        load_groups: steps loaded together (lists of steps), ``"sequential_step_execution"``, or
            ``"auto"``: the fewest stages that each fit in this host's GPUs (see ``host_gpus``).
        use_cache: reuse the steps finished by an earlier run whose step and inputs are unchanged;
            False recomputes everything.
        dataset_batch_size: rows per batch of the ``dataset`` loader.
        storage_parameters: ``{"path": <folder or fsspec URL>, **fsspec options}`` for the batch
            store; defaults to :func:`default_cache_dir`. In-memory filesystems are not shared
            with the step processes and cannot be used here.
        max_tokens_per_run: stop the LLM steps once they used this many tokens (input + output) in
            all, as the Distiset's metadata totals them (see :mod:`~airflow_dististage.runtime.tokens`).
        show_progress: draw a live table per step (default: when stdout is a terminal).
        heartbeat_timeout: seconds of silence after which a running step counts as dead.
        run_id: the run folder in the store; runs reuse each other's steps only within one folder.

    A step declaring GPUs runs without a GPU claim on a host that has none, as in distilabel (one
    warning per step); an LLM that cannot work without a GPU then fails the step with its own error.

    Raises:
        ModuleNotFoundError: a package of ``Pipeline(requirements=...)`` is not installed.
        ValueError: the plan cannot run on this host (a step needs more GPUs than a host with GPUs
            has); raised before any step runs.
        StepFailedError: a step failed; the other steps of its stage are stopped.
    """
    check_token_budget(max_tokens_per_run, "max_tokens_per_run")
    missing = pipeline.requirements_to_install()
    if missing:
        raise ModuleNotFoundError(
            f"Pipeline {pipeline.name!r} needs packages that are not installed: {missing}."
            f" Install them (pip install {' '.join(repr(requirement) for requirement in missing)}) and run again."
        )
    if dataset is not None:
        attach_dataset(pipeline, dataset, dataset_batch_size)
    pipeline.set_runtime_parameters(parameters)
    plan = _plan_for_this_host(pipeline, load_groups)
    config = config_for_distiset(pipeline)
    store = _open_store(pipeline, storage_parameters, run_id)
    recompute = set(plan.steps) if not use_cache else _steps_without_cache(pipeline)
    run_incarnation = uuid.uuid4().hex  # recomputed steps are recomputed once in this run, then resumed
    fingerprints = lineage_fingerprints(pipeline, plan)
    if show_progress is None:
        show_progress = sys.stdout.isatty()
    stages = [
        [
            StepExecution(
                pipeline,
                plan,
                store,
                name,
                replica,
                heartbeat_timeout=heartbeat_timeout,
                fingerprints=fingerprints,
                incarnation=run_incarnation if name in recompute else None,
                max_tokens_per_run=max_tokens_per_run,
            )
            for name in stage.steps
            for replica in range(plan.steps[name].replicas)
        ]
        for stage in plan.stages
    ]
    gpus = _gpu_claims(plan)
    write_run_manifest(store, plan, fingerprints)
    preload_converters()
    for stage, executions in zip(plan.stages, stages):
        with hold_step_locks(_lock_keys(executions), f"pipeline {pipeline.name!r}, stage {stage.index}"):
            pending = [execution for execution in executions if not execution.is_finished()]
            if pending:
                _run_stage(stage, pending, plan, store, fingerprints, show_progress, gpus)
    from airflow_dististage.distiset import create_distiset

    every_output = [key for executions in stages for key in _lock_keys(executions)]
    with hold_step_locks(every_output, f"pipeline {pipeline.name!r}, Distiset"):  # no run replaces them meanwhile
        return create_distiset(store, plan, fingerprints, pipeline.known_columns(), pipeline_config=config)


def dry_run_pipeline(
    pipeline: Pipeline,
    parameters: dict[str, dict[str, Any]] | None = None,
    batch_size: int = 1,
    dataset: Any = None,
) -> Distiset:
    """``Pipeline.dry_run``: every generator yields one batch of ``batch_size`` rows, nothing is reused.

    As in distilabel, ``parameters`` stay applied afterwards; the generators' own ``batch_size``
    comes back. The dry run's batches live in their own run folder (:data:`DRY_RUN_ID`), so the
    one-batch outputs are never taken for a finished normal run.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"dry_run batch_size must be an integer >= 1, got {batch_size!r}.")
    if dataset is not None:
        attach_dataset(pipeline, dataset, batch_size)
    generators = [step for step in pipeline.steps.values() if step.is_generator]
    own_batch_sizes = {step.name: step.batch_size for step in generators}
    values = dict(parameters or {})
    for step in generators:
        values[step.name] = {**values.get(step.name, {}), "batch_size": batch_size}
    try:
        with _first_batch_only(generators):
            return run_pipeline(pipeline, parameters=values, use_cache=False, run_id=DRY_RUN_ID)
    finally:
        for step in generators:
            step.set_runtime_parameters({"batch_size": own_batch_sizes[step.name]})


@contextlib.contextmanager
def _first_batch_only(generators: list[GeneratorStep]) -> Iterator[None]:
    """Makes each generator's ``process`` yield its first batch only (at most ``batch_size`` rows), as the last.

    The step processes are forked from this one while it is in effect, so they run the same.
    """
    for generator in generators:
        object.__setattr__(generator, "process", _first_batch(generator))
    try:
        yield
    finally:
        for generator in generators:
            generator.__dict__.pop("process", None)


def _first_batch(generator: GeneratorStep) -> Any:
    process, resumes = generator.process, generator.resumes_from_offset

    def first_batch(offset: int = 0) -> Iterator[Any]:
        for item in process(offset) if resumes else process():
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], list):
                item = (item[0][: generator.batch_size], True)
            yield item  # anything else: the executor reports it
            return

    return first_batch


def _lock_keys(executions: list[StepExecution]) -> list[str]:
    return [f"{execution.data.path}#{execution.replica}" for execution in executions]


def _open_store(pipeline: Pipeline, storage_parameters: dict[str, Any] | None, run_id: str) -> BatchStore:
    """The batch store of local runs, at ``storage_parameters["path"]`` or the cache folder."""
    options = dict(storage_parameters or {})
    path = options.pop("path", None) or default_cache_dir(pipeline)
    store = BatchStore(path, pipeline.name, run_id, options, allow_pickle=pipeline.allow_pickle)
    protocols = store.fs.protocol if isinstance(store.fs.protocol, tuple) else (store.fs.protocol,)
    if "memory" in protocols:
        raise ValueError(
            f"storage_parameters path {store.url!r}: an in-memory filesystem is private to one process and the"
            " local runner runs each step in its own process; use a folder or a shared filesystem URL."
        )
    return store


def _plan_for_this_host(pipeline: Pipeline, load_groups: Any) -> ExecutionPlan:
    """The run's plan; ``"auto"`` fits the stages to this host's GPUs. A host without GPUs runs GPU
    steps without a claim (see :func:`_gpu_claims`), so there ``"auto"`` has nothing to fit: no load groups."""
    if load_groups != AUTO:
        return pipeline.plan(load_groups)
    gpus = len(host_gpus())
    return pipeline.plan(load_groups, gpus=gpus) if gpus else pipeline.plan(None)


def _gpu_claims(plan: ExecutionPlan) -> dict[str, int]:
    """The GPUs each replica of a step claims: what it declares, or none on a host without GPUs.

    Such a step runs anyway, as in distilabel, after one warning naming it.

    Raises:
        ValueError: on a host with GPUs, a step needs more per replica than the host has.
    """
    needs = {name: step_plan.gpus_per_replica for name, step_plan in plan.steps.items() if step_plan.gpus_per_replica}
    if not needs:
        return {}
    available = host_gpus()
    if not available:
        for name, gpus in needs.items():
            logger.warning(
                "Step %r declares %d GPU(s) per replica but this host has none: it runs without a GPU"
                " (an LLM that needs one fails with its own error).",
                name, gpus,
            )
        return {}
    for name, gpus in needs.items():
        if gpus > len(available):
            raise ValueError(
                f"Step {name!r} needs {gpus} GPU(s) per replica but this host has {len(available)}"
                f" ({available}); lower its StepResources(gpus=...) or run on a bigger machine."
            )
    return needs


def _steps_without_cache(pipeline: Pipeline) -> set[str]:
    """Steps declared ``use_cache=False`` and everything downstream of them."""
    names: set[str] = set()
    for name, step in pipeline.steps.items():
        if not step.use_cache:
            names |= {name} | nx.descendants(pipeline.dag, name)
    return names


def _run_stage(
    stage: StagePlan,
    executions: list[StepExecution],
    plan: ExecutionPlan,
    store: BatchStore,
    fingerprints: Mapping[str, str],
    show_progress: bool,
    gpus: Mapping[str, int],
) -> None:
    logger.info("stage %d: running %s", stage.index, [repr(execution) for execution in executions])
    for execution in executions:
        # Each of these will run: its old markers must neither look like a dead step (a killed
        # run's last heartbeat) nor like an output to read (a stale `finished`).
        execution.data.delete_marker("failed", execution.replica)
        execution.data.delete_marker("finished", execution.replica)
        execution.mark_not_running()
    context = multiprocessing.get_context("fork")
    processes: dict[BaseProcess, StepExecution] = {}
    display = LiveDisplay(store, plan, fingerprints) if show_progress else None
    try:
        if display is not None:
            display.__enter__()
        for execution in executions:
            process = context.Process(
                target=_child_main,
                args=(execution, gpus.get(execution.step_name, 0)),
                name=f"dististage-{execution.step_name}-{execution.replica}",
            )
            process.start()
            processes[process] = execution
        _watch(processes, display)
    finally:
        _stop(processes)
        if display is not None:
            display.__exit__(None, None, None)


def _watch(processes: dict[BaseProcess, StepExecution], display: LiveDisplay | None) -> None:
    """Waits for every process; on the first failure raises naming the failed step."""
    running = dict(processes)
    while running:
        wait_for_exits([process.sentinel for process in running], timeout=_MAX_WAIT)
        if display is not None:
            display.refresh()
        for process in [process for process in running if process.exitcode is not None]:
            execution = running.pop(process)
            if process.exitcode != 0:
                raise _failure(processes, process, execution)


def _failure(
    processes: dict[BaseProcess, StepExecution], exited: BaseProcess, execution: StepExecution
) -> StepFailedError:
    """The error to report: the first failed step in plan order, which is the root cause."""
    for candidate in processes.values():
        marker = candidate.failed_marker()
        if marker is not None:
            return StepFailedError(candidate.step_name, candidate.replica, marker["error"])
    reason = f"its process exited with code {exited.exitcode}"
    if exited.exitcode is not None and exited.exitcode < 0:
        reason = f"its process was killed by signal {signal.Signals(-exited.exitcode).name}"
    execution.publish_failure(RuntimeError(reason))
    return StepFailedError(execution.step_name, execution.replica, reason)


def _stop(processes: dict[BaseProcess, StepExecution]) -> None:
    """Terminates the processes still running, killing those that do not stop in time."""
    alive = [process for process in processes if process.is_alive()]
    for process in alive:
        process.terminate()
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    for process in alive:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(timeout=_STOP_GRACE_SECONDS)


def _die_with_parent() -> None:
    """Asks Linux to SIGKILL this process when the runner dies, so no step outlives its run."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return


def _child_main(execution: StepExecution, gpus: int) -> None:
    """Body of a step process: wait for the predecessors, claim GPUs, run the step.

    The GPU wait has no limit: the holders are sibling processes the parent watches, so it ends
    when they finish or the stage is stopped.
    """
    _die_with_parent()
    try:
        backoff = Backoff(execution.poll_interval, _MAX_WAIT)
        while not execution.predecessors_started():
            backoff.sleep()
        with claim_gpus(gpus_to_claim(execution.step, gpus), timeout=math.inf) as devices:
            execution.held_gpus = devices
            execution.run()
    except BaseException as error:
        if not execution.is_failed():
            execution.publish_failure(error)
        logger.error("step %s replica %d failed: %s", execution.step_name, execution.replica, error, exc_info=True)
        sys.exit(_CHILD_EXIT_FAILED)
