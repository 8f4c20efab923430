"""``Distiset``: a pipeline run's outputs, one ``datasets.DatasetDict`` per leaf step.

``datasets`` is imported only when a Distiset is built or loaded, never by importing the package.
Saved, a Distiset is distilabel's folder: ``<path>/<configuration>/`` (``DatasetDict.save_to_disk``)
and ``<path>/distiset_configs/`` with ``README.md`` (the dataset card), ``pipeline.yaml`` (the
pipeline that made it) and ``pipeline.log`` (when the Distiset has a log: one loaded from a saved
Distiset that had one; runs write their logs to the logging setup or Airflow's task logs instead).
``Distiset.metadata`` describes the run: ``token_usage`` holds, per step whose LLM reported tokens,
its ``input_tokens`` and ``output_tokens`` (all replicas), the run's totals, and the steps that
stopped early at a ``max_tokens_per_run``; it is saved as ``distiset_configs/metadata.json``.
``push_to_hub`` is a thin wrapper over ``DatasetDict.push_to_hub``; it needs the Hugging Face Hub
and a token, so it is not exercised by the offline test suite.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from airflow_dististage.planning import ExecutionPlan
    from airflow_dististage.runtime.store import BatchStore

logger = logging.getLogger("airflow_dististage.distiset")

DEFAULT_CONFIG = "default"
TRAIN_SPLIT = "train"
DISTISET_CONFIG_FOLDER = "distiset_configs"
DISTISET_ARTIFACTS_FOLDER = "artifacts"
PIPELINE_CONFIG_FILENAME = "pipeline.yaml"
PIPELINE_LOG_FILENAME = "pipeline.log"
CARD_FILENAME = "README.md"
METADATA_FILENAME = "metadata.json"


class Distiset(dict):
    """Leaf step name -> ``DatasetDict`` (split ``train``); a single leaf is named ``default``.

    ``pipeline_config`` is the pipeline that made it, as ``pipeline.yaml`` holds it (None when
    unknown); ``pipeline_log`` the text of its ``pipeline.log``, if it has one. ``pipeline_path``
    and ``log_filename_path`` are those files in a Distiset loaded from a local folder, as in distilabel.
    ``metadata`` is what the run recorded besides rows (see the module docstring).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pipeline_config: dict[str, Any] | None = None
        self.pipeline_log: str | None = None
        self.pipeline_path: Path | None = None
        self.log_filename_path: Path | None = None
        self.metadata: dict[str, Any] = {}

    def train_test_split(self, train_size: float, shuffle: bool = True, seed: int | None = None) -> Distiset:
        """Splits each configuration's ``train`` rows into ``train`` (``train_size`` of them) and ``test``, in place.

        Raises:
            ValueError: ``train_size`` is not strictly between 0 and 1.
        """
        if not 0 < train_size < 1:
            raise ValueError(f"train_size must be a float between 0 and 1, got {train_size!r}.")
        for name, dataset in self.items():
            if TRAIN_SPLIT not in dataset:
                raise ValueError(
                    f"Distiset configuration {name!r} has no {TRAIN_SPLIT!r} split to divide: {list(dataset)}."
                )
            self[name] = dataset[TRAIN_SPLIT].train_test_split(train_size=train_size, shuffle=shuffle, seed=seed)
        return self

    def save_to_disk(
        self,
        distiset_path: str | os.PathLike[str],
        max_shard_size: str | int | None = None,
        num_shards: int | dict[str, int] | None = None,
        num_proc: int | None = None,
        storage_options: dict[str, Any] | None = None,
        save_card: bool = True,
        save_pipeline_config: bool = True,
        save_pipeline_log: bool = True,
    ) -> None:
        """Saves every configuration under ``<distiset_path>/<name>/`` and ``distiset_configs/`` beside
        them (a local folder or an fsspec URL with ``storage_options``), with distilabel's arguments.

        ``num_shards`` is one count for every split, or a count per split name.
        """
        import fsspec

        if max_shard_size is not None and num_shards is not None:
            raise ValueError("Distiset.save_to_disk takes max_shard_size or num_shards, not both.")
        path = os.fspath(distiset_path)
        filesystem, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
        for name, dataset in self.items():
            _save_dataset_dict(
                dataset, filesystem, posixpath.join(root, name), posixpath.join(path, name),
                max_shard_size, num_shards, num_proc, storage_options,
            )
        folder = posixpath.join(root, DISTISET_CONFIG_FOLDER)
        filesystem.makedirs(folder, exist_ok=True)
        config = _yaml_text(self._config()) if save_pipeline_config else None
        files = {
            CARD_FILENAME: self._card(posixpath.basename(root.rstrip("/")), config is not None) if save_card else None,
            PIPELINE_CONFIG_FILENAME: config,
            PIPELINE_LOG_FILENAME: self._log() if save_pipeline_log else None,
            METADATA_FILENAME: json.dumps(self.metadata, indent=2, sort_keys=True) if self.metadata else None,
        }
        for filename, text in files.items():
            if text is not None:
                filesystem.pipe_file(posixpath.join(folder, filename), text.encode("utf-8"))

    @classmethod
    def load_from_disk(
        cls,
        distiset_path: str | os.PathLike[str],
        keep_in_memory: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        download_dir: str | os.PathLike[str] | None = None,
    ) -> Distiset:
        """Loads what :meth:`save_to_disk` wrote (or distilabel's ``save_to_disk``), from a folder or an
        fsspec URL; ``download_dir`` first copies a remote Distiset there.

        Raises:
            FileNotFoundError: no folder there, or it holds no saved configuration.
        """
        import fsspec
        from datasets import load_from_disk
        from fsspec.implementations.local import LocalFileSystem

        filesystem, root = fsspec.core.url_to_fs(os.fspath(distiset_path), **(storage_options or {}))
        if not filesystem.isdir(root):
            raise FileNotFoundError(f"No saved Distiset at {os.fspath(distiset_path)!r}: it is not a folder.")
        if download_dir is not None and not isinstance(filesystem, LocalFileSystem):
            filesystem.get(root.rstrip("/") + "/", os.fspath(download_dir), recursive=True)
            return cls.load_from_disk(download_dir, keep_in_memory=keep_in_memory)
        local = isinstance(filesystem, LocalFileSystem)
        folders = sorted(
            posixpath.basename(entry["name"].rstrip("/"))
            for entry in filesystem.ls(root, detail=True)
            if entry["type"] == "directory"
        )
        names = [name for name in folders if name not in (DISTISET_CONFIG_FOLDER, DISTISET_ARTIFACTS_FOLDER)]
        if not names:
            raise FileNotFoundError(f"No saved Distiset configurations under {os.fspath(distiset_path)!r}.")
        distiset = cls()
        for name in names:
            location = posixpath.join(root, name)
            distiset[name] = load_from_disk(
                location if local else filesystem.unstrip_protocol(location),
                keep_in_memory=keep_in_memory,
                storage_options=storage_options,
            )
        config_folder = posixpath.join(root, DISTISET_CONFIG_FOLDER)
        config_text = _read_text(filesystem, posixpath.join(config_folder, PIPELINE_CONFIG_FILENAME))
        if config_text is not None:
            from airflow_dististage.pipeline.serialization import loads

            distiset.pipeline_config = loads(config_text, "yaml")
        distiset.pipeline_log = _read_text(filesystem, posixpath.join(config_folder, PIPELINE_LOG_FILENAME))
        metadata_text = _read_text(filesystem, posixpath.join(config_folder, METADATA_FILENAME))
        distiset.metadata = json.loads(metadata_text) if metadata_text is not None else {}
        if local:
            for attribute, filename, text in (
                ("pipeline_path", PIPELINE_CONFIG_FILENAME, config_text),
                ("log_filename_path", PIPELINE_LOG_FILENAME, distiset.pipeline_log),
            ):
                if text is not None:
                    setattr(distiset, attribute, Path(config_folder, filename))
        return distiset

    def push_to_hub(self, repo_id: str, private: bool = False, token: str | None = None, **kwargs: Any) -> None:
        """Pushes each configuration to the Hub dataset ``repo_id`` as ``config_name=<name>``.

        Only the data: the card, ``pipeline.yaml`` and the pipeline script are not uploaded, so
        distilabel's ``generate_card`` and ``include_script`` are refused when true.
        """
        for option in ("generate_card", "include_script"):
            if kwargs.pop(option, False):
                raise NotImplementedError(
                    f"Distiset.push_to_hub({option}=True) is not supported: pass {option}=False, or save_to_disk()"
                    " the Distiset and upload its distiset_configs/ folder with huggingface_hub."
                )
        for name, dataset_dict in self.items():
            dataset_dict.push_to_hub(repo_id, config_name=name, private=private, token=token, **kwargs)

    def _config(self) -> dict[str, Any] | None:
        if self.pipeline_config is None and self.pipeline_path is not None and self.pipeline_path.exists():
            from airflow_dististage.pipeline.serialization import read_file

            return read_file(str(self.pipeline_path), "yaml")
        return self.pipeline_config

    def _log(self) -> str | None:
        if self.pipeline_log is None and self.log_filename_path is not None and self.log_filename_path.exists():
            return self.log_filename_path.read_text(encoding="utf-8")
        return self.pipeline_log

    def _card(self, name: str, has_pipeline: bool) -> str:
        from airflow_dististage.distiset_card import render_card

        rows, examples = {}, {}
        for config, dataset in self.items():
            first = dataset[TRAIN_SPLIT] if TRAIN_SPLIT in dataset else next(iter(dataset.values()))
            rows[config] = first.num_rows
            examples[config] = first[0] if first.num_rows else None
        return render_card(name, rows, examples, has_pipeline)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name!r}: {dataset_dict!r}" for name, dataset_dict in self.items())
        return f"Distiset({{{inner}}})"


