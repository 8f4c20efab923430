"""Merged calls: the input batches a step has in flight meet in one ``generate`` call of a sync LLM
(the real TransformersLLM with the tiny model), and each batch still gets exactly its own outputs."""

from __future__ import annotations

from pathlib import Path

from airflow_dististage.llms import TransformersLLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime.read_ahead import in_order
from airflow_dististage.steps import LoadDataFromDicts
from airflow_dististage.steps.tasks import TextGeneration

GREEDY = {"max_new_tokens": 3, "do_sample": False, "repetition_penalty": 1.0}

def test_merged_calls_of_a_sync_llm_keep_each_batch_its_own_outputs(tiny_model_dir: Path) -> None:
    llm = TransformersLLM(model=str(tiny_model_dir), device="cpu", prompts_per_call=12)
    llm.load()
    try:
        chats = [[{"role": "user", "content": f"question {index}" + " and more" * (index % 4)}] for index in range(36)]
        batches = [chats[first : first + 4] for first in range(0, 36, 4)]
        alone = [llm.generate(batch, **GREEDY) for batch in batches]
        window = llm.batches_in_flight(4)
        jobs = ((index, lambda batch=batch: llm.generate_batch(batch, **GREEDY)) for index, batch in enumerate(batches))
        merged = [outputs for _, outputs in in_order(jobs, window)]
        calls = llm.__dict__["_call_merger"].calls
    finally:
        llm.unload()

    assert window == 6  # two calls' worth of batches of 4 for 12 prompts a call
    assert [[output["generations"] for output in batch] for batch in merged] == [
        [output["generations"] for output in batch] for batch in alone
    ]
    assert calls < len(batches), f"{calls} generate calls for {len(batches)} batches: nothing was merged"


def test_a_pipeline_with_merged_calls_writes_the_rows_in_order(tiny_model_dir: Path, tmp_path: Path) -> None:
    settings = {"model": str(tiny_model_dir), "device": "cpu", "generation_kwargs": GREEDY}
    data = [{"instruction": f"question {index}" + " again" * (index % 3)} for index in range(30)]
    with Pipeline(name="merged") as pipeline:
        LoadDataFromDicts(data=data, batch_size=10) >> TextGeneration(
            llm=TransformersLLM(prompts_per_call=12, **settings), input_batch_size=4
        )
    distiset = pipeline.run(use_cache=False, storage_parameters={"path": str(tmp_path)}, show_progress=False)
    rows = distiset["default"]["train"].to_list()

    llm = TransformersLLM(**settings)
    llm.load()
    try:
        chats = [[{"role": "user", "content": row["instruction"]}] for row in data]
        expected = [output["generations"][0] for output in llm.generate(chats, **GREEDY)]
    finally:
        llm.unload()
    assert [row["instruction"] for row in rows] == [row["instruction"] for row in data]
    assert [row["generation"] for row in rows] == expected
