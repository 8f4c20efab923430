"""Steps: the nodes of a pipeline, with distilabel's vocabulary.

A step declares its ``inputs``/``outputs`` columns and implements ``process``; ``>>`` connects
steps inside a :class:`~airflow_dististage.pipeline.Pipeline`. Steps are plain objects: building
them loads nothing, ``load()`` runs once per step execution, before the first batch.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import re
import uuid
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Dict, List, Optional, Union, overload

from airflow_dististage.mixins.runtime_parameters import Declarative, Field, RuntimeParameter
from airflow_dististage.steps.resources import StepResources
from airflow_dististage.typing import GeneratorStepOutput, StepColumns, StepOutput

if TYPE_CHECKING:
    from airflow_dististage.pipeline.base import Pipeline
    from airflow_dististage.pipeline.routing_batch_function import RoutingBatchFunction

StepInput = Annotated[List[Dict[str, Any]], "StepInput"]
"""Annotation of the ``process`` argument that receives a batch of rows from a predecessor."""

STEP_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
ROW_ORIGIN_KEY = "__dististage_row_origin__"
"""Key carrying an input row's token in the rows ``process`` receives, so copies of a row keep it."""

logger = logging.getLogger("airflow_dististage.steps")


def default_step_base_name(class_name: str) -> str:
    """``LoadDataFromDicts`` -> ``load_data_from_dicts``: an underscore before each later capital."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", class_name).lower()


def canonical(value: Any) -> Any:
    """A JSON-able, deterministic description of a configuration value (for fingerprints)."""
    if isinstance(value, Declarative):
        return {
            "class": f"{type(value).__module__}.{type(value).__qualname__}",
            "attributes": {
                name: canonical(getattr(value, name))
                for name in value.attribute_specs()
                if name != "pipeline"
            },
        }
    if isinstance(value, (dict, list, tuple)) and _is_plain_json(value):
        return value  # already deterministic once dumped with sorted keys; skips a slow walk of big data
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(canonical(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, StepResources):
        return {"replicas": value.replicas, "cpus": value.cpus, "gpus": value.gpus, "memory": value.memory}
    return _ADDRESS.sub("", repr(value))


def _is_plain_json(value: Any) -> bool:
    try:
        json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return False
    return True


def _source_of(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        return code.co_code.hex() if code is not None else ""


class _Step(Declarative):
    """Common base of every step kind; use :class:`Step`, :class:`GeneratorStep` or :class:`GlobalStep`."""

    kind: ClassVar[str] = "normal"
    not_serialized: ClassVar[frozenset[str]] = frozenset({"pipeline"})

    name: Optional[str] = None
    resources: StepResources = Field(default_factory=StepResources)
    input_mappings: Dict[str, str] = Field(default_factory=dict)
    output_mappings: Dict[str, str] = Field(default_factory=dict)
    use_cache: bool = True
    pipeline: Any = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.pipeline is not None:
            self.pipeline.add_step(self)  # last: a step whose checks failed never joins the pipeline

    def _post_init(self) -> None:
        from airflow_dististage.pipeline.base import Pipeline

        pipeline = self.pipeline or Pipeline.current()
        object.__setattr__(self, "pipeline", pipeline)
        if self.name is None:
            base = default_step_base_name(type(self).__name__)
            name = pipeline.free_step_name(base) if pipeline is not None else f"{base}_0"
            object.__setattr__(self, "name", name)
        validate_step_name(self.name)

    def _validate_attributes(self) -> None:
        if not isinstance(self.resources, StepResources):
            raise TypeError(
                f"Step {self.name!r}: resources must be a StepResources, got {type(self.resources).__name__}."
            )

    # -- columns -------------------------------------------------------------------------
    @property
    def inputs(self) -> StepColumns:
        """Columns the step reads; a list (all required) or a name -> required mapping."""
        return []

    @property
    def outputs(self) -> StepColumns:
        """Columns the step writes."""
        return []

    @property
    def outputs_known(self) -> bool:
        """Whether ``outputs`` names every column the step adds; False when they come from data it
        has not got (a ``LoadDataFromDicts`` without rows or ``columns``)."""
        return True

    def get_inputs(self) -> dict[str, bool]:
        """Input columns as they are named in the data (after ``input_mappings``) -> required."""
        return {self.input_mappings.get(col, col): req for col, req in as_columns(self.inputs).items()}

    def get_outputs(self) -> dict[str, bool]:
        """Output columns as they are named in the data (after ``output_mappings``)."""
        return {self.output_mappings.get(col, col): req for col, req in as_columns(self.outputs).items()}

    # -- kinds ---------------------------------------------------------------------------
    @property
    def is_generator(self) -> bool:
        return self.kind == "generator"

    @property
    def is_global(self) -> bool:
        return self.kind == "global"

    @property
    def is_normal(self) -> bool:
        return self.kind == "normal"

    # -- life cycle ----------------------------------------------------------------------
    def load(self) -> None:
        """Prepares what ``process`` needs (e.g. a model); called once per step execution."""

    def unload(self) -> None:
        """Releases what ``load`` took (e.g. GPU memory)."""

    # -- graph ---------------------------------------------------------------------------
    @overload
    def __rshift__(self, other: _Step) -> _Step: ...

    @overload
    def __rshift__(self, other: list[_Step]) -> list[_Step]: ...

    @overload
    def __rshift__(self, other: RoutingBatchFunction) -> RoutingBatchFunction: ...

    def __rshift__(
        self, other: Union[_Step, list[_Step], RoutingBatchFunction]
    ) -> Union[_Step, list[_Step], RoutingBatchFunction]:
        """``a >> b`` or ``a >> [b, c]``: connects and returns the right-hand side.

        ``a >> router`` makes ``router`` (a routing batch function) route ``a``'s batches and
        returns it, to be continued with ``>> [b, c]``.
        """
        from airflow_dististage.pipeline.routing_batch_function import RoutingBatchFunction

        if isinstance(other, RoutingBatchFunction):
            self._pipeline_or_raise().add_routing_batch_function(self, other)
            return other
        if isinstance(other, _Step):
            self.connect(other)
            return other
        if isinstance(other, (list, tuple)) and all(isinstance(s, _Step) for s in other):
            self.connect(*other)
            return list(other)
        return NotImplemented

    def __rrshift__(self, other: list[_Step]) -> _Step:
        """``[a, b] >> c``: connects every step of the list to this one."""
        if isinstance(other, (list, tuple)) and all(isinstance(s, _Step) for s in other):
            for step in other:
                step.connect(self)
            return self
        return NotImplemented

    def connect(self, *steps: _Step, routing_batch_function: Optional[RoutingBatchFunction] = None) -> None:
        """Connects this step to each of ``steps`` (in the given order); ``routing_batch_function``
        chooses which of its successors get each batch (as ``self >> router >> [steps]``)."""
        pipeline = self._pipeline_or_raise()
        if routing_batch_function is not None:
            pipeline.add_routing_batch_function(self, routing_batch_function)
        for step in steps:
            pipeline.add_edge(self, step)

    def _pipeline_or_raise(self) -> Pipeline:
        if self.pipeline is None:
            raise ValueError(
                f"Step {self.name!r} belongs to no pipeline: create it inside `with Pipeline(...):`"
                " or pass pipeline=..."
            )
        return self.pipeline

    # -- identity ------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """A stable hash of the step's class code and configuration (changes when either does)."""
        payload = {"config": canonical(self), "code": _source_of(type(self))}
        payload.update(self._extra_fingerprint())
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def _extra_fingerprint(self) -> dict[str, str]:
        return {}

    def dump(self) -> dict[str, Any]:
        """The step as distilabel's ``pipeline.yaml`` holds it: attributes (credentials left out),
        ``runtime_parameters_info`` and ``type_info``."""
        from airflow_dististage.mixins.serialization import dump_object, runtime_parameters_info

        extra = {"runtime_parameters_info": runtime_parameters_info(self)}
        return dump_object(self, f"Step {self.name!r}", extra)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    # -- mappings ------------------------------------------------------------------------
    def process_applying_mappings(self, *batches: list[dict[str, Any]]) -> StepOutput:
        """``process`` on rows renamed by ``input_mappings``; yields rows renamed back (and by ``output_mappings``).

        A column that shares its name with a mapped input is hidden from ``process`` and given back
        to each output row that is a row ``process`` received or a copy of one (``dict(row)``,
        ``{**row}``), whatever the order or number of output rows. A new dict gets no hidden column
        (another row's would be wrong); the first such row of a step logs a warning.
        """
        views = [self.rename_inputs(batch) for batch in batches]
        hidden = self._tag_hidden_columns(batches, views)
        view_tokens = {id(view): view[ROW_ORIGIN_KEY] for batch in views for view in batch} if hidden else {}
        for rows in self.process(*views):
            is_rows = isinstance(rows, list) and all(isinstance(row, dict) for row in rows)
            if not is_rows:
                yield rows  # the runtime reports bad output
            elif hidden:
                yield self._restore_hidden(rows, hidden, view_tokens)
            else:
                yield self.rename_outputs(rows)

    def rename_inputs(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows as ``process`` sees them: each mapped input holds its data column's value."""
        if not self.input_mappings:
            return batch
        sources = set(self.input_mappings.values())
        renamed = []
        for row in batch:
            view = {key: value for key, value in row.items() if key not in sources}
            view.update({name: row[column] for name, column in self.input_mappings.items() if column in row})
            renamed.append(view)
        return renamed

    def rename_outputs(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows as the data holds them: input names back to their columns, outputs to their mapped names."""
        if not self.input_mappings and not self.output_mappings:
            return batch
        renames = {name: col for name, col in self.input_mappings.items()}
        renames.update(self.output_mappings)
        return [{renames.get(k, k): v for k, v in row.items() if k != ROW_ORIGIN_KEY} for row in batch]

    def _tag_hidden_columns(
        self, batches: tuple[list[dict[str, Any]], ...], views: list[list[dict[str, Any]]]
    ) -> dict[str, dict[str, Any]]:
        """Token -> the columns ``rename_inputs`` hid from one input row; each view carries its row's token.

        Empty (and no view tagged) when no row has a hidden column. Tokens are unique to this call,
        so a row a step kept from an earlier batch never matches a row of this one.
        """
        sources = set(self.input_mappings.values())
        names = [name for name in self.input_mappings if name not in sources]
        hidden = [[{name: row[name] for name in names if name in row} for row in batch] for batch in batches]
        if not any(columns for batch in hidden for columns in batch):
            return {}
        nonce = uuid.uuid4().hex
        tokens: dict[str, dict[str, Any]] = {}
        for batch_index, (batch_views, batch_hidden) in enumerate(zip(views, hidden)):
            for row_index, (view, columns) in enumerate(zip(batch_views, batch_hidden)):
                token = f"{nonce}:{batch_index}:{row_index}"
                view[ROW_ORIGIN_KEY] = token
                tokens[token] = columns
        return tokens

    def _restore_hidden(
        self, rows: list[dict[str, Any]], hidden: dict[str, dict[str, Any]], view_tokens: dict[int, str]
    ) -> list[dict[str, Any]]:
        """``rows`` renamed back, each with the hidden columns of the input row it is (or was copied from)."""
        origins = [hidden.get(view_tokens.get(id(row)) or row.get(ROW_ORIGIN_KEY, "")) for row in rows]
        renamed = self.rename_outputs(rows)
        unknown = 0
        for row, columns in zip(renamed, origins):
            if columns is None:
                unknown += 1
            else:
                row.update(columns)
        if unknown and not self.__dict__.get("_warned_unknown_rows"):
            object.__setattr__(self, "_warned_unknown_rows", True)
            lost = sorted({name for columns in hidden.values() for name in columns})
            logger.warning(
                "Step %r yielded %d row(s) that are neither rows it received nor copies of them: columns %s,"
                " hidden from process() by input_mappings, cannot be given back to them and are dropped."
                " Build output rows from input rows ({**row, ...}) to keep them.",
                self.name, unknown, lost,
            )
        return renamed


def as_columns(columns: StepColumns) -> dict[str, bool]:
    """``inputs``/``outputs`` as a column -> required mapping."""
    if isinstance(columns, dict):
        return dict(columns)
    return {col: True for col in columns}


def validate_step_name(name: str | None) -> None:
    """Step names become task ids and folder names: ``^[A-Za-z0-9_-]+$``."""
    if not isinstance(name, str) or not STEP_NAME_PATTERN.match(name):
        raise ValueError(
            f"Invalid step name {name!r}: use only letters, digits, '_' and '-' (it becomes an"
            " Airflow task id and a folder name)."
        )


class Step(_Step):
    """A step that receives batches of rows from its predecessors and yields processed rows."""

    input_batch_size: RuntimeParameter[int] = Field(
        default=50, description="The number of rows each batch given to `process` holds."
    )

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if not isinstance(self.input_batch_size, int) or self.input_batch_size < 1:
            raise ValueError(
                f"Step {self.name!r}: input_batch_size must be an integer >= 1, got {self.input_batch_size!r}."
            )

    def process(self, *inputs: StepInput) -> StepOutput:
        """Yields output rows for the given batch (one list per predecessor)."""
        raise NotImplementedError(f"{type(self).__name__} must implement process().")

    def batches_in_flight(self) -> int:
        """How many input batches the runtime may process at once, each in a worker thread.

        1 (the default): one after the other. A step returns more only when its ``process`` is safe
        to run for several batches at the same time; its parts are still written in input order.
        """
        return 1


class GlobalStep(Step):
    """A step that receives all rows at once (e.g. dedup, ranking); a barrier between stages."""

    kind: ClassVar[str] = "global"


class GeneratorStep(_Step):
    """A root step that produces rows; ``process(offset)`` yields ``(batch, is_last)`` pairs."""

    kind: ClassVar[str] = "generator"

    batch_size: RuntimeParameter[int] = Field(
        default=50, description="The number of rows each generated batch holds."
    )

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"Step {self.name!r}: batch_size must be an integer >= 1, got {self.batch_size!r}.")

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        """Yields ``(rows, is_last_batch)``, starting ``offset`` rows into the output."""
        raise NotImplementedError(f"{type(self).__name__} must implement process().")

    @property
    def resumes_from_offset(self) -> bool:
        """Whether ``process`` takes ``offset``, so a resumed run can skip the rows already stored.

        A generator without it is rerun from its first row as a new generation of its output
        (its successors start over on it), never appended to: that would repeat rows.
        """
        return "offset" in inspect.signature(self.process).parameters
