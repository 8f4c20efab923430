"""DAGs whose steps fail outside their streaming loop: every same-stage successor must fail within
seconds, never wait for hours for a predecessor that will not run again.

- ``gpu_claim_times_out``: a GPU step cannot claim its device (the test holds it) within one second.
- ``upstream_fails_while_waiting``: the generator fails before its first batch; the next step sees
  that while it waits for its predecessor to start, and its own successor must hear of it.
"""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, StepResources, step
from airflow_dististage.typing import GeneratorStepOutput, StepOutput


@step(inputs=["text"], outputs=["text"])
def Shout(inputs: StepInput) -> StepOutput:
    yield [{"text": row["text"].upper()} for row in inputs]


@step(outputs=["text"], step_type="generator")
def BrokenAtStart(offset: int = 0) -> GeneratorStepOutput:
    raise RuntimeError("the generator broke before its first batch")
    yield [], True  # noqa: unreachable - makes this function a generator


with Pipeline(name="gpu-claim-times-out") as gpu_pipeline:
    (
        LoadDataFromDicts(data=[{"text": f"row{index}"} for index in range(6)], batch_size=2)
        >> Shout(name="gpu_step", resources=StepResources(gpus=1))
        >> Shout(name="after_gpu")
    )
gpu_claim_times_out = gpu_pipeline.to_airflow(
    dag_id="gpu_claim_times_out",
    reschedule_seconds=1,
    step_retries=0,
    gpu_claim_timeout_seconds=1,
    check_gpu_pool="warn",
)

with Pipeline(name="upstream-fails-while-waiting") as waiting_pipeline:
    BrokenAtStart(name="broken") >> Shout(name="middle") >> Shout(name="last")
upstream_fails_while_waiting = waiting_pipeline.to_airflow(
    dag_id="upstream_fails_while_waiting", reschedule_seconds=1, step_retries=0
)
