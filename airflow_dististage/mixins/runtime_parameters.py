"""Declared attributes and runtime parameters of steps and LLMs.

Steps and LLMs declare their configuration as annotated class attributes, the way distilabel
users write them::

    class MyStep(Step):
        prefix: str = "> "
        temperature: RuntimeParameter[float] = Field(default=0.7, description="Sampling heat.")

An attribute annotated with :data:`RuntimeParameter` can be set per run (``pipeline.run(parameters=...)``
or an Airflow Param). One declared with ``Field(..., run_conf=False)`` can be set per run by
``pipeline.run(parameters=...)`` only: it never becomes an Airflow Param, so whoever triggers a DAG
cannot change it (use it for what decides where requests and credentials go, or what code or files
load). Everything here is plain Python: no pydantic model is built per object.
"""

from __future__ import annotations

import difflib
import sys
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, ClassVar, Optional, TypeVar, Union

_T = TypeVar("_T")
_RUNTIME_PARAMETER_MARKER = "airflow_dististage.runtime_parameter"
RuntimeParameter = Annotated[Optional[_T], _RUNTIME_PARAMETER_MARKER]
"""Marks an attribute as settable per run: ``temperature: RuntimeParameter[float] = 0.7``."""


class _Missing:
    def __repr__(self) -> str:
        return "<required>"


MISSING: Any = _Missing()


class Field:
    """The default and description of a declared attribute (accepts pydantic's ``Field`` too).

    ``run_conf=False`` keeps a runtime parameter out of Airflow Params and run confs: only the
    code and ``pipeline.run(parameters=...)`` set it. Subclasses keep the flag even when they
    declare another default.
    """

    def __init__(
        self,
        default: Any = MISSING,
        *,
        default_factory: Callable[[], Any] | None = None,
        description: str | None = None,
        run_conf: bool = True,
    ) -> None:
        self.default = default
        self.default_factory = default_factory
        self.description = description
        self.run_conf = run_conf


