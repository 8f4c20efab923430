"""``Distiset``: a pipeline run's outputs, one ``datasets.DatasetDict`` per leaf step.

``datasets`` is imported only when a Distiset is built or loaded, never by importing the package.
``push_to_hub`` is a thin wrapper over ``DatasetDict.push_to_hub``; it needs the Hugging Face Hub
and a token, so it is not exercised by the offline test suite.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from airflow_dististage.planning import ExecutionPlan
    from airflow_dististage.runtime.store import BatchStore

DEFAULT_CONFIG = "default"
TRAIN_SPLIT = "train"


class Distiset(dict):
    """Leaf step name -> ``DatasetDict`` (split ``train``); a single leaf is named ``default``."""

    def save_to_disk(self, path: str | os.PathLike[str], **kwargs: Any) -> None:
        """Saves every configuration under ``<path>/<name>/`` (``DatasetDict.save_to_disk``)."""
        for name, dataset_dict in self.items():
            # datasets writes no shard for a split without rows, and then cannot load it back.
            empty = {split: 1 for split, dataset in dataset_dict.items() if dataset.num_rows == 0}
            options = {**kwargs, "num_shards": {**empty, **kwargs.get("num_shards", {})}} if empty else kwargs
            dataset_dict.save_to_disk(os.path.join(os.fspath(path), name), **options)

    @classmethod
    def load_from_disk(cls, path: str | os.PathLike[str], **kwargs: Any) -> Distiset:
        """Loads what :meth:`save_to_disk` wrote."""
        from datasets import load_from_disk

        root = os.fspath(path)
        names = sorted(entry for entry in os.listdir(root) if os.path.isdir(os.path.join(root, entry)))
        if not names:
            raise FileNotFoundError(f"No saved Distiset configurations under {root!r}.")
        return cls({name: load_from_disk(os.path.join(root, name), **kwargs) for name in names})

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> None:
        """Pushes each configuration to the Hub dataset ``repo_id`` as ``config_name=<name>``."""
        for name, dataset_dict in self.items():
            dataset_dict.push_to_hub(repo_id, config_name=name, **kwargs)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name!r}: {dataset_dict!r}" for name, dataset_dict in self.items())
        return f"Distiset({{{inner}}})"


def finished_outputs(
    store: BatchStore, plan: ExecutionPlan, fingerprints: Mapping[str, str]
) -> dict[str, tuple[list[str], int]]:
    """Per step, the generation of each replica's finished output and the step's part count.

    Raises:
        RuntimeError: a replica has not finished in this run, or a step's output was computed from
            an output of its predecessor that has since been replaced (it is stale: rerun it).
    """
    outputs: dict[str, tuple[list[str], int]] = {}
    for step in plan.topological_order:
        data = store.step(step, fingerprints[step])
        generations, counts = [], []
        for replica in range(plan.steps[step].replicas):
            marker = data.read_marker("finished", replica)
            if marker is None:
                raise RuntimeError(
                    f"Step {step!r} (replica {replica}) has not finished in run {store.run_id!r} of {store.url!r}:"
                    " the Distiset is built from finished steps only."
                )
            expected = {name: outputs[name][0] for name in plan.steps[step].predecessors}
            if marker.get("inputs", {}) != expected:
                raise RuntimeError(
                    f"Step {step!r} (replica {replica}) was computed from an earlier output of"
                    f" {sorted(plan.steps[step].predecessors)}, which has been recomputed since: its output is"
                    " stale. Rerun it (in Airflow: clear it, or its recomputed predecessor with downstream)."
                )
            generations.append(marker["generation"])
            counts.append(marker["batches"])
        outputs[step] = (generations, max(counts))
    return outputs


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
        table = _step_table(store, leaf, fingerprints[leaf], *outputs[leaf])
        if table.num_rows == 0 and columns is not None:
            dataset = Dataset.from_dict({column: [] for column in columns.get(leaf, ())})
        else:
            dataset = Dataset(table)
        distiset[name] = DatasetDict({TRAIN_SPLIT: dataset})
    return distiset
