"""A pipeline as distilabel's ``pipeline.yaml`` (or JSON) holds it, and back.

The shape is distilabel 1.5.3's::

    distilabel: {version: 1.5.3}           # the distilabel format this file follows
    airflow_dististage: {version: ...}     # the package that wrote it
    pipeline:
      name: ...
      description: ...
      steps: [{step: {<attributes>, runtime_parameters_info: [...], type_info: {module, name}}, name: ...}]
      connections: [{from: <step>, to: [<step>, ...]}]
      routing_batch_functions: [{step, description, type_info: {module, name, kwargs}}]
      type_info: {module, name}
    requirements: [...]

Steps are written in creation order and connections so that loading them in order gives every step
its successors and its predecessors in the same order as before (the order ``process(*inputs)``
receives its inputs in). See :mod:`~airflow_dististage.mixins.serialization` for how steps and LLMs
are written, which credentials are left out and which classes a file may name.
"""

from __future__ import annotations

import functools
import heapq
import json
import logging
import posixpath
from collections import defaultdict
from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal

from airflow_dististage.mixins.serialization import SerializationError, load_object, type_info

if TYPE_CHECKING:
    from airflow_dististage.pipeline.base import Pipeline

logger = logging.getLogger("airflow_dististage.serialization")

DISTILABEL_FORMAT_VERSION = "1.5.3"
PIPELINE_CONFIG_FILENAME = "pipeline.yaml"
SaveFormat = Literal["json", "yaml"]
_FORMATS = ("json", "yaml")
_SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def pipeline_to_dict(pipeline: Pipeline) -> dict[str, Any]:
    """``pipeline`` in distilabel's ``pipeline.yaml`` shape (see the module docstring).

    Raises:
        SerializationError: a step holds a value a file cannot hold (naming the step and attribute).
    """
    from airflow_dististage import __version__

    return {
        "distilabel": {"version": DISTILABEL_FORMAT_VERSION},
        "airflow_dististage": {"version": __version__},
        "pipeline": {
            "name": pipeline.name,
            "description": pipeline.description,
            "steps": [{"step": step.dump(), "name": name} for name, step in pipeline.steps.items()],
            "connections": _connections(pipeline),
            "routing_batch_functions": routing_batch_function_dumps(pipeline),
            "type_info": type_info(type(pipeline)),
        },
        "requirements": list(pipeline.requirements),
    }


def config_for_distiset(pipeline: Pipeline) -> dict[str, Any] | None:
    """:func:`pipeline_to_dict` for the run's Distiset, or None (with a warning naming what cannot be
    written): a value that has no place in ``pipeline.yaml`` must not stop a run."""
    try:
        return pipeline_to_dict(pipeline)
    except SerializationError as error:
        logger.warning("Pipeline %r: its Distiset gets no pipeline.yaml: %s", pipeline.name, error)
        return None


