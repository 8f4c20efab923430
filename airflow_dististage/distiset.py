"""``Distiset``: a pipeline run's outputs, one ``datasets.DatasetDict`` per leaf step.

``datasets`` is imported only when a Distiset is built or loaded, never by importing the package.
``push_to_hub`` is a thin wrapper over ``DatasetDict.push_to_hub``; it needs the Hugging Face Hub
and a token, so it is not exercised by the offline test suite.

``Distiset.metadata`` describes the run: ``token_usage`` holds, per step whose LLM reported tokens,
its ``input_tokens`` and ``output_tokens`` (all replicas), the run's totals, and the steps that
stopped early at a ``max_tokens_per_run``. ``save_to_disk`` writes it to ``metadata.json`` next to
the configurations; ``load_from_disk`` reads it back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from airflow_dististage.planning import ExecutionPlan
    from airflow_dististage.runtime.store import BatchStore

DEFAULT_CONFIG = "default"
TRAIN_SPLIT = "train"
METADATA_FILE = "metadata.json"


class Distiset(dict):
    """Leaf step name -> ``DatasetDict`` (split ``train``); a single leaf is named ``default``.

    ``metadata``: what the run recorded besides rows (see the module docstring).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metadata: dict[str, Any] = {}

    def save_to_disk(self, path: str | os.PathLike[str], **kwargs: Any) -> None:
        """Saves every configuration under ``<path>/<name>/`` (``DatasetDict.save_to_disk``) and the
        metadata to ``<path>/metadata.json``."""
        import fsspec

        for name, dataset_dict in self.items():
            # datasets writes no shard for a split without rows, and then cannot load it back.
            empty = {split: 1 for split, dataset in dataset_dict.items() if dataset.num_rows == 0}
            options = {**kwargs, "num_shards": {**empty, **kwargs.get("num_shards", {})}} if empty else kwargs
            dataset_dict.save_to_disk(os.path.join(os.fspath(path), name), **options)
        storage_options = kwargs.get("storage_options") or {}
        with fsspec.open(os.path.join(os.fspath(path), METADATA_FILE), "w", **storage_options) as file:
            json.dump(self.metadata, file, indent=2, sort_keys=True)

    @classmethod
    def load_from_disk(cls, path: str | os.PathLike[str], **kwargs: Any) -> Distiset:
        """Loads what :meth:`save_to_disk` wrote."""
        from datasets import load_from_disk

        root = os.fspath(path)
        names = sorted(entry for entry in os.listdir(root) if os.path.isdir(os.path.join(root, entry)))
        if not names:
            raise FileNotFoundError(f"No saved Distiset configurations under {root!r}.")
        distiset = cls({name: load_from_disk(os.path.join(root, name), **kwargs) for name in names})
        metadata = os.path.join(root, METADATA_FILE)
        if os.path.isfile(metadata):
            with open(metadata) as file:
                distiset.metadata = json.load(file)
        return distiset

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> None:
        """Pushes each configuration to the Hub dataset ``repo_id`` as ``config_name=<name>``."""
        for name, dataset_dict in self.items():
            dataset_dict.push_to_hub(repo_id, config_name=name, **kwargs)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name!r}: {dataset_dict!r}" for name, dataset_dict in self.items())
        return f"Distiset({{{inner}}})"


@dataclass(frozen=True)
class FinishedStep:
    """A finished step: each replica's output generation, its part count, and what its markers count."""

    generations: list[str]
    parts: int
    input_tokens: int
    output_tokens: int
    token_budget_reached: bool


