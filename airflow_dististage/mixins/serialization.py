"""Steps and LLMs as plain data and back, in the shape distilabel's ``pipeline.yaml`` gives them.

``dump_object`` turns a :class:`~airflow_dististage.mixins.runtime_parameters.Declarative` object into
its declared attributes plus ``type_info: {module, name}``; nested steps and LLMs get their own
``type_info``. Credentials never go in: a :class:`~airflow_dististage.llms.secret.Secret` (or a
pydantic ``SecretStr``) is left out, and so is any attribute or mapping key named like a credential
(``api_key``, ``token``, ``password``, ``secret``, ``key``, ``hf_token``...). A list is data
(``LoadDataFromDicts(data=...)`` rows, column names) and is kept as it is; a secret inside one
cannot be written at all (the writers refuse objects), so it cannot leak either.

``load_object`` builds the object back. A file is data, not code: ``type_info`` may only name a
class that is a subclass of the expected base (a ``Step`` for a pipeline's steps, the declared type
of an attribute, e.g. ``LLM`` for ``llm``); anything else is refused before it is instantiated.
Loading imports the module ``type_info`` names, as distilabel does, so load files you trust.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from airflow_dististage.mixins.runtime_parameters import Declarative

logger = logging.getLogger("airflow_dististage.serialization")

TYPE_INFO_KEY = "type_info"
RUNTIME_PARAMETERS_INFO_KEY = "runtime_parameters_info"
_CREDENTIAL_NAME = re.compile(
    r"(?:^|_)(?:api_?key|key|token|secret|password|passwd|credentials?)$", re.IGNORECASE
)
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OMIT = object()


class SerializationError(ValueError):
    """An object cannot be written to, or built from, a pipeline file; the message names the step and attribute."""


def is_credential_name(name: str) -> bool:
    """Whether an attribute or key of this name holds a credential and must never be written."""
    return bool(_CREDENTIAL_NAME.search(name))


def type_info(cls: type) -> dict[str, str]:
    """``{"module": ..., "name": ...}``: where a loader finds ``cls``."""
    return {"module": cls.__module__, "name": cls.__name__}


def dump_object(obj: Declarative, where: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``obj``'s declared attributes as plain data, then ``extra``, then its ``type_info``.

    Raises:
        SerializationError: an attribute holds a value a YAML/JSON file cannot hold (naming it).
    """
    data: dict[str, Any] = {}
    for name in obj.attribute_specs():
        if name in obj.not_serialized or is_credential_name(name):
            continue
        value = _to_data(getattr(obj, name, None), f"{where}.{name}")
        if value is not _OMIT:
            data[name] = value
    data.update(extra or {})
    data[TYPE_INFO_KEY] = type_info(type(obj))
    return data


