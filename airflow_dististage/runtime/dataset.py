"""``pipeline.run(dataset=...)``: a loader step for rows given at run time, as distilabel adds one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Dict, List

from airflow_dististage.mixins.runtime_parameters import Field
from airflow_dististage.steps.generators.data import LoadDataFromDicts

if TYPE_CHECKING:
    from airflow_dististage.pipeline.base import Pipeline

_LOADER_BASE_NAME = "load_data_from_dicts"


class RunDatasetLoader(LoadDataFromDicts):
    """The ``LoadDataFromDicts`` that ``run(dataset=...)`` adds (named ``load_data_from_dicts_<i>``).

    Its rows are the run's input, not part of the pipeline: ``pipeline.yaml`` leaves them out, as
    distilabel does (a large dataset would make every saved Distiset carry a copy), and a pipeline
    built from that file takes them again from ``run(dataset=...)``.
    """

    not_serialized: ClassVar[frozenset[str]] = frozenset({"pipeline", "data"})

    data: List[Dict[str, Any]] = Field(default_factory=list, description="The run's rows.")


def dataset_rows(dataset: Any) -> tuple[list[dict[str, Any]], list[str] | None]:
    """Rows of a list of dicts, a ``datasets.Dataset`` or a pandas ``DataFrame``, and its columns
    (a table's column names, which it has even without rows; None for a list)."""
    if isinstance(dataset, list):
        if not all(isinstance(row, dict) for row in dataset):
            raise TypeError("dataset= as a list must hold dicts (one per row).")
        return dataset, None
    if hasattr(dataset, "column_names") and hasattr(dataset, "to_list"):
        return dataset.to_list(), list(dataset.column_names)
    if hasattr(dataset, "columns") and hasattr(dataset, "to_dict"):
        return dataset.to_dict(orient="records"), list(dataset.columns)
    raise TypeError(
        f"dataset= takes a list of dicts, a datasets.Dataset or a pandas DataFrame, got {type(dataset).__name__}."
    )


def attach_dataset(pipeline: Pipeline, dataset: Any, batch_size: int) -> LoadDataFromDicts:
    """Feeds ``dataset`` to the pipeline's first steps through a ``LoadDataFromDicts`` loader.

    The loader is connected to every step without a predecessor. Running again with another
    dataset (or a pipeline built from the ``pipeline.yaml`` of such a run) reuses the loader with
    the new rows.

    Raises:
        ValueError: the pipeline already has a generator step of its own, or ``batch_size``
            (``dataset_batch_size`` of ``Pipeline.run``) is not an integer >= 1.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"dataset_batch_size must be an integer >= 1, got {batch_size!r}.")
    rows, columns = dataset_rows(dataset)
    loader = next((step for step in pipeline.steps.values() if isinstance(step, RunDatasetLoader)), None)
    if loader is None:
        own_generators = [name for name, step in pipeline.steps.items() if step.is_generator]
        if own_generators:
            raise ValueError(
                f"Pipeline {pipeline.name!r} already starts with generator step(s) {own_generators}:"
                " pass dataset= only to a pipeline whose first steps take input rows."
            )
        roots = [step for name, step in pipeline.steps.items() if not any(pipeline.dag.predecessors(name))]
        loader = RunDatasetLoader(
            name=pipeline.free_step_name(_LOADER_BASE_NAME),
            pipeline=pipeline,
            data=rows,
            columns=columns,
            batch_size=batch_size,
        )
        loader.connect(*roots)
    else:
        loader.data = rows
        loader.columns = columns
        loader.batch_size = batch_size
    return loader