def finished_outputs(
    store: BatchStore, plan: ExecutionPlan, fingerprints: Mapping[str, str]
) -> dict[str, FinishedStep]:
    """Per step, the generation of each replica's finished output, its part count and token counts.

    Raises:
        RuntimeError: a replica has not finished in this run, or a step's output was computed from
            an output of its predecessor that has since been replaced (it is stale: rerun it).
    """
    outputs: dict[str, FinishedStep] = {}
    for step in plan.topological_order:
        data = store.step(step, fingerprints[step])
        generations, counts, markers = [], [], []
        for replica in range(plan.steps[step].replicas):
            marker = data.read_marker("finished", replica)
            if marker is None:
                raise RuntimeError(
                    f"Step {step!r} (replica {replica}) has not finished in run {store.run_id!r} of {store.url!r}:"
                    " the Distiset is built from finished steps only."
                )
            expected = {name: outputs[name].generations for name in plan.steps[step].predecessors}
            if marker.get("inputs", {}) != expected:
                raise RuntimeError(
                    f"Step {step!r} (replica {replica}) was computed from an earlier output of"
                    f" {sorted(plan.steps[step].predecessors)}, which has been recomputed since: its output is"
                    " stale. Rerun it (in Airflow: clear it, or its recomputed predecessor with downstream)."
                )
            generations.append(marker["generation"])
            counts.append(marker["batches"])
            markers.append(marker)
        outputs[step] = FinishedStep(
            generations=generations,
            parts=max(counts),
            input_tokens=sum(marker.get("input_tokens", 0) for marker in markers),
            output_tokens=sum(marker.get("output_tokens", 0) for marker in markers),
            token_budget_reached=any(marker.get("token_budget_reached", False) for marker in markers),
        )
    return outputs


def token_usage(outputs: Mapping[str, FinishedStep]) -> dict[str, Any]:
    """The ``token_usage`` metadata of finished steps: per step that used tokens, and in total."""
    steps = {
        name: {"input_tokens": step.input_tokens, "output_tokens": step.output_tokens}
        for name, step in outputs.items()
        if step.input_tokens or step.output_tokens
    }
    return {
        "steps": steps,
        "input_tokens": sum(counts["input_tokens"] for counts in steps.values()),
        "output_tokens": sum(counts["output_tokens"] for counts in steps.values()),
        "budget_reached": [name for name, step in outputs.items() if step.token_budget_reached],
    }


def _step_table(store: BatchStore, step: str, lineage: str, generations: list[str], parts: int) -> pa.Table:
    """Parts ``0 .. parts-1`` of a finished step, each from the generation of the replica that owns it."""
    import pyarrow as pa

    from airflow_dististage.runtime.encoding import decode_table, has_pickled_values, table_to_rows

    data = store.step(step, lineage)
    tables = []
    for sequence in range(parts):
        part = data.read_part_bytes(generations[sequence % len(generations)], sequence)
        if part is None:
            raise RuntimeError(
                f"Step {step!r} finished but its part {sequence} is missing from {data.path}:"
                " its output was modified; rerun the step."
            )
        tables.append(decode_table(part, allow_pickle=store.allow_pickle))
    tables = [table for table in tables if table.num_rows]
    if not tables:
        return pa.table({})
    if any(has_pickled_values(table) for table in tables):
        return rows_to_arrow([row for table in tables for row in table_to_rows(table, allow_pickle=store.allow_pickle)])
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return rows_to_arrow([row for table in tables for row in table.to_pylist()])


def rows_to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """An Arrow table for ``datasets`` from rows of any shape: every column any row has, None where missing."""
    from datasets import Dataset

    columns = list(dict.fromkeys(column for row in rows for column in row))
    return Dataset.from_dict({column: [row.get(column) for row in rows] for column in columns}).data.table


def create_distiset(
    store: BatchStore,
    plan: ExecutionPlan,
    fingerprints: Mapping[str, str],
    columns: Mapping[str, Sequence[str]] | None = None,
) -> Distiset:
    """The Distiset of a finished run: each leaf step's rows in sequence order.

    ``fingerprints`` are the run's :func:`~airflow_dististage.runtime.lineage_fingerprints`;
    ``columns`` (``Pipeline.known_columns()``) are what a leaf without rows gets: a 0-row dataset
    with those columns (with no ``columns``, it has none).

    Raises:
        RuntimeError: a step has not finished, its output is stale, or one of its parts is missing.
    """
    from datasets import Dataset, DatasetDict

    outputs = finished_outputs(store, plan, fingerprints)
    leaves = plan.leaf_steps
    distiset = Distiset()
    for leaf in leaves:
        name = DEFAULT_CONFIG if len(leaves) == 1 else leaf
        table = _step_table(store, leaf, fingerprints[leaf], outputs[leaf].generations, outputs[leaf].parts)
        if table.num_rows == 0 and columns is not None:
            dataset = Dataset.from_dict({column: [] for column in columns.get(leaf, ())})
        else:
            dataset = Dataset(table)
        distiset[name] = DatasetDict({TRAIN_SPLIT: dataset})
    distiset.metadata = {"token_usage": token_usage(outputs)}
    return distiset
