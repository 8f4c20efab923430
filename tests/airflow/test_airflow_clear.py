"""Clear on a real Airflow recomputes: a step cleared with downstream after an outage, and a run
re-created under an old run id, publish Distisets computed afresh (item: "Clear means recompute")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_dististage.devstack import AirflowApi, AirflowDevStack
from airflow_dististage.distiset import Distiset
from tests.airflow.conftest import RUN_TIMEOUT_S, request_retrying

pytestmark = pytest.mark.airflow

DAG_ID = "clear_recompute"
RUN_ID = "e2e_clear"
ROWS = 12  # ROWS in dags/clear_pipelines.py


def _trigger(api: AirflowApi, conf: dict[str, Any]) -> None:
    body = {"logical_date": None, "conf": conf, "dag_run_id": RUN_ID}
    request_retrying(api, "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", body)


def _tag_try(api: AirflowApi) -> int:
    return next(ti for ti in api.task_instances(DAG_ID, RUN_ID) if ti["task_id"] == "tag")["try_number"]


def _finished(stack: AirflowDevStack, api: AirflowApi) -> dict[str, Any]:
    try:
        return api.wait_for_run(DAG_ID, RUN_ID, timeout=RUN_TIMEOUT_S)
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{stack.log_tails()}") from None


def _rows(api: AirflowApi) -> list[dict[str, Any]]:
    published = api.xcom(DAG_ID, RUN_ID, "publish_distiset")
    (dataset,) = Distiset.load_from_disk(published["path"]).values()
    return sorted(dataset["train"].to_list(), key=lambda row: int(row["text"][3:]))


def _expected(outage: bool) -> list[dict[str, Any]]:
    return [
        {
            "text": f"row{index}",
            "generation": None if outage else f"ROW{index}",
            "tagged": None if outage else f"ROW{index}!",
        }
        for index in range(ROWS)
    ]


def test_clear_with_downstream_recomputes_the_step_and_its_same_stage_successors(
    airflow_stack: AirflowDevStack, api: AirflowApi, tmp_path: Path
) -> None:
    outage = tmp_path / "outage"
    outage.touch()
    conf = {"generate__outage_file": str(outage)}
    _trigger(api, conf)
    assert _finished(airflow_stack, api)["state"] == "success"
    assert _rows(api) == _expected(outage=True)
    tag_try = _tag_try(api)

    outage.unlink()  # the server is back: clearing the LLM step must regenerate its rows
    cleared = request_retrying(
        api,
        "POST",
        f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
        {
            "dry_run": False,
            "dag_run_id": RUN_ID,
            "task_ids": ["generate"],
            "include_downstream": True,
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )
    assert "tag" not in {ti["task_id"] for ti in cleared["task_instances"]}  # Airflow leaves it alone
    assert _finished(airflow_stack, api)["state"] == "success"
    assert _rows(api) == _expected(outage=False)
    assert _tag_try(api) == tag_try  # recomputed by generate's task, not rerun by Airflow

    # The same run id again, for a new run: its steps must recompute, not return the old output.
    outage.touch()
    request_retrying(api, "DELETE", f"/api/v2/dags/{DAG_ID}/dagRuns/{RUN_ID}")
    _trigger(api, conf)
    assert _finished(airflow_stack, api)["state"] == "success"
    assert _rows(api) == _expected(outage=True)
