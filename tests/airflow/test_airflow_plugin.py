"""The provider plugin's pool-size route: what a task can read without a token, on a real api-server."""

from __future__ import annotations

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
