"""Shared test configuration."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

# Airflow reads AIRFLOW_HOME once, at its first import, whichever test folder imports it first: give
# the session a throw-away one unless the caller chose one.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="dististage-tests-airflow-"))

import pytest  # noqa: E402

from tests.dag_runs import REPO_ROOT, migrated_airflow_env, run_dag_tests, shared_dag_runs  # noqa: E402

__all__ = ["REPO_ROOT"]


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of a migrated SQLite Airflow (one per session) for ``dag.test()`` runs."""
    return migrated_airflow_env(tmp_path_factory.mktemp("dag-test"))


@pytest.fixture(scope="session")
def dag_runs(airflow_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every run of :func:`tests.dag_runs.shared_dag_runs`, done once, in one process; by DAG id."""
    return run_dag_tests(airflow_env, shared_dag_runs())
