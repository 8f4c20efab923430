"""Steps' runtime parameters as Airflow Params, and a run's Param values back as runtime parameters.

Param keys are ``<step>__<path>`` with ``__`` between path parts (``text_generation_0__llm__
generation_kwargs__temperature``): dots inside form field names confuse the Airflow UI's trigger
form, while ``__`` is safe there and in the REST API. Keys map back through the table built at
compile time, never by splitting strings.

Runtime parameters declared ``Field(..., run_conf=False)`` (an LLM's ``base_url``, vLLM's
``extra_kwargs``) are in the table but are no Params: a run's conf key naming one is ignored, with a
warning, so the run goes where its DAG file says.
"""

from __future__ import annotations

import copy
import json
import logging
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_dististage.compiler.options import CompileError
from airflow_dististage.mixins.runtime_parameters import RuntimeParameterInfo, plain_value_type, suggest

if TYPE_CHECKING:
    from airflow.sdk import Param

    from airflow_dististage.pipeline import Pipeline

logger = logging.getLogger(__name__)

KEY_SEPARATOR = "__"
_JSON_TYPES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    dict: "object",
    list: "array",
    tuple: "array",
}


@dataclass(frozen=True)
class StepParam:
    """One runtime parameter of one step, as a Param key."""

    key: str
    step_name: str
    path: tuple[str, ...]
    info: RuntimeParameterInfo

    @property
    def dotted(self) -> str:
        """The parameter's path inside its step (``llm.generation_kwargs.temperature``)."""
        return ".".join(self.path)


def json_type(value_type: Any) -> str | None:
    """The JSON-schema type of a runtime parameter's ``value_type`` (None: any type)."""
    plain = typing.get_origin(value_type) or value_type
    return _JSON_TYPES.get(plain) if isinstance(plain, type) else None


def _json_schema(value_type: Any) -> dict[str, Any]:
    """``type`` (and the element type of ``List[T]`` / ``Dict[str, T]``) for a runtime parameter's type."""
    type_name = json_type(value_type)
    if type_name is None:
        return {}
    schema: dict[str, Any] = {"type": type_name}
    args = typing.get_args(value_type)
    if type_name == "array" and len(args) == 1:
        items = _json_schema(plain_value_type(args[0]))
        if items:
            schema["items"] = items
    elif type_name == "object" and len(args) == 2:
        values = _json_schema(plain_value_type(args[1]))
        if values:
            schema["additionalProperties"] = values
    return schema


def _integral_floats_as_ints(value: Any, value_type: Any) -> Any:
    """``value`` with each float that is a whole number made an ``int`` where ``value_type`` says ``int``.

    JSON schema (so Airflow, when a run is triggered) accepts ``10.0`` as an integer; the runtime
    parameter's own check does not. Elements of ``List[int]`` and values of ``Dict[str, int]`` too.
    """
    origin = typing.get_origin(value_type) or value_type
    args = typing.get_args(value_type)
    if origin is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if origin is list and len(args) == 1 and isinstance(value, list):
        item_type = plain_value_type(args[0])
        return [_integral_floats_as_ints(item, item_type) for item in value]
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        item_type = plain_value_type(args[1])
        return {key: _integral_floats_as_ints(item, item_type) for key, item in value.items()}
    return value


def collect_step_params(pipeline: Pipeline) -> dict[str, StepParam]:
    """Every step's runtime parameters keyed by Param key, in step order then declaration order.

    Those a run's conf may not set (``info.run_conf`` false) are included: they become no Param,
    and their keys are recognised in a conf to be ignored.
    """
    params: dict[str, StepParam] = {}
    for step_name, step in pipeline.steps.items():
        for tree in step.runtime_parameters().values():
            for dotted, info in tree.flat().items():
                path = tuple(dotted.split("."))
                key = KEY_SEPARATOR.join((step_name, *path))
                if key in params:
                    other = params[key]
                    raise CompileError(
                        f"Runtime parameters {other.step_name}.{other.dotted} and"
                        f" {step_name}.{dotted} both become Param {key!r}: rename one of the steps."
                    )
                params[key] = StepParam(key=key, step_name=step_name, path=path, info=info)
    return params


def to_airflow_param(param: StepParam) -> Param:
    """The Airflow ``Param`` of a step's runtime parameter: type, default, description, section."""
    from airflow.sdk import Param

    info = param.info
    try:
        json.dumps(info.default)
    except (TypeError, ValueError):
        raise CompileError(
            f"Step {param.step_name!r}: the default of runtime parameter {param.dotted!r}"
            f" ({info.default!r}) is not JSON, so it cannot be an Airflow Param."
        ) from None
    schema = _json_schema(info.value_type)
    if schema and info.default is None:
        schema["type"] = ["null", schema["type"]]
    return Param(
        info.default,
        description=info.description,
        title=param.dotted,
        section=param.step_name,
        **schema,
    )


def build_params(
    step_params: Mapping[str, StepParam], user_params: Mapping[str, Any] | None, step_names: list[str]
) -> dict[str, Any]:
    """Step Params followed by the user's ``params=``; runtime parameters a run may not set get none.

    A user key equal to a step Param key is a clash; one naming a runtime parameter a run may not
    set would let a run's conf set it; one that starts with ``<step>__`` but names no runtime
    parameter of that step is a typo. All raise :class:`CompileError`.
    """
    merged: dict[str, Any] = {
        key: to_airflow_param(param) for key, param in step_params.items() if param.info.run_conf
    }
    for key, value in (user_params or {}).items():
        if key in step_params and not step_params[key].info.run_conf:
            param = step_params[key]
            raise CompileError(
                f"params={{{key!r}: ...}} names runtime parameter {param.dotted!r} of step"
                f" {param.step_name!r}, which must not be set from a run's conf: set it on the step in the"
                " DAG file (or in the Airflow connection it reads)."
            )
        if key in merged:
            raise CompileError(
                f"params={{{key!r}: ...}} clashes with the runtime parameter Param of step"
                f" {step_params[key].step_name!r}: choose another key, or set the step parameter on the step."
            )
        owner = next((name for name in step_names if key.startswith(name + KEY_SEPARATOR)), None)
        if owner is not None:
            known = [k for k, p in step_params.items() if p.step_name == owner]
            raise CompileError(
                f"params={{{key!r}: ...}} looks like a runtime parameter of step {owner!r}, which has"
                f" no such parameter.{suggest(key, known)} Its Params: {known}."
            )
        merged[key] = value
    return merged


def runtime_values(step_params: Mapping[str, StepParam], values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A run's Param values as ``{step: {parameter: value}}`` for ``Pipeline.set_runtime_parameters``.

    Every runtime parameter a run may set gets a value, the compiled default (a copy) when the run
    has none, so a value one run set never leaks into the next run served by the same process.
    Integral floats of integer parameters become ints. A value for a parameter a run may not set
    is left out (it keeps what the DAG file says) and logged by key, never by value.
    """
    nested: dict[str, dict[str, Any]] = {}
    for key, param in step_params.items():
        if not param.info.run_conf:
            if key in values:
                logger.warning(
                    "Ignoring %r from the run's conf: %s.%s is set by the DAG file (or its Airflow"
                    " connection) only, never by a run.", key, param.step_name, param.dotted,
                )
            continue
        node = nested.setdefault(param.step_name, {})
        for part in param.path[:-1]:
            node = node.setdefault(part, {})
        value = values[key] if key in values else copy.deepcopy(param.info.default)
        node[param.path[-1]] = _integral_floats_as_ints(value, param.info.value_type)
    return nested
