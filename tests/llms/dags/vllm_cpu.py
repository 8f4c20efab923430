"""vLLM on Airflow without a GPU: an in-process ``vLLM`` step declaring a GPU (the task claims none on
vLLM's CPU platform), and ``OpenAILLM`` / ``ClientvLLM`` on a ``vllm serve`` whose URL and model folder
come from the worker's environment, set by the test."""

from __future__ import annotations

import os

from airflow_dististage.models.llms import ClientvLLM, OpenAILLM, vLLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepResources
from airflow_dististage.steps.tasks import TextGeneration

SERVER = os.environ.get("VLLM_SERVER_URL", "http://127.0.0.1:9/v1")
MODEL_DIR = os.environ.get("TINY_MODEL_DIR", "tiny-model")
GENERATION = {"max_new_tokens": 6, "temperature": 0.0}
ENGINE = {"max_model_len": 256, "enforce_eager": True}

with Pipeline(name="vllm-cpu") as pipeline:
    LoadDataFromDicts(data=[{"instruction": f"write a poem {i}"} for i in range(4)]) >> [
        TextGeneration(
            name="in_process",
            llm=vLLM(model=MODEL_DIR, extra_kwargs=ENGINE, generation_kwargs=GENERATION),
            resources=StepResources(gpus=1),
        ),
        TextGeneration(
            name="chat", llm=OpenAILLM(model="tiny", base_url=SERVER, max_retries=0, generation_kwargs=GENERATION)
        ),
        TextGeneration(
            name="client",
            llm=ClientvLLM(base_url=SERVER, tokenizer=MODEL_DIR, max_retries=0, generation_kwargs=GENERATION),
        ),
    ]

# dag.test() has no api-server to check the GPU pool with, and ignores pools.
dag = pipeline.to_airflow(dag_id="vllm_cpu", reschedule_seconds=1, check_gpu_pool="warn")
