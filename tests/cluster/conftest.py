"""One Celery cluster for every test in this folder, started once (see ``airflow_dististage.devstack.cluster``).

Hosts and workers:

- ``cpu-host``: worker ``default`` (queue ``default``), no GPUs.
- ``gpu-host``: workers ``gpu-a`` and ``gpu-b`` (queue ``gpu``), ``DISTISTAGE_GPUS=0,1`` and one
  GPU lock folder for both.
- ``far-host``: worker ``nostore`` (queue ``nostore``), whose store connection points at a closed port.

The store and outputs are on the cluster's S3 server; Airflow's processes reach it only through the
Airflow connection ``cluster_s3`` (in the metadata DB; ``[dististage] store_conn_id``), never through
``AWS_*`` variables. When the binaries are missing the tests skip,
saying what to install; with ``DISTISTAGE_REQUIRE_CLUSTER=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_dististage.devstack import free_port
from airflow_dististage.devstack.cluster import AirflowCluster, CeleryWorker
from airflow_dististage.devstack.services import missing_binaries, s3_connection_json
from airflow_dististage.distiset import Distiset
from tests.cluster.dags import cluster_pipelines

DAGS = Path(__file__).parent / "dags"
BUCKET = "dististage"
STORE = f"s3://{BUCKET}/store"
OUTPUT = f"s3://{BUCKET}/output"
CONN_ID = "cluster_s3"
GPU_POOL_SLOTS = 2
RUN_TIMEOUT_S = 180.0
REQUIRE_VARIABLE = "DISTISTAGE_REQUIRE_CLUSTER"
PUBLISH_TASK = "publish_distiset"


def _workers(unreachable_connection: str) -> list[CeleryWorker]:
    gpu_host = {"queues": ("gpu",), "host": "gpu-host", "gpus": "0,1", "concurrency": 2}
    return [
        CeleryWorker("default", concurrency=8),
        CeleryWorker("gpu-a", **gpu_host),
        CeleryWorker("gpu-b", **gpu_host),
        CeleryWorker("nostore", queues=("nostore",), host="far-host", concurrency=2,
                     env={f"AIRFLOW_CONN_{CONN_ID.upper()}": unreachable_connection}),
    ]


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowCluster]:
    """The running cluster; skipped (or failed under DISTISTAGE_REQUIRE_CLUSTER=1) without its binaries."""
    missing = missing_binaries()
    if missing:
        message = "a Celery cluster needs " + "; ".join(missing)
        if os.environ.get(REQUIRE_VARIABLE) == "1":
            pytest.fail(f"{message} ({REQUIRE_VARIABLE}=1)")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("cluster")
    dags = root / "dags"
    dags.mkdir()
    shutil.copy(DAGS / "cluster_pipelines.py", dags)
    settings = {
        "AIRFLOW__DISTISTAGE__STORE": STORE,
        "AIRFLOW__DISTISTAGE__OUTPUT": OUTPUT,
        "AIRFLOW__DISTISTAGE__STORE_CONN_ID": CONN_ID,
    }
    unreachable = s3_connection_json(f"http://127.0.0.1:{free_port()}", max_attempts=1)
    stack = AirflowCluster(root / "home", dags, workers=_workers(unreachable), gpus=GPU_POOL_SLOTS, extra_env=settings)
    for name in [name for name in stack.env if name.startswith("AWS_")]:
        del stack.env[name]  # credentials come from the connection only
    with stack:
        stack.add_s3_connection(CONN_ID)
        stack.run_cli(
            "pools", "set", cluster_pipelines.SHARED_POOL, str(cluster_pipelines.SHARED_REPLICAS), "shared host"
        )
        yield stack


@pytest.fixture(scope="package")
def s3(cluster: AirflowCluster) -> Any:
    """An s3fs filesystem on the cluster's S3 server, for the tests' own reads."""
    import s3fs

    return s3fs.S3FileSystem(**cluster.s3.storage_options())


def run_and_wait(
    cluster: AirflowCluster, dag_id: str, run_id: str, conf: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Triggers a run and waits for it to finish; a timeout shows the cluster's logs."""
    api = cluster.api()
    api.trigger_run(dag_id, conf=conf, run_id=run_id)
    return wait(cluster, dag_id, run_id)


def wait(cluster: AirflowCluster, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT_S) -> dict[str, Any]:
    """Waits for a run to finish; a timeout shows the cluster's logs."""
    try:
        return cluster.api().wait_for_run(dag_id, run_id, timeout=timeout)
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{cluster.log_tails()}") from None


def published_rows(cluster: AirflowCluster, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The rows of the Distiset the run published on S3 (one configuration, every split)."""
    published = cluster.api().xcom(dag_id, run_id, PUBLISH_TASK)
    assert published["path"] == f"{OUTPUT}/{dag_id}/{run_id}"
    distiset = Distiset.load_from_disk(published["path"], storage_options=cluster.s3.storage_options())
    (dataset,) = distiset.values()
    return [row for split in dataset.values() for row in split]
