"""The provider plugin's pool-size route: what a task can read without a token, on a real api-server."""

from __future__ import annotations

import httpx
import pytest

from airflow_dististage.devstack import AirflowApi, AirflowApiError, AirflowDevStack
from airflow_dististage.provider import POOL_SIZE_ROUTE
from tests.airflow.conftest import GPU_POOL, GPU_POOL_SLOTS

pytestmark = pytest.mark.airflow


def test_pool_size_route_answers_without_a_token(airflow_stack: AirflowDevStack) -> None:
    anonymous = AirflowApi(airflow_stack.url)
    with pytest.raises(AirflowApiError) as refused:
        anonymous.request("GET", f"/api/v2/pools/{GPU_POOL}")
    assert refused.value.status == 401
    assert anonymous.request("GET", POOL_SIZE_ROUTE.format(name=GPU_POOL)) == {
        "name": GPU_POOL,
        "slots": GPU_POOL_SLOTS,
    }
    with pytest.raises(AirflowApiError, match="Pool 'no_such_pool' does not exist") as missing:
        anonymous.request("GET", POOL_SIZE_ROUTE.format(name="no_such_pool"))
    assert missing.value.status == 404
    assert missing.value.detail == "Pool 'no_such_pool' does not exist."


def test_the_missing_pool_answer_carries_a_null_slots_key(airflow_stack: AirflowDevStack) -> None:
    answer = httpx.get(airflow_stack.url + POOL_SIZE_ROUTE.format(name="no_such_pool"), timeout=30)

    assert answer.status_code == 404
    assert answer.json()["slots"] is None


def test_without_the_plugin_the_route_would_get_the_ui_page(airflow_stack: AirflowDevStack) -> None:
    """Why the GPU-pool check insists on a ``slots`` key: an unknown route answers 200 with HTML."""
    answer = httpx.get(airflow_stack.url + "/not_dististage/pools/dististage_gpu", timeout=30)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
