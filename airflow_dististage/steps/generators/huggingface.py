"""Loaders of ``datasets`` data, named as in ``distilabel.steps.generators.huggingface``.

``LoadDataFromHub`` (``datasets.load_dataset``), ``LoadDataFromDisk`` (``datasets.load_from_disk`` or a
saved :class:`~airflow_dististage.distiset.Distiset`) and ``LoadDataFromFileSystem`` (json, jsonl, csv,
parquet files, globs and fsspec URLs). They read their data in ``load()``, once per step execution, so
building a pipeline or parsing a DAG file reads nothing and imports no ``datasets``: until then their
``outputs`` are unknown (``outputs_known`` is False) and the steps after them are not checked for their
input columns. ``process(offset)`` starts at row ``offset``, so a resumed run repeats no row.
"""

from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Union

from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter
from airflow_dististage.steps.base import GeneratorStep
from airflow_dististage.typing import GeneratorStepOutput

if TYPE_CHECKING:
    from datasets import Dataset, IterableDataset

__all__ = ["LoadDataFromDisk", "LoadDataFromFileSystem", "LoadDataFromHub", "dataset_batches"]

FILETYPES = ("json", "csv", "parquet", "arrow", "text")
"""The ``datasets`` builders ``LoadDataFromFileSystem`` accepts as ``filetype``."""

_SUFFIX_FILETYPES = {"jsonl": "json"}


def dataset_batches(
    dataset: Dataset | IterableDataset, offset: int, batch_size: int, num_examples: int | None = None
) -> GeneratorStepOutput:
    """Yields ``(rows, is_last)`` for the first ``num_examples`` rows of ``dataset`` from row ``offset`` on.

    A ``Dataset`` is sliced by index; an ``IterableDataset`` (streaming) is read row by row, one batch
    ahead so the last batch is known. Past the end it yields one empty last batch.
    """
    if hasattr(dataset, "__len__"):
        end = len(dataset) if num_examples is None else min(num_examples, len(dataset))
        batches: Iterator[list[dict[str, Any]]] = (
            dataset.select(range(start, min(start + batch_size, end))).to_list()
            for start in range(offset, end, batch_size)
        )
    else:
        rows = itertools.islice(iter(dataset), offset, num_examples)
        batches = iter(lambda: list(itertools.islice(rows, batch_size)), [])
    current = next(batches, [])
    for following in batches:
        yield current, False
        current = following
    yield current, True


class _DatasetLoader(GeneratorStep):
    """Shared by the loaders: ``num_examples``, ``storage_options``, the loaded dataset and its batches."""

    num_examples: RuntimeParameter[int] = Field(
        default=None, description="The number of rows to load; by default every row."
    )
    storage_options: Optional[Dict[str, Any]] = Field(
        default=None, description="Key/value options of the fsspec file system the data lives on, if any."
    )

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if self.num_examples is not None and (
            isinstance(self.num_examples, bool) or not isinstance(self.num_examples, int) or self.num_examples < 1
        ):
            raise ValueError(
                f"Step {self.name!r}: num_examples must be None (every row) or an integer >= 1,"
                f" got {self.num_examples!r}."
            )
        if self.storage_options is not None and not isinstance(self.storage_options, dict):
            raise TypeError(
                f"Step {self.name!r}: storage_options must be None or a dict, got {self.storage_options!r}."
            )

    @property
    def _dataset(self) -> Dataset | IterableDataset | None:
        return self.__dict__.get("_loaded_dataset")

    def load(self) -> None:
        """Reads the dataset (its rows are read batch by batch in ``process``)."""
        super().load()
        object.__setattr__(self, "_loaded_dataset", self._read_dataset())

    def unload(self) -> None:
        """Drops the dataset."""
        self.__dict__.pop("_loaded_dataset", None)
        super().unload()

    def _read_dataset(self) -> Dataset | IterableDataset:
        raise NotImplementedError(f"{type(self).__name__} must implement _read_dataset().")

    @property
    def outputs(self) -> List[str]:
        """The dataset's columns once ``load()`` has read it; none before."""
        dataset = self._dataset
        return list(dataset.column_names or []) if dataset is not None else []

    @property
    def outputs_known(self) -> bool:
        return self._dataset is not None and self._dataset.column_names is not None

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        """Yields ``(rows, is_last)`` batches of ``batch_size`` rows, from row ``offset`` on."""
        if self._dataset is None:
            raise RuntimeError(f"Step {self.name!r}: call load() before process().")
        yield from dataset_batches(self._dataset, offset, self.batch_size, self.num_examples)


class LoadDataFromHub(_DatasetLoader):
    """Loads a split of a Hugging Face Hub dataset with ``datasets.load_dataset``.

    ``repo_id`` is anything ``load_dataset`` accepts as its path: a Hub repository, or a local folder
    of data files. Outputs: the dataset's columns.
    """

    repo_id: RuntimeParameter[str] = Field(
        default=None, run_conf=False, description="The Hugging Face Hub repository ID of the dataset to load."
    )
    split: RuntimeParameter[str] = Field(default="train", description="The split of the dataset to load.")
    config: RuntimeParameter[str] = Field(
        default=None, description="The configuration of the dataset, for a dataset with several."
    )
    revision: RuntimeParameter[str] = Field(
        default=None, run_conf=False, description="The revision of the dataset; by default the latest."
    )
    streaming: RuntimeParameter[bool] = Field(
        default=False, description="Whether to stream the dataset instead of downloading it first."
    )

    def _read_dataset(self) -> Dataset | IterableDataset:
        from datasets import load_dataset

        if not self.repo_id:
            raise ValueError(f"Step {self.name!r}: repo_id is required (the dataset to load).")
        try:
            return load_dataset(
                self.repo_id,
                self.config,
                split=self.split,
                revision=self.revision,
                streaming=self.streaming,
                storage_options=self.storage_options,
            )
        except FileNotFoundError as error:
            raise FileNotFoundError(f"Step {self.name!r}: cannot find dataset {self.repo_id!r}: {error}") from error