@dataclass(frozen=True)
class AttributeSpec:
    """One declared attribute of a class: its default, whether it is a runtime parameter, its type."""

    name: str
    default: Any
    default_factory: Callable[[], Any] | None
    description: str | None
    runtime: bool
    value_type: Any
    run_conf: bool = True

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.default_factory is None

    def make_default(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        return self.default


@dataclass
class RuntimeParameterInfo:
    """A node of an object's runtime-parameter tree (leaf parameter or nested owner)."""

    name: str
    value_type: Any = None
    default: Any = None
    description: str | None = None
    optional: bool = True
    run_conf: bool = True
    """Whether a run's conf (an Airflow Param) may set it; see ``Field(run_conf=...)``."""
    children: dict[str, RuntimeParameterInfo] = field(default_factory=dict)

    def flat(self, prefix: str = "") -> dict[str, RuntimeParameterInfo]:
        """Leaf parameters keyed by dotted path (``llm.generation_kwargs.temperature``)."""
        path = f"{prefix}{self.name}"
        if not self.children:
            return {path: self}
        out: dict[str, RuntimeParameterInfo] = {}
        for child in self.children.values():
            out.update(child.flat(f"{path}."))
        return out


def _normalise_default(value: Any) -> tuple[Any, Callable[[], Any] | None, str | None, bool]:
    """Reads our ``Field``, pydantic's ``FieldInfo`` or a plain value as (default, factory, doc, run_conf)."""
    if isinstance(value, Field):
        return value.default, value.default_factory, value.description, value.run_conf
    if type(value).__name__ == "FieldInfo" and hasattr(value, "default"):
        default = value.default
        if type(default).__name__ == "PydanticUndefinedType":
            default = MISSING
        return default, getattr(value, "default_factory", None), getattr(value, "description", None), True
    return value, None, None, True


def _resolve_annotation(cls: type, annotation: Any) -> Any:
    if not isinstance(annotation, str):
        return annotation
    namespace = dict(vars(sys.modules.get(cls.__module__, object())))
    namespace.setdefault("RuntimeParameter", RuntimeParameter)
    try:
        return eval(annotation, namespace, dict(vars(cls)))  # noqa: S307 - the class's own annotation
    except Exception:
        return annotation


def is_runtime_annotation(annotation: Any) -> bool:
    """Whether ``annotation`` is ``RuntimeParameter[...]`` (or a string naming it)."""
    if isinstance(annotation, str):
        return "RuntimeParameter" in annotation
    return _RUNTIME_PARAMETER_MARKER in getattr(annotation, "__metadata__", ())


def _is_class_var(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return typing.get_origin(annotation) is ClassVar or annotation is ClassVar


def plain_value_type(annotation: Any) -> Any:
    """The plain type inside ``RuntimeParameter[T]`` / ``Optional[T]`` (``None`` if unknown)."""
    if isinstance(annotation, str):
        return None
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else None
    return annotation


def collect_attribute_specs(cls: type) -> dict[str, AttributeSpec]:
    """All declared attributes of ``cls`` and its bases, base classes first."""
    specs: dict[str, AttributeSpec] = {}
    for klass in reversed(cls.__mro__):
        annotations = klass.__dict__.get("__annotations__", {})
        for name, raw in annotations.items():
            if name.startswith("_"):
                continue
            annotation = _resolve_annotation(klass, raw)
            if _is_class_var(annotation):
                continue
            inherited = specs.get(name)
            if name in klass.__dict__:
                default, factory, description, run_conf = _normalise_default(klass.__dict__[name])
            elif inherited is not None:
                default, factory, description = inherited.default, inherited.default_factory, inherited.description
                run_conf = True
            else:
                default, factory, description, run_conf = MISSING, None, None, True
            specs[name] = AttributeSpec(
                name=name,
                default=default,
                default_factory=factory,
                description=description,
                runtime=is_runtime_annotation(annotation) or (inherited is not None and inherited.runtime),
                value_type=plain_value_type(annotation),
                run_conf=run_conf and (inherited is None or inherited.run_conf),
            )
    return specs


def suggest(name: str, candidates: typing.Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest candidates, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


class Declarative:
    """Base of objects configured by declared attributes (steps, LLMs).

    ``__init__`` accepts exactly the declared attributes as keywords, fills defaults, and
    rejects unknown keywords with a suggestion. Subclasses finish set-up in ``_post_init`` and
    check their values in ``_validate_attributes``, which runs again whenever runtime
    parameters change them.
    """

    _attribute_specs_cache: ClassVar[dict[type, dict[str, AttributeSpec]]] = {}
    not_serialized: ClassVar[frozenset[str]] = frozenset()
    """Declared attributes :meth:`dump` leaves out (a step's ``pipeline``)."""

    @classmethod
    def attribute_specs(cls) -> dict[str, AttributeSpec]:
        """Declared attributes of this class, computed once per class."""
        cache = Declarative._attribute_specs_cache
        if cls not in cache:
            cache[cls] = collect_attribute_specs(cls)
        return cache[cls]

    def __init__(self, **kwargs: Any) -> None:
        specs = self.attribute_specs()
        for name in kwargs:
            if name not in specs:
                raise TypeError(
                    f"{type(self).__name__} got an unexpected argument {name!r}."
                    f"{suggest(name, specs)}"
                )
        for name, spec in specs.items():
            if name in kwargs:
                value = kwargs[name]
            elif spec.required:
                raise TypeError(f"{type(self).__name__} requires the argument {name!r}.")
            else:
                value = spec.make_default()
            object.__setattr__(self, name, value)
        self._post_init()
        self._validate_attributes()

    def _post_init(self) -> None:
        """Hook for subclasses, called once every declared attribute is set."""

    def dump(self) -> dict[str, Any]:
        """The declared attributes as plain data plus ``type_info``, credentials left out (see
        :mod:`~airflow_dististage.mixins.serialization`)."""
        from airflow_dististage.mixins.serialization import dump_object

        return dump_object(self, type(self).__name__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Builds an object from :meth:`dump`'s data; its ``type_info`` must name a subclass of ``cls``."""
        from airflow_dististage.mixins.serialization import load_object

        return load_object(data, cls, cls.__name__)

    def _validate_attributes(self) -> None:
        """Hook for subclasses: checks (and normalises) attribute values; raises naming the culprit.

        Runs after ``_post_init`` and again after ``set_runtime_parameters``.
        """

    def runtime_parameters(self) -> dict[str, RuntimeParameterInfo]:
        """This object's runtime parameters, nested objects (an LLM in a task) included."""
        params: dict[str, RuntimeParameterInfo] = {}
        for name, spec in self.attribute_specs().items():
            value = getattr(self, name, None)
            if spec.runtime:
                params[name] = RuntimeParameterInfo(
                    name=name,
                    value_type=spec.value_type,
                    default=value,
                    description=spec.description,
                    optional=not spec.required or value is not None,
                    run_conf=spec.run_conf,
                )
            elif isinstance(value, Declarative):
                nested = value.runtime_parameters()
                if nested:
                    params[name] = RuntimeParameterInfo(name=name, children=nested)
        return params

    def set_runtime_parameters(self, values: dict[str, Any], *, owner: str | None = None) -> None:
        """Sets runtime parameters from a (nested) mapping, then re-checks the object.

        Unknown names and values of the wrong type raise ``ValueError`` naming owner and parameter.
        """
        owner = owner or type(self).__name__
        known = self.runtime_parameters()
        for name, value in values.items():
            if name not in known:
                raise ValueError(
                    f"{owner!s} has no runtime parameter {name!r}.{suggest(name, known)}"
                    f" Runtime parameters: {sorted(known)}."
                )
            info = known[name]
            current = getattr(self, name, None)
            if isinstance(current, Declarative) and not info.value_type:
                if not isinstance(value, dict):
                    raise ValueError(f"{owner}.{name} takes a mapping of parameters, got {value!r}.")
                current.set_runtime_parameters(value, owner=f"{owner}.{name}")
            elif info.children:
                if not isinstance(value, dict):
                    raise ValueError(f"{owner}.{name} takes a mapping, got {value!r}.")
                for key, item in value.items():
                    if key not in info.children:
                        raise ValueError(
                            f"{owner}.{name} has no parameter {key!r}.{suggest(key, info.children)}"
                        )
                    check_value_type(f"{owner}.{name}.{key}", item, info.children[key].value_type)
                object.__setattr__(self, name, {**(current or {}), **value})
            else:
                check_value_type(f"{owner}.{name}", value, info.value_type)
                object.__setattr__(self, name, value)
        try:
            self._validate_attributes()
        except (TypeError, ValueError) as error:
            raise ValueError(f"Runtime parameters of {owner}: {error}") from None


_PLAIN_TYPES = (bool, int, float, str, dict, list)


def check_value_type(where: str, value: Any, value_type: Any) -> None:
    """Raises ``ValueError`` when ``value`` is not a ``value_type`` (plain types only; None passes).

    ``bool`` is not accepted as an ``int``; an ``int`` is accepted as a ``float``.
    """
    expected = typing.get_origin(value_type) or value_type
    if value is None or expected not in _PLAIN_TYPES:
        return
    if expected is float:
        valid = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif expected is int:
        valid = isinstance(value, int) and not isinstance(value, bool)
    else:
        valid = isinstance(value, expected)
    if not valid:
        raise ValueError(f"{where} must be of type {expected.__name__}, got {value!r} ({type(value).__name__}).")
