"""The dev stack gives up with Airflow's own words when a server does not come up (no hang)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_dististage.devstack import AirflowDevStack, DevStackError

pytestmark = pytest.mark.airflow


def test_a_server_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    stack = AirflowDevStack(
        tmp_path / "home", dags, gpus=0, start_timeout=120, extra_env={"AIRFLOW__API__WORKERS": "many"}
    )
    with pytest.raises(DevStackError, match="airflow api-server exited with code 2") as failed:
        stack.start()
    assert "invalid int value: 'many'" in str(failed.value)
    assert not stack.running()