class LoadDataFromDisk(_DatasetLoader):
    """Loads a dataset saved with ``save_to_disk`` (``datasets.load_from_disk``), or one configuration
    of a saved ``Distiset`` (``is_distiset=True``). Outputs: the dataset's columns.

    A saved ``DatasetDict`` (a Distiset configuration is one) needs ``split``, unless it has a single split.
    """

    dataset_path: RuntimeParameter[Union[str, os.PathLike]] = Field(
        default=None, run_conf=False, description="The folder of the saved dataset or Distiset."
    )
    config: RuntimeParameter[str] = Field(
        default="default", description="The Distiset configuration to load (is_distiset=True)."
    )
    is_distiset: RuntimeParameter[bool] = Field(
        default=False, description="Whether dataset_path holds a saved Distiset."
    )
    keep_in_memory: RuntimeParameter[bool] = Field(
        default=None, description="Whether to copy the dataset in memory (see datasets.load_from_disk)."
    )
    split: RuntimeParameter[str] = Field(
        default=None, description="The split to load from a saved DatasetDict."
    )

    def _read_dataset(self) -> Dataset:
        from datasets import DatasetDict, load_from_disk

        from airflow_dististage.distiset import Distiset

        if not self.dataset_path:
            raise ValueError(f"Step {self.name!r}: dataset_path is required (the saved dataset to load).")
        path = os.fspath(self.dataset_path)
        options = {"keep_in_memory": self.keep_in_memory, "storage_options": self.storage_options}
        try:
            if self.is_distiset:
                distiset = Distiset.load_from_disk(path, **options)
                if self.config not in distiset:
                    raise ValueError(
                        f"Step {self.name!r}: configuration {self.config!r} is not in the Distiset at {path!r};"
                        f" its configurations are {sorted(distiset)}. Set `config` to one of them."
                    )
                dataset = distiset[self.config]
            else:
                dataset = load_from_disk(path, **options)
        except FileNotFoundError as error:
            raise FileNotFoundError(f"Step {self.name!r}: no saved dataset at {path!r}: {error}") from error
        if self.split:
            if self.split not in dataset:
                raise ValueError(
                    f"Step {self.name!r}: split {self.split!r} is not in the dataset at {path!r};"
                    f" its splits are {sorted(dataset) if isinstance(dataset, DatasetDict) else 'none'}."
                )
            dataset = dataset[self.split]
        elif isinstance(dataset, DatasetDict):
            if len(dataset) != 1:
                raise ValueError(
                    f"Step {self.name!r}: the dataset at {path!r} has the splits {sorted(dataset)}; set `split`."
                )
            (dataset,) = dataset.values()
        return dataset


class LoadDataFromFileSystem(_DatasetLoader):
    """Loads json, jsonl, csv or parquet files with ``datasets.load_dataset(filetype, data_files=...)``.

    ``data_files`` is a file, a glob or a folder (its files and those of its subfolders), local or an
    fsspec URL (``file://``, ``s3://`` with ``storage_options``...). Without ``filetype``, it is the
    extension of the file (of the first file of a folder), ``jsonl`` read as ``json``. Outputs: the
    files' columns.
    """

    data_files: RuntimeParameter[Union[str, os.PathLike]] = Field(
        default=None, run_conf=False, description="The data file, glob or folder of data files to load."
    )
    split: RuntimeParameter[str] = Field(default="train", description="The split of the dataset to load.")
    filetype: RuntimeParameter[str] = Field(
        default=None, description=f"One of {', '.join(FILETYPES)}; by default the files' extension."
    )
    streaming: RuntimeParameter[bool] = Field(
        default=False, description="Whether to stream the files instead of preparing a dataset first."
    )

    def _read_dataset(self) -> Dataset | IterableDataset:
        from datasets import load_dataset

        files = self._resolve_data_files()
        filetype = self.filetype or self._infer_filetype(files[0])
        if filetype not in FILETYPES:
            raise ValueError(
                f"Step {self.name!r}: unknown filetype {filetype!r} for {os.fspath(self.data_files)!r};"
                f" set `filetype` to one of {list(FILETYPES)}."
            )
        return load_dataset(
            filetype,
            data_files=files,
            split=self.split,
            streaming=self.streaming,
            storage_options=self.storage_options,
        )

    def _resolve_data_files(self) -> list[str]:
        """The data files, sorted, as URLs of their file system; raises naming the step when there are none."""
        from fsspec.core import url_to_fs

        if not self.data_files:
            raise ValueError(f"Step {self.name!r}: data_files is required (the file, glob or folder to load).")
        location = os.fspath(self.data_files)
        fs, path = url_to_fs(location, **(self.storage_options or {}))
        if fs.isdir(path):
            # a folder's files and its subfolders' files, as distilabel lists them
            paths = [
                entry["name"]
                for top in fs.ls(path, detail=True)
                for entry in ([top] if top["type"] == "file" else fs.ls(top["name"], detail=True))
                if entry["type"] == "file"
            ]
        elif fs.isfile(path):
            paths = [path]
        else:
            paths = [found for found in fs.glob(path) if fs.isfile(found)]
        if not paths:
            raise FileNotFoundError(f"Step {self.name!r}: no data files at {location!r}.")
        return [fs.unstrip_protocol(found) for found in sorted(paths)]

    @staticmethod
    def _infer_filetype(file: str) -> str:
        suffix = os.path.splitext(file)[1].lstrip(".").lower()
        return _SUFFIX_FILETYPES.get(suffix, suffix)
