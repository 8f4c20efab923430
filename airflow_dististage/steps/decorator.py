"""The ``@step`` decorator: a function becomes a step class."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Literal

from airflow_dististage.mixins.runtime_parameters import RuntimeParameter, is_runtime_annotation
from airflow_dististage.steps.base import GeneratorStep, GlobalStep, Step, _source_of
from airflow_dististage.typing import StepColumns

_KINDS: dict[str, type] = {"normal": Step, "global": GlobalStep, "generator": GeneratorStep}


def _is_step_input(parameter: inspect.Parameter) -> bool:
    annotation = parameter.annotation
    if isinstance(annotation, str):
        return "StepInput" in annotation
    return "StepInput" in getattr(annotation, "__metadata__", ())


def _runtime_annotation(annotation: Any) -> Any:
    """``RuntimeParameter[annotation]``, unless it already is one (unknown or unresolved: ``Any``)."""
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        return RuntimeParameter[Any]
    if is_runtime_annotation(annotation):
        return annotation
    return RuntimeParameter[annotation]


def step(
    inputs: StepColumns | None = None,
    outputs: StepColumns | None = None,
    step_type: Literal["normal", "global", "generator"] = "normal",
) -> Callable[[Callable[..., Any]], type]:
    """Turns a function into a step class named after it (``DummyStep`` -> ``dummy_step_0``).

    The function takes ``inputs: StepInput`` (or ``*inputs: StepInput`` for several predecessors;
    a generator takes ``offset``). Its other parameters become runtime parameters; one without
    a default is None until set at run time.
    """
    if step_type not in _KINDS:
        raise ValueError(f"step_type must be one of {sorted(_KINDS)}, got {step_type!r}.")
    base = _KINDS[step_type]
    declared_inputs = list(inputs or [])
    declared_outputs = list(outputs or [])

    def decorator(func: Callable[..., Any]) -> type:
        try:
            signature = inspect.signature(func, eval_str=True)
        except (NameError, SyntaxError):
            signature = inspect.signature(func)
        parameters = list(signature.parameters.values())
        takes_inputs = [p for p in parameters if _is_step_input(p)]
        if step_type != "generator" and not takes_inputs:
            raise TypeError(
                f"@step function {func.__name__!r} needs a parameter annotated `StepInput` to receive"
                " its batches (or `*inputs: StepInput` for several predecessors)."
            )
        reserved = {p.name for p in takes_inputs} | ({"offset"} if step_type == "generator" else set())
        annotations: dict[str, Any] = {}
        namespace: dict[str, Any] = {}
        for parameter in parameters:
            if parameter.name in reserved or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            annotations[parameter.name] = _runtime_annotation(parameter.annotation)
            has_default = parameter.default is not inspect.Parameter.empty
            namespace[parameter.name] = parameter.default if has_default else None  # set at run time
        runtime_names = list(annotations)

        def call_function(self: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.update({name: getattr(self, name) for name in runtime_names})
            result = func(*args, **kwargs)
            return result if inspect.isgenerator(result) else iter([result])

        if step_type == "generator" and "offset" in signature.parameters:

            def process(self: Any, offset: int = 0) -> Any:
                return call_function(self, offset=offset)

        elif step_type == "generator":

            def process(self: Any) -> Any:
                return call_function(self)

        elif any(p.kind is p.VAR_POSITIONAL for p in takes_inputs):

            def process(self: Any, *batches: Any) -> Any:
                return call_function(self, *batches)

        else:

            def process(self: Any, inputs: Any) -> Any:
                return call_function(self, inputs)

        namespace.update(
            {
                "__annotations__": annotations,
                "__module__": func.__module__,
                "__qualname__": func.__qualname__,
                "__doc__": func.__doc__,
                "inputs": property(lambda self: declared_inputs),
                "outputs": property(lambda self: declared_outputs),
                "process": process,
                "_extra_fingerprint": lambda self: {"function": _source_of(func)},
            }
        )
        return type(func.__name__, (base,), namespace)

    return decorator
