"""Steps' runtime parameters as Airflow Params, and a run's Param values back as runtime parameters.

Param keys are ``<step>__<path>`` with ``__`` between path parts (``text_generation_0__llm__
generation_kwargs__temperature``): dots inside form field names confuse the Airflow UI's trigger
form, while ``__`` is safe there and in the REST API. Keys map back through the table built at
compile time, never by splitting strings.
"""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_dististage.compiler.options import CompileError
from airflow_dististage.mixins.runtime_parameters import RuntimeParameterInfo, suggest

if TYPE_CHECKING:
    from airflow.sdk import Param

    from airflow_dististage.pipeline import Pipeline

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


def json_type(value_type: Any) -> str | None:
    """The JSON-schema type of a runtime parameter's ``value_type`` (None: any type)."""
    plain = typing.get_origin(value_type) or value_type
    return _JSON_TYPES.get(plain) if isinstance(plain, type) else None


def collect_step_params(pipeline: Pipeline) -> dict[str, StepParam]:
    """Every step's runtime parameters keyed by Param key, in step order then declaration order."""
    params: dict[str, StepParam] = {}
    for step_name, step in pipeline.steps.items():
        for tree in step.runtime_parameters().values():
            for dotted, info in tree.flat().items():
                path = tuple(dotted.split("."))
                key = KEY_SEPARATOR.join((step_name, *path))
                if key in params:
                    other = params[key]
                    raise CompileError(
                        f"Runtime parameters {other.step_name}.{'.'.join(other.path)} and"
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
            f"Step {param.step_name!r}: the default of runtime parameter {'.'.join(param.path)!r}"
            f" ({info.default!r}) is not JSON, so it cannot be an Airflow Param."
        ) from None
    schema: dict[str, Any] = {}
    type_name = json_type(info.value_type)
    if type_name is not None:
        schema["type"] = ["null", type_name] if info.default is None else type_name
    return Param(
        info.default,
        description=info.description,
        title=".".join(param.path),
        section=param.step_name,
        **schema,
    )


def build_params(
    step_params: Mapping[str, StepParam], user_params: Mapping[str, Any] | None, step_names: list[str]
) -> dict[str, Any]:
    """Step Params followed by the user's ``params=``.

    A user key equal to a step Param key is a clash; one that starts with ``<step>__`` but names
    no runtime parameter of that step is a typo. Both raise :class:`CompileError`.
    """
    merged: dict[str, Any] = {key: to_airflow_param(param) for key, param in step_params.items()}
    for key, value in (user_params or {}).items():
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

    Every runtime parameter gets a value, the compiled default (a copy) when the run has none, so
    a value one run set never leaks into the next run served by the same process.
    """
    nested: dict[str, dict[str, Any]] = {}
    for key, param in step_params.items():
        node = nested.setdefault(param.step_name, {})
        for part in param.path[:-1]:
            node = node.setdefault(part, {})
        node[param.path[-1]] = values[key] if key in values else copy.deepcopy(param.info.default)
    return nested
