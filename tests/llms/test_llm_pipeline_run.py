"""The seed's second example on CPU: two TextGeneration steps in two load stages, run for real."""

from __future__ import annotations

import os
from pathlib import Path

from airflow_dististage.llms import TransformersLLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps.tasks import TextGeneration

LOADS_FILE_ENV = "TINY_LLM_LOADS_FILE"


class CountingTransformersLLM(TransformersLLM):
    """The real TransformersLLM, also appending one line to a file per load (step processes included)."""

    def load(self) -> None:
        super().load()
        with open(os.environ[LOADS_FILE_ENV], "a") as loads:
            loads.write(f"{os.getpid()}\n")


def test_two_text_generations_in_two_stages_run_on_cpu(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import datasets

    loads = tmp_path / "loads.txt"
    monkeypatch.setenv(LOADS_FILE_ENV, str(loads))
    settings = {"model": str(tiny_model_dir), "device": "cpu", "generation_kwargs": {"max_new_tokens": 4}}
    with Pipeline(name="seed-two-cpu") as pipeline:
        text_generation_0 = TextGeneration(llm=CountingTransformersLLM(**settings), input_batch_size=3)
        text_generation_1 = TextGeneration(llm=CountingTransformersLLM(**settings), input_batch_size=3)
    stages, _ = pipeline.get_load_stages(load_groups=[[text_generation_1.name]])
    assert stages == [["text_generation_0"], ["text_generation_1"]]

    dataset = datasets.Dataset.from_list([{"instruction": f"question {i}"} for i in range(7)])
    distiset = pipeline.run(
        dataset=dataset,
        load_groups=[[text_generation_0.name]],
        use_cache=False,
        storage_parameters={"path": str(tmp_path / "store")},
    )

    assert set(distiset) == {"text_generation_0", "text_generation_1"}
    for name in ("text_generation_0", "text_generation_1"):
        rows = distiset[name]["train"].to_list()
        assert [row["instruction"] for row in rows] == [f"question {i}" for i in range(7)]
        assert all(isinstance(row["generation"], str) for row in rows)
        assert all(row["model_name"] == str(tiny_model_dir) for row in rows)
        assert all(row["distilabel_metadata"][f"statistics_{name}"]["output_tokens"] >= 1 for row in rows)
    assert len(loads.read_text().splitlines()) == 2, "each step loads its model once for its 3 batches"
