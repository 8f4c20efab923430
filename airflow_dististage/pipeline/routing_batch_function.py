"""Routing batch functions: which successors of a step get each of its batches.

``step >> router >> [a, b, c]`` (or ``step.connect(a, b, c, routing_batch_function=router)``)
gives every output batch of ``step`` to the successors ``router`` picks. The function receives
the names of all successors (in connection order) and returns the names that get the batch.

The choice for a batch is made once, by the step that writes it, and stored with the batch (see
:mod:`airflow_dististage.runtime.routing`): a retried or resumed step keeps the choices of the
batches it already wrote. A router draws from its own copy of the ``random`` module's state,
which the pipeline takes when the router is connected to its step, so ``random.seed(...)``
before building the pipeline makes the routing the same on every run (and in every Airflow task
that parses the DAG file).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import random
import reprlib
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Dict, List, Optional, Union, overload

from airflow_dististage.pipeline.base import PipelineValidationError
from airflow_dististage.steps.base import _source_of, _Step, canonical

RoutingBatchFunc = Callable[[List[str]], List[str]]
"""A routing function: the names of all successors in, the names of those that get the batch out."""

TYPE_INFO_KEY = "type_info"


class RoutingError(PipelineValidationError):
    """A routing batch function is misused, or returned names that are not successors of its step."""


class RoutingBatchFunction:
    """Wraps a :data:`RoutingBatchFunc`; connect it with ``step >> router >> [steps]``.

    Args:
        routing_function: successor names -> the names that get the batch.
        description: free text, kept in the pipeline's description (``dump()``).
    """

    def __init__(self, routing_function: RoutingBatchFunc, description: Optional[str] = None) -> None:
        if not callable(routing_function):
            raise TypeError(f"routing_function must be callable, got {type(routing_function).__name__}.")
        self.routing_function = routing_function
        self.description = description
        self._step: Optional[_Step] = None
        self._factory: Optional[Dict[str, Any]] = None
        self._samples: int = 0

    # -- identity ------------------------------------------------------------------------
    @property
    def step(self) -> Optional[_Step]:
        """The step whose batches this function routes (None until connected)."""
        return self._step

    @property
    def label(self) -> str:
        """How messages name this function: its name, and the factory call that made it if any
        (``sample_n (sample_n_steps(n=2))``)."""
        name = getattr(self.routing_function, "__name__", type(self.routing_function).__name__)
        if self._factory is None:
            return name
        arguments = ", ".join(f"{key}={reprlib.repr(value)}" for key, value in self._factory["kwargs"].items())
        return f"{name} ({self._factory['name']}({arguments}))"

    def __repr__(self) -> str:
        step = self._step.name if self._step is not None else None
        return f"RoutingBatchFunction({self.label}, step={step!r})"

    def set_factory_function(
        self, factory_function_module: str, factory_function_name: str, factory_function_kwargs: Dict[str, Any]
    ) -> None:
        """Records the factory call that built this function, so :meth:`from_dict` can build it again."""
        self._factory = {
            "module": factory_function_module,
            "name": factory_function_name,
            "kwargs": dict(factory_function_kwargs),
        }

    def fingerprint(self, successors: Sequence[str]) -> str:
        """A stable hash of the function's code, factory call, description and the successors it routes to.

        It is part of its step's lineage: changing any of them recomputes the step.
        """
        payload = {
            "code": _source_of(self.routing_function),
            "description": self.description,
            "factory": canonical(self._factory),
            "successors": list(successors),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    # -- connecting ----------------------------------------------------------------------
    def attach(self, step: _Step) -> None:
        """Makes this the router of ``step``: one step per pipeline (a pipeline built again takes it over).

        Called through ``step >> router`` and ``step.connect(..., routing_batch_function=router)``.
        """
        if self._step is not None and self._step is not step and self._step.pipeline is step.pipeline:
            raise RoutingError(
                f"Routing batch function {self.label} already routes the batches of step {self._step.name!r};"
                f" it cannot also route those of step {step.name!r}. Create one per step."
            )
        self._step = step

    def __rshift__(self, other: List[_Step]) -> List[_Step]:
        """``router >> [a, b]``: connects the router's step to each of ``a``, ``b``; returns the list."""
        if not isinstance(other, (list, tuple)) or not all(isinstance(step, _Step) for step in other):
            raise RoutingError(
                f"Routing batch function {self.label} routes to a list of steps, got {other!r}:"
                " write `upstream_step >> router >> [downstream_step_1, downstream_step_2, ...]`."
            )
        if self._step is None:
            raise RoutingError(
                f"Routing batch function {self.label} has no upstream step: connect it to one first,"
                " as in `upstream_step >> router >> [downstream_step_1, downstream_step_2, ...]`."
            )
        self._step.connect(*other)
        return list(other)

    def __rrshift__(self, other: Any) -> Any:
        raise RoutingError(
            f"Routing batch function {self.label} routes the batches of one step, not of {other!r}:"
            " write `upstream_step >> router >> [downstream_step_1, downstream_step_2, ...]`."
        )

    def check_successors(self, step: str, successors: Sequence[str]) -> None:
        """Raises :class:`RoutingError` when the function cannot route to ``successors``, those of ``step``."""
        if not successors:
            raise RoutingError(
                f"Step {step!r} routes its batches with {self.label} but has no step after it: connect the"
                f" steps it routes to, as in `{step} >> router >> [step_a, step_b]`."
            )
        if self._samples > len(successors):
            raise RoutingError(
                f"Routing batch function {self.label} of step {step!r} sends each batch to {self._samples}"
                f" steps, but {step!r} has only {len(successors)} successor(s): {list(successors)}."
            )

    # -- routing -------------------------------------------------------------------------
    def route(self, successors: Sequence[str]) -> List[str]:
        """The names, among ``successors``, that get the next batch (as the function returned them).

        Raises:
            RoutingError: the function returned something other than distinct successor names.
        """
        names = list(successors)
        chosen = self.routing_function(list(names))
        step = self._step.name if self._step is not None else None
        if isinstance(chosen, (str, bytes)) or not isinstance(chosen, (list, tuple)):
            raise RoutingError(
                f"Routing batch function {self.label} of step {step!r} must return a list of step names,"
                f" got {chosen!r}."
            )
        unknown = [name for name in chosen if name not in names]
        if unknown:
            raise RoutingError(
                f"Routing batch function {self.label} of step {step!r} returned {unknown!r}, which are not"
                f" successors of {step!r}; it can route to {names}."
            )
        if len(set(chosen)) != len(chosen):
            raise RoutingError(
                f"Routing batch function {self.label} of step {step!r} returned a step twice: {list(chosen)!r}."
            )
        return list(chosen)

    # -- serialization -------------------------------------------------------------------
    def dump(self, **kwargs: Any) -> Dict[str, Any]:
        """The entry of this function in a pipeline description's ``routing_batch_functions`` list:
        ``{"step": ..., "description"?: ..., "type_info"?: {"module", "name", "kwargs"}}``.

        ``kwargs`` are accepted for distilabel's ``dump(**kwargs)`` signature and not used.
        """
        if self._step is None:
            raise RoutingError(f"Routing batch function {self.label} is not connected to a step: nothing to dump.")
        info: Dict[str, Any] = {"step": self._step.name}
        if self.description:
            info["description"] = self.description
        if self._factory is not None:
            info[TYPE_INFO_KEY] = dict(self._factory)
        return info

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> RoutingBatchFunction:
        """Builds a function again from a :meth:`dump` by calling its factory (not connected to a step).

        Raises:
            ValueError: the function was not made by a factory, or its factory cannot be found.
        """
        type_info = data.get(TYPE_INFO_KEY)
        if not type_info:
            raise ValueError(
                f"The routing batch function of step {data.get('step')!r} was not created by a factory"
                " function (such as sample_n_steps), so it cannot be built again from its description."
            )
        module_name, name, kwargs = type_info.get("module"), type_info.get("name"), type_info.get("kwargs")
        if not module_name or not name or not kwargs:
            raise ValueError(
                f"The routing batch function of step {data.get('step')!r} names an incomplete factory"
                f" {type_info!r}: it needs module, name and kwargs."
            )
        factory = getattr(importlib.import_module(module_name), name, None)
        if factory is None:
            raise ValueError(f"Module {module_name!r} has no routing batch function factory {name!r}.")
        function = factory(**kwargs)
        if not isinstance(function, RoutingBatchFunction):
            raise ValueError(
                f"{module_name}.{name}(**{kwargs!r}) returned a {type(function).__name__}, not a routing batch"
                " function: the router was defined inside that function but not made by it."
            )
        function.description = data.get("description")
        function.set_factory_function(module_name, name, kwargs)
        return function