def routing_batch_function_dumps(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The ``dump()`` of each routing batch function the pipeline holds, in step order."""
    return [router.dump() for router in pipeline.routing_batch_functions.values()]


def _load_routers(pipeline: Pipeline, entries: list[Mapping[str, Any]]) -> None:
    """Connects each described router to its step again, through its factory.

    A file is data: only factories of this package (``sample_n_steps``) are called; a router that
    user code made is refused, naming its step, since calling a function a file names runs code.
    """
    from airflow_dististage.pipeline.routing_batch_function import RoutingBatchFunction

    for entry in entries:
        step = entry.get("step")
        if step not in pipeline.steps:
            raise SerializationError(f"A routing batch function names step {step!r}, which the file does not define.")
        module = str((entry.get("type_info") or {}).get("module", ""))
        if module != "airflow_dististage" and not module.startswith("airflow_dististage."):
            raise SerializationError(
                f"Step {step!r}: its routing batch function comes from {module or 'no factory'!r}; a pipeline file"
                " can only rebuild this package's routers (sample_n_steps). Build the pipeline in code instead."
            )
        try:
            router = RoutingBatchFunction.from_dict(dict(entry))
        except ValueError as error:
            raise SerializationError(f"Step {step!r}: {error}") from None
        pipeline.add_routing_batch_function(pipeline.steps[step], router)


def _connections(pipeline: Pipeline) -> list[dict[str, Any]]:
    """``[{from, to}]`` whose edges, added in order, give each step its successors and predecessors
    in their current order.

    One entry per step, as distilabel writes them, in step order as far as each step's predecessor
    order allows. When no order of whole entries keeps every predecessor order (two steps that
    take the same two inputs in opposite orders), the edges themselves are ordered, and
    consecutive edges of one step share an entry.
    """
    position = {name: index for index, name in enumerate(pipeline.steps)}
    successors = {name: list(pipeline.dag.successors(name)) for name in pipeline.steps}
    predecessor_pairs = _predecessor_pairs_by_step(pipeline)
    sources = _topological(list(pipeline.steps), [pair for pair, _ in predecessor_pairs], position.__getitem__)
    if sources is not None:
        return [{"from": name, "to": successors[name]} for name in sources]
    rank: dict[tuple[str, str], tuple[int, int]] = {}
    edge_pairs = [((first, name), (second, name)) for (first, second), name in predecessor_pairs]
    for name, targets in successors.items():
        rank.update({(name, target): (position[name], index) for index, target in enumerate(targets)})
        edge_pairs += [((name, first), (name, second)) for first, second in pairwise(targets)]
    edges = _topological(list(rank), edge_pairs, rank.__getitem__)
    assert edges is not None  # the order the edges were added in satisfies every pair
    entries: list[dict[str, Any]] = []
    for source, target in edges:
        if entries and entries[-1]["from"] == source:
            entries[-1]["to"].append(target)
        else:
            entries.append({"from": source, "to": [target]})
    entries.extend({"from": name, "to": []} for name in pipeline.steps if not successors[name])
    return entries


def _predecessor_pairs_by_step(pipeline: Pipeline) -> list[tuple[tuple[str, str], str]]:
    """``((first, second), step)`` for each two consecutive predecessors of each step."""
    return [(pair, name) for name in pipeline.steps for pair in pairwise(pipeline.dag.predecessors(name))]


def _topological(items: list[Any], pairs: list[tuple[Any, Any]], key: Callable[[Any], Any]) -> list[Any] | None:
    """``items`` with the first of each pair before its second, ties by ``key``; None if the pairs form a cycle."""
    after: dict[Any, list[Any]] = defaultdict(list)
    waiting = dict.fromkeys(items, 0)
    for first, second in pairs:
        after[first].append(second)
        waiting[second] += 1
    ready = [(key(item), item) for item in items if waiting[item] == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        _, item = heapq.heappop(ready)
        ordered.append(item)
        for successor in after[item]:
            waiting[successor] -= 1
            if waiting[successor] == 0:
                heapq.heappush(ready, (key(successor), successor))
    return ordered if len(ordered) == len(items) else None


def pipeline_from_dict(cls: type[Pipeline], data: Any) -> Pipeline:
    """Builds a ``cls`` pipeline from :func:`pipeline_to_dict`'s data (a distilabel ``pipeline.yaml`` too).

    Each step's ``type_info`` must name a step class (see :func:`~airflow_dististage.mixins.serialization.load_object`).

    Raises:
        SerializationError: the data is not a pipeline, a step cannot be built, or a connection names
            an unknown step.
        PipelineValidationError: the connections do not form a valid graph.
    """
    from airflow_dististage.steps.base import _Step

    body = data.get("pipeline") if isinstance(data, Mapping) else None
    if not isinstance(body, Mapping):
        raise SerializationError("Not a pipeline file: it needs a `pipeline` mapping with `steps` and `connections`.")
    name, description, requirements = body.get("name"), body.get("description"), data.get("requirements")
    with cls(name=name, description=description, requirements=requirements) as pipeline:
        for entry in _listed(body, "steps"):
            name = entry.get("name")
            step = load_object(entry.get("step"), _Step, f"Step {name!r}")
            if step.name != name:
                raise SerializationError(
                    f"Step {name!r}: its attributes name it {step.name!r}; the two names must agree."
                )
        steps = pipeline.steps
        for connection in _listed(body, "connections"):
            source, targets = connection.get("from"), connection.get("to") or []
            for name in [source, *targets]:
                if name not in steps:
                    raise SerializationError(f"A connection names step {name!r}, which the file does not define.")
            for target in targets:
                pipeline.add_edge(steps[source], steps[target])
        _load_routers(pipeline, _listed(body, "routing_batch_functions"))
    return pipeline


def _listed(body: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    entries = body.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
        raise SerializationError(f"The pipeline file's `{key}` must be a list of mappings.")
    return entries


# -- files -----------------------------------------------------------------------------------
def dumps(data: Mapping[str, Any], format: SaveFormat) -> str:  # noqa: A002 - distilabel's name
    """``data`` as YAML (block style, keys in order; tuples as lists) or indented JSON.

    Raises:
        SerializationError: ``data`` holds a value neither can write (an object inside a list).
    """
    _check_format(format)
    if format == "json":
        try:
            return json.dumps(data, indent=2, ensure_ascii=False)
        except (TypeError, ValueError) as error:
            raise SerializationError(f"The pipeline holds a value a JSON file cannot hold: {error}") from None
    import yaml

    try:
        return yaml.dump(data, Dumper=_yaml_dumper(), sort_keys=False, default_flow_style=False, allow_unicode=True)
    except yaml.YAMLError as error:
        detail = ": ".join(str(argument) for argument in error.args)  # ("cannot represent an object", value)
        raise SerializationError(f"The pipeline holds a value a YAML file cannot hold: {detail}") from None


@functools.cache
def _yaml_dumper() -> type:
    """The safe YAML dumper (libyaml's when there), writing tuples as lists as JSON does."""
    import yaml

    dumper = type("PipelineDumper", (getattr(yaml, "CSafeDumper", yaml.SafeDumper),), {})
    dumper.add_representer(tuple, dumper.represent_list)
    return dumper


def loads(text: str, format: SaveFormat) -> Any:  # noqa: A002
    """Parses YAML (safely: plain data only, never Python objects) or JSON."""
    _check_format(format)
    if format == "json":
        return json.loads(text)
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader


def write_file(path: str, data: Mapping[str, Any], format: SaveFormat) -> None:  # noqa: A002
    """Writes ``data`` to ``path`` (a local path or fsspec URL), creating its folder."""
    import fsspec

    text = dumps(data, format)
    filesystem, location = fsspec.core.url_to_fs(path)
    filesystem.makedirs(posixpath.dirname(location) or ".", exist_ok=True)
    with filesystem.open(location, "w", encoding="utf-8") as file:
        file.write(text)


def read_file(path: str, format: SaveFormat | None = None) -> Any:  # noqa: A002
    """The data of a pipeline file; its format from ``format`` or its suffix (``.json``, ``.yaml``, ``.yml``).

    Raises:
        ValueError: ``path`` is a folder, or its format is neither given nor known from its suffix.
    """
    import fsspec

    filesystem, location = fsspec.core.url_to_fs(path)
    if filesystem.isdir(location):
        raise ValueError(f"{path!r} is a folder: give the path of a pipeline file.")
    if format is None:
        format = _SUFFIXES.get(posixpath.splitext(location)[1].lower())  # noqa: A001
        if format is None:
            raise ValueError(f"{path!r}: cannot tell its format from the suffix; use .json, .yaml or .yml.")
    with filesystem.open(location, "r", encoding="utf-8") as file:
        return loads(file.read(), format)


def _check_format(format: str) -> None:  # noqa: A002
    if format not in _FORMATS:
        raise ValueError(f"Invalid format {format!r}: use one of {list(_FORMATS)}.")
