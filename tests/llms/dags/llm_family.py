"""Every LLM family on Airflow in one DAG: a custom AsyncLLM, OpenAILLM and TransformersLLM with a
pydantic ``structured_output``, and InferenceEndpointsLLM on a TGI server.

The endpoints and the model folder come from the worker's environment, set by the test.
"""

from __future__ import annotations

import os

from pydantic import BaseModel

from airflow_dististage.models.llms import InferenceEndpointsLLM, OpenAILLM, TransformersLLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts
from airflow_dististage.steps.tasks import TextGeneration
from tests.llms.async_llms import RendezvousLLM


class Person(BaseModel):
    name: str
    age: int


with Pipeline(name="llm-family") as pipeline:
    LoadDataFromDicts(data=[{"instruction": f"describe person {i}"} for i in range(4)]) >> [
        TextGeneration(name="rendezvous", llm=RendezvousLLM(together=2), input_batch_size=2),
        TextGeneration(
            name="openai_person",  # the server is the worker's OPENAI_BASE_URL
            llm=OpenAILLM(model="tiny", max_retries=0, structured_output={"schema": Person}),
        ),
        TextGeneration(
            name="tgi",
            llm=InferenceEndpointsLLM(base_url=os.environ.get("TGI_BASE_URL", "http://127.0.0.1:9"), max_retries=0),
        ),
        TextGeneration(
            name="local_person",
            llm=TransformersLLM(
                model=os.environ.get("ANSWERING_MODEL_DIR", "answering-model"),
                device="cpu",
                structured_output={"schema": Person, "max_retries": 10},
                generation_kwargs={"seed": 3, "temperature": 1.0, "max_new_tokens": 4},
            ),
        ),
    ]

dag = pipeline.to_airflow(dag_id="llm_family", reschedule_seconds=1)
