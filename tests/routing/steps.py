"""Steps of the routing tests: deterministic stand-ins for text generation, a tagging step and a global step."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from airflow_dististage.steps import GeneratorStep, GlobalStep, Step, StepInput
from airflow_dististage.typing import GeneratorStepOutput, StepOutput


class Generate(Step):
    """``generation = "<step>:<instruction>"`` and ``model_name = <step>``, like a TextGeneration stand-in."""

    @property
    def inputs(self) -> List[str]:
        return ["instruction"]

    @property
    def outputs(self) -> List[str]:
        return ["generation", "model_name"]

    def process(self, inputs: StepInput) -> StepOutput:
        yield [{**row, "generation": f"{self.name}:{row['instruction']}", "model_name": self.name} for row in inputs]


class _Tagging:
    """Appends ``<step>/<input index>/<rows in that input>`` to each row's ``tags``: shows how batches were cut."""

    @property
    def inputs(self) -> List[str]:
        return ["instruction"]

    @property
    def outputs(self) -> List[str]:
        return ["tags"]

    def process(self, *inputs: StepInput) -> StepOutput:
        yield [
            {**row, "tags": [*(row.get("tags") or []), f"{self.name}/{index}/{len(rows)}"]}
            for index, rows in enumerate(inputs)
            for row in rows
        ]


class Tag(_Tagging, Step):
    """Tags the rows of each batch it gets."""


class Collect(_Tagging, GlobalStep):
    """Tags all rows of each predecessor, got at once."""


class FlakyInstructions(GeneratorStep):
    """``count`` rows ``{"instruction": "i<n>"}``; raises once, before batch ``fail_at``, while ``flag`` is absent."""

    count: int = 10
    fail_at: int = 2
    flag: Optional[str] = None

    @property
    def outputs(self) -> List[str]:
        return ["instruction"]

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        for start in range(offset, self.count, self.batch_size):
            if self.flag and start // self.batch_size == self.fail_at and not Path(self.flag).exists():
                Path(self.flag).touch()
                raise RuntimeError("a transient failure, on purpose")
            end = min(start + self.batch_size, self.count)
            yield [{"instruction": f"i{n}"} for n in range(start, end)], end == self.count
