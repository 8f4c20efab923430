"""Column steps on Airflow: three answer sources grouped, expanded back to one row each, then kept."""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import CombineOutputs, ExpandColumns, GroupColumns, KeepColumns, LoadDataFromDicts

MODELS = ("m1", "m2", "m3")

with Pipeline(name="column-steps") as pipeline:
    sources = [
        LoadDataFromDicts(
            name=model,
            data=[{"id": i, "generation": f"{model}-{i}", "model_name": model} for i in range(4)],
            batch_size=3,
        )
        for model in MODELS
    ]
    ids = LoadDataFromDicts(name="ids", data=[{"id": i, "topic": f"t{i}"} for i in range(4)], batch_size=2)
    grouped = GroupColumns(
        columns=["generation", "model_name"], output_columns=["generations", "generation_models"], input_batch_size=2
    )
    combined = CombineOutputs()
    expanded = ExpandColumns(columns={"generations": "generation", "generation_models": "model"})
    sources >> grouped
    [grouped, ids] >> combined >> expanded >> KeepColumns(columns=["id", "topic", "generation", "model"])

dag = pipeline.to_airflow(dag_id="column_steps", reschedule_seconds=1)