def _save_dataset_dict(
    dataset: Any,
    filesystem: Any,
    folder: str,
    url: str,
    max_shard_size: str | int | None,
    num_shards: int | dict[str, int] | None,
    num_proc: int | None,
    storage_options: dict[str, Any] | None,
) -> None:
    """``DatasetDict.save_to_disk`` with one shard for an empty split (``datasets`` would write none,
    and then could not load it back, nor take a ``num_shards`` beside ``max_shard_size``)."""
    from datasets import config

    filesystem.makedirs(folder, exist_ok=True)
    splits = json.dumps({"splits": list(dataset)}).encode()
    filesystem.pipe_file(posixpath.join(folder, config.DATASETDICT_JSON_FILENAME), splits)
    for split, rows in dataset.items():
        shards = num_shards.get(split) if isinstance(num_shards, dict) else num_shards
        if rows.num_rows == 0:
            shards = 1
        rows.save_to_disk(
            posixpath.join(url, split),
            max_shard_size=None if shards else max_shard_size,
            num_shards=shards,
            num_proc=num_proc,
            storage_options=storage_options,
        )


def _yaml_text(config: Mapping[str, Any] | None) -> str | None:
    """``config`` as ``pipeline.yaml`` text; None (with a warning) when it holds a value YAML cannot write."""
    from airflow_dististage.mixins.serialization import SerializationError
    from airflow_dististage.pipeline.serialization import dumps

    if config is None:
        return None
    try:
        return dumps(config, "yaml")
    except SerializationError as error:
        logger.warning("The Distiset is saved without pipeline.yaml: %s", error)
        return None


def _read_text(filesystem: Any, path: str) -> str | None:
    if not filesystem.isfile(path):
        return None
    return filesystem.cat_file(path).decode("utf-8")


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
    pipeline_config: dict[str, Any] | None = None,
) -> Distiset:
    """The Distiset of a finished run: each leaf step's rows in sequence order.

    ``fingerprints`` are the run's :func:`~airflow_dististage.runtime.lineage_fingerprints`;
    ``columns`` (``Pipeline.known_columns()``) are what a leaf without rows gets: a 0-row dataset
    with those columns (with no ``columns``, it has none). ``pipeline_config`` is the pipeline's
    ``dump()``, saved as ``pipeline.yaml`` with the Distiset.

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
    distiset.pipeline_config = pipeline_config
    distiset.metadata = {"token_usage": token_usage(outputs)}
    return distiset