@overload
def routing_batch_function(description: RoutingBatchFunc) -> RoutingBatchFunction: ...


@overload
def routing_batch_function(
    description: Optional[str] = None,
) -> Callable[[RoutingBatchFunc], RoutingBatchFunction]: ...


def routing_batch_function(
    description: Union[str, RoutingBatchFunc, None] = None,
) -> Union[RoutingBatchFunction, Callable[[RoutingBatchFunc], RoutingBatchFunction]]:
    """Turns a function ``successor names -> chosen names`` into a :class:`RoutingBatchFunction`.

    Use it bare (``@routing_batch_function``) or with a description
    (``@routing_batch_function(description="...")``). Applied inside a function that takes
    arguments (a factory, as :func:`sample_n_steps`), it records that call so the router can be
    described and built again (``dump()`` / ``from_dict()``).

    Example::

        @routing_batch_function
        def two_of_them(steps: list[str]) -> list[str]:
            return random.sample(steps, 2)

        load >> two_of_them >> [generate_a, generate_b, generate_c] >> GroupColumns(columns=["generation"])
    """
    if callable(description):
        return _build(description, None, _caller(inspect.currentframe()))

    def decorator(function: RoutingBatchFunc) -> RoutingBatchFunction:
        return _build(function, description, _caller(inspect.currentframe()))

    return decorator


