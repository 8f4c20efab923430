"""Two vLLM ``TextGeneration`` steps on a one-GPU pool, one after the other.

Both steps need the single GPU (``StepResources(gpus=1)``), so ``load_groups`` puts
``text_generation_1`` in a load stage of its own: stage 0 loads the data and the first model,
stage 1 the second model once the first has released the GPU. Needs ``airflow dististage pools
sync --gpus 1`` (or more) and vllm on the worker; parsing this file imports neither vllm nor torch.
"""

from __future__ import annotations

from airflow_dististage.llms import vLLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepResources
from airflow_dististage.steps.tasks import TextGeneration

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"

with Pipeline(name="two-vllm-generations", description="Two vLLM generations sharing one GPU.") as pipeline:
    load_data = LoadDataFromDicts(data=[{"instruction": "Write a haiku about the sea."}] * 50)
    text_generation_0 = TextGeneration(
        llm=vLLM(model=MODEL, extra_kwargs={"max_model_len": 2048}, generation_kwargs={"temperature": 0.7}),
        resources=StepResources(gpus=1),
    )
    text_generation_1 = TextGeneration(
        llm=vLLM(model=MODEL, extra_kwargs={"max_model_len": 2048}, generation_kwargs={"temperature": 1.0}),
        resources=StepResources(gpus=1),
    )
    load_data >> [text_generation_0, text_generation_1]

dag = pipeline.to_airflow(dag_id="two_vllm_generations", load_groups=[[text_generation_1.name]])

if __name__ == "__main__":
    print(pipeline.plan([[text_generation_1.name]]).describe())