def _to_data(value: Any, where: str) -> Any:
    """``value`` as YAML/JSON data, or ``_OMIT`` for a credential.

    A list is data (rows, column names): its items are kept as they are, not copied, so that a
    ``LoadDataFromDicts`` of a million rows costs nothing here; the file writers check them.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if _is_secret(value):
        return _OMIT
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, Declarative):
        try:
            return value.dump()
        except SerializationError as error:
            raise SerializationError(f"{where}: {error}") from None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {field.name: _to_data(getattr(value, field.name), f"{where}.{field.name}") for field in fields}
    if isinstance(value, Mapping):
        data = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(f"{where} has the key {key!r}: a pipeline file needs string keys.")
            converted = _OMIT if is_credential_name(key) else _to_data(item, f"{where}[{key!r}]")
            if converted is not _OMIT:
                data[key] = converted
        return data
    raise SerializationError(
        f"{where} holds a {type(value).__name__} ({value!r:.80}), which a pipeline file cannot hold:"
        " use strings, numbers, booleans, lists and mappings of them, steps or LLMs."
    )


def _is_secret(value: Any) -> bool:
    from airflow_dististage.llms.secret import Secret

    return isinstance(value, Secret) or callable(getattr(value, "get_secret_value", None))


def runtime_parameters_info(obj: Declarative) -> list[dict[str, Any]]:
    """distilabel's ``runtime_parameters_info`` of ``obj``: each runtime parameter's name, whether it is
    optional and its description; a nested object's own list; a mapping parameter's ``keys``."""
    infos: list[dict[str, Any]] = []
    for name, info in obj.runtime_parameters().items():
        value = getattr(obj, name, None)
        if isinstance(value, Declarative) and not info.value_type:
            infos.append({"name": name, RUNTIME_PARAMETERS_INFO_KEY: runtime_parameters_info(value)})
            continue
        if not info.children:
            infos.append(_leaf_info(info))
            continue
        entry: dict[str, Any] = {"name": name}
        if info.description:
            entry["description"] = info.description
        entry["keys"] = [_leaf_info(child) for child in info.children.values()]
        infos.append(entry)
    return infos


def _leaf_info(info: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": info.name, "optional": info.optional}
    if info.description:
        entry["description"] = info.description
    return entry


def load_object(data: Any, base: type, where: str) -> Any:
    """Builds the object ``data`` describes; its ``type_info`` class must subclass ``base``.

    Without ``type_info``, ``base`` itself is built. Keys that are not declared attributes (what a
    newer or other writer added) are dropped with one warning.

    Raises:
        SerializationError: ``data`` is not a mapping, ``type_info`` names no importable class or one
            that is not a ``base``, an attribute cannot be built, or the object refuses its values.
    """
    if not isinstance(data, Mapping):
        raise SerializationError(f"{where}: expected a mapping of attributes, got {type(data).__name__}.")
    cls = resolve_class(data[TYPE_INFO_KEY], base, where) if TYPE_INFO_KEY in data else base
    specs = cls.attribute_specs()
    kwargs: dict[str, Any] = {}
    unknown = []
    for name, value in data.items():
        if name in (TYPE_INFO_KEY, RUNTIME_PARAMETERS_INFO_KEY):
            continue
        spec = specs.get(name)
        if spec is None or name in cls.not_serialized:
            unknown.append(name)
            continue
        kwargs[name] = _from_data(value, spec.value_type, f"{where}.{name}")
    if unknown:
        logger.warning("%s: ignoring %s, which %s does not declare.", where, unknown, cls.__name__)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise SerializationError(f"{where}: {cls.__name__} cannot be built from the file: {error}") from error


def _from_data(value: Any, value_type: Any, where: str) -> Any:
    """An attribute's value: a nested step or LLM, a dataclass (``StepResources``), or the data as is."""
    if isinstance(value, Mapping) and TYPE_INFO_KEY in value:
        if not (isinstance(value_type, type) and issubclass(value_type, Declarative)):
            raise SerializationError(
                f"{where} carries a type_info, but the attribute is not declared as a step or LLM type"
                f" ({value_type!r}): refusing to build it."
            )
        return load_object(value, value_type, where)
    if isinstance(value, Mapping) and dataclasses.is_dataclass(value_type):
        fields = {field.name for field in dataclasses.fields(value_type)}
        ignored = sorted(key for key, item in value.items() if key not in fields and item is not None)
        if ignored:
            logger.warning("%s: ignoring %s, which %s does not declare.", where, ignored, value_type.__name__)
        try:
            return value_type(**{key: item for key, item in value.items() if key in fields})
        except (TypeError, ValueError) as error:
            raise SerializationError(f"{where}: {error}") from error
    return value


def resolve_class(info: Any, base: type, where: str) -> type:
    """The class ``type_info`` names, once checked to be a subclass of ``base``.

    Raises:
        SerializationError: malformed ``type_info``, a module that does not import, or a name that is
            not a ``base`` subclass (a file may only name step and LLM classes).
    """
    module_name = info.get("module") if isinstance(info, Mapping) else None
    class_name = info.get("name") if isinstance(info, Mapping) else None
    if not (isinstance(module_name, str) and _DOTTED_NAME.fullmatch(module_name)) or not (
        isinstance(class_name, str) and _NAME.fullmatch(class_name)
    ):
        raise SerializationError(
            f"{where}: type_info must be {{module: <dotted name>, name: <class name>}}, got {info!r}."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise SerializationError(
            f"{where}: type_info names module {module_name!r}, which cannot be imported: {error}"
        ) from error
    cls = getattr(module, class_name, None)
    if cls is None:
        raise SerializationError(
            f"{where}: type_info names {module_name}.{class_name}, which does not exist (a class defined in a"
            " script or DAG file can only be loaded from a module that defines it at import)."
        )
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise SerializationError(
            f"{where}: type_info names {module_name}.{class_name}, which is not a subclass of"
            f" {base.__module__}.{base.__qualname__}: a pipeline file may only name step and LLM classes."
        )
    return cls
