"""CombineOutputs joins, row by row, the outputs of several upstream steps.

Modelled on the ``CombineOutputs`` docstring examples of distilabel 1.5.3
(``distilabel.steps.columns.combine``: "Combine dictionaries of a dataset" and "Combine upstream steps
outputs in a pipeline", ``[step_1, step_2, step_3] >> combine``).
"""

import os

from distilabel.pipeline import Pipeline
from distilabel.steps import CombineOutputs, KeepColumns, LoadDataFromDicts, StepInput, step
from distilabel.typing import StepOutput


@step(inputs=["a"], outputs=["a_doubled"])
def Double(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["a_doubled"] = row["a"] * 2
    yield inputs


def main(workdir: str):
    with Pipeline(name="compat-combine-outputs", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        step_1 = LoadDataFromDicts(name="step_1", data=[{"a": i, "b": 10 * i} for i in range(7)], batch_size=3)
        step_2 = LoadDataFromDicts(
            name="step_2", data=[{"c": f"c{i}", "d": i % 2 == 0} for i in range(7)], batch_size=3
        )
        step_3 = LoadDataFromDicts(name="step_3", data=[{"e": [i, i + 1]} for i in range(7)], batch_size=3)
        double = Double()
        combine = CombineOutputs()
        step_1 >> double
        [double, step_2, step_3] >> combine >> KeepColumns(columns=["a_doubled", "c", "d", "e", "b"])

    return pipeline.run(use_cache=False)
