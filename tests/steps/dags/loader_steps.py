"""The three ``datasets`` loaders on Airflow, reading the data the test writes into ``loader_steps_data/``.

Parsing this file reads no data and imports no ``datasets``: the loaders read in their tasks.
"""

from __future__ import annotations

from pathlib import Path

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import KeepColumns, LoadDataFromDisk, LoadDataFromFileSystem, LoadDataFromHub

DATA = Path(__file__).with_name("loader_steps_data")

with Pipeline(name="loader-steps") as pipeline:
    LoadDataFromHub(name="hub", repo_id=str(DATA / "hub"), batch_size=3, num_examples=5)
    LoadDataFromDisk(name="disk", dataset_path=str(DATA / "distiset"), is_distiset=True, batch_size=2)
    files = LoadDataFromFileSystem(name="files", data_files=(DATA / "files").as_uri() + "/*.jsonl", batch_size=4)
    files >> KeepColumns(name="kept", columns=["id"])

dag = pipeline.to_airflow(dag_id="loader_steps", reschedule_seconds=1)
