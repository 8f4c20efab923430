"""``kubernetes_gpu=True``: a GPU step's pod, rendered as the KubernetesExecutor would (its pod override
reconciled with a base worker pod) after a round trip through Airflow's DAG serialization, requests
the step's GPUs per replica; its queue, pool and pool slots are the compile options'. No cluster."""

from __future__ import annotations

from kubernetes.client import models as k8s

from airflow_dististage.compiler import compile_pipeline
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, StepResources, step
from airflow_dististage.typing import StepOutput


@step(inputs=["n"], outputs=["m"])
def Double(inputs: StepInput) -> StepOutput:
    yield [{**row, "m": 2 * row["n"]} for row in inputs]


def _serialized_round_trip(dag):
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def test_a_gpu_step_pod_requests_its_gpus_per_replica(tmp_path) -> None:
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

    with Pipeline(name="k8s-gpu") as pipeline:
        LoadDataFromDicts(data=[{"n": 1}]) >> Double(name="double", resources=StepResources(gpus=2, replicas=2))
    dag = compile_pipeline(
        pipeline, dag_id="k8s_gpu", store=str(tmp_path / "s"), output=str(tmp_path / "o"),
        kubernetes_gpu=True, queue="gpu", gpu_pool="gpus_here",
    )
    task = _serialized_round_trip(dag).task_dict["double"]
    assert isinstance(task.partial_kwargs["executor_config"]["pod_override"], k8s.V1Pod)
    kwargs = task.partial_kwargs
    assert (kwargs["queue"], kwargs["pool"], kwargs["pool_slots"]) == ("gpu", "gpus_here", 2)

    base = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="base"),
        spec=k8s.V1PodSpec(containers=[
            k8s.V1Container(name="base", image="worker:1", resources=k8s.V1ResourceRequirements(requests={"cpu": "1"}))
        ]),
    )
    pod = PodGenerator.construct_pod(
        dag_id="k8s_gpu", task_id=task.task_id, pod_id="p", try_number=1, kube_image="worker:1", date=None,
        args=["airflow", "tasks", "run"], pod_override_object=PodGenerator.from_obj(kwargs["executor_config"]),
        base_worker_pod=base, namespace="default", scheduler_job_id="1", run_id="r", map_index=1,
    )
    (container,) = pod.spec.containers
    assert container.resources.limits == {"nvidia.com/gpu": "2"}
    # The executor's reconcile replaces the base container's resources with the override's as a whole
    # (the base pod's CPU request is gone): pinned here, documented in the README.
    assert container.resources.requests == {"nvidia.com/gpu": "2"}
    assert container.image == "worker:1"