def _caller(frame: Optional[FrameType]) -> Optional[FrameType]:
    return frame.f_back if frame is not None else None


def _build(function: RoutingBatchFunc, description: Optional[str], frame: Optional[FrameType]) -> RoutingBatchFunction:
    router = RoutingBatchFunction(function, description=description)
    factory = _factory_call(frame)
    if factory is not None:
        router.set_factory_function(*factory)
    return router


def _factory_call(frame: Optional[FrameType]) -> Optional[tuple[str, str, Dict[str, Any]]]:
    """``(module, function name, arguments)`` of the function call ``frame`` runs, if it took arguments."""
    if frame is None or frame.f_code.co_name.startswith("<"):
        return None
    arguments = inspect.getargvalues(frame)
    kwargs = {name: arguments.locals[name] for name in arguments.args if name in arguments.locals}
    if arguments.varargs:
        kwargs[arguments.varargs] = arguments.locals.get(arguments.varargs)
    if arguments.keywords:
        kwargs.update(arguments.locals.get(arguments.keywords) or {})
    module = frame.f_globals.get("__name__")
    if not kwargs or not module:
        return None
    return module, frame.f_code.co_name, kwargs


def sample_n_steps(n: int) -> RoutingBatchFunction:
    """A router that sends each batch to ``n`` successors drawn at random (``random.sample``).

    Raises:
        ValueError: ``n`` is not an integer >= 1 (more than the step's successors fails at pipeline build).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"sample_n_steps: n must be an integer >= 1, got {n!r}.")

    @routing_batch_function(description=f"Sample {n} steps from the list of downstream steps.")
    def sample_n(steps: List[str]) -> List[str]:
        return random.sample(steps, n)

    sample_n._samples = n
    return sample_n

