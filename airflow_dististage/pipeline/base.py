"""``Pipeline``: the step graph users build with ``with Pipeline(...):`` and ``>>``."""

from __future__ import annotations

import inspect
import os
import posixpath
import random
from typing import TYPE_CHECKING, Any, ClassVar

import networkx as nx

from airflow_dististage.mixins.runtime_parameters import suggest
from airflow_dististage.pipeline import serialization
from airflow_dististage.pipeline.requirements import checked_requirements, missing_requirements
from airflow_dististage.planning import ExecutionPlan, build_plan
from airflow_dististage.steps.base import _Step, as_columns, validate_step_name

if TYPE_CHECKING:
    from airflow_dististage.distiset import Distiset
    from airflow_dististage.pipeline.routing_batch_function import RoutingBatchFunction


DEFAULT_PIPELINE_NAME = "pipeline"


class PipelineValidationError(ValueError):
    """The pipeline's graph or columns cannot run; the message names the step or column at fault."""


class Pipeline:
    """A graph of steps, built inside ``with Pipeline(name=...):`` and connected with ``>>``.

    Args:
        name: identifies the pipeline (its folder in the batch store); any string, as in distilabel
            (``"Social AI Personas"`` is fine: folder names are escaped). None or ``""`` give ``"pipeline"``.
        description: free text shown in the DAG docs.
        cache_dir: where ``run()`` keeps batches and finished steps between runs.
        allow_pickle: let steps pass values Arrow cannot hold (arbitrary objects, columns mixing
            types) as pickled values. Off by default: reading a pickled value runs code, so anyone
            who can write to the batch store could run code in every worker. Without it such a
            value fails its step at once, naming the step, batch and column.
        requirements: packages the pipeline needs (``"vllm>=0.8"``); ``run()`` checks they are
            installed first, as distilabel does, and they are written to ``pipeline.yaml``.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: a requirement is not a valid requirement string.
    """

    _building: ClassVar[list[Pipeline]] = []

    def __init__(
        self,
        name: str | None = DEFAULT_PIPELINE_NAME,
        description: str | None = None,
        cache_dir: str | None = None,
        allow_pickle: bool = False,
        requirements: list[str] | None = None,
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Invalid pipeline name {name!r}: it must be a string, got {type(name).__name__}.")
        self.name = name or DEFAULT_PIPELINE_NAME
        self.description = description
        self.cache_dir = cache_dir
        self.allow_pickle = bool(allow_pickle)
        self.requirements = checked_requirements(requirements)
        self.dag = nx.DiGraph()
        self._steps: dict[str, _Step] = {}
        # routing step -> (its router, the `random` state when the router was connected)
        self._routers: dict[str, tuple[RoutingBatchFunction, tuple[Any, ...]]] = {}

    # -- building ------------------------------------------------------------------------
    def __enter__(self) -> Pipeline:
        Pipeline._building.append(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        Pipeline._building.remove(self)

    @classmethod
    def current(cls) -> Pipeline | None:
        """The pipeline whose ``with`` block is being executed, if any."""
        return cls._building[-1] if cls._building else None

    @property
    def steps(self) -> dict[str, _Step]:
        """Steps by name, in creation order."""
        return dict(self._steps)

    def free_step_name(self, base: str) -> str:
        """``<base>_<first free index>``: the name a step without one gets."""
        index = 0
        while f"{base}_{index}" in self._steps:
            index += 1
        return f"{base}_{index}"

    def add_step(self, step: _Step) -> None:
        """Registers ``step`` (a step registers itself once built and checked); names must be unique."""
        validate_step_name(step.name)
        if step.name in self._steps:
            raise PipelineValidationError(
                f"Pipeline {self.name!r} already has a step named {step.name!r}: step names must be unique."
            )
        self._steps[step.name] = step
        self.dag.add_node(step.name)

    def add_edge(self, source: _Step, target: _Step) -> None:
        """Connects ``source`` to ``target``; rejects foreign steps, duplicate edges and cycles."""
        for step in (source, target):
            if self._steps.get(step.name) is not step:
                raise PipelineValidationError(
                    f"Step {step.name!r} does not belong to pipeline {self.name!r}: connect steps of one pipeline."
                )
        if target.is_generator:
            raise PipelineValidationError(
                f"Generator step {target.name!r} cannot have a predecessor ({source.name!r}): generators"
                " produce the pipeline's first rows."
            )
        if self.dag.has_edge(source.name, target.name):
            raise PipelineValidationError(f"Steps {source.name!r} and {target.name!r} are already connected.")
        reaches_back = self.dag.out_degree(target.name) > 0 and nx.has_path(self.dag, target.name, source.name)
        if source.name == target.name or reaches_back:
            raise PipelineValidationError(
                f"Connecting {source.name!r} >> {target.name!r} would create a cycle."
            )
        self.dag.add_edge(source.name, target.name)

    def add_routing_batch_function(self, step: _Step, router: RoutingBatchFunction) -> None:
        """Makes ``router`` choose which successors of ``step`` get each of its batches (``step >> router``)."""
        if self._steps.get(step.name) is not step:
            raise PipelineValidationError(
                f"Step {step.name!r} does not belong to pipeline {self.name!r}: connect steps of one pipeline."
            )
        if step.name in self._routers:
            raise PipelineValidationError(
                f"Step {step.name!r} already routes its batches with {self._routers[step.name][0].label}: a step"
                " has one routing batch function."
            )
        router.attach(step)
        self._routers[step.name] = (router, random.getstate())

    @property
    def routing_batch_functions(self) -> dict[str, RoutingBatchFunction]:
        """Step name -> its routing batch function, for the steps that route their batches (creation order).

        A pipeline description lists them as ``[router.dump() for router in ....values()]``.
        """
        return {name: self._routers[name][0] for name in self._steps if name in self._routers}

    def routing_random_state(self, step_name: str) -> tuple[Any, ...]:
        """The ``random`` module's state when the router of ``step_name`` was connected: where its draws start."""
        return self._routers[step_name][1]

    def global_step_names(self) -> frozenset[str]:
        """Names of the global steps."""
        return frozenset(name for name, step in self._steps.items() if step.is_global)

    # -- validation ----------------------------------------------------------------------
    def validate(self) -> None:
        """Checks the steps, the graph and the columns; raises :class:`PipelineValidationError` naming the culprit.

        A step after one whose outputs are unknown (``LoadDataFromDicts`` without rows or
        ``columns``) is not checked for its input columns: no step before it can say what they are.
        """
        from airflow_dististage.pipeline.routing_checks import check_routing

        check_routing(self)
        self._validated_columns()

    def known_columns(self) -> dict[str, list[str]]:
        """Per step, the columns its output rows are known to hold: what flows into it plus its outputs
        (after mappings); after a step with unknown outputs, a step's required inputs count as flowing in.

        Validates the pipeline first (see :meth:`validate`).
        """
        return {name: list(columns) for name, (columns, _) in self._validated_columns().items()}

    def _validated_columns(self) -> dict[str, tuple[dict[str, None], bool]]:
        """Validates; per step, its known output columns (ordered) and whether they are all of them."""
        if not self._steps:
            raise PipelineValidationError(f"Pipeline {self.name!r} has no steps.")
        available: dict[str, tuple[dict[str, None], bool]] = {}
        for name in nx.topological_sort(self.dag):
            step = self._steps[name]
            _check_step_definition(step)
            predecessors = list(self.dag.predecessors(name))
            if not step.is_generator and not predecessors:
                raise PipelineValidationError(
                    f"Step {name!r} has no predecessor: only generator steps can start a pipeline."
                    f" Connect a step to it, e.g. `previous >> {name}`."
                )
            if len(predecessors) > 1 and not _takes_several_inputs(step):
                raise PipelineValidationError(
                    f"Step {name!r} receives batches from {predecessors}: its process() needs"
                    " `*inputs: StepInput` to take one batch from each."
                )
            columns: dict[str, None] = {}
            for predecessor in predecessors:
                columns.update(available[predecessor][0])
            upstream_known = all(available[predecessor][1] for predecessor in predecessors)
            if not step.is_generator and upstream_known:
                _check_inputs_available(step, columns)
            elif not step.is_generator:
                columns.update((column, None) for column, required in step.get_inputs().items() if required)
            complete = upstream_known and step.outputs_known
            available[name] = ({**columns, **dict.fromkeys(step.get_outputs())}, complete)
        return available

    # -- planning ------------------------------------------------------------------------
    def plan(self, load_groups: Any = None, gpus: int | None = None) -> ExecutionPlan:
        """Validates the pipeline and returns its execution plan under ``load_groups`` (``"auto"``:
        the fewest stages that each fit in ``gpus`` GPUs)."""
        self.validate()
        return build_plan(self, load_groups, gpus)

    def get_load_stages(
        self, load_groups: Any = None, gpus: int | None = None
    ) -> tuple[list[list[str]], list[list[str]]]:
        """``(stages, stages_last_steps)`` as distilabel 1.5.3 returns them for valid load groups;
        ``load_groups="auto"`` with ``gpus=N`` plans the fewest stages that each fit in N GPUs.

        Like distilabel, this checks the graph and the load groups only (not the columns);
        ``plan()``, ``run()`` and the compiler validate the whole pipeline.
        """
        plan = build_plan(self, load_groups, gpus)
        return [list(s.steps) for s in plan.stages], [list(s.last_steps) for s in plan.stages]

    # -- runtime parameters --------------------------------------------------------------
    def set_runtime_parameters(self, parameters: dict[str, dict[str, Any]] | None) -> None:
        """Applies ``{step_name: {parameter: value}}``; unknown steps or parameters raise ``ValueError``."""
        for step_name, values in (parameters or {}).items():
            if step_name not in self._steps:
                raise PipelineValidationError(
                    f"Runtime parameters name step {step_name!r}, which is not in pipeline"
                    f" {self.name!r}.{suggest(step_name, self._steps)}"
                )
            self._steps[step_name].set_runtime_parameters(values, owner=f"Step {step_name!r}")

    def requirements_to_install(self) -> list[str]:
        """The ``requirements`` whose packages are missing (or at a version they exclude)."""
        return missing_requirements(self.requirements)

    # -- running -------------------------------------------------------------------------
    def run(self, **kwargs: Any) -> Distiset:
        """Runs the pipeline on this machine and returns its Distiset (see ``runtime.local``)."""
        from airflow_dististage.runtime.local import run_pipeline

        return run_pipeline(self, **kwargs)

    def dry_run(
        self, parameters: dict[str, dict[str, Any]] | None = None, batch_size: int = 1, dataset: Any = None
    ) -> Distiset:
        """Runs the pipeline on one batch of ``batch_size`` rows from each generator, reusing no cache.

        The dry run keeps its batches apart from ``run()``'s and gives the generators back their own
        ``batch_size`` afterwards, so a later ``run()`` is a complete, normal run; ``parameters`` stay
        applied, as in distilabel. ``dataset`` feeds the first steps, as in ``run()``.
        """
        from airflow_dististage.runtime.local import dry_run_pipeline

        return dry_run_pipeline(self, parameters=parameters, batch_size=batch_size, dataset=dataset)

    # -- serialization ---------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """The pipeline in distilabel's ``pipeline.yaml`` shape (see ``pipeline.serialization``);
        credentials are never included."""
        return serialization.pipeline_to_dict(self)

    def serialize(self, format: serialization.SaveFormat = "yaml") -> str:  # noqa: A002 - distilabel's name
        """:meth:`dump` as YAML (or JSON) text."""
        return serialization.dumps(self.dump(), format)

    def save(
        self, path: str | os.PathLike[str] | None = None, format: serialization.SaveFormat = "json"  # noqa: A002
    ) -> None:
        """Writes :meth:`dump` to ``path`` (a file, a folder for ``distilabel-file.<format>``, or the
        current folder when None; fsspec URLs too), as distilabel's ``save``."""
        target = os.fspath(path) if path is not None else os.getcwd()
        if not posixpath.splitext(target)[1]:
            target = posixpath.join(target, f"distilabel-file.{format}")
        serialization.write_file(target, self.dump(), format)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pipeline:
        """Builds a pipeline from :meth:`dump`'s data; every ``type_info`` must name a step or LLM class."""
        return serialization.pipeline_from_dict(cls, data)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Pipeline:
        """Builds a pipeline from a ``pipeline.yaml`` (a path or fsspec URL)."""
        return cls.from_dict(serialization.read_file(os.fspath(path), "yaml"))

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> Pipeline:
        """Builds a pipeline from a JSON pipeline file."""
        return cls.from_dict(serialization.read_file(os.fspath(path), "json"))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Pipeline:
        """Builds a pipeline from a ``.json``, ``.yaml`` or ``.yml`` pipeline file."""
        return cls.from_dict(serialization.read_file(os.fspath(path)))

    def to_airflow(self, **kwargs: Any) -> Any:
        """Compiles the pipeline to an Airflow DAG; same arguments as ``compile_pipeline``."""
        from airflow_dististage.compiler import compile_pipeline

        return compile_pipeline(self, **kwargs)


def _check_inputs_available(step: _Step, available: dict[str, None]) -> None:
    """``available``: the columns produced before ``step``."""
    for column, required in step.get_inputs().items():
        if required and column not in available:
            raise PipelineValidationError(
                f"Step {step.name!r} needs column {column!r}, which no step before it produces."
                f"{suggest(column, available)} Available columns: {sorted(available)}."
                " Use input_mappings to read it from another column."
            )


def _check_step_definition(step: _Step) -> None:
    """Mappings name real columns, process() takes batches, replicas suit the step kind."""
    for mappings, columns, kind in (
        (step.input_mappings, step.inputs, "input"),
        (step.output_mappings, step.outputs, "output"),
    ):
        declared = as_columns(columns)
        for key in mappings:
            if key not in declared:
                raise PipelineValidationError(
                    f"Step {step.name!r}: {kind}_mappings has key {key!r}, which is not one of its"
                    f" {kind}s {sorted(declared)}.{suggest(key, declared)}"
                )
    if not step.is_generator and not _takes_batches(step):
        raise PipelineValidationError(
            f"Step {step.name!r}: its process() takes no batch; give it a parameter annotated"
            " `StepInput` (or `*inputs: StepInput`)."
        )
    if step.resources.replicas > 1 and not step.is_normal:
        raise PipelineValidationError(
            f"Step {step.name!r} is a {step.kind} step, which runs as one replica:"
            f" it cannot have resources.replicas={step.resources.replicas}."
        )


def _takes_batches(step: _Step) -> bool:
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = inspect.signature(step.process).parameters.values()
    return any(p.kind in positional or p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)


def _takes_several_inputs(step: _Step) -> bool:
    parameters = inspect.signature(step.process).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
