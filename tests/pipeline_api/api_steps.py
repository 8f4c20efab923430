"""Steps and pipelines of the pipeline API tests, at module level so a pipeline file can name them."""

from __future__ import annotations

from typing import Any, Dict, List

from airflow_dististage.llms import OpenAILLM, TransformersLLM, vLLM
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import (
    CombineOutputs,
    ConversationTemplate,
    ExpandColumns,
    FormatChatGenerationDPO,
    FormatTextGenerationSFT,
    GroupColumns,
    KeepColumns,
    LoadDataFromDicts,
    LoadDataFromDisk,
    LoadDataFromFileSystem,
    LoadDataFromHub,
    MergeColumns,
    Step,
    StepInput,
    StepResources,
    step,
)
from airflow_dististage.steps.tasks import (
    ChatGeneration,
    EvolInstruct,
    GenerateSentencePair,
    SelfInstruct,
    TextGeneration,
    UltraFeedback,
    task,
)
from airflow_dististage.typing import StepOutput


@step(inputs=["generation"], outputs=["shout"])
def Shout(inputs: StepInput, suffix: str = "!") -> StepOutput:
    for row in inputs:
        row["shout"] = f"{row['generation']}{suffix}"
    yield inputs


@step(inputs=["instruction"], outputs=["instruction"], step_type="global")
def Dedup(inputs: StepInput) -> StepOutput:
    seen: set[str] = set()
    yield [row for row in inputs if not (row["instruction"] in seen or seen.add(row["instruction"]))]


@task(inputs=["instruction"], outputs=["topic"])
def NameTopic(output: str | None, input: dict | None = None) -> dict:
    """Names the topic of an instruction.

    ---
    system_prompt: You name topics.
    user_message_template: "Topic of: {instruction}"
    ---
    """
    return {"topic": output}


class Tag(Step):
    """Adds ``tag`` (a runtime parameter) to every row; ``extra`` holds nested configuration."""

    tag: RuntimeParameter[str] = Field(default="t", description="The tag written to each row.")
    extra: Dict[str, Any] = Field(default_factory=dict)

    @property
    def outputs(self) -> List[str]:
        return ["tag"]

    def process(self, *inputs: StepInput) -> StepOutput:
        for batch in inputs:
            yield [{**row, "tag": self.tag} for row in batch]


def every_family_pipeline() -> Pipeline:
    """One of each step family: loaders, tasks with each LLM, column and formatting steps, ``@step``,
    ``@task``, a global step and a custom step with several predecessors (given in reverse order)."""
    with Pipeline(name="every family", description="All step kinds.", requirements=["datasets>=2"]) as pipeline:
        rows = LoadDataFromDicts(data=[{"instruction": "Write a haiku", "system_prompt": "Be brief"}], batch_size=5)
        hub = LoadDataFromHub(repo_id="org/prompts", split="train", num_examples=3, storage_options={"anon": True})
        files = LoadDataFromFileSystem(data_files="/data/*.jsonl", filetype="json")
        disk = LoadDataFromDisk(dataset_path="/data/saved", is_distiset=True, config="default")

        text = TextGeneration(
            llm=OpenAILLM(model="served", base_url="http://127.0.0.1:9/v1", generation_kwargs={"temperature": 0.3}),
            template="Answer: {{ instruction }}",
            input_batch_size=4,
        )
        shout = Shout(name="shout", output_mappings={"shout": "loud"})
        topic = NameTopic(llm=OpenAILLM(model="served", conn_id="llm_server"))
        rows >> text >> [shout, topic]

        evol = EvolInstruct(llm=TransformersLLM(model="/models/tiny", torch_dtype="float32"), num_evolutions=2, seed=3)
        tag = Tag(tag="evolved", extra={"nested": {"depth": [1, 2]}}, resources=StepResources(replicas=2, cpus=1))
        hub >> evol
        [evol, shout] >> tag  # predecessors given in reverse creation order
        tag >> Dedup() >> KeepColumns(columns=["instruction", "tag"])

        judge = UltraFeedback(
            aspect="honesty", llm=vLLM(model="/models/judge", extra_kwargs={"max_model_len": 512}),
            resources=StepResources(gpus=1), input_mappings={"generations": "answers"},
        )
        files >> judge >> FormatChatGenerationDPO()
        files >> SelfInstruct(llm=TransformersLLM(model="/models/tiny"), num_instructions=2)

        chat = ChatGeneration(llm=OpenAILLM(model="chat", base_url="http://127.0.0.1:9/v1"))
        expand = ExpandColumns(columns={"generations": "generation"})
        disk >> ConversationTemplate() >> chat >> GenerateSentencePair(
            llm=OpenAILLM(model="pairs", base_url="http://127.0.0.1:9/v1"), triplet=True, action="paraphrase",
            input_mappings={"anchor": "generation"},
        )
        disk >> expand >> MergeColumns(columns=["instruction", "generation"], output_column="merged")
        [expand, chat] >> CombineOutputs()
        [expand, chat] >> GroupColumns(columns=["generation"], output_columns=["grouped"])
        disk >> FormatTextGenerationSFT(input_mappings={"generation": "response"})
    return pipeline
