"""``EvolInstruct``: instructions made harder (or broader) by an LLM over several rounds of random mutations."""

from __future__ import annotations

import json
import random
from typing import Any, Dict, List, Optional, Union

from airflow_dististage.constants import DISTILABEL_METADATA_KEY
from airflow_dististage.llms.base import ChatType, GenerateOutput
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter
from airflow_dististage.steps.base import StepInput
from airflow_dististage.steps.tasks.base import Task
from airflow_dististage.steps.tasks.evol_instruct.utils import MUTATION_TEMPLATES
from airflow_dististage.typing import StepColumns, StepOutput

__all__ = ["EvolInstruct"]


class EvolInstruct(Task):
    """Evolves each row's ``instruction`` ``num_evolutions`` times, each time with a randomly picked mutation.

    Every round sends ``mutation_templates[picked]`` with ``<PROMPT>`` replaced by the latest instruction
    and keeps the text after the last ``Prompt#:`` of the answer, stripped.

    Args:
        num_evolutions: the rounds of evolution (required).
        store_evolutions: keep every evolved instruction (``evolved_instructions``), not only the last.
        generate_answers: also answer the evolved instruction(s) (``answer`` / ``answers``).
        include_original_instruction: with ``store_evolutions``, the original instruction comes first.
        mutation_templates: mutation name -> prompt with a ``<PROMPT>`` placeholder.
        seed: seeds the mutation picks; a batch's picks depend only on the seed and its instructions,
            so a rerun or a resumed run picks the same mutations.

    Input columns: ``instruction`` (str).
    Output columns: ``evolved_instruction`` (or ``evolved_instructions``), ``model_name``, and with
    ``generate_answers`` ``answer`` (or ``answers``). ``distilabel_metadata`` (replacing the row's) gets
    the row's per-round token counts under ``statistics_instruction_<step>``, or with ``generate_answers``
    those of its answers under ``statistics_answer_<step>`` only, when the LLM reports them.
    """

    num_evolutions: int
    store_evolutions: bool = False
    generate_answers: bool = False
    include_original_instruction: bool = False
    mutation_templates: Dict[str, str] = Field(default_factory=lambda: dict(MUTATION_TEMPLATES))
    seed: RuntimeParameter[int] = Field(default=42, description="Seeds the random pick of each mutation.")

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if not isinstance(self.num_evolutions, int) or self.num_evolutions < 1:
            raise ValueError(
                f"Step {self.name!r}: num_evolutions must be an integer >= 1, got {self.num_evolutions!r}."
            )
        if not self.mutation_templates or not all(isinstance(t, str) for t in self.mutation_templates.values()):
            raise ValueError(f"Step {self.name!r}: mutation_templates must map names to prompt strings.")

    @property
    def inputs(self) -> StepColumns:
        return ["instruction"]

    @property
    def outputs(self) -> StepColumns:
        columns = ["evolved_instructions" if self.store_evolutions else "evolved_instruction", "model_name"]
        if self.generate_answers:
            columns.append("answers" if self.store_evolutions else "answer")
        return columns

    @property
    def mutation_templates_names(self) -> List[str]:
        """The names of the mutations picked from."""
        return list(self.mutation_templates)

    def format_input(self, input: str) -> ChatType:  # type: ignore[override]  # noqa: A002 - distilabel's name
        """One user message holding ``input`` (a mutation prompt or an instruction)."""
        return [{"role": "user", "content": input}]

    def format_output(  # type: ignore[override]
        self, instructions: Union[str, List[Optional[str]]], answers: Optional[List[Optional[str]]] = None
    ) -> Dict[str, Any]:
        """The output columns from a row's instructions (and their answers)."""
        output: Dict[str, Any] = {}
        if self.store_evolutions:
            output["evolved_instructions"] = instructions
        else:
            output["evolved_instruction"] = instructions[-1]
        if self.generate_answers and answers:
            if self.store_evolutions:
                output["answers"] = answers
            else:
                output["answer"] = answers[-1]
        output["model_name"] = self.llm.model_name
        return output

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Evolves the batch's instructions round by round (one ``generate`` call per round), then answers them."""
        rng = random.Random(json.dumps([self.seed, [row["instruction"] for row in inputs]]))
        chains: List[List[Optional[str]]] = [[row["instruction"]] for row in inputs]
        metadata: List[Dict[str, Any]] = [{} for _ in inputs]
        # As in distilabel, a step that answers reports the answers' token counts only.
        evolution_statistics = None if self.generate_answers else f"statistics_instruction_{self.name}"
        for _ in range(self.num_evolutions):
            prompts = [
                self.mutation_templates[rng.choice(self.mutation_templates_names)].replace("<PROMPT>", chain[-1])
                if chain[-1] is not None
                else None
                for chain in chains
            ]
            texts = self._generate(prompts, metadata, evolution_statistics)
            for chain, text in zip(chains, texts):
                evolved = text.split("Prompt#:")[-1].strip() if text is not None else None
                if self.store_evolutions:
                    chain.append(evolved)
                else:
                    chain[:] = [evolved]
        if self.store_evolutions and not self.include_original_instruction:
            chains = [chain[1:] for chain in chains]
        answers: List[Optional[List[Optional[str]]]] = [None] * len(chains)
        if self.generate_answers:
            flat = [instruction for chain in chains for instruction in chain]
            per_row = [len(chain) for chain in chains]
            texts = iter(self._generate(flat, metadata, f"statistics_answer_{self.name}", per_row=per_row))
            answers = [[next(texts) for _ in chain] for chain in chains]
        rows = []
        for row, chain, answer, extra in zip(inputs, chains, answers, metadata):
            # As in distilabel, the step's metadata replaces the one the row had.
            rows.append({**row, **self.format_output(chain, answer), DISTILABEL_METADATA_KEY: extra})
        yield rows

    def _generate(
        self,
        prompts: List[Optional[str]],
        metadata: List[Dict[str, Any]],
        statistics_key: Optional[str],
        per_row: Optional[List[int]] = None,
    ) -> List[Optional[str]]:
        """One generation per prompt (``None`` prompts are not sent); errors, and token counts under
        ``statistics_key`` unless it is None, go to ``metadata``.

        ``per_row`` says how many consecutive prompts belong to each row (one each by default).
        """
        owners = [i for i, count in enumerate(per_row or [1] * len(prompts)) for _ in range(count)]
        sent = [index for index, prompt in enumerate(prompts) if prompt is not None]
        chats = [self.format_input(prompts[index]) for index in sent]
        outputs: List[GenerateOutput] = self.generate_outputs(chats, num_generations=1) if chats else []
        if len(outputs) != len(sent):
            raise RuntimeError(
                f"Step {self.name!r}: {type(self.llm).__name__}.generate returned {len(outputs)} outputs"
                f" for {len(sent)} inputs."
            )
        texts: List[Optional[str]] = [None] * len(prompts)
        for index, output in zip(sent, outputs):
            generations = output.get("generations") or [None]
            texts[index] = generations[-1]
            row_metadata = metadata[owners[index]]
            for key, values in (output.get("statistics") or {}).items() if statistics_key else ():
                row_metadata.setdefault(statistics_key, {}).setdefault(key, []).append(values[0] if values else None)
            if output.get("error") or texts[index] is None:
                row_metadata.setdefault(f"error_{self.name}", output.get("error") or "the LLM returned no text")
        return texts
