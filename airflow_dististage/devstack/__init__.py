"""A throw-away real Airflow 3 on loopback, for the end-to-end tests, ``make demo`` and ``make ui``."""

from __future__ import annotations

from airflow_dististage.devstack.api import AirflowApi, AirflowApiError
from airflow_dististage.devstack.stack import AirflowDevStack, DevStackError, free_port

__all__ = ["AirflowApi", "AirflowApiError", "AirflowDevStack", "DevStackError", "free_port"]
