"""Task steps on Airflow: a judge rates two answers per instruction, a custom task and Self-Instruct write
from a context, all with a deterministic canned LLM."""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts
from airflow_dististage.steps.tasks import SelfInstruct, UltraFeedback, task
from tests.steps.canned_llm import CannedLLM

ROWS = [
    {"instruction": "What's 2+2?", "generations": ["4", "a car"], "input": "arithmetic"},
    {"instruction": "Capital of France?", "generations": ["Paris", "Lyon"], "input": "geography"},
]
JUDGE = CannedLLM(
    model="judge",
    replies={
        "2+2": "#### Output for Text 1\nRating: 5\nRationale: Correct.\n\n"
        "#### Output for Text 2\nRating: 1\nRationale: Off.",
        "France": "I cannot rate these.",
    },
)


@task(inputs=["input"], outputs=["topic"])
def NameTopic(output: str | None, input: dict | None = None) -> dict:
    """Names the topic of a context.

    ---
    system_prompt: You name topics.
    user_message_template: "Topic of: {input}"
    ---
    """
    return {"topic": output.upper() if output is not None else None}


with Pipeline(name="task-steps") as pipeline:
    LoadDataFromDicts(data=ROWS) >> [
        UltraFeedback(name="judge", llm=JUDGE, add_raw_input=False),
        NameTopic(name="topic", llm=CannedLLM(replies={"arithmetic": "maths", "geography": "places"})),
        SelfInstruct(
            name="queries",
            llm=CannedLLM(replies={"arithmetic": "Add 1 and 2.\n\nWhat is 3*3?", "geography": "Name a river."}),
            num_instructions=2,
            add_raw_input=False,
            add_raw_output=False,
        ),
    ]

dag = pipeline.to_airflow(dag_id="task_steps", reschedule_seconds=1)
