"""One real Airflow for every test in this folder: started once, with all runs triggered up front.

The stack serves ``dags_examples/`` plus the stand-in DAGs of ``dags/`` from one folder, with a
one-slot GPU pool (``airflow dististage pools sync --gpus 1``) and a login, as in production (the
tests' REST client logs in; tasks have no token). Only the DAGs the tests trigger are unpaused
(the nightly example would otherwise start a run of its own). The runs go in together so their
tasks share the scheduler's time; each test then waits for the run it checks.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_dististage.devstack import AirflowApi, AirflowDevStack
from tests.conftest import REPO_ROOT

EXAMPLE_DAGS = REPO_ROOT / "dags_examples"
STANDIN_DAGS = Path(__file__).parent / "dags"
RUN_TIMEOUT_S = 240.0
DAGS_TRIGGERED_BY_TESTS = ("clear_recompute", "run_view_live")
"""DAGs a test triggers itself (its run depends on what the test prepares), besides those of RUNS."""
GPU_POOL = "dististage_gpu"
GPU_POOL_SLOTS = 1


@dataclass(frozen=True)
class TriggeredRun:
    """A run the fixture started: DAG id, run id and the conf it was given."""

    dag_id: str
    run_id: str
    conf: dict[str, Any]


RUNS = {
    "seed": TriggeredRun("seed_pipeline", "e2e_seed", {"load_data_from_dicts_0__batch_size": 7}),
    "standin": TriggeredRun("gpu_standin", "e2e_standin", {"add_suffix__suffix": "-conf"}),
    "pool_missing": TriggeredRun("gpu_pool_missing", "e2e_pool_missing", {}),
    "pool_too_small": TriggeredRun("gpu_pool_too_small", "e2e_pool_too_small", {}),
}


@pytest.fixture(scope="package")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDevStack]:
    """A running Airflow (api-server, scheduler, LocalExecutor, SQLite) on loopback, with a login."""
    root = tmp_path_factory.mktemp("airflow")
    dags = root / "dags"
    dags.mkdir()
    for dag_file in [*EXAMPLE_DAGS.glob("*.py"), *STANDIN_DAGS.glob("*.py")]:
        shutil.copy(dag_file, dags / dag_file.name)
    unpaused = sorted({run.dag_id for run in RUNS.values()} | set(DAGS_TRIGGERED_BY_TESTS))
    stack = AirflowDevStack(root / "home", dags, gpus=GPU_POOL_SLOTS, all_admins=False, unpaused_dags=unpaused)
    with stack:
        yield stack


@pytest.fixture(scope="package")
def api(airflow_stack: AirflowDevStack) -> AirflowApi:
    return airflow_stack.api()


@pytest.fixture(scope="package", autouse=True)
def triggered(api: AirflowApi) -> dict[str, TriggeredRun]:
    """Starts every run of :data:`RUNS` through the REST API, with its conf, before the first test."""
    for run in RUNS.values():
        api.trigger_run(run.dag_id, conf=run.conf, run_id=run.run_id)
    return RUNS


@pytest.fixture(scope="package")
def wait_for(airflow_stack: AirflowDevStack, api: AirflowApi, triggered: dict[str, TriggeredRun]) -> Any:
    """``wait_for("seed")`` -> the finished run as the API describes it; a timeout shows Airflow's logs."""

    def finished(name: str) -> dict[str, Any]:
        run = triggered[name]
        try:
            return api.wait_for_run(run.dag_id, run.run_id, timeout=RUN_TIMEOUT_S)
        except TimeoutError as error:
            raise AssertionError(f"{error}\n{airflow_stack.log_tails()}") from None

    return finished


@pytest.fixture(scope="package")
def output_folder(airflow_stack: AirflowDevStack) -> str:
    """``[dististage] output`` as the stack's Airflow reports it."""
    return airflow_stack.run_cli("config", "get-value", "dististage", "output").stdout.strip().splitlines()[-1]
