"""A nightly generation run: new rows every night at 02:00 UTC, published as an Airflow Asset.

The LLM is any OpenAI-compatible server (a vLLM ``serve`` on the GPU box, or OpenAI): its URL and key
come from the worker (``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``, or an Airflow connection named by
``conn_id``), never from a run's conf; the sampling settings are Params, so a manual run from the UI
can change them. ``report_nightly_distiset`` runs
whenever a nightly Distiset lands, because it is scheduled on the Asset the generation DAG updates.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_dististage.compiler import distiset_asset
from airflow_dististage.llms import OpenAILLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, step
from airflow_dististage.steps.tasks import TextGeneration
from airflow_dististage.typing import StepOutput

TOPICS = ["rivers", "markets", "volcanoes", "libraries", "bridges", "orchards", "glaciers", "harbours"]


@step(inputs=["generation"], outputs=["generation", "words"])
def CountWords(inputs: StepInput, min_words: int = 1) -> StepOutput:
    yield [{**row, "words": len((row["generation"] or "").split())} for row in inputs
           if len((row["generation"] or "").split()) >= min_words]


with Pipeline(name="nightly-generation", description="Nightly short texts about a few topics.") as pipeline:
    topics = LoadDataFromDicts(data=[{"instruction": f"Write two sentences about {topic}."} for topic in TOPICS])
    generation = TextGeneration(
        name="text_generation",
        llm=OpenAILLM(model="Qwen/Qwen2.5-0.5B-Instruct", generation_kwargs={"temperature": 0.8, "max_new_tokens": 128}),
    )
    topics >> generation >> CountWords(name="count_words")

dag = pipeline.to_airflow(
    dag_id="nightly_generation",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"note": "nightly"},
    tags=["dististage", "nightly"],
)

with DAG(
    "report_nightly_distiset",
    schedule=[distiset_asset("nightly_generation")],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    tags=["dististage", "nightly"],
    doc_md="Runs each time `nightly_generation` publishes a Distiset; logs where it is and its row counts.",
):

    @task
    def report(**context: object) -> dict:
        events = context["triggering_asset_events"]
        return {str(asset.uri): [event.extra for event in asset_events] for asset, asset_events in events.items()}

    report()

if __name__ == "__main__":
    print(pipeline.plan().describe())
