"""Formatting steps on Airflow: rated generations to a DPO pair, the first answer to an SFT chat and
to a conversation."""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import (
    ConversationTemplate,
    FormatTextGenerationDPO,
    FormatTextGenerationSFT,
    LoadDataFromDicts,
)

ROWS = [
    {"system_prompt": "Be brief.", "instruction": "What's 2+2?", "generation": "4",
     "generations": ["4", "5", "four"], "generation_models": ["A", "B", "C"], "ratings": [5, 1, 5]},
    {"system_prompt": "", "instruction": "Capital of France?", "generation": "Paris",
     "generations": ["Paris", "Lyon", "Nice"], "generation_models": ["A", "B", "C"], "ratings": [4, None, 2]},
]

with Pipeline(name="formatting-steps") as pipeline:
    LoadDataFromDicts(data=ROWS) >> [
        FormatTextGenerationDPO(name="dpo"),
        FormatTextGenerationSFT(name="sft"),
        ConversationTemplate(name="conversation", input_mappings={"response": "generation"}),
    ]

dag = pipeline.to_airflow(dag_id="formatting_steps", reschedule_seconds=1)
