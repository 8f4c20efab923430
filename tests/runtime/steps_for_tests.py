"""Steps and pipelines shared by the runtime tests (defined at module level so forked steps run them)."""

from __future__ import annotations

import os
import time
from typing import Any

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import GeneratorStep, GlobalStep, LoadDataFromDicts, Step, StepInput, StepResources, step


@step(inputs=["instruction"], outputs=["response"])
def DummyStep(inputs: StepInput):
    for row in inputs:
        row["response"] = row["instruction"].upper()
    yield inputs


@step(inputs=["instruction"], outputs=["instruction"], step_type="global")
def GlobalDummyStep(inputs: StepInput):
    yield inputs


def seed_pipeline(rows: int, name: str = "seed-pipeline") -> Pipeline:
    """The seed example: generator >> DummyStep >> GlobalDummyStep >> DummyStep."""
    with Pipeline(name=name) as pipeline:
        data = [{"instruction": f"Hi {index}"} for index in range(rows)]
        LoadDataFromDicts(data=data) >> DummyStep() >> GlobalDummyStep() >> DummyStep()
    return pipeline


def seed_expected(rows: int) -> list[dict[str, Any]]:
    return [{"instruction": f"Hi {index}", "response": f"HI {index}"} for index in range(rows)]


class Numbers(GeneratorStep):
    """Rows ``{"n": 0..count-1}``."""

    count: int = 100

    @property
    def outputs(self) -> list[str]:
        return ["n"]

    def process(self, offset: int = 0):
        for start in range(offset, self.count, self.batch_size):
            end = min(start + self.batch_size, self.count)
            yield [{"n": n} for n in range(start, end)], end >= self.count
        if offset >= self.count:
            yield [], True


class AddOne(Step):
    """``n`` -> ``n + 1``; sleeps ``delay`` seconds per batch; fails on ``fail_at`` if set."""

    delay: float = 0.0
    fail_at: int = -1

    @property
    def inputs(self) -> list[str]:
        return ["n"]

    @property
    def outputs(self) -> list[str]:
        return ["n"]

    def process(self, inputs: StepInput):
        if self.delay:
            time.sleep(self.delay)
        if any(row["n"] == self.fail_at for row in inputs):
            raise ValueError(f"boom at n={self.fail_at}")
        yield [{**row, "n": row["n"] + 1} for row in inputs]


class KeepEven(Step):
    """Drops odd ``n`` (all rows when ``drop_all``)."""

    drop_all: bool = False

    @property
    def inputs(self) -> list[str]:
        return ["n"]

    def process(self, inputs: StepInput):
        yield [row for row in inputs if not self.drop_all and row["n"] % 2 == 0]


class Merge(Step):
    """Several predecessors: records the batch shapes it receives and concatenates them."""

    @property
    def inputs(self) -> list[str]:
        return ["n"]

    @property
    def outputs(self) -> list[str]:
        return ["sizes"]

    def process(self, *inputs: StepInput):
        sizes = [len(batch) for batch in inputs]
        for batch in inputs:
            yield [{**row, "sizes": sizes} for row in batch]


class Total(GlobalStep):
    """Global: one row with the sum of ``n`` and the row count."""

    @property
    def inputs(self) -> list[str]:
        return ["n"]

    @property
    def outputs(self) -> list[str]:
        return ["total", "count"]

    def process(self, inputs: StepInput):
        yield [{"total": sum(row["n"] for row in inputs), "count": len(inputs)}]


class RecordPid(Step):
    """Adds the process id and CUDA_VISIBLE_DEVICES of the replica that handled each row."""

    @property
    def inputs(self) -> list[str]:
        return ["n"]

    @property
    def outputs(self) -> list[str]:
        return ["pid", "gpus"]

    def process(self, inputs: StepInput):
        yield [{**row, "pid": os.getpid(), "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")} for row in inputs]


def replicated_pipeline(rows: int, replicas: int, gpus: int | None = None) -> Pipeline:
    with Pipeline(name="replicas") as pipeline:
        Numbers(count=rows, batch_size=7) >> RecordPid(
            input_batch_size=10, resources=StepResources(replicas=replicas, gpus=gpus)
        )
    return pipeline



class LastBatchEmpty(GeneratorStep):
    """A generator whose final batch holds no rows."""

    @property
    def outputs(self) -> list[str]:
        return ["n"]

    def process(self, offset: int = 0):
        if offset == 0:
            yield [{"n": n} for n in range(60)], False
        yield [], True


class CallLog(Step):
    """Appends the first ``n`` of each batch it processes to ``log_path``; passes rows on."""

    log_path: str = ""
    tag: str = "x"

    @property
    def inputs(self) -> list[str]:
        return ["n"]

    @property
    def outputs(self) -> list[str]:
        return ["tag"]

    def process(self, inputs: StepInput):
        with open(self.log_path, "a") as log:
            log.write(f"{inputs[0]['n']}\n")
        yield [{**row, "tag": self.tag} for row in inputs]


class CrashOnce(Step):
    """Raises the first time it sees ``n == crash_at`` (remembered in ``flag_path``), logs every batch."""

    crash_at: int = 0
    flag_path: str = ""
    log_path: str = ""

    @property
    def inputs(self) -> list[str]:
        return ["n"]

    def process(self, inputs: StepInput):
        if any(row["n"] == self.crash_at for row in inputs) and not os.path.exists(self.flag_path):
            open(self.flag_path, "w").close()
            raise RuntimeError("simulated crash")
        with open(self.log_path, "a") as log:
            log.write(f"{inputs[0]['n']}\n")
        yield inputs


class Reverse(GlobalStep):
    """Global: all rows in reverse order."""

    @property
    def inputs(self) -> list[str]:
        return ["n"]

    def process(self, inputs: StepInput):
        yield list(reversed(inputs))


class BatchShape(Step):
    """Tags each row with its batch's size and its position in the batch; yields in two lists."""

    @property
    def inputs(self) -> list[str]:
        return ["n"]

    @property
    def outputs(self) -> list[str]:
        return ["shape"]

    def process(self, inputs: StepInput):
        tagged = [{**row, "shape": [len(inputs), index]} for index, row in enumerate(inputs)]
        yield tagged[: len(tagged) // 2]
        yield tagged[len(tagged) // 2 :]


class MergeInstructions(Step):
    """Two predecessors with the seed's columns: concatenates their batches."""

    @property
    def inputs(self) -> list[str]:
        return ["instruction"]

    def process(self, *inputs: StepInput):
        for batch in inputs:
            yield batch
